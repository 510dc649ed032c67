import Foundation
@testable import HemoConcurrency
import Synchronization
import Testing

/// The engine's spinning workers: every index runs exactly once, the workers take part, and
/// busy, nested, concurrent and long-idle cases still give every index once.
@Suite struct SpinningWorkersTests {
    /// Counts per index, written from any thread.
    final class Counts: @unchecked Sendable {
        let slots: UnsafeMutablePointer<Atomic<Int>>
        let count: Int
        init(_ count: Int) {
            self.count = count
            slots = .allocate(capacity: count)
            for i in 0..<count { (slots + i).initialize(to: Atomic(0)) }
        }
        func hit(_ i: Int) { slots[i].add(1, ordering: .relaxed) }
        func all(equal value: Int) -> Bool { (0..<count).allSatisfy { slots[$0].load(ordering: .relaxed) == value } }
        deinit { slots.deinitialize(count: count); slots.deallocate() }
    }

    /// The threads that ran a loop's indices.
    final class Runners: @unchecked Sendable {
        private let lock = NSLock()
        private var names: Set<String> = []
        func note() {
            let me = "\(pthread_self()) \(Thread.current.name ?? "-")"
            lock.lock(); names.insert(me); lock.unlock()
        }
        var count: Int { lock.lock(); defer { lock.unlock() }; return names.count }
        var all: [String] { lock.lock(); defer { lock.unlock() }; return names.sorted() }
    }

    @Test func thousandsOfShortLoopsRunEveryIndexOnce() {
        let workers = SpinningWorkers(limit: 2)
        for round in 0..<3000 {
            let n = 1 + (round * 7919) % 97
            let counts = Counts(n)
            workers.forEachIndex(n, threads: 1 + round % 4) { counts.hit($0) }
            #expect(counts.all(equal: 1), "round \(round), \(n) indices")
            if !counts.all(equal: 1) { return }
        }
    }

    @Test func workersStartAsLoopsAskForThemUpToTheLimit() {
        let workers = SpinningWorkers(limit: 3)
        #expect(workers.started == 0)
        let counts = Counts(40)
        workers.forEachIndex(40, threads: 2) { counts.hit($0) }
        #expect(workers.started == 1, "2 threads need the caller and one worker")
        workers.forEachIndex(40, threads: 4) { counts.hit($0) }
        #expect(workers.started == 3)
        workers.forEachIndex(40, threads: 9) { counts.hit($0) }  // over the limit: Dispatch's threads
        #expect(workers.started == 3)
        #expect(counts.all(equal: 3))
    }

    @Test func theWorkersTakePartAndStillDoAfterSleeping() {
        let workers = SpinningWorkers(limit: 1)
        for pause in [0, 20_000] {  // microseconds idle before the loop: the second outlasts the spin
            usleep(UInt32(pause))
            let runners = Runners(), counts = Counts(64)
            workers.forEachIndex(64, threads: 2) { i in
                runners.note()
                counts.hit(i)
                usleep(300)
            }
            #expect(counts.all(equal: 1))
            #expect(runners.count == 2, "after \(pause) µs idle, \(runners.count) thread(s) ran the loop: \(runners.all)")
        }
    }

    @Test func concurrentAndNestedCallersFallBackAndStillRunEveryIndexOnce() {
        let workers = SpinningWorkers(limit: 1)
        let failures = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 4) { caller in
            for round in 0..<300 {
                let n = 5 + (caller + round) % 40
                let counts = Counts(n * 3)
                workers.forEachIndex(n, threads: 2) { i in
                    // A loop started from inside a loop's body (the workers are busy).
                    workers.forEachIndex(3, threads: 2) { j in counts.hit(i * 3 + j) }
                }
                if !counts.all(equal: 1) { failures.add(1, ordering: .relaxed) }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
    }
}
