import Foundation
import Testing
import HemoCore
import NIfTI

@Suite struct BuildCLITests {
    func makeCohort(_ root: String, cases: Int) throws {
        let g = Geometry(size: GridSize(16, 12, 4), spacing: SIMD3(1, 1, 4))
        for n in 0..<cases {
            let dir = root + String(format: "/case_%03d", n)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try NIfTIFile.write(Volume<Int16>(geometry: g, repeating: Int16(30 + n)), to: dir + "/ct.nii.gz")
            var labels = Volume<UInt8>(geometry: g, repeating: 0)
            labels[3, 4, 1] = 2; labels[4, 4, 1] = 2; labels[10, 8, 2] = 5
            try NIfTIFile.write(labels, to: dir + "/labelmap.nii.gz")
        }
    }

    @Test func buildVerifyAndRefuseToOverwrite() throws {
        let dir = try CLI.tempDir("build")
        try makeCohort(dir + "/cohort", cases: 3)
        let build = try CLI.run(["build", "--cohort", dir + "/cohort", "--out", dir + "/release", "--threads", "2"])
        #expect(build.status == 0, "\(build.stderr)")
        #expect(build.stdout.contains("cases: 3, slices: 12, failures: 0"))
        #expect(build.stdout.contains("SDH 3") && build.stdout.contains("IVH 3"))
        let verify = try CLI.run(["release", "verify", dir + "/release"])
        #expect(verify.status == 0)
        #expect(verify.stdout.hasPrefix("ok:"))
        let again = try CLI.run(["build", "--cohort", dir + "/cohort", "--out", dir + "/release"])
        #expect(again.status != 0)
        #expect(again.stderr.contains("--force"))
    }

    @Test func clearErrorsForWrongPathsAndOptions() throws {
        let dir = try CLI.tempDir("errors")
        let missing = try CLI.run(["build", "--cohort", dir + "/nope", "--out", dir + "/r"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("no such folder"))
        let badSpacing = try CLI.run(["build", "--cohort", dir, "--out", dir + "/r", "--spacing", "1,x,1"])
        #expect(badSpacing.status != 0)
        #expect(badSpacing.stderr.contains("--spacing"))
        let notARelease = try CLI.run(["release", "verify", dir])
        #expect(notARelease.status != 0)
        #expect(notARelease.stderr.contains("manifest"))
    }
}
