import Foundation
import HemoScheduler

/// The coordinator's knobs.
public struct CoordinatorSettings: Sendable {
    /// The ROUTER's bind address; `tcp://127.0.0.1:*` picks a free port (see ``Coordinator/endpoint``).
    public var endpoint: String = "tcp://127.0.0.1:*"
    /// Heartbeats, liveness, attempts, prefetch and leases.
    public var scheduler = SchedulerSettings()
    /// How input files reach workers.
    public var transfer: TransferMode = .shared
    /// Threads writing released cases (so the poll loop keeps serving heartbeats).
    public var writerThreads = 2
    /// The window over which throughput (exams per minute) is measured for status and progress.
    public var throughputWindow: Duration = .seconds(60)
    /// CURVE: the coordinator's keys and the admitted clients; `nil` for plain TCP.
    public var curve: CurveServerConfig?
    /// Allow a non-loopback bind without CURVE.
    public var insecure = false
    /// Replace an existing release folder (a journal of the same options still resumes).
    public var force = false
    /// Log lines (warnings, dropped messages); default: standard error.
    public var log: @Sendable (String) -> Void = { FileHandle.standardError.write(Data(("coordinator: " + $0 + "\n").utf8)) }
    /// Progress after each exam finishes (released or failed).
    public var progress: @Sendable (CoordinatorProgress) -> Void = { _ in }
    /// Receives every ``CoordinatorEvent`` on the poll thread (metrics); `nil`: none.
    public var observer: (@Sendable (CoordinatorEvent) -> Void)?
    /// Messages the poll loop reads from the ROUTER in one go before it runs the scheduler's tick
    /// (liveness, leases, heartbeats) and collects finished writes.
    public var receiveBatch = 256
    /// Results verified and waiting for the writer threads (each holds an exam's encoded files in
    /// memory) above which no new JOB is dispatched; dispatch resumes when half are written. Bounds
    /// the coordinator's memory when the disk, not the workers, is the bottleneck.
    public var maxQueuedResults = 32
    /// End the run (non-zero exit, journal kept) when no worker has been able to take the remaining
    /// exams for this long: none connected, or none capable (``IdleWatch``); `nil`: wait forever.
    public var idleTimeout: Duration?
    /// A pause before each release write (fault drills and tests: makes the writers the
    /// bottleneck); `nil` in normal use. Drill interface: `@_spi(Drills) import HemoCluster`.
    @_spi(Drills) public var writeDelay: Duration?
    /// A pause before the release is committed (fault drills and tests: keeps the commit running
    /// long enough to ask for status or kill the coordinator during it); `nil` in normal use.
    /// Drill interface: `@_spi(Drills) import HemoCluster`.
    @_spi(Drills) public var commitDelay: Duration?

    /// The defaults.
    public init() {}
}
