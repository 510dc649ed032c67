import HemoCore
import Testing
@testable import HemoScheduler

/// `--idle-timeout`: the scheduler's blocker and the watch over it, on a manual clock.
@Suite("Idle watch")
struct IdleWatchTests {
    func exams(_ n: Int, requires: WorkerCapabilities = .build) -> [ExamSpec] {
        (0..<n).map { ExamSpec(id: CaseID("c\($0)")!, sizeEstimate: UInt64(n - $0), requires: requires) }
    }

    @Test func aRunWithoutWorkersIsBlockedAndSaysSo() throws {
        let s = try Scheduler(exams: exams(3))
        #expect(s.progressBlocker == "no worker is connected to take the 3 remaining exams")
    }

    @Test func aRunningAttemptOrACapableWorkerUnblocks() throws {
        var s = try Scheduler(exams: exams(2))
        let out = s.on(.workerReady("w", capacity: 1, capabilities: .build), now: .zero)
        #expect(out.contains { if case .dispatch = $0 { true } else { false } })
        #expect(s.progressBlocker == nil)
        // A worker that cannot infer does not unblock an infer run.
        var infer = try Scheduler(exams: exams(2, requires: [.build, .infer]))
        _ = infer.on(.workerReady("b", capacity: 1, capabilities: .build), now: .zero)
        #expect(infer.progressBlocker == "no connected worker can take the 2 remaining exams: 1 connected, 1 unable to run these jobs (they refused them: another model, or --build-only)")
        _ = infer.on(.workerReady("i", capacity: 1, capabilities: [.build, .infer]), now: .zero)
        #expect(infer.progressBlocker == nil)
    }

    @Test func aDrainingOrDeadWorkerDoesNotCount() throws {
        var s = try Scheduler(settings: SchedulerSettings(heartbeatInterval: .seconds(1), livenessIntervals: 3), exams: exams(1))
        _ = s.on(.workerReady("w", capacity: 0, capabilities: .build), now: .zero)
        _ = s.on(.workerDraining("w"), now: .zero)
        #expect(s.progressBlocker == "no connected worker can take the 1 remaining exam: 1 connected, 1 draining")
        _ = s.on(.tick, now: .seconds(10))
        #expect(s.progressBlocker == "no worker is connected to take the 1 remaining exam")
    }

    @Test func aFinishedRunIsNeverBlocked() throws {
        let s = try Scheduler(exams: exams(2), alreadyFinished: [CaseID("c0")!, CaseID("c1")!])
        #expect(s.progressBlocker == nil)
    }

    @Test func theWatchExpiresOnlyAfterAnUnbrokenTimeout() {
        var w = IdleWatch(timeout: .seconds(30))
        #expect(w.on(blocker: "none", now: .seconds(0)) == .carryOn)
        #expect(w.on(blocker: "none", now: .seconds(29.9)) == .carryOn)
        // Progress restarts the timer.
        #expect(w.on(blocker: nil, now: .seconds(29.95)) == .carryOn)
        #expect(w.blockedSince == nil)
        #expect(w.on(blocker: "none", now: .seconds(40)) == .carryOn)
        #expect(w.on(blocker: "other words", now: .seconds(69.9)) == .carryOn)
        #expect(w.on(blocker: "no worker is connected to take the 1 remaining exam", now: .seconds(70))
                == .expired(reason: "no worker is connected to take the 1 remaining exam for 30 s (--idle-timeout)"))
    }

    @Test(arguments: [UInt64(1), 7, 99])
    func propertyTheWatchExpiresExactlyWhenBlockedForTheTimeout(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var w = IdleWatch(timeout: .milliseconds(500))
        var t: UInt64 = 0
        var blockedSince: UInt64?
        for _ in 0..<2_000 {
            t += rng.next() % 200_000_000
            let blocked = rng.next() % 4 != 0
            if blocked { blockedSince = blockedSince ?? t } else { blockedSince = nil }
            let verdict = w.on(blocker: blocked ? "x" : nil, now: SchedulerInstant(nanoseconds: t))
            let expect = blockedSince.map { t - $0 >= 500_000_000 } ?? false
            if case .expired = verdict { #expect(expect) } else { #expect(!expect) }
        }
    }
}
