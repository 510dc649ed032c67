import HemoCore
import HemoRelease
import HemoScheduler
import HemoWire

/// What a coordinator reports to an injected observer (``CoordinatorSettings/observer``), e.g. the
/// Prometheus metrics of `HemoMetrics`.
///
/// Events are delivered synchronously on the coordinator's poll thread (writer completions too,
/// after the poll thread collected them), so an observer must be quick and must not block.
/// Counts the scheduler already keeps (queue depth, in-flight attempts, live workers) are not
/// events: read them from ``Coordinator/status``.
public enum CoordinatorEvent: Sendable {
    /// The run starts: `total` exams in all (unreadable cohort entries included), `resumed` of
    /// them restored from the journal of an earlier run, `unreadable` failed before any dispatch.
    case runStarted(total: Int, resumed: Int, unreadable: Int)
    /// A message of `bytes` (all frames but the routing id) arrived from a worker.
    case received(bytes: Int)
    /// A message of `bytes` (all frames but the routing id) was handed to the socket for a worker.
    case sent(bytes: Int)
    /// An attempt of `exam` was sent to `worker` (an attempt above 1 is a retry).
    case dispatched(exam: CaseID, attempt: UInt32, worker: WorkerID)
    /// A worker's DONE for `exam` was accepted with every chunk; `timings` are the worker's stages.
    case resultAccepted(exam: CaseID, attempt: UInt32, timings: [StageTiming])
    /// A worker reported FAILED for an attempt of `exam` at `stage` (the scheduler may retry it).
    case attemptFailed(exam: CaseID, attempt: UInt32, stage: String)
    /// `exam` was written into the release; `times` are the coordinator's own stages (analyse, write).
    case released(exam: CaseID, times: StageTimes)
    /// `exam` went to failures.csv at `stage` (`input`: unreadable; `write`: the release write
    /// failed; otherwise the stage of its last failed attempt, after the attempts ran out).
    case failed(exam: CaseID, stage: String)
}

/// What a worker reports to an injected observer (``WorkerSettings/observer``).
///
/// Events come from the worker's I/O thread (bytes) and its compute threads (jobs); an observer
/// must be thread-safe, quick and non-blocking.
public enum WorkerEvent: Sendable {
    /// A message of `bytes` arrived from the coordinator.
    case received(bytes: Int)
    /// A message of `bytes` was handed to the socket for the coordinator.
    case sent(bytes: Int)
    /// A compute thread started an attempt of `exam`.
    case jobStarted(exam: CaseID, attempt: UInt32)
    /// A compute thread finished an attempt of `exam` after `seconds` (input materialisation,
    /// pipeline and result encoding); `outcome` is what the worker will send.
    case jobFinished(exam: CaseID, attempt: UInt32, seconds: Double, outcome: WorkerJobOutcome)
}

/// How one worker attempt ended.
public enum WorkerJobOutcome: Sendable {
    /// DONE, with the pipeline's stage timings (as sent in DONE).
    case done(timings: [StageTiming])
    /// FAILED at `stage`.
    case failed(stage: String)

    /// The outcome of the encoded result messages of a job (the last one is DONE or FAILED).
    static func of(_ messages: [[[UInt8]]]) -> WorkerJobOutcome {
        guard let last = messages.last, let message = try? WireMessage.decode(last) else { return .failed(stage: "encode") }
        switch message {
        case .done(let d): return .done(timings: d.timings)
        case .failed(let f): return .failed(stage: f.stage)
        default: return .failed(stage: "encode")
        }
    }
}
