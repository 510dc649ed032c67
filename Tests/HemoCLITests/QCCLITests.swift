import Foundation
import Testing
import HemoCore
import NIfTI

@Suite struct QCCLITests {
    @Test func qcWritesMontagesAndIndexAndRejectsWhatIsNotARelease() throws {
        let dir = try CLI.tempDir("qc")
        let g = Geometry(size: GridSize(16, 12, 4), spacing: SIMD3(1, 1, 4))
        for n in 0..<2 {
            let caseDir = dir + String(format: "/cohort/case_%03d", n)
            try FileManager.default.createDirectory(atPath: caseDir, withIntermediateDirectories: true)
            try NIfTIFile.write(Volume<Int16>(geometry: g, repeating: 40), to: caseDir + "/ct.nii.gz")
            var labels = Volume<UInt8>(geometry: g, repeating: 0)
            if n == 1 { labels[3, 4, 1] = 2; labels[4, 4, 1] = 2 }
            try NIfTIFile.write(labels, to: caseDir + "/labelmap.nii.gz")
        }
        let build = try CLI.run(["build", "--cohort", dir + "/cohort", "--out", dir + "/release"])
        #expect(build.status == 0, "\(build.stderr)")
        let qc = try CLI.run(["qc", dir + "/release", "--out", dir + "/qc", "--threads", "2"])
        #expect(qc.status == 0, "\(qc.stderr)")
        #expect(qc.stdout.contains("2 montages"))
        for file in ["index.html", "cases/case_000.png", "cases/case_001.png"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/qc/" + file), "\(file) missing")
        }
        let notARelease = try CLI.run(["qc", dir + "/cohort", "--out", dir + "/qc2"])
        #expect(notARelease.status != 0)
        #expect(notARelease.stderr.contains("patient_labels.csv"))
        let badThreads = try CLI.run(["qc", dir + "/release", "--out", dir + "/qc3", "--threads", "0"])
        #expect(badThreads.status != 0)
        #expect(badThreads.stderr.contains("--threads"))
    }
}
