import ArgumentParser
import Foundation
import HemoCluster
import HemoRelease
import HemoScheduler

/// `--idle-timeout`, shared by `hemo coordinator` and `hemo run` (kept apart from the other
/// coordinator options).
struct IdleTimeoutOptionGroup: ParsableArguments {
    @Option(help: "End the run with a non-zero status when, for this many seconds, no worker can take the remaining exams (none connected, or none able to run these jobs); the journal keeps what was released and the same command resumes. 0, the default for `hemo coordinator`, waits for workers forever.")
    var idleTimeout: Double = 0

    func validate() throws {
        guard idleTimeout >= 0, idleTimeout.isFinite else { throw ValidationError("--idle-timeout must be 0 or more seconds") }
    }

    /// Sets ``CoordinatorSettings/idleTimeout`` (0: none).
    func apply(to settings: inout CoordinatorSettings) {
        settings.idleTimeout = idleTimeout > 0 ? .milliseconds(Int64(idleTimeout * 1000)) : nil
    }
}

/// How `hemo run` restarts its worker processes.
struct WorkerSupervisionOptionGroup: ParsableArguments {
    @Option(help: "Restarts in a row of one dead worker process before it is given up; when every worker is given up the run fails (the journal keeps what was released).")
    var workerRestarts: Int = 5

    @Option(help: "First back-off before restarting a dead worker, in milliseconds (doubles per restart, up to 16 times this).")
    var restartBackoffMs: Int = 500

    func validate() throws {
        guard workerRestarts >= 0 else { throw ValidationError("--worker-restarts must be 0 or more") }
        guard restartBackoffMs >= 1 else { throw ValidationError("--restart-backoff-ms must be at least 1") }
    }

    var settings: WorkerSupervisor.Settings {
        WorkerSupervisor.Settings(maxRestarts: workerRestarts, initialBackoff: .milliseconds(restartBackoffMs),
                                  maximumBackoff: .milliseconds(restartBackoffMs * 16))
    }
}

/// The shell of ``WorkerSupervisor`` for `hemo run`: starts, reaps and restarts local worker
/// processes on its own thread; all policy is in the state machine.
final class LocalWorkerPool: @unchecked Sendable {
    private let lock = NSLock()
    private var machine: WorkerSupervisor
    private var processes: [Int: Process] = [:]
    private var stopping = false
    private let launch: (Int) throws -> Process
    private let noWorkerLeft: (String) -> Void
    private let origin = DispatchTime.now().uptimeNanoseconds
    private let done = DispatchSemaphore(value: 0)

    /// A pool of `workers` processes made by `launch(slot)` (started by the pool), calling
    /// `noWorkerLeft` once if every slot gives up or exits.
    init(workers: Int, settings: WorkerSupervisor.Settings, launch: @escaping (Int) throws -> Process,
         noWorkerLeft: @escaping (String) -> Void) {
        machine = WorkerSupervisor(workers: workers, settings: settings)
        self.launch = launch
        self.noWorkerLeft = noWorkerLeft
    }

    private var now: SchedulerInstant { SchedulerInstant(nanoseconds: DispatchTime.now().uptimeNanoseconds - origin) }

    /// Starts every worker and supervises them until ``stop(grace:)``.
    func start() {
        apply(lock.withLock { machine.on(.begin, now: now) })
        let t = Thread { [self] in
            while !lock.withLock({ stopping }) {
                Thread.sleep(forTimeInterval: 0.05)
                var events: [WorkerSupervisor.Event] = []
                lock.withLock {
                    for slot in processes.keys.sorted() {
                        guard let p = processes[slot], !p.isRunning else { continue }
                        processes[slot] = nil
                        let status = p.terminationStatus
                        events.append(.exited(slot: slot, p.terminationReason == .uncaughtSignal ? .signal(status) : .status(status)))
                    }
                }
                for e in events + [.tick] {
                    apply(lock.withLock { stopping ? [] : machine.on(e, now: now) })
                }
            }
            done.signal()
        }
        t.name = "hemo-supervisor"
        t.start()
    }

    private func apply(_ directives: [WorkerSupervisor.Directive]) {
        for d in directives {
            switch d {
            case .start(let slot):
                do {
                    let p = try launch(slot)
                    lock.withLock { processes[slot] = p }
                } catch {
                    apply(lock.withLock { machine.on(.startFailed(slot: slot, reason: "\(error)"), now: now) })
                }
            case .willRestart(_, let after, let reason):
                printError("run: \(reason); restarting it in \(after)")
            case .gaveUp(_, let reason):
                printError("run: \(reason)")
            case .noWorkerLeft(let reason):
                noWorkerLeft(reason)
            }
        }
    }

    /// Stops supervising, waits up to `grace` seconds for the workers to exit, then SIGTERMs,
    /// and after as long again SIGKILLs, those left.
    func stop(grace: Double) {
        lock.withLock { stopping = true }
        done.wait()
        let children = lock.withLock { Array(processes.values) }
        for signal in [Int32(0), SIGTERM, SIGKILL] {
            if signal != 0 { for p in children where p.isRunning { kill(p.processIdentifier, signal) } }
            let deadline = Date().addingTimeInterval(grace)
            while children.contains(where: \.isRunning) && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        }
        for p in children where !p.isRunning { _ = p.terminationStatus }
    }
}

/// `--images copy|link|omit`, shared by `hemo build`, `hemo infer`, `hemo run` and
/// `hemo coordinator` (kept apart from the other release options).
struct ImagesOptionGroup: ParsableArguments {
    @Option(help: "How the release stores each CT: copy (write imagesTr, the default), link (hard-link the input CT when its bytes are exactly what copy would write, else copy; a symbolic link across file systems) or omit (a labels-only release: images.sha256 names each input CT by SHA-256; needs the native grid).")
    var images: String = "copy"

    func validate() throws {
        guard ImageMode(rawValue: images) != nil else { throw ValidationError("--images takes copy, link or omit (got '\(images)')") }
    }

    /// Sets ``ReleaseOptions/images``; a mode that conflicts with the grid options is refused.
    func apply(to options: inout ReleaseOptions) throws {
        options.images = ImageMode(rawValue: images) ?? .copy
        if let why = options.imagesConflict { throw ValidationError(why) }
    }
}
