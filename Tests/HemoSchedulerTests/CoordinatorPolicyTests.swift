import HemoCore
import HemoTestKit
import Testing
@testable import HemoScheduler

@Suite("CoordinatorPolicy: the coordinator shell's policy under a manual clock")
struct CoordinatorPolicyTests {
    static func policy(limit: Int = 4, batch: Int = 3) -> CoordinatorPolicy {
        CoordinatorPolicy(settings: .init(heartbeatInterval: .seconds(1), maxQueuedResults: limit, receiveBatch: batch))
    }

    @Test func backPressurePausesAtTheLimitAndResumesAtHalfWithRareLogLines() {
        let clock = ManualClock(start: .seconds(100))
        var p = Self.policy(limit: 4)
        for _ in 0..<3 { _ = p.on(.resultQueued, now: clock.now) }
        #expect(p.on(.schedulerChanged, now: clock.now).filter { $0 != .storeStatus } == [])
        _ = p.on(.resultQueued, now: clock.now)
        #expect(p.on(.schedulerChanged, now: clock.now) == [.pauseDispatch(log: 4, resumeAt: 2)])
        #expect(p.on(.schedulerChanged, now: clock.now) == [], "paused once")
        #expect(p.on(.resultWritten, now: clock.now) == [], "3 waiting: still paused")
        #expect(p.on(.resultWritten, now: clock.now) == [.resumeDispatch], "2 waiting: resumed")
        for _ in 0..<2 { _ = p.on(.resultQueued, now: clock.now) }
        #expect(p.on(.schedulerChanged, now: clock.advance(by: .seconds(1))) == [.storeStatus, .pauseDispatch(log: nil, resumeAt: 2)],
                "a pause within 10 s of the last logged one is not logged")
        for _ in 0..<2 { _ = p.on(.resultWritten, now: clock.now) }
        for _ in 0..<2 { _ = p.on(.resultQueued, now: clock.now) }
        #expect(p.on(.schedulerChanged, now: clock.advance(by: .seconds(10))).last == .pauseDispatch(log: 4, resumeAt: 2))
        #expect(p.dispatchPauses == 3)
    }

    @Test func unknownPeersAreToldAtMostOncePerInterval() {
        let clock = ManualClock()
        var p = Self.policy()
        #expect(p.on(.unknownPeer(route: [1]), now: clock.now) == [.tellUnknown(route: [1])])
        #expect(p.on(.unknownPeer(route: [1]), now: clock.advance(by: .milliseconds(999))) == [])
        #expect(p.on(.unknownPeer(route: [2]), now: clock.now) == [.tellUnknown(route: [2])], "per peer")
        #expect(p.on(.unknownPeer(route: [1]), now: clock.advance(by: .milliseconds(1))) == [.tellUnknown(route: [1])])
    }

    @Test func statusAndWorkerListsAreRefreshedAtMostEveryHundredMilliseconds() {
        let clock = ManualClock()
        var p = Self.policy()
        #expect(p.on(.schedulerChanged, now: clock.now) == [.storeStatus])
        #expect(p.on(.schedulerChanged, now: clock.advance(by: .milliseconds(99))) == [])
        #expect(p.on(.schedulerChanged, now: clock.advance(by: .milliseconds(1))) == [.storeStatus])
        #expect(p.on(.examFinished, now: clock.advance(by: .milliseconds(100))) == [.publish(workers: true)])
        #expect(p.on(.examFinished, now: clock.advance(by: .milliseconds(50))) == [.publish(workers: false)])
        #expect(p.on(.schedulerChanged, now: clock.now) == [], "a full publish also refreshed the status")
        #expect(p.on(.statusRequested, now: clock.now) == [.replyStatus])
        #expect(p.on(.examFinished, now: clock.advance(by: .milliseconds(99))) == [.publish(workers: false)])
    }

    @Test func aReceiveBatchEndsAfterItsMessagesItsTimeOrAnEmptyInbox() {
        let clock = ManualClock()
        var p = Self.policy(batch: 3)
        func slots() -> Int {
            var n = 0
            while p.on(.receiveSlot, now: clock.now) == [.receive] { n += 1; clock.advance(by: .milliseconds(1)) }
            return n
        }
        _ = p.on(.batchStarted, now: clock.now)
        #expect(slots() == 3)
        _ = p.on(.batchStarted, now: clock.now)
        #expect(p.on(.receiveSlot, now: clock.now) == [.receive])
        #expect(p.on(.receiveSlot, now: clock.advance(by: .milliseconds(250))) == [], "a tick interval (250 ms) passed")
        _ = p.on(.batchStarted, now: clock.now)
        _ = p.on(.inboxEmpty, now: clock.now)
        #expect(p.on(.receiveSlot, now: clock.now) == [])
    }

    @Test func ticksJudgeSilenceOnlyUpToTheLastEmptyInboxAndReportABacklogOnce() {
        let clock = ManualClock()
        var p = Self.policy()
        #expect(p.on(.started, now: clock.now) == [.tick(readUntil: .zero, backlog: nil), .publish(workers: true)])
        #expect(p.on(.turn, now: clock.advance(by: .milliseconds(100))) == [], "the tick is every 250 ms")
        _ = p.on(.inboxEmpty, now: clock.now)
        #expect(p.on(.turn, now: clock.advance(by: .milliseconds(150))) == [.tick(readUntil: .seconds(0.1), backlog: nil), .publish(workers: true)])
        // The inbox never empties again: the tick keeps judging as of 0.1 s and says so once.
        var reports = 0
        for _ in 0..<20 {
            let actions = p.on(.turn, now: clock.advance(by: .milliseconds(250)))
            guard case .tick(let until, let backlog)? = actions.first else { Issue.record("no tick"); return }
            #expect(until == .seconds(0.1))
            if let backlog { reports += 1; #expect(backlog > .seconds(1)) }
        }
        #expect(reports == 1)
        let idleAt = clock.now
        _ = p.on(.pollIdle, now: idleAt)
        guard case .tick(let until, nil)? = p.on(.turn, now: clock.advance(by: .milliseconds(250))).first else { Issue.record("no tick"); return }
        #expect(until == idleAt)
    }

    @Test func theGracePeriodEndsWhenEveryWorkerLeftOrAtItsDeadline() {
        let clock = ManualClock()
        var p = Self.policy()
        #expect(p.on(.shutdownSent(awaiting: [[1], [2]]), now: clock.now) == [])
        #expect(p.on(.peerSpokeInGrace(route: [3], leaving: false), now: clock.now) == [.resendShutdown(route: [3])])
        #expect(p.on(.peerSpokeInGrace(route: [1], leaving: true), now: clock.now) == [])
        #expect(p.on(.graceTurn, now: clock.advance(by: .seconds(1))) == [])
        #expect(p.on(.peerSpokeInGrace(route: [2], leaving: true), now: clock.now) == [])
        #expect(p.on(.graceTurn, now: clock.now) == [.graceOver], "everyone left: early end")
        var q = Self.policy()
        _ = q.on(.shutdownSent(awaiting: [[1]]), now: .zero)
        #expect(q.on(.graceTurn, now: .seconds(1.99)) == [])
        #expect(q.on(.graceTurn, now: .seconds(2)) == [.graceOver], "two heartbeat intervals")
        var r = Self.policy()
        #expect(r.on(.shutdownSent(awaiting: []), now: .zero) == [.graceOver])
    }

    @Test func whileCommittingEveryWorkerIsHeartbeatedOncePerInterval() {
        let clock = ManualClock()
        var p = Self.policy()
        var beats = 0
        for _ in 0..<100 { beats += p.on(.commitTurn, now: clock.advance(by: .milliseconds(50))).count }
        #expect(beats == 4, "5 s of 50 ms turns, the first turn starts the clock")
    }

    /// Random queue/write sequences: dispatch is paused exactly between reaching the limit and
    /// falling to half of it, and pauses and resumes alternate.
    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func backPressureIsAHysteresis(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let limit = Int.random(in: 1...16, using: &rng)
        var p = Self.policy(limit: limit)
        let clock = ManualClock()
        var queued = 0, paused = false
        for _ in 0..<5_000 {
            clock.advance(by: .milliseconds(Int64.random(in: 0...50, using: &rng)))
            let actions: [CoordinatorPolicy.Action]
            if queued > 0 && Bool.random(using: &rng) {
                queued -= 1
                actions = p.on(.resultWritten, now: clock.now)
            } else {
                queued += 1
                _ = p.on(.resultQueued, now: clock.now)
                actions = p.on(.schedulerChanged, now: clock.now)
            }
            for a in actions {
                switch a {
                case .pauseDispatch:
                    #expect(!paused && queued >= limit); paused = true
                case .resumeDispatch:
                    #expect(paused && queued <= limit / 2); paused = false
                default:
                    break
                }
            }
            #expect(paused == p.dispatchPaused && queued == p.queuedResults)
            #expect(!paused || queued > limit / 2, "never paused at or below half")
            #expect(paused || queued < limit, "never dispatching at the limit")
        }
    }
}

@Suite("ResultCollection: parts by attempt")
struct ResultCollectionTests {
    struct Boom: Error, Sendable {}
    let exam = CaseID("exam-1")!

    @Test func onlyTheWorkersRunningAttemptCollects() {
        var c = ResultCollection<[Int]>()
        c.dispatched(exam, attempt: 2, to: "w1", collector: [])
        #expect(c.part(exam, attempt: 1, from: "w1") { (x: inout [Int]) throws(Boom) in x.append(1) } == .notRunning)
        #expect(c.part(exam, attempt: 2, from: "w2") { (x: inout [Int]) throws(Boom) in x.append(1) } == .notRunning)
        #expect(c.part(exam, attempt: 2, from: "w1") { (x: inout [Int]) throws(Boom) in x.append(7) } == .accepted)
        #expect(c.finish(exam, attempt: 1, from: "w1") == nil)
        #expect(c.finish(exam, attempt: 2, from: "w1") == [7])
        #expect(c.finish(exam, attempt: 2, from: "w1") == nil, "taken once")
    }

    @Test func corruptPartsFailedAttemptsAndDeadWorkersDropCollection() {
        var c = ResultCollection<[Int]>()
        c.dispatched(exam, attempt: 1, to: "w1", collector: [])
        #expect(c.part(exam, attempt: 1, from: "w1") { (_: inout [Int]) throws(Boom) in throw Boom() } == .rejected(Boom()))
        #expect(c.count == 0)
        c.dispatched(exam, attempt: 2, to: "w1", collector: [])
        c.drop(exam, attempt: 1)
        #expect(c.count == 1, "another attempt's FAILED leaves the running one")
        c.drop(exam, attempt: 2)
        #expect(c.count == 0)
        c.dispatched(exam, attempt: 3, to: "w1", collector: [3])
        c.dispatched(CaseID("exam-2")!, attempt: 1, to: "w2", collector: [])
        c.dropAll(of: "w1")
        #expect(c.count == 1 && c.running(CaseID("exam-2")!)?.worker == "w2")
    }

    @Test func aRejoiningWorkerKeepsItsRunningCollection() {
        var c = ResultCollection<[Int]>()
        c.dispatched(exam, attempt: 1, to: "w1", collector: [5])
        c.kept(exam, attempt: 1, by: "w1") { [] }
        #expect(c.running(exam)?.collector == [5], "the same attempt keeps its parts")
        c.kept(exam, attempt: 2, by: "w1") { [] }
        #expect(c.running(exam)?.collector == [] && c.running(exam)?.attempt == 2)
    }
}

extension ResultCollection.PartOutcome: Equatable where Failure: Equatable {
    public static func == (a: Self, b: Self) -> Bool {
        switch (a, b) {
        case (.accepted, .accepted), (.notRunning, .notRunning): true
        case (.rejected(let x), .rejected(let y)): x == y
        default: false
        }
    }
}

extension ResultCollectionTests.Boom: Equatable {}
