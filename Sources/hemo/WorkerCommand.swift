import ArgumentParser
import Foundation
import HemoCluster
import HemoMetrics
import HemoPseudoLabel
import ZeroMQ

/// `hemo worker`: process exams for a coordinator.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Process exams for a `hemo coordinator` (Paranoid Pirate: heartbeats, reconnects with back-off).",
        discussion: "SIGTERM drains: the worker finishes the jobs it holds, sends DISCONNECT and exits 0."
    )

    @Option(help: "The coordinator's endpoint, e.g. tcp://10.0.0.5:5555.")
    var connect: String

    @Option(help: "CPU threads in all.")
    var threads: Int = 1

    @Option(help: "Jobs run at once.")
    var capacity: Int = 1

    @Option(help: "Heartbeat interval in milliseconds (the coordinator's).")
    var heartbeatMs: Int = 1000

    @Option(help: "The coordinator is presumed gone (reconnect) after this many silent intervals; patient by default, since reconnecting makes the coordinator retry the jobs held.")
    var liveness: Int = 6

    @Option(help: "This worker's identifier (default: host-pid).")
    var id: String?

    @Option(help: "The coordinator's public key file: enables CURVE.")
    var curveServerKey: String?

    @Option(help: "This worker's secret key file (from `hemo keygen`).")
    var curveSecret: String?

    @Option(help: "The ONNX model for infer jobs, its sidecar MODEL.json beside it (default: hemo's bundled demonstration model, loaded on the first infer job). Jobs naming another model's SHA-256 are refused.")
    var model: String?

    @Flag(help: "Take build jobs only (no model is loaded).")
    var buildOnly = false

    @Option(help: .hidden)
    var jobDelayMs: Int = 0

    @OptionGroup var metrics: MetricsOptionGroup

    func validate() throws {
        guard threads >= 1, capacity >= 1, liveness >= 1 else { throw ValidationError("--threads, --capacity and --liveness must be at least 1") }
        guard heartbeatMs >= 10 else { throw ValidationError("--heartbeat-ms must be at least 10") }
        guard (curveServerKey == nil) == (curveSecret == nil) else { throw ValidationError("--curve-server-key and --curve-secret go together") }
        guard !(buildOnly && model != nil) else { throw ValidationError("--build-only and --model exclude each other") }
    }

    func run() throws {
        var settings = WorkerSettings(endpoint: connect, workerID: id)
        settings.threads = threads
        settings.capacity = capacity
        settings.heartbeatInterval = .milliseconds(heartbeatMs)
        settings.livenessIntervals = liveness
        if jobDelayMs > 0 { settings.jobDelay = .milliseconds(jobDelayMs) }
        if buildOnly {
            settings.model = .none
        } else if let model {
            // Loaded now, so a wrong path or a sidecar mismatch stops the worker before it joins.
            do { settings.model = .loaded(try PseudoLabelModel(onnxPath: model)) } catch {
                printError("error: \(error)")
                throw ExitCode(1)
            }
        }
        settings.maxReconnectDelay = .milliseconds(max(heartbeatMs * 8, 500))
        if let key = curveServerKey, let secret = curveSecret {
            do {
                guard let server = try ClusterKeys.readPublicKeys(key).first else { throw ClusterError(key, "holds no key") }
                settings.curve = CurveClientConfig(serverKey: server, keyPair: try ClusterKeys.readKeyPair(secret))
            } catch {
                printError("error: \(error)")
                throw ExitCode(1)
            }
        }
        let workerMetrics = metrics.enabled ? WorkerMetrics(capacity: capacity) : nil
        workerMetrics?.install(into: &settings)
        let metricsServer = try workerMetrics.flatMap { m in try metrics.serve(label: "worker") { m.exposition() } }
        defer { metricsServer?.stop() }
        let worker = ClusterWorker(settings: settings)
        signal(SIGTERM, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
        source.setEventHandler { worker.drain() }
        source.resume()
        do {
            _ = try worker.run()
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
    }
}
