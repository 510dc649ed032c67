import HemoCore
import Testing
@testable import HemoScheduler

/// Silence is judged only over what the shell has read: a saturated coordinator whose socket still
/// holds a worker's heartbeat or result must not declare the worker dead or its lease expired.
@Suite("Scheduler: verdicts on silence wait for the inbox")
struct SchedulerBacklogTests {
    let t0 = SchedulerInstant.zero

    private func deaths(_ out: [SchedulerDirective]) -> [WorkerID] {
        out.compactMap { if case .markWorkerDead(let id, _) = $0 { id } else { nil } }
    }

    @Test func aWorkerWhoseHeartbeatIsStillUnreadIsNotDeclaredDead() throws {
        var s = try Scheduler(exams: [exam("a", 1)])
        _ = s.on(.workerReady("w1", capacity: 1, capabilities: .build), now: t0)
        // The coordinator is behind: at 10 s it has read everything that arrived until 2.5 s only;
        // w1's heartbeats of 1 s, 2 s, … are (partly) still queued in the socket.
        _ = s.on(.heartbeat("w1"), now: .seconds(1))
        let behind = s.on(.tickAfterReading(until: .seconds(2.5)), now: .seconds(10))
        #expect(deaths(behind).isEmpty, "1.5 s of silence before the unread backlog is not 3 intervals")
        #expect(behind.contains(.sendHeartbeat("w1")), "heartbeats to workers still go out during a backlog")
        #expect(s.phase(of: cid("a")) == .running(attempt: 1, worker: "w1"))
        // The backlog is read: w1's queued heartbeat arrives, and the next verdict sees it.
        _ = s.on(.heartbeat("w1"), now: .seconds(10.1))
        #expect(deaths(s.on(.tickAfterReading(until: .seconds(10.2)), now: .seconds(10.3))).isEmpty)
        #expect(s.status.workers.map(\.id) == ["w1"])

        // The same silence judged without the inbox horizon (a plain tick at 10 s) kills w1.
        var plain = try Scheduler(exams: [exam("a", 1)])
        _ = plain.on(.workerReady("w1", capacity: 1, capabilities: .build), now: t0)
        _ = plain.on(.heartbeat("w1"), now: .seconds(1))
        #expect(deaths(plain.on(.tick, now: .seconds(10))) == ["w1"])
    }

    @Test func aWorkerSilentBeforeTheBacklogIsStillDeclaredDead() throws {
        var s = try Scheduler(exams: [exam("a", 2), exam("b", 1)])
        _ = s.on(.workerReady("w1", capacity: 1, capabilities: .build), now: t0) // a, b (prefetch)
        _ = s.on(.workerReady("w2", capacity: 1, capabilities: .build), now: t0)
        _ = s.on(.heartbeat("w2"), now: .seconds(3.4))
        // Read until 3.5 s, now 8 s: w1 was silent for 3.5 s of what was read; w2 for 0.1 s.
        let out = s.on(.tickAfterReading(until: .seconds(3.5)), now: .seconds(8))
        #expect(out.first == .markWorkerDead("w1", reason: "no message for 3.5 seconds before the inbox's unread backlog of 4.5 seconds (limit 3.0 seconds)"))
        #expect(deaths(out) == ["w1"])
        #expect(out.dispatches.map { "\($0.exam)#\($0.attempt)@\($0.worker)" } == ["a#2@w2", "b#2@w2"])
    }

    @Test func aLeaseDoesNotExpireWhileItsResultMayBeUnread() throws {
        var s = try Scheduler(settings: SchedulerSettings(livenessIntervals: 100, jobTimeout: .seconds(10)), exams: [exam("a", 1)])
        _ = s.on(.workerReady("w1", capacity: 1, capabilities: .build), now: t0)
        let behind = s.on(.tickAfterReading(until: .seconds(9)), now: .seconds(12))
        #expect(!behind.contains { if case .cancel = $0 { true } else { false } }, "the DONE may be in the unread backlog")
        #expect(s.on(.jobDone("w1", exam: cid("a"), attempt: 1), now: .seconds(12.1)) == [.examCompleted(cid("a"), attempt: 1, worker: "w1"), .allDone])

        // Once the inbox was read past the lease, it expires as before.
        var late = try Scheduler(settings: SchedulerSettings(livenessIntervals: 100, jobTimeout: .seconds(10)), exams: [exam("a", 1)])
        _ = late.on(.workerReady("w1", capacity: 1, capabilities: .build), now: t0)
        #expect(late.on(.tickAfterReading(until: .seconds(10.5)), now: .seconds(12))
                .contains(.cancel("w1", exam: cid("a"), attempt: 1, reason: "no result within 10.0 seconds")))
    }

    @Test func aHorizonLaterThanNowCountsAsNow() throws {
        func run(_ event: SchedulerEvent) throws -> [SchedulerDirective] {
            var s = try Scheduler(exams: [exam("a", 1)])
            _ = s.on(.workerReady("w1", capacity: 1, capabilities: .build), now: t0)
            return s.on(event, now: .seconds(3.5))
        }
        let plain = try run(.tick)
        #expect(deaths(plain) == ["w1"])
        #expect(try run(.tickAfterReading(until: .seconds(99))) == plain)
        #expect(try run(.tickAfterReading(until: .seconds(3.5))) == plain)
    }
}

@Suite("Scheduler status order")
struct SchedulerStatusOrderTests {
    @Test func statusListsLiveWorkersByIDWhateverTheOrderTheyJoined() throws {
        var s = try Scheduler(exams: [])
        for (n, id) in ["w3", "w10", "w1", "w2", "a"].enumerated() {
            _ = s.on(.workerReady(WorkerID(id), capacity: 1, capabilities: .build), now: .seconds(Double(n)))
        }
        #expect(s.status.workers.map(\.id.rawValue) == ["a", "w1", "w10", "w2", "w3"])
        #expect(s.counts.workers.isEmpty && s.counts.total == 0)
        // w3, w10 and w1 joined at 0, 1 and 2 s and stayed silent: dead at 5.5 s (limit 3 s).
        let out = s.on(.tick, now: .seconds(5.5))
        #expect(out.compactMap { if case .markWorkerDead(let id, _) = $0 { id.rawValue } else { nil } } == ["w1", "w10", "w3"])
        #expect(s.status.workers.map(\.id.rawValue) == ["a", "w2"])
        // A dead worker that joins again keeps its place in the order.
        _ = s.on(.workerReady("w10", capacity: 2, capabilities: .build), now: .seconds(6))
        #expect(s.status.workers.map(\.id.rawValue) == ["a", "w10", "w2"])
    }
}
