import Foundation
import Testing
import HemoCore
import NIfTI

@Suite struct ShardCLITests {
    /// `hemo build --part` twice, `hemo release merge` as a user types it: the same manifest as one
    /// `hemo build`; a missing part and a bad `--part` are refused with a sentence and a non-zero exit.
    @Test func buildPartsAndMergeFromTheCommandLine() throws {
        let dir = try CLI.tempDir("shards")
        try BuildCLITests().makeCohort(dir + "/cohort", cases: 6)
        let whole = try CLI.run(["build", "--cohort", dir + "/cohort", "--out", dir + "/whole", "--threads", "2"])
        #expect(whole.status == 0, "\(whole.stderr)")
        for k in 1...2 {
            let part = try CLI.run(["build", "--cohort", dir + "/cohort", "--out", dir + "/p\(k)", "--part", "\(k)/2", "--threads", "2"])
            #expect(part.status == 0, "\(part.stderr)")
            #expect(FileManager.default.fileExists(atPath: dir + "/p\(k)/part.json"))
        }
        let missing = try CLI.run(["release", "merge", dir + "/p2", "--out", dir + "/merged"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("part 1/2 is missing"), "\(missing.stderr)")
        let merge = try CLI.run(["release", "merge", dir + "/p2", dir + "/p1", "--out", dir + "/merged"])
        #expect(merge.status == 0, "\(merge.stderr)")
        #expect(merge.stdout.contains("parts: 2, cases: 6"))
        let a = try String(contentsOfFile: dir + "/whole/MANIFEST.sha256", encoding: .utf8)
        let b = try String(contentsOfFile: dir + "/merged/MANIFEST.sha256", encoding: .utf8)
        #expect(a == b)
        let bad = try CLI.run(["build", "--cohort", dir + "/cohort", "--out", dir + "/x", "--part", "3/2"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("--part takes K/N"), "\(bad.stderr)")
    }
}
