import HemoCluster
import HemoCore
import HemoScheduler
import Testing

/// `hemo run`'s supervision policy on a manual clock: no processes, no sleeps.
@Suite struct WorkerSupervisorTests {
    let settings = WorkerSupervisor.Settings(maxRestarts: 3, initialBackoff: .seconds(1), maximumBackoff: .seconds(4),
                                             healthyAfter: .seconds(60))

    @Test func aDeadWorkerRestartsAfterADoublingBackOffThenGivesUp() {
        var s = WorkerSupervisor(workers: 1, settings: settings)
        #expect(s.on(.begin, now: .zero) == [.start(slot: 0)])
        var t = 0.0
        for (n, delay) in [1.0, 2.0, 4.0].enumerated() {
            t += 0.5
            let died = s.on(.exited(slot: 0, .signal(9)), now: .seconds(t))
            #expect(died == [.willRestart(slot: 0, after: .seconds(delay), reason: "worker 0 ended with killed by signal 9")], "restart \(n)")
            #expect(s.on(.tick, now: .seconds(t + delay - 0.01)) == [])
            t += delay
            #expect(s.on(.tick, now: .seconds(t)) == [.start(slot: 0)])
        }
        let last = s.on(.exited(slot: 0, .status(2)), now: .seconds(t + 0.1))
        #expect(last == [.gaveUp(slot: 0, reason: "worker 0 ended with exit status 2; restarted 3 times in a row, giving up"),
                         .noWorkerLeft(reason: "no worker can run: 1 of 1 worker processes died 4 times in a row (last: worker 0 ended with exit status 2)")])
        #expect(!s.hasLiveSlot)
        #expect(s.on(.tick, now: .seconds(1000)) == [])
    }

    @Test func aHealthyRunStartsTheCountAndBackOffOver() {
        var s = WorkerSupervisor(workers: 1, settings: settings)
        _ = s.on(.begin, now: .zero)
        var t = 0.0
        for _ in 0..<10 {
            t += 61  // each life lasts longer than healthyAfter
            #expect(s.on(.exited(slot: 0, .signal(9)), now: .seconds(t)) == [.willRestart(slot: 0, after: .seconds(1), reason: "worker 0 ended with killed by signal 9")])
            t += 1
            #expect(s.on(.tick, now: .seconds(t)) == [.start(slot: 0)])
        }
    }

    @Test func aCleanExitIsNotRestartedAndTheRunEndsWhenNoSlotIsLeft() {
        var s = WorkerSupervisor(workers: 2, settings: settings)
        #expect(s.on(.begin, now: .zero) == [.start(slot: 0), .start(slot: 1)])
        #expect(s.on(.exited(slot: 1, .status(0)), now: .seconds(1)) == [])
        #expect(s.hasLiveSlot)
        #expect(s.on(.exited(slot: 0, .status(0)), now: .seconds(2))
                == [.noWorkerLeft(reason: "no worker can run: every worker process exited (drained, or told the run is over)")])
    }

    @Test func oneGoodSlotKeepsTheRunAlive() {
        var s = WorkerSupervisor(workers: 2, settings: WorkerSupervisor.Settings(maxRestarts: 0))
        _ = s.on(.begin, now: .zero)
        let out = s.on(.startFailed(slot: 0, reason: "no such file"), now: .seconds(1))
        #expect(out == [.gaveUp(slot: 0, reason: "worker 0 could not be started: no such file; restarted 0 times in a row, giving up")])
        #expect(s.hasLiveSlot)
        // Events about slots that do not run are ignored.
        #expect(s.on(.exited(slot: 0, .status(1)), now: .seconds(2)) == [])
        #expect(s.on(.exited(slot: 7, .status(1)), now: .seconds(2)) == [])
    }

    @Test(arguments: [UInt64(3), 17, 2026])
    func propertyEverySlotEndsRunningOrAccountedAndTheEndIsAnnouncedOnce(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let n = 4
        var s = WorkerSupervisor(workers: n, settings: WorkerSupervisor.Settings(maxRestarts: 2, initialBackoff: .milliseconds(100),
                                                                                  maximumBackoff: .milliseconds(400), healthyAfter: .seconds(5)))
        var running = Set(0..<n)
        var announcements = 0
        var starts = 0
        var t: UInt64 = 0
        func take(_ out: [WorkerSupervisor.Directive]) {
            for d in out {
                switch d {
                case .start(let slot): #expect(!running.contains(slot)); running.insert(slot); starts += 1
                case .noWorkerLeft: announcements += 1
                default: break
                }
            }
        }
        _ = s.on(.begin, now: .zero)
        for _ in 0..<5_000 {
            t += rng.next() % 300_000_000
            let now = SchedulerInstant(nanoseconds: t)
            if let slot = running.randomElement(using: &rng), rng.next() % 3 == 0 {
                running.remove(slot)
                take(s.on(.exited(slot: slot, rng.next() % 5 == 0 ? .status(0) : .signal(9)), now: now))
            } else {
                take(s.on(.tick, now: now))
            }
            #expect(s.hasLiveSlot || running.isEmpty)
        }
        #expect(announcements <= 1)
        #expect(announcements == (s.hasLiveSlot ? 0 : 1))
    }
}
