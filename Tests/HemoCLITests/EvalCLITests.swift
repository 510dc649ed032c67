import Foundation
import Testing
import HemoCore
import NIfTI

/// `hemo eval` as a user runs it: Markdown on stdout, every figure in --json, clear errors.
@Suite struct EvalCLITests {
    func makeCohort(_ root: String) throws {
        let g = Geometry(size: GridSize(16, 12, 4), spacing: SIMD3(1, 1, 4))
        for n in 0..<2 {
            let dir = root + String(format: "/case_%03d", n)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try NIfTIFile.write(Volume<Int16>(geometry: g, repeating: Int16(30 + n)), to: dir + "/ct.nii.gz")
            var labels = Volume<UInt8>(geometry: g, repeating: 0)
            for i in 2..<6 { for j in 3..<7 { labels[i, j, 1] = 4 } }
            if n == 1 { labels[10, 8, 2] = 5 }
            try NIfTIFile.write(labels, to: dir + "/labelmap.nii.gz")
        }
    }

    @Test func evaluatesAReleaseAgainstItsCohortAndWritesJSON() throws {
        let dir = try CLI.tempDir("eval")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try makeCohort(dir + "/cohort")
        let build = try CLI.run(["build", "--cohort", dir + "/cohort", "--out", dir + "/release"])
        #expect(build.status == 0, "\(build.stderr)")
        let eval = try CLI.run(["eval", "--pred", dir + "/release", "--truth", dir + "/cohort", "--json", dir + "/eval.json"])
        #expect(eval.status == 0, "\(eval.stderr)")
        #expect(eval.stdout.contains("2 case(s) evaluated"))
        #expect(eval.stdout.contains("| any | 3 | 0 | 0 | 5 |"))   // 8 slices; positive: case_000 k1, case_001 k1 and k2
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/eval.json"))) as? [String: Any]
        let detection = try #require(json?["detection"] as? [String: Any])
        #expect(detection["ap50"] as? Double == 1)
        let segmentation = try #require((json?["segmentation"] as? [String: Any])?["IPH"] as? [String: Any])
        #expect(segmentation["mean_dice"] as? Double == 1)
        #expect((segmentation["per_case"] as? [Any])?.count == 2)
    }

    @Test func clearErrorsForMissingFolders() throws {
        let dir = try CLI.tempDir("eval-errors")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let missing = try CLI.run(["eval", "--pred", dir + "/nope", "--truth", dir])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("no such folder"))
        let notARelease = try CLI.run(["eval", "--pred", dir, "--truth", dir])
        #expect(notARelease.status != 0)
        #expect(notARelease.stderr.contains(dir))
    }
}
