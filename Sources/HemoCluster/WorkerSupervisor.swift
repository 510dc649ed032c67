import HemoScheduler

/// How a supervised worker process ended.
public enum WorkerProcessExit: Hashable, Sendable, CustomStringConvertible {
    /// It exited with this status (0: the run ended, or it drained).
    case status(Int32)
    /// A signal killed it.
    case signal(Int32)

    /// `exit status 2`, `killed by signal 9`.
    public var description: String {
        switch self {
        case .status(let s): "exit status \(s)"
        case .signal(let s): "killed by signal \(s)"
        }
    }
}

/// `hemo run`'s supervision of its local worker processes as a pure state machine with an
/// injected clock: the shell starts and reaps processes; this decides what happens next.
///
/// Rules:
/// - **Restart.** A worker that dies (non-zero status, or a signal) is started again in the same
///   slot after a back-off that doubles from ``Settings/initialBackoff`` up to
///   ``Settings/maximumBackoff`` (``ReconnectBackoff``).
/// - **Limit.** A slot restarted ``Settings/maxRestarts`` times in a row gives up. A worker that
///   ran for ``Settings/healthyAfter`` before dying was healthy: its count and back-off start over.
/// - **Clean exit.** A worker that exits 0 (told the run is over, or drained) is not restarted.
/// - **No worker left.** When every slot has given up or exited cleanly,
///   ``Directive/noWorkerLeft(reason:)`` is emitted once: a shell whose run still has exams stops
///   it (the journal keeps what was released, so the same command resumes).
public struct WorkerSupervisor: Hashable, Sendable {
    /// The knobs.
    public struct Settings: Hashable, Sendable {
        /// Restarts in a row after which a slot gives up.
        public var maxRestarts: Int
        /// The first back-off.
        public var initialBackoff: Duration
        /// The longest back-off.
        public var maximumBackoff: Duration
        /// A worker that ran this long before dying was healthy (its restart count starts over).
        public var healthyAfter: Duration

        /// Defaults: 5 restarts in a row, back-off 0.5 s doubling to 8 s, healthy after 60 s.
        public init(maxRestarts: Int = 5, initialBackoff: Duration = .milliseconds(500),
                    maximumBackoff: Duration = .seconds(8), healthyAfter: Duration = .seconds(60)) {
            self.maxRestarts = max(0, maxRestarts)
            self.initialBackoff = initialBackoff
            self.maximumBackoff = maximumBackoff
            self.healthyAfter = healthyAfter
        }
    }

    /// Where one slot is.
    public enum SlotState: Hashable, Sendable {
        /// Not started yet.
        case idle
        /// A process runs, started at `since`.
        case running(since: SchedulerInstant)
        /// Waiting for its back-off to end at `until`.
        case backingOff(until: SchedulerInstant)
        /// Exited with status 0: not restarted.
        case exitedCleanly
        /// Gave up after too many restarts; the sentence says why.
        case gaveUp(reason: String)
    }

    /// Something that happened to the processes.
    public enum Event: Hashable, Sendable {
        /// The supervision starts (start every slot).
        case begin
        /// The process of `slot` ended.
        case exited(slot: Int, WorkerProcessExit)
        /// The shell could not start the process of `slot` (e.g. the executable is gone).
        case startFailed(slot: Int, reason: String)
        /// Time passed.
        case tick
    }

    /// What the shell must do.
    public enum Directive: Hashable, Sendable {
        /// Start (or restart) the process of `slot`.
        case start(slot: Int)
        /// Log: `slot` died and restarts after `after`.
        case willRestart(slot: Int, after: Duration, reason: String)
        /// Log: `slot` gave up.
        case gaveUp(slot: Int, reason: String)
        /// Every slot gave up or exited: a run still going stops with this sentence (emitted once).
        case noWorkerLeft(reason: String)
    }

    /// The settings.
    public let settings: Settings
    /// Each slot's state.
    public private(set) var slots: [SlotState]
    private var restarts: [Int]
    private var backoffs: [ReconnectBackoff]
    private var lastFailure: [String]
    private var announced = false

    /// A supervisor of `workers` slots.
    public init(workers: Int, settings: Settings = Settings()) {
        self.settings = settings
        let n = max(0, workers)
        slots = Array(repeating: .idle, count: n)
        restarts = Array(repeating: 0, count: n)
        backoffs = Array(repeating: ReconnectBackoff(initial: settings.initialBackoff, maximum: settings.maximumBackoff), count: n)
        lastFailure = Array(repeating: "", count: n)
    }

    /// Handles one event at `now` and returns what to do, in slot order.
    public mutating func on(_ event: Event, now: SchedulerInstant) -> [Directive] {
        var out: [Directive] = []
        switch event {
        case .begin:
            for slot in slots.indices where slots[slot] == .idle {
                slots[slot] = .running(since: now)
                out.append(.start(slot: slot))
            }
        case let .exited(slot, exit):
            guard slots.indices.contains(slot), case .running(let since) = slots[slot] else { break }
            if exit == .status(0) {
                slots[slot] = .exitedCleanly
            } else {
                died(slot, reason: "worker \(slot) ended with \(exit)", ranFor: now.since(since), now: now, &out)
            }
        case let .startFailed(slot, reason):
            guard slots.indices.contains(slot), case .running = slots[slot] else { break }
            died(slot, reason: "worker \(slot) could not be started: \(reason)", ranFor: .zero, now: now, &out)
        case .tick:
            for slot in slots.indices {
                if case .backingOff(let until) = slots[slot], now >= until {
                    slots[slot] = .running(since: now)
                    out.append(.start(slot: slot))
                }
            }
        }
        if !announced, !slots.isEmpty, !hasLiveSlot {
            announced = true
            let failed = slots.indices.filter { if case .gaveUp = slots[$0] { true } else { false } }
            if let last = failed.last {
                out.append(.noWorkerLeft(reason: "no worker can run: \(failed.count) of \(slots.count) worker processes died \(settings.maxRestarts + 1) times in a row (last: \(lastFailure[last]))"))
            } else {
                out.append(.noWorkerLeft(reason: "no worker can run: every worker process exited (drained, or told the run is over)"))
            }
        }
        return out
    }

    /// Whether any slot may still run a worker (running, or waiting to restart).
    public var hasLiveSlot: Bool {
        slots.contains { if case .running = $0 { true } else if case .backingOff = $0 { true } else { false } }
    }

    private mutating func died(_ slot: Int, reason: String, ranFor: Duration, now: SchedulerInstant, _ out: inout [Directive]) {
        lastFailure[slot] = reason
        if ranFor >= settings.healthyAfter {
            restarts[slot] = 0
            backoffs[slot].reset()
        }
        guard restarts[slot] < settings.maxRestarts else {
            slots[slot] = .gaveUp(reason: reason)
            out.append(.gaveUp(slot: slot, reason: "\(reason); restarted \(restarts[slot]) times in a row, giving up"))
            return
        }
        restarts[slot] += 1
        let delay = backoffs[slot].nextDelay()
        slots[slot] = .backingOff(until: now + delay)
        out.append(.willRestart(slot: slot, after: delay, reason: reason))
    }
}
