import ArgumentParser
import Foundation
import HemoCluster
import HemoMetrics
import HemoRelease

/// `hemo run`: the embedded default — a loopback coordinator and N child worker processes.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Build (or pseudo-label) a release with a local coordinator and N local `hemo worker` processes (ZeroMQ over a Unix socket).",
        discussion: "The same release as `hemo build` (same MANIFEST.sha256), or with --infer / --model the same as `hemo infer`, computed by worker processes over ZeroMQ. Restart with the same arguments to resume."
    )

    @OptionGroup var io: CohortReleaseOptions

    @Option(help: "Worker processes to start.")
    var workers: Int = 2

    @Option(help: "CPU threads per worker.")
    var threadsPerWorker: Int = 1

    @OptionGroup var release: ReleaseOptionGroup
    @OptionGroup var images: ImagesOptionGroup
    @OptionGroup var coordinator: CoordinatorOptionGroup
    @OptionGroup var task: ClusterTaskOptionGroup
    @OptionGroup var metrics: MetricsOptionGroup
    @OptionGroup var shard: PartOptionGroup
    @OptionGroup var idle: IdleTimeoutOptionGroup
    @OptionGroup var supervision: WorkerSupervisionOptionGroup

    func validate() throws {
        guard workers >= 1, threadsPerWorker >= 1 else { throw ValidationError("--workers and --threads-per-worker must be at least 1") }
        guard !release.probabilities || task.infers else { throw ValidationError(ReleaseOptionGroup.probabilitiesNeedModel) }
    }

    func run() throws {
        var options = try release.releaseOptions()
        try images.apply(to: &options)
        // A Unix-domain socket in the temporary folder: local only, and cheaper than TCP loopback.
        let socketPath = NSTemporaryDirectory() + "hemo-run-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max)).sock"
        defer { unlink(socketPath) }
        var settings = coordinator.settings(endpoint: "ipc://" + socketPath, force: io.force)
        idle.apply(to: &settings)
        let task = try task.task(probabilities: options.probabilities)
        // Workers load the model the coordinator loaded (by absolute path); without --model they
        // load the bundled one on their first infer job.
        var modelArguments: [String] = []
        if case .pseudoLabel(let model) = task, self.task.model != nil {
            modelArguments = ["--model", URL(fileURLWithPath: model.onnxPath).standardizedFileURL.path]
        }
        let (c, coordinatorMetrics) = try CoordinatorRunner.make(settings: settings, label: "run", io: io,
                                                                 options: options, task: task, metrics: metrics,
                                                                 part: shard)
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let metricsServer = try metrics.serve(coordinatorMetrics, of: c, label: "run")
        defer { metricsServer?.stop() }
        var pool: LocalWorkerPool?
        let summary: CoordinatorSummary
        do {
            summary = try CoordinatorRunner.run(c, label: "run") { endpoint in
                printError("coordinator on \(endpoint) (`hemo status \(endpoint)` reports progress)")
                let runID = ProcessInfo.processInfo.processIdentifier
                let p = LocalWorkerPool(workers: workers, settings: supervision.settings, launch: { n in
                    let p = Process()
                    p.executableURL = URL(fileURLWithPath: me)
                    p.arguments = ["worker", "--connect", endpoint, "--threads", "\(threadsPerWorker)",
                                   "--heartbeat-ms", "\(coordinator.heartbeatMs)", "--liveness", "\(coordinator.liveness * 3)",
                                   "--id", "local-\(runID)-\(n)", "--parent-pid", "\(runID)"] + modelArguments
                    try p.run()
                    return p
                }, noWorkerLeft: { reason in c.stop(reason: reason) })
                p.start()
                pool = p
            }
        } catch {
            pool?.stop(grace: 0)
            throw error
        }
        pool?.stop(grace: 5)
        print(CoordinatorRunner.report(summary, task: task))
    }
}
