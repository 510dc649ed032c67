import HemoCore
import Testing
@testable import HemoScheduler

/// Protocol 3: a worker that rejoins (READY again) keeps the attempts it lists as held.
@Suite struct SchedulerRejoinTests {
    let settings = SchedulerSettings(heartbeatInterval: .seconds(1), livenessIntervals: 3, maxAttempts: 2, prefetch: 1)

    func dispatched(_ out: [SchedulerDirective]) -> [Assignment] {
        out.compactMap { if case .dispatch(let a) = $0 { a } else { nil } }
    }

    @Test func aLiveWorkerRejoiningKeepsWhatItListsAndLosesTheRest() throws {
        var s = try Scheduler(settings: settings, exams: (0..<2).map { ExamSpec(id: CaseID("e\($0)")!, sizeEstimate: 0) })
        let jobs = dispatched(s.on(.workerReady("w", capacity: 1, capabilities: .build), now: .zero))
        #expect(jobs.count == 2)
        let out = s.on(.workerReady("w", capacity: 1, capabilities: .build, holding: [ExamAttempt(exam: jobs[0].exam, attempt: jobs[0].attempt)]),
                       now: .seconds(1))
        #expect(out.contains(.attemptKept("w", exam: jobs[0].exam, attempt: jobs[0].attempt)))
        #expect(s.phase(of: jobs[0].exam) == .running(attempt: jobs[0].attempt, worker: "w"))
        // The unlisted attempt is retried (attempt 2) on the same worker, whose credit counts the kept one.
        #expect(dispatched(out) == [Assignment(jobID: 3, exam: jobs[1].exam, attempt: 2, worker: "w")])
        #expect(s.attempts(of: jobs[0].exam) == 1, "no attempt spent on the kept exam")
        let done = s.on(.jobDone("w", exam: jobs[0].exam, attempt: jobs[0].attempt), now: .seconds(2))
        #expect(done.contains(.examCompleted(jobs[0].exam, attempt: jobs[0].attempt, worker: "w")))
    }

    @Test func aWorkerDeclaredDeadGetsBackAnAttemptNobodyElseTook() throws {
        var s = try Scheduler(settings: settings, exams: [ExamSpec(id: CaseID("e0")!, sizeEstimate: 0)])
        let job = try #require(dispatched(s.on(.workerReady("w", capacity: 1, capabilities: .build), now: .zero)).first)
        let dead = s.on(.tick, now: .seconds(4))
        #expect(dead.contains { if case .markWorkerDead("w", _) = $0 { true } else { false } })
        #expect(s.phase(of: job.exam) == .pending)
        let out = s.on(.workerReady("w", capacity: 1, capabilities: .build, holding: [ExamAttempt(exam: job.exam, attempt: job.attempt)]),
                       now: .seconds(5))
        #expect(out == [.attemptKept("w", exam: job.exam, attempt: job.attempt)], "kept, not cancelled nor dispatched again")
        #expect(s.phase(of: job.exam) == .running(attempt: 1, worker: "w"))
        #expect(s.status.pending == 0 && s.status.running == 1)
        #expect(s.on(.jobDone("w", exam: job.exam, attempt: 1), now: .seconds(6)).contains(.allDone))
    }

    @Test func anAttemptAlreadyGivenToAnotherWorkerIsCancelledNotKept() throws {
        var s = try Scheduler(settings: settings, exams: [ExamSpec(id: CaseID("e0")!, sizeEstimate: 0)])
        let job = try #require(dispatched(s.on(.workerReady("w", capacity: 1, capabilities: .build), now: .zero)).first)
        _ = s.on(.workerReady("v", capacity: 1, capabilities: .build), now: .seconds(3.5))
        let dead = s.on(.tick, now: .seconds(4))
        #expect(dispatched(dead).map(\.worker) == ["v"])
        let out = s.on(.workerReady("w", capacity: 1, capabilities: .build, holding: [ExamAttempt(exam: job.exam, attempt: 1)]),
                       now: .seconds(5))
        #expect(out.contains { if case .cancel("w", _, 1, _) = $0 { true } else { false } })
        #expect(!out.contains { if case .attemptKept = $0 { true } else { false } })
        #expect(s.phase(of: job.exam) == .running(attempt: 2, worker: "v"))
    }
}
