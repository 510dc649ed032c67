import HemoCore

/// A point in time as the scheduler sees it: nanoseconds since an origin the shell chooses
/// (e.g. the coordinator's start). Injected with every event, so tests control time.
public struct SchedulerInstant: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// Nanoseconds since the origin.
    public var nanoseconds: UInt64

    /// An instant `nanoseconds` after the origin.
    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    /// The origin.
    public static let zero = SchedulerInstant(nanoseconds: 0)

    /// An instant `seconds` after the origin (for tests and examples).
    public static func seconds(_ seconds: Double) -> SchedulerInstant {
        SchedulerInstant(nanoseconds: UInt64(max(0, seconds) * 1e9))
    }

    /// `lhs` moved later by `rhs` (negative durations count as zero; saturates).
    public static func + (lhs: SchedulerInstant, rhs: Duration) -> SchedulerInstant {
        let (result, overflow) = lhs.nanoseconds.addingReportingOverflow(rhs.nanosecondsClamped)
        return SchedulerInstant(nanoseconds: overflow ? .max : result)
    }

    /// Time from `earlier` to `self` (zero when `earlier` is later).
    public func since(_ earlier: SchedulerInstant) -> Duration {
        nanoseconds >= earlier.nanoseconds ? .nanoseconds(Int64(clamping: nanoseconds - earlier.nanoseconds)) : .zero
    }

    /// Orders by time.
    public static func < (a: SchedulerInstant, b: SchedulerInstant) -> Bool { a.nanoseconds < b.nanoseconds }

    /// Seconds since the origin.
    public var description: String { "t=\(Double(nanoseconds) / 1e9)s" }
}

extension Duration {
    /// Whole nanoseconds, clamped to `0...UInt64.max`.
    var nanosecondsClamped: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0, attoseconds >= 0 else { return 0 }
        let (s, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return .max }
        let (total, overflow2) = s.addingReportingOverflow(UInt64(attoseconds / 1_000_000_000))
        return overflow2 ? .max : total
    }
}

/// A worker's identity (its ZeroMQ routing id as text). Ordered byte-wise, for determinism.
public struct WorkerID: Hashable, Comparable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The identifier.
    public let rawValue: String
    /// Wraps an identifier.
    public init(_ rawValue: String) { self.rawValue = rawValue }
    /// A literal identifier.
    public init(stringLiteral value: String) { rawValue = value }
    /// Byte-wise order.
    public static func < (a: WorkerID, b: WorkerID) -> Bool { a.rawValue.utf8.lexicographicallyPrecedes(b.rawValue.utf8) }
    /// The identifier.
    public var description: String { rawValue }
}

/// One exam to schedule.
public struct ExamSpec: Hashable, Sendable {
    /// The exam's identifier.
    public var id: CaseID
    /// Its size estimate (e.g. input bytes); larger exams are dispatched first.
    public var sizeEstimate: UInt64
    /// What a worker must be able to do to take it.
    public var requires: WorkerCapabilities

    /// An exam.
    public init(id: CaseID, sizeEstimate: UInt64, requires: WorkerCapabilities = .build) {
        self.id = id
        self.sizeEstimate = sizeEstimate
        self.requires = requires
    }
}

/// The scheduler's knobs.
public struct SchedulerSettings: Hashable, Sendable {
    /// How often the coordinator heartbeats each worker and expects to hear from it.
    public var heartbeatInterval: Duration = .seconds(1)
    /// A worker silent for this many intervals is dead (Paranoid Pirate's liveness, 3).
    public var livenessIntervals: Int = 3
    /// Attempts per exam before it is quarantined (to failures.csv).
    public var maxAttempts: Int = 3
    /// Jobs beyond a worker's capacity it may hold queued (credit = capacity + prefetch).
    public var prefetch: Int = 1
    /// Longest one attempt may run before it expires and is retried; `nil` for no limit (a dead
    /// worker's jobs are still re-dispatched through heartbeats).
    public var jobTimeout: Duration? = nil

    /// The defaults: 1 s heartbeats, dead after 3 silent intervals, 3 attempts, prefetch 1, no job timeout.
    public init(heartbeatInterval: Duration = .seconds(1), livenessIntervals: Int = 3, maxAttempts: Int = 3,
                prefetch: Int = 1, jobTimeout: Duration? = nil) {
        self.heartbeatInterval = heartbeatInterval
        self.livenessIntervals = max(1, livenessIntervals)
        self.maxAttempts = max(1, maxAttempts)
        self.prefetch = max(0, prefetch)
        self.jobTimeout = jobTimeout
    }

    /// Silence after which a worker is dead.
    public var deadAfter: Duration { heartbeatInterval * livenessIntervals }
}

/// Something that happened, fed to ``Scheduler/on(_:now:)``.
public enum SchedulerEvent: Hashable, Sendable {
    /// READY: a worker joined, or rejoined holding the attempts in `holding` (protocol version 3).
    /// A rejoining worker keeps the attempts it holds that are still its own (or, declared dead
    /// meanwhile, not yet given to anyone else); what it held and does not list fails and is retried.
    case workerReady(WorkerID, capacity: Int, capabilities: WorkerCapabilities, holding: [ExamAttempt] = [])
    /// HEARTBEAT from a worker.
    case heartbeat(WorkerID)
    /// DONE: the worker finished the attempt (its chunks assembled).
    case jobDone(WorkerID, exam: CaseID, attempt: UInt32)
    /// FAILED: the worker could not process the attempt.
    case jobFailed(WorkerID, exam: CaseID, attempt: UInt32, stage: String, reason: String)
    /// FAILED because the worker cannot run such jobs at all (e.g. it holds another model than
    /// the run's): the worker loses the `lacking` capabilities, and the attempt does not count
    /// against the exam, which waits for a capable worker.
    case jobRefused(WorkerID, exam: CaseID, attempt: UInt32, lacking: WorkerCapabilities, reason: String)
    /// The coordinator's assembler rejected a chunk of the attempt.
    case chunkCorrupt(WorkerID, exam: CaseID, attempt: UInt32, reason: String)
    /// DISCONNECT "drain": finish what you hold, take nothing new.
    case workerDraining(WorkerID)
    /// The worker left (DISCONNECT, or the transport reports it gone); its attempts are re-dispatched.
    case workerDisconnected(WorkerID)
    /// Time passed: check liveness, leases and heartbeats. Same as
    /// ``tickAfterReading(until:)`` with the inbox read until `now` (the shell had no backlog).
    case tick
    /// Time passed, from a shell that reads its inbox in bursts: `readUntil` is the latest instant
    /// at which it had handled every message that had arrived (when it last found its socket
    /// empty). Verdicts about silence — a worker dead, a lease expired — are given as of
    /// `readUntil` (or `now` when that is earlier), because a message that proves the worker alive
    /// or finished may be waiting unread after it; heartbeats to workers use `now`.
    case tickAfterReading(until: SchedulerInstant)
    /// The shell ends the run before every exam finished (stopped): cancel every attempt still
    /// out, dispatch nothing more.
    case runEnded(reason: String)
    /// The shell cannot take more results for now (its release writers are behind): dispatch
    /// nothing new until ``resumeDispatch``. Attempts out continue; liveness and leases too.
    case pauseDispatch
    /// The shell can take results again: dispatch resumes.
    case resumeDispatch
}

/// One attempt of one exam, as a worker's READY lists those it holds.
public struct ExamAttempt: Hashable, Sendable {
    /// The exam.
    public var exam: CaseID
    /// The attempt number.
    public var attempt: UInt32

    /// An attempt.
    public init(exam: CaseID, attempt: UInt32) {
        self.exam = exam
        self.attempt = attempt
    }
}

/// Why an attempt ended without a result.
public struct FailureRecord: Hashable, Sendable, CustomStringConvertible {
    /// Where it failed (`read`, `infer`, `transfer`, `worker`, `lease`, …).
    public var stage: String
    /// The reason, naming the file or value.
    public var reason: String
    /// The worker that held the attempt.
    public var worker: WorkerID
    /// The attempt number.
    public var attempt: UInt32

    /// A failure record.
    public init(stage: String, reason: String, worker: WorkerID, attempt: UInt32) {
        self.stage = stage
        self.reason = reason
        self.worker = worker
        self.attempt = attempt
    }

    /// `stage: reason (worker W, attempt N)`.
    public var description: String { "\(stage): \(reason) (worker \(worker), attempt \(attempt))" }
}

/// One JOB to send.
public struct Assignment: Hashable, Sendable {
    /// The dispatch number, unique and increasing within a run.
    public var jobID: UInt64
    /// The exam.
    public var exam: CaseID
    /// The attempt number (1, 2, …); results of other attempts are ignored.
    public var attempt: UInt32
    /// The worker to send it to.
    public var worker: WorkerID
}

/// What the shell must do, returned by ``Scheduler/on(_:now:)`` in a deterministic order.
public enum SchedulerDirective: Hashable, Sendable {
    /// Send a JOB.
    case dispatch(Assignment)
    /// Send CANCEL: the worker drops the attempt (its lease expired, a chunk was corrupt, it was
    /// taken back while the worker was unreachable, or the run ended); later results are ignored.
    case cancel(WorkerID, exam: CaseID, attempt: UInt32, reason: String)
    /// A result was dropped (expired attempt, unknown exam, already finished): log it.
    case ignoreResult(WorkerID, exam: CaseID, attempt: UInt32, reason: String)
    /// Send a HEARTBEAT to the worker.
    case sendHeartbeat(WorkerID)
    /// The worker is considered dead (silent too long); its attempts were re-queued.
    case markWorkerDead(WorkerID, reason: String)
    /// The worker refused a job it cannot run: it gets no more jobs needing `lacking` (until it
    /// sends READY again).
    case workerIncapable(WorkerID, lacking: WorkerCapabilities, reason: String)
    /// The worker is unknown (e.g. declared dead, then spoke): send DISCONNECT so it reconnects with READY.
    case disconnectWorker(WorkerID)
    /// A rejoining worker keeps this attempt (it listed it in READY): the shell collects its result
    /// from that worker as before (anew when it had dropped the collection).
    case attemptKept(WorkerID, exam: CaseID, attempt: UInt32)
    /// The exam is finished; the shell commits its assembled result.
    case examCompleted(CaseID, attempt: UInt32, worker: WorkerID)
    /// The exam failed every allowed attempt: write it to failures.csv with its last error.
    case quarantine(CaseID, lastError: FailureRecord)
    /// Every exam is completed or quarantined (emitted once).
    case allDone
}

/// Errors in the scheduler's set-up.
public enum SchedulerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The exam list names an exam twice.
    case duplicateExam(CaseID)

    /// A sentence.
    public var description: String {
        switch self {
        case .duplicateExam(let id): "exam \(id) appears twice in the exam list"
        }
    }
}

/// Where one exam is.
public enum ExamPhase: Hashable, Sendable {
    /// Waiting for a worker.
    case pending
    /// Dispatched as `attempt` to `worker`.
    case running(attempt: UInt32, worker: WorkerID)
    /// Finished (in this run or, for a resume, before it).
    case completed
    /// Failed every allowed attempt.
    case quarantined(FailureRecord)
}

/// A summary for `hemo status`.
public struct SchedulerStatus: Hashable, Sendable {
    /// One live worker.
    public struct Worker: Hashable, Sendable {
        /// Its identifier.
        public var id: WorkerID
        /// Advertised capacity.
        public var capacity: Int
        /// Attempts it holds.
        public var outstanding: Int
        /// Whether it is draining.
        public var draining: Bool
    }
    /// Exams in the run.
    public var total: Int
    /// Completed exams (including those finished before a resume).
    public var completed: Int
    /// Quarantined exams.
    public var quarantined: Int
    /// Exams running.
    public var running: Int
    /// Exams waiting.
    public var pending: Int
    /// Live workers, by identifier.
    public var workers: [Worker]
}
