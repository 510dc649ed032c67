import HemoCore
import Testing
@testable import HemoScheduler

extension [SchedulerDirective] {
    var cancels: [String] {
        compactMap { if case .cancel(let w, let e, let a, _) = $0 { "\(e)#\(a)@\(w)" } else { nil } }
    }
}

@Suite("Scheduler: CANCEL of stale attempts")
struct SchedulerCancelTests {
    let t0 = SchedulerInstant.zero

    @Test func anExpiredLeaseIsCancelledOnItsLiveWorkerAndItsLateResultIgnored() throws {
        var s = try Scheduler(settings: SchedulerSettings(jobTimeout: .seconds(5)), exams: [exam("a", 1)])
        _ = s.on(.workerReady("w1", capacity: 1, capabilities: .build), now: t0)
        _ = s.on(.workerReady("w2", capacity: 1, capabilities: .build), now: t0)
        #expect(s.phase(of: cid("a")) == .running(attempt: 1, worker: "w1"))
        for second in 1...5 {
            _ = s.on(.heartbeat("w1"), now: .seconds(Double(second)))
            _ = s.on(.heartbeat("w2"), now: .seconds(Double(second)))
        }
        let out = s.on(.tick, now: .seconds(5.5))
        #expect(out.cancels == ["a#1@w1"], "the holder is alive: it is told to drop the attempt")
        #expect(out.dispatches.map { "\($0.exam)#\($0.attempt)@\($0.worker)" } == ["a#2@w2"])
        let cancelIndex = out.firstIndex { if case .cancel = $0 { true } else { false } }!
        let dispatchIndex = out.firstIndex { if case .dispatch = $0 { true } else { false } }!
        #expect(cancelIndex < dispatchIndex, "CANCEL goes out before the re-dispatch")
        // The cancelled attempt's result, if it was already on its way, is ignored.
        let late = s.on(.jobDone("w1", exam: cid("a"), attempt: 1), now: .seconds(5.6))
        #expect(late == [.ignoreResult("w1", exam: cid("a"), attempt: 1, reason: "attempt 1 of exam a expired (current attempt 2)")])
        #expect(s.on(.jobDone("w2", exam: cid("a"), attempt: 2), now: .seconds(6)) ==
                [.examCompleted(cid("a"), attempt: 2, worker: "w2"), .allDone], "nothing is left to cancel at the end")
    }

    @Test func aWorkerDeclaredDeadIsToldToCancelWhatItHeldWhenItRejoins() throws {
        var s = try Scheduler(exams: [exam("a", 2), exam("b", 1)])
        _ = s.on(.workerReady("w1", capacity: 1, capabilities: .build), now: t0) // a, b (prefetch)
        let dead = s.on(.tick, now: .seconds(3.5))
        #expect(dead.first == .markWorkerDead("w1", reason: "no message for 3.5 seconds (limit 3.0 seconds)"))
        #expect(dead.cancels.isEmpty, "a dead worker cannot hear a CANCEL")
        #expect(s.staleAttempts(of: "w1").map { "\($0.exam)#\($0.attempt)" } == ["a#1", "b#1"])
        // It was only unreachable: it comes back and joins again.
        #expect(s.on(.heartbeat("w1"), now: .seconds(4)) == [.disconnectWorker("w1")])
        let back = s.on(.workerReady("w1", capacity: 1, capabilities: .build), now: .seconds(4.1))
        #expect(back.cancels == ["a#1@w1", "b#1@w1"])
        #expect(back.dispatches.map { "\($0.exam)#\($0.attempt)@\($0.worker)" } == ["a#2@w1", "b#2@w1"])
        let lastCancel = back.lastIndex { if case .cancel = $0 { true } else { false } }!
        let firstDispatch = back.firstIndex { if case .dispatch = $0 { true } else { false } }!
        #expect(lastCancel < firstDispatch, "old attempts are cancelled before new ones arrive")
        #expect(s.staleAttempts(of: "w1").isEmpty)
    }

    @Test func aWorkerThatSendsReadyAgainIsToldToCancelWhatItHeld() throws {
        var s = try Scheduler(settings: SchedulerSettings(prefetch: 0), exams: [exam("a", 1)])
        _ = s.on(.workerReady("w1", capacity: 1, capabilities: .build), now: t0)
        let again = s.on(.workerReady("w1", capacity: 1, capabilities: .build), now: .seconds(1))
        #expect(again.cancels == ["a#1@w1"])
        #expect(again.dispatches.map(\.attempt) == [2])
    }

    @Test func aResultFromTheDeadWorkerSettlesItsStaleAttempt() throws {
        var s = try Scheduler(exams: [exam("a", 1)])
        _ = s.on(.workerReady("w1", capacity: 1, capabilities: .build), now: t0)
        _ = s.on(.tick, now: .seconds(3.5)) // w1 dead, holding a#1
        let late = s.on(.jobFailed("w1", exam: cid("a"), attempt: 1, stage: "read", reason: "late"), now: .seconds(4))
        #expect(late.contains(.disconnectWorker("w1")))
        #expect(s.staleAttempts(of: "w1").isEmpty, "it finished the attempt itself: nothing to cancel")
        #expect(s.on(.workerReady("w1", capacity: 1, capabilities: .build), now: .seconds(4.1)).cancels.isEmpty)
    }

    @Test func theEndOfTheRunCancelsAttemptsOfAWorkerThatNeverRejoined() throws {
        var s = try Scheduler(exams: [exam("a", 1)])
        _ = s.on(.workerReady("w1", capacity: 1, capabilities: .build), now: t0)
        _ = s.on(.workerReady("w2", capacity: 1, capabilities: .build), now: .seconds(3))
        _ = s.on(.tick, now: .seconds(3.5)) // w1 dead; a → w2 as attempt 2
        let end = s.on(.jobDone("w2", exam: cid("a"), attempt: 2), now: .seconds(4))
        #expect(end == [.examCompleted(cid("a"), attempt: 2, worker: "w2"),
                        .cancel("w1", exam: cid("a"), attempt: 1, reason: "the run is finished"),
                        .allDone])
        #expect(s.staleAttempts(of: "w1").isEmpty)
    }

    @Test func endingTheRunEarlyCancelsEveryAttemptInFlightAndDispatchesNothingMore() throws {
        var s = try Scheduler(settings: SchedulerSettings(prefetch: 0), exams: (0..<4).map { exam("e\($0)", 10 - UInt64($0)) })
        _ = s.on(.workerReady("w2", capacity: 1, capabilities: .build), now: t0)
        _ = s.on(.workerReady("w1", capacity: 1, capabilities: .build), now: t0)
        let out = s.on(.runEnded(reason: "the coordinator stopped"), now: .seconds(1))
        #expect(out.cancels == ["e1#1@w1", "e0#1@w2"])
        #expect(out.dispatches.isEmpty)
        #expect(s.on(.workerReady("w3", capacity: 4, capabilities: .build), now: .seconds(2)).dispatches.isEmpty)
        #expect(s.status.running == 0 && s.status.pending == 4)
    }
}

@Suite("Throughput window")
struct ThroughputWindowTests {
    @Test func rateCountsFinishesInTheWindowOnly() {
        var w = ThroughputWindow(window: .seconds(60), start: .zero)
        #expect(w.rate(at: .zero) == (0, 0))
        for t in stride(from: 1.0, through: 30.0, by: 1) { w.record(at: .seconds(t)) }
        // 30 exams in the first 30 s: 60 per minute over a 30 s window.
        #expect(w.rate(at: .seconds(30)).examsPerMinute == 60)
        #expect(w.rate(at: .seconds(30)).windowSeconds == 30)
        // At 90 s only the finishes after 30 s count: none.
        #expect(w.rate(at: .seconds(90.5)).examsPerMinute == 0)
        #expect(w.rate(at: .seconds(90.5)).windowSeconds == 60)
        w.record(3, at: .seconds(100))
        #expect(w.finished(inWindowEndingAt: .seconds(100)) == 3)
        #expect(w.rate(at: .seconds(100)).examsPerMinute == 3)
    }

    @Test func oldFinishesArePrunedSoMemoryStaysBounded() {
        var w = ThroughputWindow(window: .seconds(1), start: .zero)
        for n in 0..<10_000 { w.record(at: SchedulerInstant(nanoseconds: UInt64(n) * 10_000_000)) }
        // 100 finishes per second, a 1 s window.
        #expect(w.finished(inWindowEndingAt: SchedulerInstant(nanoseconds: 9_999 * 10_000_000)) == 100)
        #expect(abs(w.rate(at: SchedulerInstant(nanoseconds: 9_999 * 10_000_000)).examsPerMinute - 6000) < 1e-6)
    }
}
