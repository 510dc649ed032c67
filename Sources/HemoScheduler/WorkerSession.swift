import HemoCore

/// A worker's side of the Paranoid Pirate link to the coordinator, as a pure state machine: when to
/// heartbeat, when the coordinator is presumed gone and the worker reconnects (with exponential
/// back-off), which attempts it holds (so that READY lists them and a rejoining worker keeps
/// them), when a DISCONNECT means "join again" rather than an echo, and how a drain ends.
///
/// Built on ``PeerLiveness`` and ``ReconnectBackoff``. The real worker (`ClusterWorker`) and the
/// scale simulator (`hemo-bench scale-workers`) both feed it events with their clock and only do
/// the I/O it asks for:
///
/// ```swift
/// for action in session.on(.received(.job(attempt)), now: clock.now) {
///     switch action { case .sendReady(let held): …; case .sendHeartbeat: …; … }
/// }
/// ```
public struct WorkerSession: Hashable, Sendable {
    /// The session's knobs.
    public struct Settings: Hashable, Sendable {
        /// Heartbeat interval (the coordinator's).
        public var heartbeatInterval: Duration
        /// Silent intervals after which the coordinator is presumed gone.
        public var livenessIntervals: Int
        /// Longest pause between reconnections (the pause doubles from one interval up to this).
        public var maxReconnectDelay: Duration

        /// Settings.
        public init(heartbeatInterval: Duration = .seconds(1), livenessIntervals: Int = 3, maxReconnectDelay: Duration = .seconds(32)) {
            self.heartbeatInterval = heartbeatInterval
            self.livenessIntervals = max(1, livenessIntervals)
            self.maxReconnectDelay = maxReconnectDelay
        }
    }

    /// What kind of message arrived from the coordinator (the parts of it the session decides on).
    public enum Incoming: Hashable, Sendable {
        /// A JOB for this attempt.
        case job(ExamAttempt)
        /// A CANCEL of this attempt.
        case cancel(ExamAttempt)
        /// A DISCONNECT with its reason.
        case disconnect(reason: String)
        /// Anything else (HEARTBEAT, STATUS reply, …).
        case other
    }

    /// What happened.
    public enum Event: Hashable, Sendable {
        /// A new connection was opened and READY (listing ``held``) was sent on it.
        case connected
        /// A message arrived from the coordinator.
        case received(Incoming)
        /// A message that could not be decoded arrived (it still proves the coordinator alive).
        case receivedMalformed
        /// The compute side finished an attempt; `cancelled` when the coordinator cancelled it while it ran.
        case resultReady(ExamAttempt, cancelled: Bool)
        /// A cancelled attempt was removed from the local queue before it started.
        case cancelledBeforeStart(ExamAttempt)
        /// The operator asked for a drain (SIGTERM).
        case drainRequested
        /// One turn of the shell's loop ended (after polling and handling what arrived).
        case turn
        /// The back-off pause before reconnecting is over.
        case backoffElapsed
    }

    /// What the shell must do, in order.
    public enum Action: Hashable, Sendable {
        /// Queue this JOB for the compute threads (it is now held).
        case startJob(ExamAttempt)
        /// Cancel this held attempt: drop it from the queue if it has not started (then report
        /// ``Event/cancelledBeforeStart(_:)``), else mark it so its result is dropped.
        case cancelJob(ExamAttempt)
        /// Send the finished attempt's result messages.
        case sendResult(ExamAttempt)
        /// Drop the finished attempt's result (the coordinator cancelled it).
        case dropResult(ExamAttempt)
        /// Send READY again on the current connection, listing these held attempts (sorted).
        case sendReady(held: [ExamAttempt])
        /// Send a HEARTBEAT.
        case sendHeartbeat
        /// Send DISCONNECT with this reason (`drain`, `leaving`).
        case sendDisconnect(reason: String)
        /// Close the connection at once (no linger) and wait this long (waking for a drain), then
        /// report ``Event/backoffElapsed``.
        case reconnect(after: Duration)
        /// Open a new connection whose READY lists these held attempts, then report ``Event/connected``.
        case connect(held: [ExamAttempt])
        /// Log this sentence.
        case log(String)
        /// Stop: the run is over (`shutdown`) or the drain finished (`drained`).
        case exit(Exit)
        /// Stop with an error this sentence describes (e.g. a protocol-version mismatch).
        case fail(String)
    }

    /// How the session ended.
    public enum Exit: Hashable, Sendable {
        /// The coordinator finished the run and said so.
        case shutdown
        /// Drained: held jobs finished, DISCONNECT sent.
        case drained
    }

    /// The settings.
    public let settings: Settings
    /// The link to the coordinator.
    public private(set) var liveness: PeerLiveness
    /// The reconnect back-off.
    public private(set) var backoff: ReconnectBackoff
    /// Attempts received and not yet finished (queued or running).
    public private(set) var held: Set<ExamAttempt> = []
    /// Whether a drain was asked for.
    public private(set) var draining = false
    /// Whether DISCONNECT "drain" was sent.
    public private(set) var announcedDrain = false
    /// Whether the session waits out a back-off (no connection).
    public private(set) var reconnecting = false
    /// Reconnections so far.
    public private(set) var reconnections = 0
    /// When READY was last sent.
    public private(set) var lastReady: SchedulerInstant
    /// Whether the coordinator sent anything but a DISCONNECT since that READY: a DISCONNECT that
    /// answers a message sent before the READY arrived is an echo and must not trigger another
    /// READY (a second READY makes the coordinator fail every attempt the worker holds).
    public private(set) var knownSinceReady = false
    /// Whether the session ended.
    public private(set) var finished = false

    /// A session whose first connection (with its READY) opens at `now`.
    public init(settings: Settings, now: SchedulerInstant) {
        self.settings = settings
        liveness = PeerLiveness(interval: settings.heartbeatInterval, livenessIntervals: settings.livenessIntervals, now: now)
        backoff = ReconnectBackoff(initial: settings.heartbeatInterval, maximum: settings.maxReconnectDelay)
        lastReady = now
    }

    /// The held attempts in READY's order (by exam, then attempt).
    public var heldSorted: [ExamAttempt] {
        held.sorted { ($0.exam, $0.attempt) < ($1.exam, $1.attempt) }
    }

    /// Feeds one event at `now` and returns what to do.
    public mutating func on(_ event: Event, now: SchedulerInstant) -> [Action] {
        guard !finished else { return [] }
        switch event {
        case .connected:
            reconnecting = false
            liveness = PeerLiveness(interval: settings.heartbeatInterval, livenessIntervals: settings.livenessIntervals, now: now)
            lastReady = now
            knownSinceReady = false
            return []
        case .receivedMalformed:
            liveness.heard(at: now)
            backoff.reset()
            knownSinceReady = true
            return []
        case .received(let message):
            liveness.heard(at: now)
            backoff.reset()
            if case .disconnect = message {} else { knownSinceReady = true }
            return received(message, now: now)
        case .resultReady(let attempt, let cancelled):
            held.remove(attempt)
            if cancelled { return [.dropResult(attempt)] }
            liveness.sent(at: now)
            return [.sendResult(attempt)]
        case .cancelledBeforeStart(let attempt):
            held.remove(attempt)
            return []
        case .drainRequested:
            draining = true
            return []
        case .turn:
            return turn(now: now)
        case .backoffElapsed:
            if draining && held.isEmpty { return finish(.drained, []) }
            return [.connect(held: heldSorted)]
        }
    }

    private mutating func received(_ message: Incoming, now: SchedulerInstant) -> [Action] {
        switch message {
        case .job(let attempt):
            held.insert(attempt)
            return [.startJob(attempt)]
        case .cancel(let attempt):
            guard held.contains(attempt) else { return [] }
            return [.cancelJob(attempt)]
        case .disconnect(let reason):
            if reason == "shutdown" {
                // Say goodbye, so the coordinator need not wait out its grace period.
                return finish(.shutdown, [.sendDisconnect(reason: "leaving")])
            }
            if reason.hasPrefix("protocol version") {
                finished = true
                return [.fail(reason)]
            }
            // Unknown to the coordinator (it restarted or declared us dead): join again, once.
            guard knownSinceReady || now.since(lastReady) > settings.heartbeatInterval else { return [] }
            lastReady = now
            knownSinceReady = false
            liveness.sent(at: now)
            return [.log("coordinator says '\(reason)': sending READY again"), .sendReady(held: heldSorted)]
        case .other:
            return []
        }
    }

    private mutating func turn(now: SchedulerInstant) -> [Action] {
        guard !reconnecting else { return [] }
        var actions: [Action] = []
        if draining {
            if !announcedDrain {
                announcedDrain = true
                actions.append(.sendDisconnect(reason: "drain"))
                liveness.sent(at: now)
            }
            if held.isEmpty { return finish(.drained, actions + [.sendDisconnect(reason: "leaving")]) }
        }
        if liveness.heartbeatDue(at: now) {
            actions.append(.sendHeartbeat)
            liveness.sent(at: now)
        }
        if liveness.isDead(at: now) {
            let delay = backoff.nextDelay()
            reconnecting = true
            reconnections += 1
            actions.append(.log("coordinator silent for \(settings.livenessIntervals) intervals; reconnecting in \(delay)"))
            actions.append(.reconnect(after: delay))
        }
        return actions
    }

    private mutating func finish(_ exit: Exit, _ actions: [Action]) -> [Action] {
        finished = true
        return actions + [.exit(exit)]
    }
}
