/// One side's view of its peer in the Paranoid Pirate pattern, for the worker shell (its view of
/// the coordinator) or any other link: when to send a heartbeat, when the peer is dead.
///
/// Pure value with injected time, like ``Scheduler``.
public struct PeerLiveness: Hashable, Sendable {
    /// Heartbeat interval.
    public var interval: Duration
    /// Silent intervals after which the peer is dead.
    public var livenessIntervals: Int
    /// When the peer was last heard.
    public private(set) var lastHeard: SchedulerInstant
    /// When we last sent the peer anything.
    public private(set) var lastSent: SchedulerInstant

    /// A link that starts now: heard and sent at `now`.
    public init(interval: Duration = .seconds(1), livenessIntervals: Int = 3, now: SchedulerInstant) {
        self.interval = interval
        self.livenessIntervals = max(1, livenessIntervals)
        self.lastHeard = now
        self.lastSent = now
    }

    /// Any message from the peer proves it alive.
    public mutating func heard(at now: SchedulerInstant) { if now > lastHeard { lastHeard = now } }

    /// Any message to the peer counts as a heartbeat.
    public mutating func sent(at now: SchedulerInstant) { if now > lastSent { lastSent = now } }

    /// Whether a HEARTBEAT should be sent now (nothing was sent for one interval).
    public func heartbeatDue(at now: SchedulerInstant) -> Bool { now.since(lastSent) >= interval }

    /// Whether the peer has been silent for more than `livenessIntervals` intervals.
    public func isDead(at now: SchedulerInstant) -> Bool { now.since(lastHeard) > interval * livenessIntervals }
}

/// Exponential reconnect back-off (Paranoid Pirate): the delay doubles after each failed attempt up
/// to a ceiling, and goes back to the start once a connection is healthy again.
public struct ReconnectBackoff: Hashable, Sendable {
    /// First delay.
    public var initial: Duration
    /// Longest delay.
    public var maximum: Duration
    /// The delay the next ``nextDelay()`` returns.
    public private(set) var current: Duration

    /// A back-off from `initial` doubling up to `maximum`.
    public init(initial: Duration = .seconds(1), maximum: Duration = .seconds(32)) {
        self.initial = max(initial, .milliseconds(1))
        self.maximum = max(maximum, self.initial)
        self.current = self.initial
    }

    /// The delay to wait before the next reconnect; doubles the one after it (capped).
    public mutating func nextDelay() -> Duration {
        let delay = current
        current = min(current * 2, maximum)
        return delay
    }

    /// Back to ``initial`` after a healthy exchange.
    public mutating func reset() { current = initial }
}
