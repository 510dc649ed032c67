import HemoCore

/// The coordinator shell's own policy beside the ``Scheduler``, as a pure state machine with the
/// injected clock: back-pressure from the release writers (hysteresis), the limiter of
/// DISCONNECT "unknown worker", the throttle of status refreshes, the receive budget of one batch,
/// the scheduler's tick and its inbox-backlog rule, the heartbeat while committing, and the
/// shutdown grace period.
///
/// The coordinator's poll loop reads its clock once per event and does only the I/O the actions
/// name:
///
/// ```swift
/// for action in policy.on(.resultWritten, now: now) {
///     switch action { case .pauseDispatch: …; case .resumeDispatch: …; … }
/// }
/// ```
public struct CoordinatorPolicy: Sendable {
    /// The policy's knobs.
    public struct Settings: Hashable, Sendable {
        /// The heartbeat interval (the scheduler's).
        public var heartbeatInterval: Duration
        /// Results waiting for the writers above which no JOB is dispatched; dispatch resumes at half.
        public var maxQueuedResults: Int
        /// Messages read in one batch before the tick may run.
        public var receiveBatch: Int
        /// How often the scheduler ticks (also the longest a receive batch lasts).
        public var tickInterval: Duration
        /// Shortest time between two refreshes of the status other threads read.
        public var statusRefresh: Duration = .milliseconds(100)
        /// Shortest time between two "dispatch paused" log lines.
        public var pauseLogInterval: Duration = .seconds(10)
        /// Peers remembered by the DISCONNECT limiter (forgotten all at once above this).
        public var unknownPeerMemory = 10_000

        /// Settings; the tick defaults to a quarter of the heartbeat interval (at least 5 ms).
        public init(heartbeatInterval: Duration = .seconds(1), maxQueuedResults: Int = 32, receiveBatch: Int = 256,
                    tickInterval: Duration? = nil) {
            self.heartbeatInterval = heartbeatInterval
            self.maxQueuedResults = max(1, maxQueuedResults)
            self.receiveBatch = max(1, receiveBatch)
            self.tickInterval = tickInterval ?? max(.milliseconds(5), heartbeatInterval / 4)
        }

        /// How long the coordinator waits, after the commit, for workers to answer "shutdown".
        public var shutdownGrace: Duration { max(.milliseconds(200), heartbeatInterval * 2) }
    }

    /// What happened in the shell.
    public enum Event: Hashable, Sendable {
        /// The poll loop starts serving.
        case started
        /// A verified result was handed to the release writers.
        case resultQueued
        /// A release writer finished one result.
        case resultWritten
        /// The shell applied the scheduler's directives (its counts may have changed).
        case schedulerChanged
        /// A message came from a peer the scheduler does not know.
        case unknownPeer(route: [UInt8])
        /// An exam was released or failed.
        case examFinished
        /// A STATUS request arrived.
        case statusRequested
        /// The poll returned with nothing to read; `now` is when the poll began.
        case pollIdle
        /// The ROUTER became readable: a receive batch begins.
        case batchStarted
        /// The shell may read one more message of this batch (answered by ``Action/receive``) or not.
        case receiveSlot
        /// A receive found the ROUTER empty; `now` is when it was asked.
        case inboxEmpty
        /// One turn of the poll loop ended.
        case turn
        /// Every exam is finished; the release is committing.
        case commitTurn
        /// The release is committed and "shutdown" was sent to these peers, which may answer "leaving".
        case shutdownSent(awaiting: Set<[UInt8]>)
        /// A peer spoke during the grace period; `leaving` when it said DISCONNECT "leaving".
        case peerSpokeInGrace(route: [UInt8], leaving: Bool)
        /// The shell checks whether the grace period is over.
        case graceTurn
    }

    /// What the shell must do, in order.
    public enum Action: Hashable, Sendable {
        /// Tell the scheduler to pause dispatch; `log` carries the results waiting when the pause
        /// should be logged (at most every ``Settings/pauseLogInterval``), and dispatch resumes at `resumeAt`.
        case pauseDispatch(log: Int?, resumeAt: Int)
        /// Tell the scheduler to resume dispatch.
        case resumeDispatch
        /// Store the scheduler's status for other threads.
        case storeStatus
        /// Publish a snapshot; with `workers`, list the workers anew (costly with thousands).
        case publish(workers: Bool)
        /// Answer the STATUS request with a fresh snapshot.
        case replyStatus
        /// Send DISCONNECT "unknown worker" to this peer.
        case tellUnknown(route: [UInt8])
        /// Read one message.
        case receive
        /// Run the scheduler's tick, judging silence only up to `readUntil`; `backlog`, when
        /// given, is how long the inbox has held unread messages, to be logged once.
        case tick(readUntil: SchedulerInstant, backlog: Duration?)
        /// Heartbeat every live worker (while committing).
        case heartbeatAll
        /// Send "shutdown" to this peer again (it spoke after the run ended).
        case resendShutdown(route: [UInt8])
        /// The grace period is over: stop serving.
        case graceOver
    }

    /// The settings.
    public let settings: Settings
    /// Results handed to the writers and not written yet.
    public private(set) var queuedResults = 0
    /// Whether dispatch is paused by back-pressure.
    public private(set) var dispatchPaused = false
    /// Times dispatch was paused.
    public private(set) var dispatchPauses = 0
    private var lastPauseLog: SchedulerInstant?
    private var statusStoredAt: SchedulerInstant?
    private var workersPublishedAt: SchedulerInstant?
    private var toldUnknown: [[UInt8]: SchedulerInstant] = [:]
    private var batchLeft = 0
    private var batchEnds = SchedulerInstant.zero
    /// The latest instant at which the ROUTER held nothing unread: verdicts on silence are given
    /// as of it, never while a live worker's heartbeat may still wait behind a backlog.
    public private(set) var inboxReadUntil = SchedulerInstant.zero
    private var backlogReported = false
    private var lastTick = SchedulerInstant.zero
    private var lastCommitBeat: SchedulerInstant?
    private var graceEnds: SchedulerInstant?
    /// Peers that have not answered "shutdown" yet.
    public private(set) var awaitingLeave: Set<[UInt8]> = []

    /// A policy with `settings`.
    public init(settings: Settings) { self.settings = settings }

    /// Feeds one event at `now` and returns what to do.
    public mutating func on(_ event: Event, now: SchedulerInstant) -> [Action] {
        switch event {
        case .started:
            lastTick = now
            inboxReadUntil = now
            return [.tick(readUntil: now, backlog: nil)] + published(now)
        case .resultQueued:
            queuedResults += 1
            return []
        case .resultWritten:
            queuedResults = max(0, queuedResults - 1)
            return balance(now)
        case .schedulerChanged:
            var actions: [Action] = []
            if statusStoredAt.map({ now.since($0) >= settings.statusRefresh }) ?? true {
                statusStoredAt = now
                actions.append(.storeStatus)
            }
            return actions + balance(now)
        case .unknownPeer(let route):
            if let last = toldUnknown[route], now.since(last) < settings.heartbeatInterval { return [] }
            if toldUnknown.count > settings.unknownPeerMemory { toldUnknown.removeAll() }
            toldUnknown[route] = now
            return [.tellUnknown(route: route)]
        case .examFinished:
            let workers = workersPublishedAt.map { now.since($0) >= settings.statusRefresh } ?? true
            if workers { markPublished(now) }
            return [.publish(workers: workers)]
        case .statusRequested:
            markPublished(now)
            return [.replyStatus]
        case .pollIdle:
            inboxReadUntil = max(inboxReadUntil, now)
            return []
        case .batchStarted:
            batchLeft = settings.receiveBatch
            batchEnds = now + settings.tickInterval
            return []
        case .receiveSlot:
            // A batch ends after `receiveBatch` messages or one tick interval: results are verified
            // as they are read, and a burst must not hold back the tick that heartbeats the workers.
            guard batchLeft > 0, now < batchEnds else { return [] }
            batchLeft -= 1
            return [.receive]
        case .inboxEmpty:
            inboxReadUntil = max(inboxReadUntil, now)
            batchLeft = 0
            return []
        case .turn:
            guard now.since(lastTick) >= settings.tickInterval else { return [] }
            lastTick = now
            let backlog = now.since(inboxReadUntil)
            let saturated = backlog > settings.heartbeatInterval
            let report = saturated && !backlogReported
            backlogReported = saturated
            return [.tick(readUntil: inboxReadUntil, backlog: report ? backlog : nil)] + published(now)
        case .commitTurn:
            if lastCommitBeat == nil { lastCommitBeat = now }
            guard now.since(lastCommitBeat!) >= settings.heartbeatInterval else { return [] }
            lastCommitBeat = now
            return [.heartbeatAll]
        case .shutdownSent(let awaiting):
            awaitingLeave = awaiting
            graceEnds = now + settings.shutdownGrace
            return awaiting.isEmpty ? [.graceOver] : []
        case .peerSpokeInGrace(let route, let leaving):
            if leaving {
                awaitingLeave.remove(route)
                return []
            }
            return [.resendShutdown(route: route)]
        case .graceTurn:
            // It ends early once every live worker answered "shutdown" with DISCONNECT "leaving".
            if awaitingLeave.isEmpty || graceEnds.map({ now >= $0 }) ?? true { return [.graceOver] }
            return []
        }
    }

    private mutating func markPublished(_ now: SchedulerInstant) {
        statusStoredAt = now
        workersPublishedAt = now
    }

    private mutating func published(_ now: SchedulerInstant) -> [Action] {
        markPublished(now)
        return [.publish(workers: true)]
    }

    /// Back-pressure: with `maxQueuedResults` results waiting for the writers, no new JOB goes out
    /// until they are down to half.
    private mutating func balance(_ now: SchedulerInstant) -> [Action] {
        let limit = settings.maxQueuedResults
        if !dispatchPaused && queuedResults >= limit {
            dispatchPaused = true
            dispatchPauses += 1
            var log: Int?
            if lastPauseLog.map({ now.since($0) > settings.pauseLogInterval }) ?? true {
                lastPauseLog = now
                log = queuedResults
            }
            return [.pauseDispatch(log: log, resumeAt: limit / 2)]
        } else if dispatchPaused && queuedResults <= limit / 2 {
            dispatchPaused = false
            return [.resumeDispatch]
        }
        return []
    }
}
