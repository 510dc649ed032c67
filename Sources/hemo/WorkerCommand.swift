import ArgumentParser
import Foundation
@_spi(Drills) import HemoCluster
import HemoMetrics
import HemoPseudoLabel
import ZeroMQ

/// `hemo worker`: process exams for a coordinator.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Process exams for a `hemo coordinator` (Paranoid Pirate: heartbeats, reconnects with back-off).",
        discussion: """
        SIGTERM drains: the worker finishes the jobs it holds, sends DISCONNECT and exits 0.

        On its first message from the coordinator the worker prints "worker: connected: ..." on \
        stderr, and before it exits a last line "worker: exiting: REASON". Exit status: 0 when the \
        coordinator shut the run down or the worker was drained; 1 when a CURVE key file or the \
        --model cannot be read; 2 on a socket or protocol error (e.g. a malformed endpoint, a protocol-version \
        mismatch); 3 when no message came from the coordinator within --first-contact-timeout \
        (nothing listens there, or CURVE refused this worker's key); 4 when the process named by \
        --parent-pid stopped being its parent (`hemo run` died, and its coordinator with it).
        """
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

    @Option(help: "Exit with status 3 when no message from the coordinator arrives within this many seconds of starting (nothing listens at --connect, or CURVE refused this worker's key); 0, the default, waits for it forever (it may start later). Later silences only make the worker reconnect.")
    var firstContactTimeout: Double = 0

    @Option(help: "The ONNX model for infer jobs with its sidecar MODEL.json beside it, or a model folder with model.json (default: hemo's bundled demonstration model, loaded on the first infer job). Jobs naming another model's SHA-256 are refused.")
    var model: String?

    @Flag(help: "Take build jobs only (no model is loaded).")
    var buildOnly = false

    @Option(help: "Exit (status 4) as soon as this process is no longer the worker's parent. `hemo run` passes its own PID, so the workers it starts end with it even when it is killed with SIGKILL; without it a worker waits for its coordinator forever.")
    var parentPid: Int32?

    @Option(help: .hidden)
    var jobDelayMs: Int = 0

    @OptionGroup var metrics: MetricsOptionGroup

    func validate() throws {
        guard threads >= 1, capacity >= 1, liveness >= 1 else { throw ValidationError("--threads, --capacity and --liveness must be at least 1") }
        guard firstContactTimeout >= 0, firstContactTimeout.isFinite else { throw ValidationError("--first-contact-timeout takes seconds, 0 or more") }
        guard heartbeatMs >= 10 else { throw ValidationError("--heartbeat-ms must be at least 10") }
        guard (curveServerKey == nil) == (curveSecret == nil) else { throw ValidationError("--curve-server-key and --curve-secret go together") }
        guard !(buildOnly && model != nil) else { throw ValidationError("--build-only and --model exclude each other") }
        guard parentPid.map({ $0 > 1 }) ?? true else { throw ValidationError("--parent-pid must name a process other than init") }
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
                exiting(because: "error: \(error)")
                throw ExitCode(1)
            }
        }
        settings.maxReconnectDelay = .milliseconds(max(heartbeatMs * 8, 500))
        if let key = curveServerKey, let secret = curveSecret {
            do {
                guard let server = try ClusterKeys.readPublicKeys(key).first else { throw ClusterError(key, "holds no key") }
                settings.curve = CurveClientConfig(serverKey: server, keyPair: try ClusterKeys.readKeyPair(secret))
            } catch {
                exiting(because: "error: \(error)")
                throw ExitCode(1)
            }
        }
        let workerMetrics = metrics.enabled ? WorkerMetrics(capacity: capacity) : nil
        workerMetrics?.install(into: &settings)
        let contact = FirstContact()
        let endpoint = connect
        let earlierObserver = settings.observer
        settings.observer = { event in
            earlierObserver?(event)
            if case .received = event, contact.markReached() {
                printError("worker: connected: the coordinator at \(endpoint) answered")
            }
        }
        let metricsServer = try workerMetrics.flatMap { m in try metrics.serve(label: "worker") { m.exposition() } }
        defer { metricsServer?.stop() }
        let worker = ClusterWorker(settings: settings)
        signal(SIGTERM, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
        source.setEventHandler { worker.drain() }
        source.resume()
        if firstContactTimeout > 0 {
            DispatchQueue.global().asyncAfter(deadline: .now() + firstContactTimeout) {
                if contact.giveUpIfUnreached() { worker.drain() }
            }
        }
        let parentWatch = parentPid.map(Self.exitWhenOrphaned(of:))
        defer { parentWatch?.cancel() }
        let exit: WorkerExit
        do {
            exit = try worker.run()
        } catch {
            exiting(because: "error: \(error)")
            throw ExitCode(2)
        }
        if contact.gaveUp {
            exiting(because: "no message from the coordinator at \(connect) within \(firstContactTimeout.formatted()) s (--first-contact-timeout): nothing listens there, or it refused this worker's CURVE key (is worker.public in its allowed keys, and --curve-server-key its public key?)")
            throw ExitCode(3)
        }
        switch exit {
        case .shutdown: exiting(because: "the coordinator shut the run down; the run is over")
        case .drained: exiting(because: "drained (SIGTERM): the jobs held were finished and DISCONNECT sent")
        }
    }

    /// Checks twice a second that `parent` is still this process's parent; once it is not (it died
    /// and the worker was re-parented), prints the last line and exits with status 4 at once: the
    /// coordinator lived in that process, so there is no one to finish or hand jobs back to.
    private static func exitWhenOrphaned(of parent: Int32) -> DispatchSourceTimer {
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now(), repeating: .milliseconds(500))
        timer.setEventHandler {
            guard getppid() != parent else { return }
            printError("worker: exiting: the process that started this worker (pid \(parent), --parent-pid) is gone, and its coordinator with it")
            _exit(4)
        }
        timer.resume()
        return timer
    }

    /// Prints the worker's last line, "worker: exiting: REASON", on stderr.
    private func exiting(because reason: String) {
        printError("worker: exiting: \(reason)")
    }
}

/// Whether the coordinator was heard from, or the worker gave up waiting for it (thread-safe):
/// whichever happens first wins.
private final class FirstContact: @unchecked Sendable {
    private let lock = NSLock()
    private var reached = false
    private var gaveUpWaiting = false

    /// Records a message from the coordinator; true the first time only (and not after giving up).
    func markReached() -> Bool {
        lock.withLock {
            guard !reached, !gaveUpWaiting else { return false }
            reached = true
            return true
        }
    }

    /// Gives up when the coordinator was never heard from; true when it did give up.
    func giveUpIfUnreached() -> Bool {
        lock.withLock {
            guard !reached else { return false }
            gaveUpWaiting = true
            return true
        }
    }

    /// True once the worker gave up waiting for its first message.
    var gaveUp: Bool { lock.withLock { gaveUpWaiting } }
}
