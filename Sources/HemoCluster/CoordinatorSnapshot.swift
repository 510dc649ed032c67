import HemoScheduler
import HemoWire

/// Bytes and messages a coordinator moved, counted on its poll thread.
public struct WireCounters: Sendable, Equatable {
    /// Attempts dispatched (JOBs sent; more than the exams when some were retried).
    public var dispatches = 0
    /// Bytes of JOB messages sent.
    public var jobBytesSent = 0
    /// Bytes of CHUNK, FILE, DONE and FAILED messages received.
    public var resultBytesReceived = 0
    /// Uncompressed and LZ4 bytes of the accepted bitmask chunks of released exams.
    public var maskRawBytes = 0, maskPayloadBytes = 0
    /// Uncompressed and LZ4 bytes of the accepted release-file parts of released exams.
    public var fileRawBytes = 0, filePayloadBytes = 0
    /// Uncompressed and LZ4 bytes of inline input files sent.
    public var inlineRawBytes = 0, inlineCompressedBytes = 0
    /// CANCEL messages sent.
    public var cancelsSent = 0
    /// Messages dropped as malformed or unexpected.
    public var droppedMessages = 0
    /// Times dispatch was paused because the release writers were behind (back-pressure).
    public var dispatchPauses = 0

    /// Counters at zero.
    public init() {}
}

/// Everything a running coordinator can tell about itself, in one value: what `hemo status`
/// answers, what the progress bar shows, what a metrics exporter reads.
///
/// Published by the poll thread (after each finished exam and on every scheduler tick), read
/// from any thread through ``Coordinator/snapshot``.
public struct CoordinatorSnapshot: Sendable {
    /// Exams in the run, including inputs rejected before scheduling.
    public var examsTotal = 0
    /// Exams released (including those restored from the journal).
    public var released = 0
    /// Exams failed (quarantined, rejected inputs, failed writes).
    public var failed = 0
    /// Exams dispatched and not yet released or failed (including results being written).
    public var inFlight = 0
    /// Exams waiting for a worker.
    public var pending = 0
    /// Exams restored from the journal of an earlier run.
    public var resumed = 0
    /// Exams finished per minute over the last ``windowSeconds``.
    public var examsPerMinute = 0.0
    /// The window the throughput was measured over, in seconds.
    public var windowSeconds = 0.0
    /// Seconds since the coordinator started serving.
    public var elapsedSeconds = 0.0
    /// Live workers, by identifier.
    public var workers: [WorkerStatus] = []
    /// Wire traffic.
    public var wire = WireCounters()

    /// A snapshot with every count at zero.
    public init() {}

    /// Exams finished: released or failed.
    public var done: Int { released + failed }

    /// Seconds until the exams left are done at the current throughput; `nil` while unknown.
    public var etaSeconds: Double? { statusReply().etaSeconds }

    /// The STATUS-REPLY a `hemo status` client receives.
    public func statusReply() -> StatusReply {
        StatusReply(examsTotal: examsTotal, completed: released, quarantined: failed, running: inFlight, pending: pending,
                    examsPerMinute: examsPerMinute, windowSeconds: windowSeconds, elapsedSeconds: elapsedSeconds,
                    workers: Array(workers.prefix(WireProtocol.maxStatusWorkers)))
    }
}
