/// Exams finished per minute over a sliding window, for `hemo status` and progress bars.
///
/// A pure value fed with instants (the scheduler's clock), so tests control time. The rate is
/// the number of exams finished in the last ``window`` divided by the window, or by the time
/// since ``start`` while the run is younger than the window.
public struct ThroughputWindow: Sendable {
    /// How far back finished exams count.
    public let window: Duration
    /// When the run (or this coordinator) started serving.
    public let start: SchedulerInstant
    private var finishes: [SchedulerInstant] = []
    private var head = 0

    /// A window of `window` (at least 1 ms) for a run started at `start`.
    public init(window: Duration = .seconds(60), start: SchedulerInstant = .zero) {
        self.window = max(window, .milliseconds(1))
        self.start = start
    }

    /// Records `count` exams finished at `now` (instants must not go backwards).
    public mutating func record(_ count: Int = 1, at now: SchedulerInstant) {
        for _ in 0..<max(0, count) { finishes.append(now) }
        prune(now)
    }

    /// Exams finished in the window ending at `now`.
    public func finished(inWindowEndingAt now: SchedulerInstant) -> Int {
        var n = 0
        for t in finishes[head...].reversed() {
            guard now.since(t) < window else { break }
            n += 1
        }
        return n
    }

    /// Exams per minute in the window ending at `now`, and the window's length in seconds
    /// (shorter than ``window`` early in the run; 0 and 0 at its very start).
    public func rate(at now: SchedulerInstant) -> (examsPerMinute: Double, windowSeconds: Double) {
        let span = min(now.since(start), window)
        let seconds = Double(span.components.seconds) + Double(span.components.attoseconds) / 1e18
        guard seconds > 0 else { return (0, 0) }
        return (Double(finished(inWindowEndingAt: now)) / seconds * 60, seconds)
    }

    private mutating func prune(_ now: SchedulerInstant) {
        while head < finishes.count, now.since(finishes[head]) >= window { head += 1 }
        if head > 1024 && head * 2 > finishes.count {
            finishes.removeFirst(head)
            head = 0
        }
    }
}
