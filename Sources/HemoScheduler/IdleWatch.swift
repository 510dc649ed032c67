/// The coordinator's `--idle-timeout` as a pure state machine: it watches
/// ``Scheduler/progressBlocker`` at each tick and says when the run has been unable to advance
/// for too long (no worker connected, or none able to take the remaining exams), so the shell can
/// end the run with that reason instead of waiting forever.
///
/// Pure value with injected time, like ``Scheduler``:
///
/// ```swift
/// var watch = IdleWatch(timeout: .seconds(60))
/// if case .expired(let reason) = watch.on(blocker: scheduler.progressBlocker, now: now) { … }
/// ```
public struct IdleWatch: Hashable, Sendable {
    /// How long the run may be unable to advance before it ends.
    public let timeout: Duration
    /// Since when the run has been blocked, or `nil` while it can advance.
    public private(set) var blockedSince: SchedulerInstant?

    /// What the shell should do after an observation.
    public enum Verdict: Hashable, Sendable {
        /// The run can advance (or has not been blocked for `timeout` yet): carry on.
        case carryOn
        /// Blocked for at least `timeout`: end the run, with this sentence.
        case expired(reason: String)
    }

    /// A watch that ends a run blocked for `timeout` (at least one millisecond).
    public init(timeout: Duration) {
        self.timeout = max(timeout, .milliseconds(1))
    }

    /// Observes the scheduler's blocker (`nil`: the run can advance) at `now`. The timer restarts
    /// whenever the run can advance again; a blocker that changes wording keeps the timer.
    public mutating func on(blocker: String?, now: SchedulerInstant) -> Verdict {
        guard let blocker else {
            blockedSince = nil
            return .carryOn
        }
        let since = blockedSince ?? now
        blockedSince = since
        let waited = now.since(since)
        guard waited >= timeout else { return .carryOn }
        return .expired(reason: "\(blocker) for \(IdleWatch.format(timeout)) (--idle-timeout)")
    }

    /// Seconds with up to one decimal, e.g. `2 s`, `1.5 s`.
    static func format(_ d: Duration) -> String {
        let s = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        let tenths = (s * 10).rounded() / 10
        return tenths == tenths.rounded() ? "\(Int(tenths)) s" : "\(tenths) s"
    }
}
