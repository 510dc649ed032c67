import Foundation
import HemoCluster
import HemoCore
import HemoRelease
import HemoWire
import LZ4
import Testing
import ZeroMQ

/// Clean runs: the cluster's release is byte-identical to `hemo build`'s.
@Suite(.serialized) struct ClusterRunTests {
    @Test(arguments: [1, 3]) func workerProcessesBuildTheSameReleaseAsHemoBuild(workers: Int) throws {
        let cohort = try TinyCohort.make(count: 6)
        let reference = try cohort.referenceManifest()
        let (coordinator, endpoint) = try startCoordinator(cohort, out: cohort.release("cluster"), settings: fastSettings())
        let children = try (0..<workers).map { try Hemo.worker(endpoint, id: "proc-\($0)") }
        let summary = try coordinator.wait()
        #expect(summary.outcome.manifest == reference)
        #expect(summary.outcome.records.count == 6)
        #expect(summary.outcome.failures.isEmpty)
        #expect(summary.dispatches == 6)
        #expect(summary.chunkPayloadBytes > 0 && summary.chunkRawBytes > summary.chunkPayloadBytes)
        for child in children {
            #expect(child.wait(seconds: 10) == 0, "worker did not leave cleanly after shutdown: \(child.stderr)")
        }
        let onDisk = try String(contentsOfFile: cohort.release("cluster") + "/MANIFEST.sha256", encoding: .utf8)
        let referenceOnDisk = try String(contentsOfFile: cohort.release("reference") + "/MANIFEST.sha256", encoding: .utf8)
        #expect(onDisk == referenceOnDisk)
    }

    @Test func inlineTransferToThreadWorkersGivesTheSameManifest() throws {
        let cohort = try TinyCohort.make(count: 5)
        let reference = try cohort.referenceManifest()
        let (coordinator, endpoint) = try startCoordinator(cohort, out: cohort.release("inline"),
                                                           settings: fastSettings(transfer: .inline))
        let workers = (0..<2).map { ThreadWorker.fast(endpoint, id: "thread-\($0)") }
        let summary = try coordinator.wait()
        #expect(summary.outcome.manifest == reference)
        #expect(summary.inlineRawBytes > 0 && summary.inlineCompressedBytes > 0)
        for w in workers {
            guard case .success(.shutdown)? = w.finished(within: 5) else {
                Issue.record("thread worker did not shut down")
                continue
            }
        }
    }

    @Test func hemoRunWithWorkerProcessesMatchesHemoBuild() throws {
        let cohort = try TinyCohort.make(count: 4)
        let reference = try cohort.referenceManifest()
        let run = try Hemo.spawn(["run", "--cohort", cohort.root, "--out", cohort.release("run"), "--workers", "2",
                                  "--heartbeat-ms", "100"])
        #expect(run.wait(seconds: 60) == 0, "\(run.stderr)")
        #expect(run.stdout.contains("cases: 4"))
        #expect(run.stdout.contains("LZ4 ratio"))
        let manifest = try String(contentsOfFile: cohort.release("run") + "/MANIFEST.sha256", encoding: .utf8)
        let expected = try String(contentsOfFile: cohort.release("reference") + "/MANIFEST.sha256", encoding: .utf8)
        #expect(manifest == expected)
        _ = reference
    }

    @Test func optionsTravelExactlyInsideAJob() throws {
        var o = ReleaseOptions()
        o.spacing = .millimetres(SIMD3(0.1 + 0.2, 1.0 / 3.0, 2.5))
        o.interpolation = .bspline
        o.canonical = true
        o.gzipLevel = 1
        o.splitSeed = "seed with spaces, commas and \"quotes\""
        o.annotations = .subtypeMasks
        o.maxVoxels = 12345
        o.gridTolerance = 1e-7
        let exam = CaseID("case_009")!
        let back = try JobOptionsCoding.decode(JobOptionsCoding.encode(o), exam: exam)
        #expect(back.provenance.compact() == o.provenance.compact())
        guard case .millimetres(let s) = back.spacing else { Issue.record("spacing lost"); return }
        #expect(s.x == 0.1 + 0.2 && s.y == 1.0 / 3.0)
        #expect(back.gridTolerance == 1e-7)
        #expect(throws: ClusterError.self) { try JobOptionsCoding.decode(Array("{}".utf8), exam: exam) }
    }

    @Test func inlineInputsRejectPathsThatLeaveTheScratchFolder() throws {
        let frame = try LZ4Frame.compress(Array("x".utf8))
        let bad = JobInputs.inline([InlineFile(name: "ct=..%2F..%2Fetc%2Fpasswd", size: 1, lz4Frame: frame)])
        #expect(throws: ClusterError.self) {
            try ExamInputs.materialize(exam: CaseID("case_000")!, inputs: bad, scratch: NSTemporaryDirectory())
        }
    }
}
