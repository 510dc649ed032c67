import Testing
@testable import HemoScheduler

@Suite("Peer liveness and reconnect back-off")
struct PeerLivenessTests {
    @Test func aPeerIsDeadAfterThreeSilentIntervals() {
        var link = PeerLiveness(now: .zero)
        #expect(!link.heartbeatDue(at: .seconds(0.9)))
        #expect(link.heartbeatDue(at: .seconds(1)))
        link.sent(at: .seconds(1))
        #expect(!link.heartbeatDue(at: .seconds(1.5)))
        #expect(!link.isDead(at: .seconds(3)))
        #expect(link.isDead(at: .seconds(3.01)))
        link.heard(at: .seconds(3))
        #expect(!link.isDead(at: .seconds(5.5)))
        link.heard(at: .seconds(1)) // out-of-order instants never move time back
        #expect(link.lastHeard == .seconds(3))
    }

    @Test func backoffDoublesUpToTheCeilingAndResets() {
        var backoff = ReconnectBackoff(initial: .seconds(1), maximum: .seconds(5))
        let delays = (0..<5).map { _ in backoff.nextDelay() }
        #expect(delays == [.seconds(1), .seconds(2), .seconds(4), .seconds(5), .seconds(5)])
        backoff.reset()
        #expect(backoff.nextDelay() == .seconds(1))
    }
}
