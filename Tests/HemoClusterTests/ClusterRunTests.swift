import Foundation
import HemoTestKit
import HemoCluster
import HemoCore
import HemoRelease
import HemoScheduler
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

    @Test func badExamsFailWithTheSameStageAndReasonAsHemoBuild() throws {
        let cohort = try TinyCohort.make(count: 4)
        try Data("not a NIfTI file".utf8).write(to: URL(fileURLWithPath: cohort.root + "/case_001/ct.nii.gz"))
        let reference = try cohort.referenceManifest()
        var settings = fastSettings()
        settings.scheduler = SchedulerSettings(heartbeatInterval: .milliseconds(100), maxAttempts: 2)
        let (coordinator, endpoint) = try startCoordinator(cohort, out: cohort.release("bad"), settings: settings)
        let workers = (0..<2).map { ThreadWorker.fast(endpoint, id: "t\($0)") }
        let summary = try coordinator.wait()
        #expect(summary.outcome.manifest == reference)
        #expect(summary.outcome.failures.map(\.caseName).sorted() == ["case_001"])
        #expect(summary.dispatches == 3 + 2, "the bad exam is tried on both workers")
        #expect(summary.outcome.failures.first?.stage == "read")
        for w in workers { _ = w.finished(within: 5) }
    }

    @Test func resultsSurviveTheWireByteForByte() throws {
        let g = Geometry(size: GridSize(7, 5, 9), spacing: SIMD3(0.5, 0.7, 3),
                         affine: Affine(rowMajor: [0.5, 0, 0, -3, 0, 0.7, 0, 2, 0, 0, 3, 1, 0, 0, 0, 1]))
        var ct = Volume<Int16>(geometry: g, repeating: 0)
        for n in ct.voxels.indices { ct.voxels[n] = Int16(truncatingIfNeeded: n &* 7919 &- 30000) }
        var bitmask = Volume<UInt8>(geometry: g, repeating: 0)
        for n in bitmask.voxels.indices { bitmask.voxels[n] = UInt8(n % 32) }
        let exam = CaseID("case_042")!
        let product = CaseProduct(id: exam, ct: ct, masks: SubtypeMasks(bitmask: bitmask),
                                  inputs: [InputFile(path: "case_042/ct.nii.gz", sha256: String(repeating: "a", count: 64))])
        let messages = try ResultEncoding.messages(product: product, attempt: 2, times: StageTimes(),
                                                   chunker: MaskChunker(slicesPerChunk: 4))
        var collector = ResultCollector(exam: exam, attempt: 2)
        var done: Done?
        for m in messages {
            switch try WireMessage.decode(try m.encode()) {
            case .chunk(let c): try collector.accept(c)
            case .done(let d): done = d
            default: Issue.record("unexpected \(m.type)")
            }
        }
        let back = try collector.product(done: #require(done))
        #expect(back.ct.voxels == ct.voxels && back.ct.geometry == g)
        #expect(back.masks.bitmask.voxels == product.masks.bitmask.voxels)
        #expect(back.inputs == product.inputs)
        // A bitmask value above 31 is refused on both sides.
        var bad = bitmask
        bad.voxels[3] = 32
        #expect(throws: ChunkError.self) { try MaskChunker().chunks(bytes: bad, kind: .bitmask, exam: exam, attempt: 1) }
        // DONE before every chunk is an error, not a partial case.
        #expect(throws: ClusterError.self) { try ResultCollector(exam: exam, attempt: 2).product(done: #require(done)) }
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
