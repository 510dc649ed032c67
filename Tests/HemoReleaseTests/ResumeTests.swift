import Foundation
import Testing
import HemoCore
import HemoTestKit
@testable import HemoRelease

@Suite struct ResumeTests {
    func products(_ cohort: Cohort) throws -> [CaseProduct] {
        var times = StageTimes()
        return try cohort.cases.map { try CasePipeline.run($0, options: ReleaseOptions(), threads: 1, times: &times) }
    }

    @Test func aResumedAssemblyReusesFinishedCasesAndGivesTheSameBytes() throws {
        let c = try TinyCohort.make(count: 3)
        let cohort = try Cohort.open(c.root)
        let all = try products(cohort)
        var times = StageTimes()

        let clean = try ReleaseAssembly(destination: c.release("clean"), options: ReleaseOptions(), kind: .annotations,
                                        weakLabels: nil, force: false)
        for p in all { try clean.release(p, times: &times) }
        let cleanOutcome = try clean.commit()

        let out = c.release("resumed")
        do {
            let first = try ReleaseAssembly(destination: out, options: ReleaseOptions(), kind: .annotations,
                                            weakLabels: nil, force: false, resumable: true)
            try first.release(all[2], times: &times)
            try first.fail(FailureRow(caseName: "case_000", stage: "read", reason: "simulated"))
            // The process dies here: no commit.
        }
        #expect(FileManager.default.fileExists(atPath: (out as NSString).deletingLastPathComponent + "/." + (out as NSString).lastPathComponent + ".journal"))
        // What a kill mid-write leaves: a temporary file of an interrupted write, and the files of a
        // case written but never journaled.
        let staging = (out as NSString).deletingLastPathComponent + "/." + (out as NSString).lastPathComponent + ".staging"
        let leftovers = ["imagesTr/.case_001_0000.tmp-4242-7.nii.gz", "masks2d/case_001/000.png",
                         "labelsTr/case_002.nii.gz.tmp-4242-9"]
        for l in leftovers {
            try FileManager.default.createDirectory(atPath: ((staging + "/" + l) as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            try Data("half".utf8).write(to: URL(fileURLWithPath: staging + "/" + l))
        }
        let second = try ReleaseAssembly(destination: out, options: ReleaseOptions(), kind: .annotations,
                                         weakLabels: nil, force: false, resumable: true)
        #expect(second.finished == ["case_000", "case_002"])
        for l in leftovers { #expect(!FileManager.default.fileExists(atPath: staging + "/" + l), "\(l) survived the resume") }
        #expect(FileManager.default.fileExists(atPath: staging + "/" + CaseFiles.imagePath(all[2].id)))
        // A failed case may be retried and released after all.
        try second.release(all[0], times: &times)
        try second.release(all[1], times: &times)
        let resumed = try second.commit()
        #expect(resumed.manifest == cleanOutcome.manifest)
        #expect(try ReleaseVerifier().verify(out).ok)
        #expect(!FileManager.default.fileExists(atPath: (out as NSString).deletingLastPathComponent + "/." + (out as NSString).lastPathComponent + ".journal"))
    }

    @Test func otherOptionsDoNotReuseTheJournal() throws {
        let c = try TinyCohort.make(count: 1)
        let all = try products(try Cohort.open(c.root))
        var times = StageTimes()
        let out = c.release("r")
        do {
            let first = try ReleaseAssembly(destination: out, options: ReleaseOptions(), kind: .annotations,
                                            weakLabels: nil, force: false, resumable: true)
            try first.release(all[0], times: &times)
        }
        var other = ReleaseOptions(); other.gzipLevel = 4
        let second = try ReleaseAssembly(destination: out, options: other, kind: .annotations,
                                         weakLabels: nil, force: false, resumable: true)
        #expect(second.finished.isEmpty)
        #expect(try second.staging.files().isEmpty)
    }
}
