import HemoCore
import Testing
@testable import HemoScheduler

func exam(_ id: String, _ size: UInt64) -> ExamSpec { ExamSpec(id: CaseID(id)!, sizeEstimate: size) }
func cid(_ id: String) -> CaseID { CaseID(id)! }

extension [SchedulerDirective] {
    var dispatches: [Assignment] { compactMap { if case .dispatch(let a) = $0 { a } else { nil } } }
}

@Suite("Scheduler state machine")
struct SchedulerTests {
    let t0 = SchedulerInstant.zero

    @Test func dispatchesLargestExamsFirstWithTiesByID() throws {
        var s = try Scheduler(exams: [exam("b", 10), exam("a", 10), exam("c", 50), exam("d", 1)])
        let out = s.on(.workerReady("w1", capacity: 3, capabilities: .build), now: t0)
        #expect(out.dispatches.map(\.exam.rawValue) == ["c", "a", "b", "d"])
        #expect(out.dispatches.map(\.attempt) == [1, 1, 1, 1])
        #expect(out.dispatches.map(\.jobID) == [1, 2, 3, 4])
    }

    @Test func creditsBoundOutstandingJobsPerWorker() throws {
        var s = try Scheduler(settings: SchedulerSettings(prefetch: 1), exams: (0..<10).map { exam("e\($0)", 100 - UInt64($0)) })
        let first = s.on(.workerReady("w1", capacity: 2, capabilities: .build), now: t0)
        #expect(first.dispatches.count == 3, "capacity 2 + prefetch 1")
        #expect(s.on(.heartbeat("w1"), now: t0).dispatches.isEmpty)
        let second = s.on(.workerReady("w2", capacity: 1, capabilities: .build), now: t0)
        #expect(second.dispatches.count == 2)
        #expect(second.dispatches.allSatisfy { $0.worker == "w2" })
        // One result frees one credit.
        let done = first.dispatches[0]
        let after = s.on(.jobDone("w1", exam: done.exam, attempt: done.attempt), now: t0)
        #expect(after.contains(.examCompleted(done.exam, attempt: 1, worker: "w1")))
        #expect(after.dispatches.count == 1)
        #expect(after.dispatches.first?.worker == "w1")
        #expect(s.status.workers.map(\.outstanding) == [3, 2])
    }

    @Test func workersWithoutTheCapabilityGetNothing() throws {
        var s = try Scheduler(exams: [ExamSpec(id: cid("x"), sizeEstimate: 1, requires: .infer)])
        #expect(s.on(.workerReady("b", capacity: 4, capabilities: .build), now: t0).dispatches.isEmpty)
        #expect(s.on(.workerReady("i", capacity: 1, capabilities: [.build, .infer]), now: t0).dispatches.map(\.worker) == ["i"])
    }

    @Test func aRefusedJobSpendsNoAttemptAndTheWorkerGetsNoMoreOfThatKind() throws {
        var s = try Scheduler(settings: SchedulerSettings(maxAttempts: 1, prefetch: 0),
                              exams: [ExamSpec(id: cid("x"), sizeEstimate: 2, requires: .infer),
                                      ExamSpec(id: cid("y"), sizeEstimate: 1, requires: .infer)])
        let first = s.on(.workerReady("wrong", capacity: 1, capabilities: [.build, .infer]), now: t0)
        #expect(first.dispatches.map { "\($0.exam)#\($0.attempt)" } == ["x#1"])
        let refused = s.on(.jobRefused("wrong", exam: cid("x"), attempt: 1, lacking: .infer, reason: "another model"), now: t0)
        #expect(refused == [.workerIncapable("wrong", lacking: .infer, reason: "another model")],
                "no quarantine although one attempt is allowed, and nothing more for the refusing worker")
        #expect(s.phase(of: cid("x")) == .pending)
        #expect(s.on(.tick, now: .seconds(0.5)).dispatches.isEmpty)
        // A capable worker takes both; x's second attempt number is new, and it may still fail once.
        let right = s.on(.workerReady("right", capacity: 2, capabilities: [.build, .infer]), now: .seconds(0.6))
        #expect(right.dispatches.map { "\($0.exam)#\($0.attempt)@\($0.worker)" } == ["x#2@right", "y#1@right"])
        let failed = s.on(.jobFailed("right", exam: cid("x"), attempt: 2, stage: "read", reason: "corrupt"), now: .seconds(0.7))
        #expect(failed.contains { if case .quarantine(let e, _) = $0 { e == cid("x") } else { false } }, "the real failure spends the attempt")
        // A refusing worker that restarts (READY) is trusted again.
        let back = s.on(.workerReady("wrong", capacity: 1, capabilities: [.build, .infer]), now: .seconds(0.8))
        #expect(back.dispatches.isEmpty, "nothing left to dispatch")
        #expect(s.status.workers.first { $0.id == "wrong" } != nil)
    }

    @Test func heartbeatTimeoutKillsTheWorkerAndRedispatches() throws {
        var s = try Scheduler(exams: [exam("a", 2), exam("b", 1)])
        _ = s.on(.workerReady("w1", capacity: 1, capabilities: .build), now: t0) // a, b (prefetch)
        _ = s.on(.workerReady("w2", capacity: 1, capabilities: .build), now: t0)
        // w2 keeps talking; w1 goes silent.
        for second in 1...3 { _ = s.on(.heartbeat("w2"), now: .seconds(Double(second))) }
        let before = s.on(.tick, now: .seconds(3))
        #expect(!before.contains { if case .markWorkerDead = $0 { true } else { false } }, "3 s is not more than 3 intervals")
        #expect(before.contains(.sendHeartbeat("w1")) && before.contains(.sendHeartbeat("w2")))
        _ = s.on(.heartbeat("w2"), now: .seconds(3.2))
        let out = s.on(.tick, now: .seconds(3.5))
        #expect(out.first == .markWorkerDead("w1", reason: "no message for 3.5 seconds (limit 3.0 seconds)"))
        #expect(out.dispatches.map { "\($0.exam)#\($0.attempt)@\($0.worker)" } == ["a#2@w2", "b#2@w2"])
        #expect(s.phase(of: cid("a")) == .running(attempt: 2, worker: "w2"))
    }

    @Test func aLateResultFromADeadWorkersExpiredAttemptIsIgnored() throws {
        var s = try Scheduler(exams: [exam("a", 1)])
        _ = s.on(.workerReady("w1", capacity: 1, capabilities: .build), now: t0)
        _ = s.on(.workerReady("w2", capacity: 1, capabilities: .build), now: .seconds(3))
        _ = s.on(.tick, now: .seconds(3.5)) // w1 dead; a → w2 as attempt 2
        #expect(s.phase(of: cid("a")) == .running(attempt: 2, worker: "w2"))
        let late = s.on(.jobDone("w1", exam: cid("a"), attempt: 1), now: .seconds(4))
        #expect(late == [.ignoreResult("w1", exam: cid("a"), attempt: 1,
                                       reason: "attempt 1 of exam a expired (current attempt 2)"),
                         .disconnectWorker("w1")])
        #expect(s.phase(of: cid("a")) == .running(attempt: 2, worker: "w2"))
        let done = s.on(.jobDone("w2", exam: cid("a"), attempt: 2), now: .seconds(4))
        #expect(done == [.examCompleted(cid("a"), attempt: 2, worker: "w2"), .allDone])
        // A duplicate DONE is ignored, and allDone is not repeated.
        #expect(s.on(.jobDone("w2", exam: cid("a"), attempt: 2), now: .seconds(4)) ==
                [.ignoreResult("w2", exam: cid("a"), attempt: 2, reason: "exam a is already completed")])
    }

    @Test func retriesPreferAWorkerThatHasNotFailedTheExam() throws {
        var s = try Scheduler(exams: [exam("a", 1)])
        _ = s.on(.workerReady("w1", capacity: 1, capabilities: .build), now: t0)
        _ = s.on(.workerReady("w2", capacity: 1, capabilities: .build), now: t0)
        // a went to w1 (smaller id, equal credit). It fails there.
        #expect(s.phase(of: cid("a")) == .running(attempt: 1, worker: "w1"))
        let out = s.on(.jobFailed("w1", exam: cid("a"), attempt: 1, stage: "infer", reason: "onnx error"), now: t0)
        #expect(out.dispatches.map(\.worker) == ["w2"], "w1 has more credit now, but failed this exam")
    }

    @Test func aRetryWaitsForABusyFreshWorkerRatherThanRepeatingTheFailure() throws {
        var s = try Scheduler(settings: SchedulerSettings(prefetch: 0), exams: [exam("big", 9), exam("a", 1)])
        _ = s.on(.workerReady("w1", capacity: 1, capabilities: .build), now: t0) // big → w1
        _ = s.on(.workerReady("w2", capacity: 1, capabilities: .build), now: t0) // a → w2
        let failed = s.on(.jobFailed("w2", exam: cid("a"), attempt: 1, stage: "read", reason: "bad gzip"), now: t0)
        #expect(failed.dispatches.isEmpty, "w1 has not failed a but is busy; w2 failed it")
        let freed = s.on(.jobDone("w1", exam: cid("big"), attempt: 1), now: t0)
        #expect(freed.dispatches.map { "\($0.exam)@\($0.worker)#\($0.attempt)" } == ["a@w1#2"])
    }

    @Test func theOnlyWorkerLeftRetriesAnExamItFailed() throws {
        var s = try Scheduler(exams: [exam("a", 1)])
        _ = s.on(.workerReady("w1", capacity: 1, capabilities: .build), now: t0)
        let out = s.on(.jobFailed("w1", exam: cid("a"), attempt: 1, stage: "read", reason: "EIO"), now: t0)
        #expect(out.dispatches.map(\.attempt) == [2])
    }

    @Test func quarantineAfterTheAttemptLimitWithTheLastError() throws {
        var s = try Scheduler(settings: SchedulerSettings(maxAttempts: 3), exams: [exam("a", 1), exam("b", 0)])
        _ = s.on(.workerReady("w1", capacity: 1, capabilities: .build), now: t0)
        // Capacity 1 + prefetch 1: both are dispatched; a completes, b keeps failing.
        _ = s.on(.jobDone("w1", exam: cid("a"), attempt: 1), now: t0)
        var last: [SchedulerDirective] = []
        for attempt in 1...3 {
            last = s.on(.jobFailed("w1", exam: cid("b"), attempt: UInt32(attempt), stage: "read",
                                   reason: "b.nii.gz: bad magic #\(attempt)"), now: t0)
            if attempt < 3 { #expect(last.dispatches.map(\.attempt) == [UInt32(attempt + 1)]) }
        }
        let record = FailureRecord(stage: "read", reason: "b.nii.gz: bad magic #3", worker: "w1", attempt: 3)
        #expect(last == [.quarantine(cid("b"), lastError: record), .allDone])
        #expect(s.phase(of: cid("b")) == .quarantined(record))
        #expect(s.status.quarantined == 1 && s.status.completed == 1)
    }

    @Test func aCorruptChunkCancelsTheAttemptAndRetries() throws {
        var s = try Scheduler(exams: [exam("a", 1)])
        _ = s.on(.workerReady("w1", capacity: 1, capabilities: .build), now: t0)
        _ = s.on(.workerReady("w2", capacity: 1, capabilities: .build), now: t0)
        let out = s.on(.chunkCorrupt("w1", exam: cid("a"), attempt: 1, reason: "chunk 3: checksum"), now: t0)
        #expect(out.first == .cancel("w1", exam: cid("a"), attempt: 1, reason: "chunk 3: checksum"))
        #expect(out.dispatches.map { "\($0.worker)#\($0.attempt)" } == ["w2#2"])
    }

    @Test func resumeSkipsFinishedExams() throws {
        var s = try Scheduler(exams: [exam("a", 3), exam("b", 2), exam("c", 1)], alreadyFinished: [cid("a"), cid("c")])
        #expect(s.phase(of: cid("a")) == .completed)
        let out = s.on(.workerReady("w1", capacity: 4, capabilities: .build), now: t0)
        #expect(out.dispatches.map(\.exam) == [cid("b")])
        #expect(s.on(.jobDone("w1", exam: cid("b"), attempt: 1), now: t0).last == .allDone)

        var allFinished = try Scheduler(exams: [exam("a", 1)], alreadyFinished: [cid("a")])
        #expect(allFinished.on(.tick, now: t0) == [.allDone])
    }

    @Test func duplicateExamsAreRejected() {
        #expect(throws: SchedulerError.duplicateExam(cid("a"))) { try Scheduler(exams: [exam("a", 1), exam("a", 2)]) }
    }

    @Test func drainingWorkersGetNoNewJobsButFinishTheirs() throws {
        var s = try Scheduler(settings: SchedulerSettings(prefetch: 0), exams: [exam("a", 2), exam("b", 1)])
        _ = s.on(.workerReady("w1", capacity: 1, capabilities: .build), now: t0)
        _ = s.on(.workerDraining("w1"), now: t0)
        let done = s.on(.jobDone("w1", exam: cid("a"), attempt: 1), now: t0)
        #expect(done == [.examCompleted(cid("a"), attempt: 1, worker: "w1")])
        #expect(s.on(.workerReady("w2", capacity: 1, capabilities: .build), now: t0).dispatches.map(\.worker) == ["w2"])
    }

    @Test func disconnectAndRestartRequeueHeldAttempts() throws {
        var s = try Scheduler(exams: [exam("a", 2), exam("b", 1)])
        _ = s.on(.workerReady("w1", capacity: 2, capabilities: .build), now: t0)
        let restarted = s.on(.workerReady("w1", capacity: 2, capabilities: .build), now: t0)
        #expect(restarted.dispatches.map { "\($0.exam)#\($0.attempt)" } == ["a#2", "b#2"])
        let gone = s.on(.workerDisconnected("w1"), now: t0)
        #expect(gone.dispatches.isEmpty)
        #expect(s.phase(of: cid("a")) == .pending)
        #expect(s.on(.heartbeat("w1"), now: t0) == [.disconnectWorker("w1")])
    }

    @Test func jobTimeoutExpiresTheLease() throws {
        var s = try Scheduler(settings: SchedulerSettings(jobTimeout: .seconds(10)), exams: [exam("a", 1)])
        _ = s.on(.workerReady("w1", capacity: 1, capabilities: .build), now: t0)
        _ = s.on(.workerReady("w2", capacity: 1, capabilities: .build), now: t0)
        for second in stride(from: 1.0, through: 10.0, by: 1) {
            _ = s.on(.heartbeat("w1"), now: .seconds(second))
            _ = s.on(.heartbeat("w2"), now: .seconds(second))
        }
        let out = s.on(.tick, now: .seconds(10.5))
        #expect(out.contains(.cancel("w1", exam: cid("a"), attempt: 1, reason: "no result within 10.0 seconds")))
        #expect(out.dispatches.map { "\($0.worker)#\($0.attempt)" } == ["w2#2"])
    }

    @Test func heartbeatsAreSentOncePerIntervalWhenNothingElseWasSent() throws {
        var s = try Scheduler(exams: [])
        #expect(s.on(.workerReady("w1", capacity: 1, capabilities: .build), now: t0) == [.allDone], "no exams: done at once")
        #expect(s.on(.tick, now: .seconds(0.5)) == [])
        #expect(s.on(.tick, now: .seconds(1.0)) == [.sendHeartbeat("w1")])
        #expect(s.on(.tick, now: .seconds(1.5)) == [])
    }

    @Test func sameEventsGiveTheSameDirectives() throws {
        func run() throws -> [[SchedulerDirective]] {
            var s = try Scheduler(exams: (0..<20).map { exam("e\($0)", UInt64($0 % 4)) })
            var log: [[SchedulerDirective]] = []
            for w in ["w3", "w1", "w2"] { log.append(s.on(.workerReady(WorkerID(w), capacity: 2, capabilities: .build), now: t0)) }
            log.append(s.on(.tick, now: .seconds(5)))
            return log
        }
        #expect(try run() == run())
    }
}

@Suite("Scheduler back-pressure")
struct SchedulerBackPressureTests {
    @Test func nothingIsDispatchedWhilePausedAndDispatchResumesAfter() throws {
        var s = try Scheduler(settings: SchedulerSettings(prefetch: 0), exams: (0..<4).map { exam("e\($0)", 10 - UInt64($0)) })
        #expect(s.on(.pauseDispatch, now: .zero).isEmpty)
        #expect(s.on(.workerReady("w", capacity: 2, capabilities: .build), now: .zero).dispatches.isEmpty)
        #expect(s.on(.tick, now: .seconds(0.5)).dispatches.isEmpty)
        let resumed = s.on(.resumeDispatch, now: .seconds(0.6))
        #expect(resumed.dispatches.map(\.exam.rawValue) == ["e0", "e1"])
        // A pause does not stop results: the running attempt still completes.
        _ = s.on(.pauseDispatch, now: .seconds(0.7))
        let done = s.on(.jobDone("w", exam: cid("e0"), attempt: 1), now: .seconds(0.8))
        #expect(done.contains(.examCompleted(cid("e0"), attempt: 1, worker: "w")))
        #expect(done.dispatches.isEmpty, "the freed credit waits for the resume")
        #expect(s.on(.resumeDispatch, now: .seconds(0.9)).dispatches.map(\.exam.rawValue) == ["e2"])
    }
}
