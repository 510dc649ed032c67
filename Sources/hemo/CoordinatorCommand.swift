import ArgumentParser
import Foundation
import HemoCluster
import HemoMetrics
import HemoCore
import HemoPseudoLabel
import HemoRelease
import HemoScheduler
import ZeroMQ

/// Options of a coordinator, shared by `hemo coordinator` and `hemo run`.
struct CoordinatorOptionGroup: ParsableArguments {
    @Option(help: "Heartbeat interval in milliseconds (workers must use the same).")
    var heartbeatMs: Int = 1000

    @Option(help: "A worker silent for this many heartbeat intervals is dead; its jobs are re-dispatched.")
    var liveness: Int = 3

    @Option(help: "Attempts per exam before it goes to failures.csv.")
    var maxAttempts: Int = 3

    @Option(help: "Longest one attempt may run, in seconds (0: no limit).")
    var jobTimeout: Double = 0

    @Option(help: "How inputs reach workers: shared (paths on shared storage) or inline (files sent in the JOB, LZ4).")
    var transfer: String = "shared"

    @Option(help: "Threads writing released cases on the coordinator.")
    var writerThreads: Int = 2

    @Option(help: "Verified results waiting for the writers (each holds an exam's files in memory) above which dispatch pauses until half are written.")
    var maxQueuedResults: Int = 32

    func validate() throws {
        guard heartbeatMs >= 10 else { throw ValidationError("--heartbeat-ms must be at least 10") }
        guard liveness >= 1, maxAttempts >= 1, writerThreads >= 1, maxQueuedResults >= 1 else {
            throw ValidationError("--liveness, --max-attempts, --writer-threads and --max-queued-results must be at least 1")
        }
        guard TransferMode(rawValue: transfer) != nil else { throw ValidationError("--transfer takes shared or inline (got '\(transfer)')") }
        guard jobTimeout >= 0 else { throw ValidationError("--job-timeout must be 0 or more seconds") }
    }

    func settings(endpoint: String, force: Bool) -> CoordinatorSettings {
        var s = CoordinatorSettings()
        s.endpoint = endpoint
        s.scheduler = SchedulerSettings(heartbeatInterval: .milliseconds(heartbeatMs), livenessIntervals: liveness,
                                        maxAttempts: maxAttempts, prefetch: 1,
                                        jobTimeout: jobTimeout > 0 ? .milliseconds(Int64(jobTimeout * 1000)) : nil)
        s.transfer = TransferMode(rawValue: transfer) ?? .shared
        s.writerThreads = writerThreads
        s.maxQueuedResults = maxQueuedResults
        s.force = force
        return s
    }
}

/// What a coordinated run computes, shared by `hemo coordinator` and `hemo run`: a build, or
/// pseudo-labels with a model (`--infer`, `--model`).
struct ClusterTaskOptionGroup: ParsableArguments {
    @Flag(help: "Pseudo-label the cohort (as `hemo infer`) instead of building from annotations; the model is --model or hemo's bundled demonstration model.")
    var infer = false

    @Option(help: "The ONNX model for pseudo-labels with its sidecar MODEL.json beside it, or a model folder with model.json (implies --infer). Workers must hold the same model: give them the same --model.")
    var model: String?

    /// Whether the run pseudo-labels.
    var infers: Bool { infer || model != nil }

    /// The task, loading the model when pseudo-labelling; a model that cannot be loaded (or that
    /// gives no probability maps when `probabilities` asks for them) is printed and exits 1.
    func task(probabilities: Bool = false) throws -> ClusterTask {
        guard infers else { return .build }
        return .pseudoLabel(try InferCommand.loadModelOrExit(model, probabilities: probabilities))
    }
}

/// Runs a coordinator to completion and prints the summary.
enum CoordinatorRunner {
    /// The coordinator of `io` with a progress bar (throughput, ETA) and, when asked, metrics
    /// hooks. A cohort or release that cannot be opened is printed and exits 1.
    static func make(settings: CoordinatorSettings, label: String, io: CohortReleaseOptions, options: ReleaseOptions,
                     task: ClusterTask, metrics: MetricsOptionGroup,
                     part: PartOptionGroup? = nil) throws -> (Coordinator, CoordinatorMetrics?) {
        var settings = settings
        let progress = ProgressReporter(label: label)
        settings.progress = { p in
            progress.update(done: p.done, total: p.total, failed: p.failed,
                            examsPerMinute: p.snapshot.examsPerMinute, etaSeconds: .some(p.snapshot.etaSeconds))
        }
        let coordinatorMetrics = metrics.coordinatorMetrics(installedInto: &settings)
        do {
            let cohort = try io.openCohort(options)
            return (try Coordinator(cohort: part?.apply(to: cohort) ?? cohort, destination: io.out, options: options, task: task,
                                    settings: settings),
                    coordinatorMetrics)
        } catch let e as ExitCode {
            throw e
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
    }

    static func run(_ coordinator: Coordinator, label: String, onStart: (String) -> Void = { _ in }) throws -> CoordinatorSummary {
        // SIGINT / SIGTERM stop the run: attempts in flight are cancelled on their workers, the
        // journal keeps what was released, and a restart with the same arguments resumes.
        var signalSources: [DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { coordinator.stop() }
            source.resume()
            signalSources.append(source)
        }
        defer { for source in signalSources { source.cancel() } }
        let endpoint: String
        do { endpoint = try coordinator.start() } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        onStart(endpoint)
        do { return try coordinator.wait() } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
    }

    static func report(_ s: CoordinatorSummary, task: ClusterTask) -> String {
        var model: PseudoLabelModel?
        if case .pseudoLabel(let m) = task { model = m }
        let records = s.outcome.records
        var lesions: [Subtype: Int] = [:]
        for r in records { for l in r.lesions { lesions[l.subtype, default: 0] += 1 } }
        var lines = ["release: \(s.release)\(model.map { " (pseudo-labels, model \($0.fileName) sha256 \($0.sha256))" } ?? "")",
                     "cases: \(records.count), slices: \(records.reduce(0) { $0 + $1.sliceCount }), failures: \(s.outcome.failures.count), time: \(String(format: "%.2f", s.seconds)) s (\(String(format: "%.2f", Double(records.count - s.resumed) / max(s.seconds, 1e-9))) exams/s)\(s.resumed > 0 ? ", \(s.resumed) resumed from the journal" : "")"]
        lines.append("lesions: " + Subtype.allCases.map { "\($0.name) \(lesions[$0] ?? 0)" }.joined(separator: ", "))
        lines.append("wire: \(s.dispatches) jobs, \(s.jobBytesSent) bytes sent, \(s.resultBytesReceived) bytes received, \(String(format: "%.0f", s.wireBytesPerExam)) bytes/exam, mask chunks LZ4 ratio \(String(format: "%.2f", s.chunkCompressionRatio)) (\(s.chunkRawBytes) → \(s.chunkPayloadBytes) bytes), release files \(s.wire.fileRawBytes) → \(s.wire.filePayloadBytes) bytes (LZ4 ratio \(String(format: "%.3f", s.fileCompressionRatio)))"
                     + (s.wire.cancelsSent > 0 ? ", \(s.wire.cancelsSent) cancels sent" : "")
                     + (s.wire.dispatchPauses > 0 ? ", dispatch paused \(s.wire.dispatchPauses) times for the writers" : "")
                     + (s.inlineRawBytes > 0 ? ", inline inputs \(s.inlineRawBytes) → \(s.inlineCompressedBytes) bytes" : "")
                     + (s.droppedMessages > 0 ? ", \(s.droppedMessages) malformed messages dropped" : ""))
        lines.append("stage seconds (workers and coordinator writers, summed over exams): " + s.workerStages.entries.map { "\($0.0) \(String(format: "%.2f", $0.1))" }.joined(separator: ", "))
        for f in s.outcome.failures.prefix(20) { lines.append("failed: \(f.caseName) [\(f.stage)] \(f.reason)") }
        return lines.joined(separator: "\n")
    }

    static func curveServer(secret: String?, allowed: String?) throws -> CurveServerConfig? {
        switch (secret, allowed) {
        case (nil, nil): return nil
        case (let s?, let a?):
            do { return CurveServerConfig(keyPair: try ClusterKeys.readKeyPair(s), allowedKeys: try ClusterKeys.readPublicKeys(a)) } catch {
                printError("error: \(error)")
                throw ExitCode(1)
            }
        default:
            throw ValidationError("--curve-secret and --allowed-keys go together")
        }
    }
}

/// `hemo coordinator`: serve a cohort's exams to workers and assemble the release.
struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Serve a cohort's exams to `hemo worker`s over ZeroMQ and assemble the release.",
        discussion: "Builds `hemo build`'s release, or with --infer / --model `hemo infer`'s pseudo-label release (workers then need the same model). Restarting with the same arguments resumes from the journal beside the release. SIGINT or SIGTERM stops the run: attempts in flight are cancelled on their workers and the journal keeps what was released. Binding a non-loopback address needs CURVE keys (--curve-secret, --allowed-keys) or --insecure. `hemo status ENDPOINT` reports progress and throughput."
    )

    @OptionGroup var io: CohortReleaseOptions

    @Option(help: "The ROUTER's bind address, e.g. tcp://127.0.0.1:5555 or tcp://0.0.0.0:5555.")
    var bind: String = "tcp://127.0.0.1:5555"

    @OptionGroup var release: ReleaseOptionGroup
    @OptionGroup var images: ImagesOptionGroup
    @OptionGroup var coordinator: CoordinatorOptionGroup
    @OptionGroup var task: ClusterTaskOptionGroup

    @Option(help: "This coordinator's secret key file (from `hemo keygen`): enables CURVE.")
    var curveSecret: String?

    @Option(help: "File of worker public keys (one z85 key per line) admitted under CURVE.")
    var allowedKeys: String?

    @Flag(help: "Allow a non-loopback bind without CURVE (trusted networks only).")
    var insecure = false

    @OptionGroup var metrics: MetricsOptionGroup
    @OptionGroup var idle: IdleTimeoutOptionGroup

    @OptionGroup var shard: PartOptionGroup

    func validate() throws {
        guard !release.probabilities || task.infers else { throw ValidationError(ReleaseOptionGroup.probabilitiesNeedModel) }
    }

    func run() throws {
        var options = try release.releaseOptions()
        try images.apply(to: &options)
        var settings = coordinator.settings(endpoint: bind, force: io.force)
        idle.apply(to: &settings)
        settings.curve = try CoordinatorRunner.curveServer(secret: curveSecret, allowed: allowedKeys)
        settings.insecure = insecure
        let task = try task.task(probabilities: options.probabilities)
        let (c, coordinatorMetrics) = try CoordinatorRunner.make(settings: settings, label: "coordinator", io: io,
                                                                 options: options, task: task, metrics: metrics,
                                                                 part: shard)
        let metricsServer = try metrics.serve(coordinatorMetrics, of: c, label: "coordinator")
        defer { metricsServer?.stop() }
        let summary = try CoordinatorRunner.run(c, label: "coordinator") { endpoint in
            FileHandle.standardOutput.write(Data("listening on \(endpoint)\n".utf8))
        }
        print(CoordinatorRunner.report(summary, task: task))
    }
}
