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
        #expect(summary.wire.fileRawBytes == 0, "the CT is not resampled, so it stays home")
        // Every worker that reached the coordinator leaves cleanly when told. A process that only
        // started after the run had ended (a loaded machine starts debug binaries slowly) never
        // hears it and keeps retrying, as a worker must: that one is stopped here.
        var joined = 0
        for child in children {
            let status = child.wait(seconds: 10)
            if status == nil && !child.stderr.contains("worker: connected") {
                child.kill()
                _ = child.wait(seconds: 10)
                continue
            }
            joined += 1
            #expect(status == 0, "worker did not leave cleanly after shutdown: \(child.stderr)")
        }
        #expect(joined >= 1)
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
                Issue.record("thread worker did not shut down: \(String(describing: w.exit.withLock { $0 })) \(w.worker.statistics)")
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

    @Test func aResampledAndReorientedReleaseIsTheSameThroughTheCluster() throws {
        let cohort = try TinyCohort.make(count: 4)
        var options = ReleaseOptions()
        options.spacing = .millimetres(SIMD3(1.5, 1.25, 4))
        options.canonical = true
        let reference = try cohort.referenceManifest(options: options)
        let c = try Coordinator(cohort: try Cohort.open(cohort.root), destination: cohort.release("resampled"), options: options,
                                settings: fastSettings())
        let endpoint = try c.start()
        let workers = (0..<2).map { ThreadWorker.fast(endpoint, id: "r\($0)") }
        let summary = try c.wait()
        #expect(summary.outcome.manifest == reference)
        #expect(summary.outcome.records.count == 4)
        #expect(summary.wire.fileRawBytes > 0, "the transformed CT travels")
        for w in workers { _ = w.finished(within: 5) }
        // And through `hemo run` against `hemo build`, both from the command line.
        let args = ["--cohort", cohort.root, "--spacing", "1.5,1.25,4", "--canonical"]
        let build = try Hemo.spawn(["build"] + args + ["--out", cohort.release("cli-build")])
        #expect(build.wait(seconds: 60) == 0, "\(build.stderr)")
        let run = try Hemo.spawn(["run"] + args + ["--out", cohort.release("cli-run"), "--workers", "2", "--heartbeat-ms", "100"])
        #expect(run.wait(seconds: 60) == 0, "\(run.stderr)")
        let a = try String(contentsOfFile: cohort.release("cli-build") + "/MANIFEST.sha256", encoding: .utf8)
        let b = try String(contentsOfFile: cohort.release("cli-run") + "/MANIFEST.sha256", encoding: .utf8)
        #expect(a == b)
        #expect(a.contains("imagesTr/"))
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

    func collect(_ messages: [WireMessage], attempt: UInt32 = 2, expectsImage: Bool) throws -> (ResultCollector, DoneMessage?) {
        var collector = ResultCollector(exam: CaseID("case_042")!, attempt: attempt, expectsImage: expectsImage)
        var done: DoneMessage?
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

    /// Options that change the grid, so the worker sends the CT it transformed.
    var transforming: ReleaseOptions {
        var o = ReleaseOptions()
        o.canonical = true
        o.gzipLevel = 6
        return o
    }

    /// What `hemo build` writes for `product`, by path.
    func referenceFiles(_ product: CaseProduct, gzipLevel: Int) throws -> [String: [UInt8]] {
        let record = CaseRecord(id: product.id, masks: product.masks)
        let staging = try ReleaseStaging(destination: NSTemporaryDirectory() + "ref-\(UUID().uuidString)", force: true)
        defer { staging.abandon() }
        try CaseFiles.write(product, record: record, into: staging, gzipLevel: gzipLevel)
        var out: [String: [UInt8]] = [:]
        for path in try staging.files() { out[path] = [UInt8](FileManager.default.contents(atPath: staging.folder + "/" + path)!) }
        return out
    }

    @Test func aTransformedCTTravelsOnceAndTheCoordinatorEncodesTheBytesHemoBuildWrites() throws {
        let product = sampleProduct()
        var times = StageTimes()
        let messages = try ResultEncoding.messages(product: product, attempt: 2, options: transforming,
                                                   times: &times, chunker: MaskChunker(slicesPerChunk: 4))
        #expect(!messages.contains { if case .chunk(let c) = $0 { c.maskKind != .bitmask } else { false } })
        let files = Set(messages.compactMap { if case .file(let f) = $0 { f.path } else { nil } })
        #expect(files == [CaseFiles.imagePath(product.id)], "only the CT travels as a file")
        let (collector, done) = try collect(messages, expectsImage: true)
        let result = try collector.result(done: #require(done))
        var writerTimes = StageTimes()
        let written = try result.releaseFiles(cohortCase: nil, options: transforming, times: &writerTimes)
        let reference = try referenceFiles(product, gzipLevel: 6)
        #expect(Dictionary(uniqueKeysWithValues: written.map { ($0.path, $0.bytes) }) == reference)
        #expect(written.count == 3 + 9)
        #expect(written.first?.sha256 != nil, "the CT's digest was verified on arrival")
        #expect(result.record == CaseRecord(id: product.id, masks: product.masks))
        #expect(result.inputs == product.inputs)
        // DONE before every part is an error, not a partial case.
        let (partial, _) = try collect(messages.filter { if case .file(let f) = $0 { f.partIndex != 0 } else { true } }, expectsImage: true)
        #expect(throws: ClusterError.self) { try partial.result(done: #require(done)) }
    }

    @Test func anUntransformedCTStaysHomeAndTheCoordinatorReadsTheInput() throws {
        let cohort = try TinyCohort.make(count: 1)
        let c = try #require(try Cohort.open(cohort.root).cases.first)
        let options = ReleaseOptions()
        var times = StageTimes()
        let product = try CasePipeline.run(c, options: options, threads: 1, times: &times)
        let messages = try ResultEncoding.messages(product: product, attempt: 1, options: options, times: &times)
        #expect(!messages.contains { if case .file = $0 { true } else { false } }, "no CT bytes on the wire")
        var collector = ResultCollector(exam: c.id, attempt: 1)
        var done: DoneMessage?
        for m in messages {
            switch try WireMessage.decode(try m.encode()) {
            case .chunk(let ch): try collector.accept(ch)
            case .done(let d): done = d
            default: Issue.record("unexpected \(m.type)")
            }
        }
        let result = try collector.result(done: #require(done))
        #expect(result.image == nil)
        var writerTimes = StageTimes()
        let written = try result.releaseFiles(cohortCase: c, options: options, times: &writerTimes)
        #expect(Dictionary(uniqueKeysWithValues: written.map { ($0.path, $0.bytes) }) == (try referenceFiles(product, gzipLevel: options.gzipLevel)))
        // A CT that changed on disk since the worker read it is refused, naming the file.
        try Data([UInt8](try Data(contentsOf: URL(fileURLWithPath: c.ct))).reversed()).write(to: URL(fileURLWithPath: c.ct))
        let error = #expect(throws: CaseFailure.self) { try result.releaseFiles(cohortCase: c, options: options, times: &writerTimes) }
        #expect(error != nil)
    }

    @Test func aRecordThatDisagreesWithTheBitmaskOrForeignFilesAreRefused() throws {
        let product = sampleProduct()
        var times = StageTimes()
        let messages = try ResultEncoding.messages(product: product, attempt: 2, options: transforming, times: &times)
        // The same files and record, with a bitmask that lost one voxel.
        var other = product.masks.bitmask
        other.voxels[other.voxels.firstIndex { $0 != 0 }!] = 0
        let otherChunks = try MaskChunker().chunks(bytes: other, kind: .bitmask, exam: product.id, attempt: 2).map { WireMessage.chunk($0) }
        let swapped = otherChunks + messages.filter { if case .chunk = $0 { false } else { true } }
        let (collector, done) = try collect(swapped, expectsImage: true)
        let error = #expect(throws: ClusterError.self) { try collector.result(done: #require(done)) }
        #expect(error?.reason.contains("disagrees with the bitmask") == true, "\(String(describing: error))")
        // A file that is not the case's CT.
        let record = CaseRecord(id: product.id, masks: product.masks)
        var files = try ResultEncoding.encodeFiles(product, options: transforming)
        files[0].path = "boxes/coco.json"
        let foreign = try ResultEncoding.messages(product: product, record: record, files: files, attempt: 2, times: StageTimes())
        let (c2, d2) = try collect(foreign, expectsImage: true)
        let e2 = #expect(throws: ClusterError.self) { try c2.result(done: #require(d2)) }
        #expect(e2?.reason.contains("boxes/coco.json") == true, "\(String(describing: e2))")
        // A CT sent although the options keep the grid.
        let (c4, d4) = try collect(messages, expectsImage: false)
        let e4 = #expect(throws: ClusterError.self) { try c4.result(done: #require(d4)) }
        #expect(e4?.reason.contains("the CT travels only when the options change its grid") == true, "\(String(describing: e4))")
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
