import HemoCore
import HemoTestKit
import Testing
@testable import HemoScheduler

@Suite("WorkerSession: the worker's link policy under a manual clock")
struct WorkerSessionTests {
    static let settings = WorkerSession.Settings(heartbeatInterval: .seconds(1), livenessIntervals: 3, maxReconnectDelay: .seconds(4))
    static func attempt(_ n: Int, _ a: UInt32 = 1) -> ExamAttempt { ExamAttempt(exam: CaseID("exam-\(n)")!, attempt: a) }

    @Test func heartbeatsAfterAnIntervalOfSilenceAndAResultCountsAsOne() {
        let clock = ManualClock()
        var s = WorkerSession(settings: Self.settings, now: clock.now)
        #expect(s.on(.turn, now: clock.advance(by: .milliseconds(999))) == [])
        #expect(s.on(.turn, now: clock.advance(by: .milliseconds(1))) == [.sendHeartbeat])
        #expect(s.on(.turn, now: clock.advance(by: .milliseconds(500))) == [])
        _ = s.on(.received(.job(Self.attempt(1))), now: clock.now)
        #expect(s.on(.resultReady(Self.attempt(1), cancelled: false), now: clock.advance(by: .milliseconds(400))) == [.sendResult(Self.attempt(1))])
        // The result was sent 0.9 s after the heartbeat: the next heartbeat is due 1 s after the result.
        #expect(s.on(.turn, now: clock.advance(by: .milliseconds(700))) == [])
        #expect(s.on(.turn, now: clock.advance(by: .milliseconds(300))) == [.sendHeartbeat])
    }

    @Test func aSilentCoordinatorMeansReconnectWithDoublingBackoffThatResetsOnAnyMessage() {
        let clock = ManualClock()
        var s = WorkerSession(settings: Self.settings, now: clock.now)
        _ = s.on(.received(.job(Self.attempt(2))), now: clock.now)
        _ = s.on(.received(.job(Self.attempt(1))), now: clock.now)
        var delays: [Duration] = []
        for _ in 0..<4 {
            // Heartbeats go out while waiting; the verdict comes after more than three silent intervals.
            _ = s.on(.turn, now: clock.advance(by: .seconds(3)))
            let actions = s.on(.turn, now: clock.advance(by: .milliseconds(1)))
            guard case .reconnect(let delay)? = actions.last else { Issue.record("no reconnect: \(actions)"); return }
            delays.append(delay)
            #expect(s.on(.turn, now: clock.advance(by: .seconds(10))) == [], "nothing while reconnecting")
            #expect(s.on(.backoffElapsed, now: clock.now) == [.connect(held: [Self.attempt(1), Self.attempt(2)])], "READY lists what it holds, sorted")
            _ = s.on(.connected, now: clock.now)
        }
        #expect(delays == [.seconds(1), .seconds(2), .seconds(4), .seconds(4)])
        #expect(s.reconnections == 4)
        _ = s.on(.received(.other), now: clock.now)
        _ = s.on(.turn, now: clock.advance(by: .seconds(3)))
        #expect(s.on(.turn, now: clock.advance(by: .milliseconds(1))).last == .reconnect(after: .seconds(1)), "back to the first delay")
    }

    @Test func aDisconnectRightAfterReadyIsAnEchoButOneAfterTheCoordinatorSpokeMeansJoinAgain() {
        let clock = ManualClock()
        var s = WorkerSession(settings: Self.settings, now: clock.now)
        _ = s.on(.received(.job(Self.attempt(1))), now: clock.now)
        #expect(s.on(.received(.disconnect(reason: "unknown worker")), now: clock.advance(by: .milliseconds(10))).last
                == .sendReady(held: [Self.attempt(1)]), "the coordinator spoke since READY: join again")
        #expect(s.on(.received(.disconnect(reason: "unknown worker")), now: clock.advance(by: .milliseconds(10))) == [],
                "an echo of a message sent before the new READY arrived")
        #expect(s.on(.received(.disconnect(reason: "unknown worker")), now: clock.advance(by: .seconds(1))).last
                == .sendReady(held: [Self.attempt(1)]), "an interval after READY it is no echo")
        _ = s.on(.received(.other), now: clock.advance(by: .milliseconds(10)))
        #expect(s.on(.received(.disconnect(reason: "unknown worker")), now: clock.advance(by: .milliseconds(10))).last
                == .sendReady(held: [Self.attempt(1)]))
    }

    @Test func shutdownAnswersLeavingAndEndsTheSession() {
        var s = WorkerSession(settings: Self.settings, now: .zero)
        #expect(s.on(.received(.disconnect(reason: "shutdown")), now: .seconds(1)) == [.sendDisconnect(reason: "leaving"), .exit(.shutdown)])
        #expect(s.on(.turn, now: .seconds(10)) == [], "nothing after the end")
        var v = WorkerSession(settings: Self.settings, now: .zero)
        #expect(v.on(.received(.disconnect(reason: "protocol version 9 is not supported")), now: .seconds(1))
                == [.fail("protocol version 9 is not supported")])
    }

    @Test func aDrainFinishesHeldJobsThenSaysLeaving() {
        let clock = ManualClock()
        var s = WorkerSession(settings: Self.settings, now: clock.now)
        _ = s.on(.received(.job(Self.attempt(1))), now: clock.now)
        _ = s.on(.drainRequested, now: clock.now)
        #expect(s.on(.turn, now: clock.advance(by: .milliseconds(10))) == [.sendDisconnect(reason: "drain")])
        #expect(s.on(.turn, now: clock.advance(by: .milliseconds(10))) == [], "announced once")
        #expect(s.on(.resultReady(Self.attempt(1), cancelled: false), now: clock.now) == [.sendResult(Self.attempt(1))])
        #expect(s.on(.turn, now: clock.advance(by: .milliseconds(10))) == [.sendDisconnect(reason: "leaving"), .exit(.drained)])
        // Draining while reconnecting with nothing held: no connection is opened again.
        var r = WorkerSession(settings: Self.settings, now: .zero)
        _ = r.on(.turn, now: .seconds(3.5))
        _ = r.on(.drainRequested, now: .seconds(3.6))
        #expect(r.on(.backoffElapsed, now: .seconds(4)) == [.exit(.drained)])
    }

    @Test func cancelsConcernHeldAttemptsOnlyAndCancelledResultsAreDropped() {
        var s = WorkerSession(settings: Self.settings, now: .zero)
        #expect(s.on(.received(.cancel(Self.attempt(1))), now: .zero) == [], "not held: ignored")
        #expect(s.on(.received(.job(Self.attempt(1))), now: .zero) == [.startJob(Self.attempt(1))])
        #expect(s.on(.received(.job(Self.attempt(2))), now: .zero) == [.startJob(Self.attempt(2))])
        #expect(s.on(.received(.cancel(Self.attempt(1))), now: .zero) == [.cancelJob(Self.attempt(1))])
        _ = s.on(.cancelledBeforeStart(Self.attempt(1)), now: .zero)
        #expect(s.held == [Self.attempt(2)])
        #expect(s.on(.received(.cancel(Self.attempt(2))), now: .zero) == [.cancelJob(Self.attempt(2))])
        #expect(s.on(.resultReady(Self.attempt(2), cancelled: true), now: .zero) == [.dropResult(Self.attempt(2))])
        #expect(s.held.isEmpty)
    }

    /// Random event sequences under a manual clock: the session's promises hold whatever happens.
    @Test(arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
    func randomEventsKeepTheSessionsPromises(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let clock = ManualClock()
        var s = WorkerSession(settings: Self.settings, now: clock.now)
        var held = Set<ExamAttempt>()
        var running = Set<ExamAttempt>()
        var reconnecting = false
        var lastReady = clock.now
        var lastDelay: Duration?
        var nextExam = 0
        for _ in 0..<2_000 {
            clock.advance(by: .milliseconds(Int64.random(in: 0...900, using: &rng)))
            let event: WorkerSession.Event
            switch Int.random(in: 0..<10, using: &rng) {
            case 0, 1:
                nextExam += 1
                event = .received(.job(Self.attempt(nextExam)))
            case 2:
                guard let a = held.randomElement(using: &rng) else { continue }
                event = .resultReady(a, cancelled: Bool.random(using: &rng))
            case 3:
                event = .received(.disconnect(reason: "unknown worker"))
            case 4:
                event = .received(.other)
            case 5:
                guard reconnecting else { continue }
                event = .backoffElapsed
            default:
                event = .turn
            }
            if reconnecting, case .received = event { continue } // no socket: nothing arrives
            let actions = s.on(event, now: clock.now)
            for action in actions {
                switch action {
                case .startJob(let a):
                    #expect(!held.contains(a)); held.insert(a); running.insert(a)
                case .sendResult(let a), .dropResult(let a):
                    #expect(held.contains(a)); held.remove(a); running.remove(a)
                case .sendReady(let list):
                    #expect(list == held.sorted { ($0.exam, $0.attempt) < ($1.exam, $1.attempt) }, "READY lists exactly what is held")
                    #expect(!reconnecting)
                    lastReady = clock.now
                case .sendHeartbeat:
                    #expect(!reconnecting, "no heartbeat without a connection")
                case .reconnect(let delay):
                    #expect(!reconnecting)
                    #expect(delay <= Self.settings.maxReconnectDelay && delay >= Self.settings.heartbeatInterval)
                    if let lastDelay { #expect(delay == Self.settings.heartbeatInterval || delay == min(lastDelay * 2, Self.settings.maxReconnectDelay)) }
                    lastDelay = delay
                    reconnecting = true
                case .connect(let list):
                    #expect(reconnecting)
                    #expect(Set(list) == held)
                    _ = s.on(.connected, now: clock.now)
                    reconnecting = false
                    lastReady = clock.now
                case .cancelJob, .sendDisconnect, .log, .exit, .fail:
                    break
                }
            }
            #expect(s.held == held)
            _ = lastReady
        }
    }
}
