import Foundation
import HemoScheduler

/// A clock that moves only when a test says so, for the pure state machines (``Scheduler``,
/// `CoordinatorPolicy`, `WorkerSession`) that take `now:` with each event. Thread-safe.
///
/// ```swift
/// let clock = ManualClock()
/// _ = session.on(.turn, now: clock.now)
/// clock.advance(by: .seconds(1))
/// ```
public final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var instant: SchedulerInstant

    /// A clock at `start` (the origin by default).
    public init(start: SchedulerInstant = .zero) { instant = start }

    /// The current instant.
    public var now: SchedulerInstant { lock.withLock { instant } }

    /// Moves time forward by `duration` (negative durations count as zero) and returns the new instant.
    @discardableResult
    public func advance(by duration: Duration) -> SchedulerInstant {
        lock.withLock {
            instant = instant + duration
            return instant
        }
    }
}

/// Polls `condition` every 10 ms until it holds or `seconds` passed; whether it held. For tests
/// that wait on another process or thread (a state machine under a ``ManualClock`` needs none).
@discardableResult
public func eventually(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.01)
    }
    return try condition()
}
