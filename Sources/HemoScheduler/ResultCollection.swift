import HemoCore

/// The coordinator's collection of result parts by attempt, as a pure value: at most one running
/// attempt per exam, owned by one worker; parts of any other attempt (a retried, cancelled or
/// dead worker's) are refused, so a late message can never mix into the current attempt.
///
/// `Collector` is whatever accumulates the parts (the cluster's `ResultCollector`).
public struct ResultCollection<Collector: Sendable>: Sendable {
    /// One running attempt and its collector.
    public struct Entry: Sendable {
        /// The worker running it.
        public var worker: WorkerID
        /// The attempt number.
        public var attempt: UInt32
        /// The parts so far.
        public var collector: Collector
    }

    private var entries: [CaseID: Entry] = [:]

    /// An empty collection.
    public init() {}

    /// Attempts being collected.
    public var count: Int { entries.count }

    /// The running attempt of `exam`, if any.
    public func running(_ exam: CaseID) -> Entry? { entries[exam] }

    /// A new attempt was dispatched to `worker`: it replaces whatever was collected for the exam.
    public mutating func dispatched(_ exam: CaseID, attempt: UInt32, to worker: WorkerID, collector: Collector) {
        entries[exam] = Entry(worker: worker, attempt: attempt, collector: collector)
    }

    /// A rejoining `worker` keeps `attempt`: collection starts anew unless it is already the running one.
    public mutating func kept(_ exam: CaseID, attempt: UInt32, by worker: WorkerID, collector: () -> Collector) {
        if let e = entries[exam], e.attempt == attempt, e.worker == worker { return }
        entries[exam] = Entry(worker: worker, attempt: attempt, collector: collector())
    }

    /// What happened to a part.
    public enum PartOutcome<Failure: Error>: Sendable where Failure: Sendable {
        /// Stored.
        case accepted
        /// Not the worker's running attempt of that exam: ignored.
        case notRunning
        /// Refused by the collector (corrupt): the attempt is dropped.
        case rejected(Failure)
    }

    /// A part of `attempt` from `worker`: stored by `accept` when it is the running attempt.
    public mutating func part<Failure: Error & Sendable>(_ exam: CaseID, attempt: UInt32, from worker: WorkerID,
                                                         accept: (inout Collector) throws(Failure) -> Void) -> PartOutcome<Failure> {
        guard var e = entries[exam], e.attempt == attempt, e.worker == worker else { return .notRunning }
        do {
            try accept(&e.collector)
            entries[exam] = e
            return .accepted
        } catch {
            entries[exam] = nil
            return .rejected(error)
        }
    }

    /// DONE of `attempt` from `worker`: the collector when it is the running attempt (removed), else `nil`.
    public mutating func finish(_ exam: CaseID, attempt: UInt32, from worker: WorkerID) -> Collector? {
        guard let e = entries[exam], e.attempt == attempt, e.worker == worker else { return nil }
        entries[exam] = nil
        return e.collector
    }

    /// The attempt ended without a result (FAILED, cancelled): dropped when it is the running one.
    public mutating func drop(_ exam: CaseID, attempt: UInt32) {
        if entries[exam]?.attempt == attempt { entries[exam] = nil }
    }

    /// `worker` is dead: every attempt it was running is dropped.
    public mutating func dropAll(of worker: WorkerID) {
        entries = entries.filter { $0.value.worker != worker }
    }
}
