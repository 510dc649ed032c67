import Foundation

/// The worker's knobs.
public struct WorkerSettings: Sendable {
    /// The coordinator's endpoint.
    public var endpoint: String
    /// This worker's identifier (also its ZeroMQ routing id).
    public var workerID: String
    /// A human-readable name.
    public var workerName: String
    /// Jobs run at once.
    public var capacity: Int = 1
    /// CPU threads in all (split between the running jobs).
    public var threads: Int = 1
    /// Heartbeat interval (must match the coordinator's).
    public var heartbeatInterval: Duration = .seconds(1)
    /// The coordinator is presumed gone after this many silent intervals; the worker reconnects.
    public var livenessIntervals = 3
    /// Longest pause between reconnections (the pause doubles from one interval up to this).
    public var maxReconnectDelay: Duration = .seconds(32)
    /// CURVE client keys, or `nil` for plain TCP.
    public var curve: CurveClientConfig?
    /// The model for infer JOBs (default: hemo's bundled model, loaded on the first infer JOB);
    /// ``WorkerModelSource/none`` advertises build jobs only.
    public var model: WorkerModelSource = .bundledDefault
    /// Where inline inputs are written (a private folder per job inside it).
    public var scratch: String = NSTemporaryDirectory()
    /// A pause before each job (fault drills and tests: keeps a job in flight long enough to kill
    /// the worker or the coordinator mid-job); `nil` in normal use. Drill interface:
    /// `@_spi(Drills) import HemoCluster`.
    @_spi(Drills) public var jobDelay: Duration?
    /// Log lines; default: standard error.
    public var log: @Sendable (String) -> Void = { FileHandle.standardError.write(Data(("worker: " + $0 + "\n").utf8)) }
    /// Receives every ``WorkerEvent`` (metrics), from the I/O and compute threads; `nil`: none.
    public var observer: (@Sendable (WorkerEvent) -> Void)?

    /// Settings for a worker connecting to `endpoint`; the identifier defaults to `host-pid`.
    public init(endpoint: String, workerID: String? = nil) {
        self.endpoint = endpoint
        let host = ProcessInfo.processInfo.hostName.filter { $0.isLetter || $0.isNumber || "-.".contains($0) }.prefix(40)
        let pid = ProcessInfo.processInfo.processIdentifier
        let id = workerID ?? "w-\(host.isEmpty ? "host" : String(host))-\(pid)"
        self.workerID = id
        self.workerName = "\(host) pid \(pid)"
    }
}

/// How a worker ended.
public enum WorkerExit: Sendable, Equatable {
    /// The coordinator finished the run and said so.
    case shutdown
    /// Drained after ``ClusterWorker/drain()`` (SIGTERM): held jobs finished, DISCONNECT sent.
    case drained
}

/// A worker refused by the coordinator in a way retrying cannot fix.
public struct WorkerFatalError: Error, CustomStringConvertible, Sendable {
    /// Why, as a sentence naming the endpoint.
    public var description: String
}
