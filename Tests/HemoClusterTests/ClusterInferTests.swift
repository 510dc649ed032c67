import HemoConcurrency
import Foundation
import HemoCluster
import HemoCore
import HemoPseudoLabel
import HemoRelease
import HemoScheduler
import HemoTestKit
import Testing

/// The tiny fixture model, and copies of it that differ from it.
enum ClusterModels {
    static func tiny() throws -> PseudoLabelModel { try PseudoLabelModel(onnxPath: TinyModelFiles.onnxPath) }

    /// A copy of the tiny model whose sidecar filters components differently: the same ONNX file
    /// (same SHA-256), another sidecar, so other pseudo-labels.
    static func otherSidecar() throws -> PseudoLabelModel {
        let folder = NSTemporaryDirectory() + "hemo-cluster-model-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: TinyModelFiles.onnxPath, toPath: folder + "/tiny-model.onnx")
        let sidecar = PseudoLabelModel.sidecarPath(for: TinyModelFiles.onnxPath)
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: sidecar))) as! [String: Any]
        var post = json["postprocess"] as? [String: Any] ?? [:]
        var filter = post["filter"] as? [String: Any] ?? [:]
        filter["min_component_score"] = 0.25
        post["filter"] = filter
        json["postprocess"] = post
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: folder + "/tiny-model.json"))
        return try PseudoLabelModel(onnxPath: folder + "/tiny-model.onnx")
    }
}

extension TinyCohort {
    /// The one-process reference: `hemo infer`'s manifest with `model`.
    func inferManifest(_ model: PseudoLabelModel) throws -> String {
        try PseudoLabelBuilder(model: model, options: ReleaseOptions(), threads: 2, force: true)
            .build(cohort: try Cohort.open(root), destination: release("infer-reference")).manifest
    }
}

/// Pseudo-labelling through the cluster: infer JOBs give `hemo infer`'s release, byte for byte.
@Suite(.serialized) struct ClusterInferTests {
    func inferCoordinator(_ cohort: TinyCohort, out: String, model: PseudoLabelModel,
                          settings: CoordinatorSettings = fastSettings()) throws -> (Coordinator, String) {
        let c = try Coordinator(cohort: try Cohort.open(cohort.root), destination: out, options: ReleaseOptions(),
                                task: .pseudoLabel(model), settings: settings)
        return (c, try c.start())
    }

    @Test(arguments: [TransferMode.shared, .inline])
    func inferJobsGiveHemoInfersRelease(transfer: TransferMode) throws {
        let cohort = try TinyCohort.make(count: 5)
        let model = try ClusterModels.tiny()
        let reference = try cohort.inferManifest(model)
        let (coordinator, endpoint) = try inferCoordinator(cohort, out: cohort.release("cluster-infer"), model: model,
                                                           settings: fastSettings(transfer: transfer))
        // A build-only worker joins too: it advertises no inference and must never be given a job.
        let buildOnly = ThreadWorker.fast(endpoint, id: "build-only", model: .none)
        let workers = (0..<2).map { ThreadWorker.fast(endpoint, id: "infer-\($0)", model: .loaded(model)) }
        let summary = try coordinator.wait()
        #expect(summary.outcome.manifest == reference)
        #expect(summary.outcome.failures.isEmpty)
        #expect(summary.dispatches == 5)
        #expect(buildOnly.worker.statistics.received == 0, "a worker without a model was given infer jobs")
        #expect(summary.wire.fileRawBytes == 0, "no CT bytes travel back: the coordinator writes the input's")
        let provenance = try String(contentsOfFile: cohort.release("cluster-infer") + "/provenance.json", encoding: .utf8)
        #expect(provenance.contains(model.sha256) && provenance.contains(model.sidecarSHA256))
        if transfer == .inline {
            // Inference reads the CT alone: the annotations are not shipped.
            let cohortCases = try Cohort.open(cohort.root).cases
            let ctBytes = try cohortCases.reduce(0) { $0 + (try FileManager.default.attributesOfItem(atPath: $1.ct)[.size] as! Int) }
            #expect(summary.inlineRawBytes == ctBytes)
        }
        for w in workers + [buildOnly] {
            guard case .success(.shutdown)? = w.finished(within: 5) else {
                Issue.record("thread worker did not shut down")
                continue
            }
        }
    }

    @Test func aWorkerHoldingAnotherSidecarIsGivenNoJobAndSpendsNoAttempt() throws {
        let cohort = try TinyCohort.make(count: 4)
        let model = try ClusterModels.tiny()
        let reference = try cohort.inferManifest(model)
        let (coordinator, endpoint) = try inferCoordinator(cohort, out: cohort.release("mixed"), model: model)
        // The mismatched worker joins first; its READY lists its model's digests (protocol 3), so
        // the coordinator never sends it an infer job to refuse.
        let wrong = ThreadWorker.fast(endpoint, id: "a-wrong", model: .loaded(try ClusterModels.otherSidecar()))
        #expect(eventually(10) { coordinator.status?.workers.contains { $0.id.rawValue == "a-wrong" } ?? false })
        Thread.sleep(forTimeInterval: 0.3)
        #expect(wrong.worker.statistics.received == 0)
        let right = ThreadWorker.fast(endpoint, id: "b-right", model: .loaded(model))
        let summary = try coordinator.wait()
        #expect(summary.outcome.manifest == reference)
        #expect(summary.outcome.failures.isEmpty)
        #expect(summary.dispatches == 4, "no job was refused and dispatched again")
        #expect(wrong.worker.statistics.received == 0)
        for w in [wrong, right] { _ = w.finished(within: 5) }
    }

    @Test func workersHoldingAnotherModelAreOfferedNothingAndTheExamsWaitForTheRightModel() throws {
        let cohort = try TinyCohort.make(count: 2)
        let model = try ClusterModels.tiny()
        let reference = try cohort.inferManifest(model)
        let logged = Locked<[String]>([])
        var settings = fastSettings()
        settings.scheduler = SchedulerSettings(heartbeatInterval: .milliseconds(100), livenessIntervals: 3, maxAttempts: 1)
        settings.log = { line in logged.withLock { $0.append(line) } }
        let (coordinator, endpoint) = try inferCoordinator(cohort, out: cohort.release("refused"), model: model, settings: settings)
        // One worker with the same ONNX file but another sidecar, one with another model entirely.
        let sidecar = ThreadWorker.fast(endpoint, id: "sidecar", model: .loaded(try ClusterModels.otherSidecar()))
        let bundled = ThreadWorker.fast(endpoint, id: "bundled", model: .bundledDefault)
        #expect(eventually(20) { coordinator.status?.workers.count == 2 })
        Thread.sleep(forTimeInterval: 0.5)
        // Nothing is quarantined (even with one attempt allowed per exam): the exams wait.
        #expect(sidecar.worker.statistics.received == 0 && bundled.worker.statistics.received == 0)
        #expect(coordinator.snapshot.failed == 0 && coordinator.snapshot.pending == 2)
        #expect(coordinator.status.map { $0.pending } == 2)
        let lines = logged.withLock { $0 }.joined(separator: "\n")
        #expect(lines.contains("worker sidecar holds another model than this run's"), "\(lines)")
        #expect(lines.contains("worker bundled holds another model than this run's"), "\(lines)")
        let right = ThreadWorker.fast(endpoint, id: "right", model: .loaded(model))
        let summary = try coordinator.wait()
        #expect(summary.outcome.manifest == reference)
        #expect(summary.outcome.failures.isEmpty)
        #expect(summary.dispatches == 2)
        for w in [sidecar, bundled, right] { _ = w.finished(within: 5) }
    }

    @Test func aKilledWorkerProcessMidInferenceLeavesTheReleaseUnchanged() throws {
        let cohort = try TinyCohort.make(count: 4)
        let model = try ClusterModels.tiny()
        let reference = try cohort.inferManifest(model)
        let (coordinator, endpoint) = try inferCoordinator(cohort, out: cohort.release("kill-infer"), model: model)
        let rescuer = try killWorkerMidJobThenRescue(coordinator, endpoint: endpoint,
                                                     workerArguments: ["--model", TinyModelFiles.onnxPath])
        let summary = try coordinator.wait()
        #expect(summary.outcome.manifest == reference)
        #expect(summary.outcome.failures.isEmpty)
        #expect(summary.dispatches > 4, "the killed worker's jobs were dispatched again")
        #expect(rescuer.wait(seconds: 10) == 0, "\(rescuer.stderr)")
    }

    @Test func hemoRunWithAModelMatchesHemoInfer() throws {
        let cohort = try TinyCohort.make(count: 4)
        let infer = try Hemo.spawn(["infer", "--cohort", cohort.root, "--out", cohort.release("infer"),
                                    "--model", TinyModelFiles.onnxPath, "--threads", "1"])
        #expect(infer.wait(seconds: 60) == 0, "\(infer.stderr)")
        let run = try Hemo.spawn(["run", "--cohort", cohort.root, "--out", cohort.release("run-infer"), "--workers", "2",
                                  "--heartbeat-ms", "100", "--model", TinyModelFiles.onnxPath])
        #expect(run.wait(seconds: 60) == 0, "\(run.stderr)")
        #expect(run.stdout.contains("pseudo-labels, model tiny-model.onnx"), "\(run.stdout)")
        let expected = try String(contentsOfFile: cohort.release("infer") + "/MANIFEST.sha256", encoding: .utf8)
        let manifest = try String(contentsOfFile: cohort.release("run-infer") + "/MANIFEST.sha256", encoding: .utf8)
        #expect(manifest == expected)

        // A worker given a model that cannot be loaded stops at once with the reason.
        let bad = try Hemo.spawn(["worker", "--connect", "ipc:///nonexistent", "--model", cohort.root + "/missing.onnx"])
        #expect(bad.wait(seconds: 20) == 1)
        #expect(bad.stderr.contains("missing"), "\(bad.stderr)")
    }
}
