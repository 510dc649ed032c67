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

    /// A small product with every subtype somewhere, on an oblique grid.
    func sampleProduct() -> CaseProduct {
        let g = Geometry(size: GridSize(7, 5, 9), spacing: SIMD3(0.5, 0.7, 3),
                         affine: Affine(rowMajor: [0.5, 0, 0, -3, 0, 0.7, 0, 2, 0, 0, 3, 1, 0, 0, 0, 1]))
        var ct = Volume<Int16>(geometry: g, repeating: 0)
        for n in ct.voxels.indices { ct.voxels[n] = Int16(truncatingIfNeeded: n &* 7919 &- 30000) }
        var bitmask = Volume<UInt8>(geometry: g, repeating: 0)
        for n in bitmask.voxels.indices where n % 3 == 0 { bitmask.voxels[n] = UInt8(n % 32) }
        return CaseProduct(id: CaseID("case_042")!, ct: ct, masks: SubtypeMasks(bitmask: bitmask),
                           inputs: [InputFile(path: "case_042/ct.nii.gz", sha256: String(repeating: "a", count: 64))])
    }

    func collect(_ messages: [WireMessage], attempt: UInt32 = 2) throws -> (ResultCollector, Done?) {
        var collector = ResultCollector(exam: CaseID("case_042")!, attempt: attempt)
        var done: Done?
        for m in messages {
            switch try WireMessage.decode(try m.encode()) {
            case .chunk(let c): try collector.accept(c)
            case .file(let f): try collector.accept(f)
            case .done(let d): done = d
            default: Issue.record("unexpected \(m.type)")
            }
        }
        return (collector, done)
    }

    @Test func resultFilesSurviveTheWireAndAreTheBytesHemoBuildWrites() throws {
        let product = sampleProduct()
        var times = StageTimes()
        let messages = try ResultEncoding.messages(product: product, attempt: 2, gzipLevel: 6,
                                                   times: &times, chunker: MaskChunker(slicesPerChunk: 4))
        #expect(messages.contains { if case .chunk(let c) = $0 { c.maskKind == .bitmask } else { false } })
        #expect(!messages.contains { if case .chunk(let c) = $0 { c.maskKind != .bitmask } else { false } },
                "the CT travels as its encoded file, not as byte planes")
        let (collector, done) = try collect(messages)
        let result = try collector.result(done: #require(done))
        // What `hemo build` writes for the same product.
        let record = CaseRecord(id: product.id, masks: product.masks)
        let staging = try ReleaseStaging(destination: NSTemporaryDirectory() + "ref-\(UUID().uuidString)", force: true)
        defer { staging.abandon() }
        try CaseFiles.write(product, record: record, into: staging, gzipLevel: 6)
        let reference = try staging.files().map { EncodedFile(path: $0, bytes: [UInt8](FileManager.default.contents(atPath: staging.folder + "/" + $0)!)) }
        #expect(result.files == reference)
        #expect(result.files.count == 3 + 9)
        #expect(result.record == record)
        #expect(result.inputs == product.inputs)
        // DONE before every part is an error, not a partial case.
        let (partial, _) = try collect(messages.filter { if case .file(let f) = $0 { f.fileIndex != 4 } else { true } })
        #expect(throws: ClusterError.self) { try partial.result(done: #require(done)) }
    }

    @Test func aRecordThatDisagreesWithTheBitmaskOrForeignFilesAreRefused() throws {
        let product = sampleProduct()
        var times = StageTimes()
        let messages = try ResultEncoding.messages(product: product, attempt: 2, gzipLevel: 1,
                                                   times: &times)
        // The same files and record, with a bitmask that lost one voxel.
        var other = product.masks.bitmask
        other.voxels[other.voxels.firstIndex { $0 != 0 }!] = 0
        let otherChunks = try MaskChunker().chunks(bytes: other, kind: .bitmask, exam: product.id, attempt: 2).map { WireMessage.chunk($0) }
        let swapped = otherChunks + messages.filter { if case .chunk = $0 { false } else { true } }
        let (collector, done) = try collect(swapped)
        let error = #expect(throws: ClusterError.self) { try collector.result(done: #require(done)) }
        #expect(error?.reason.contains("disagrees with the bitmask") == true, "\(String(describing: error))")
        // A file that is not one of the case's.
        let record = CaseRecord(id: product.id, masks: product.masks)
        var files = try ResultEncoding.encodeFiles(product, record: record, gzipLevel: 1)
        files[files.count - 1].path = "boxes/coco.json"
        let foreign = try ResultEncoding.messages(product: product, record: record, files: files, attempt: 2, times: StageTimes())
        let (c2, d2) = try collect(foreign)
        let e2 = #expect(throws: ClusterError.self) { try c2.result(done: #require(d2)) }
        #expect(e2?.reason.contains("boxes/coco.json") == true, "\(String(describing: e2))")
        // CT byte planes are not part of a build result any more.
        let planes = MaskChunker.int16BytePlanes(product.ct)
        var c3 = ResultCollector(exam: product.id, attempt: 2)
        let chunk = try MaskChunker().chunks(bytes: planes.low, kind: .int16LowBytes, exam: product.id, attempt: 2)[0]
        #expect(throws: ChunkError.self) { try c3.accept(chunk) }
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
