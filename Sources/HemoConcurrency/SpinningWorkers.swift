import Dispatch
import Foundation
import Synchronization

/// Persistent worker threads for many short parallel loops in a row: the inference engine's
/// steps, each a loop of a few microseconds to a few milliseconds.
///
/// ``Parallel/forEachIndex(_:threads:_:)`` hands each loop to Dispatch's `concurrentPerform`,
/// whose workers go to sleep between loops; waking them costs a futex call and a context
/// switch per loop and thread, which on a model of a few hundred steps (EfficientNet-B0: 7 ms a
/// run) took a fifth of the CPU time at 2 threads (perf: `finish_task_switch`, the run queue's
/// spin lock, `pthread_mutex_lock`). These workers instead watch for the next loop for a short
/// while after each one (``spinNanoseconds``) and only then sleep on a condition, so the loops
/// of one run find them awake.
///
/// One loop runs at a time; a caller that finds the workers busy (another run, or a loop
/// started from inside a loop's body) falls back to ``Parallel/forEachIndex(_:threads:_:)``.
/// As there, each thread takes the next index not yet taken, and a loop's body must write
/// disjoint outputs per index, so results do not depend on who ran what.
public final class SpinningWorkers: @unchecked Sendable {
    /// The workers every engine run shares: at most one fewer than the processors online (the
    /// caller is the last one), started as loops ask for them, so a process whose runs use 2
    /// threads has one worker, whatever the machine's size.
    public static let shared = SpinningWorkers(limit: max(0, Parallel.processors - 1))

    /// How long an idle worker watches for the next loop before it sleeps.
    public static let spinNanoseconds: UInt64 = 200_000

    /// The published loop: set by the caller before `epoch` moves, read by workers after.
    private struct Loop {
        var count = 0
        var helpersWanted = 0
        var body: ((Int) -> Void)? = nil
    }

    /// The most workers this pool starts.
    private let limit: Int
    /// Workers started so far (ids `0..<started`); changed only by the caller holding `busy`.
    private(set) var started = 0
    private var loop = Loop()
    /// Taken by the caller for the duration of one loop.
    private let busy = Atomic<Bool>(false)
    /// Moves by one for every published loop.
    private let epoch = Atomic<Int>(0)
    /// True from the moment the caller has taken the last index until the next loop.
    private let closed = Atomic<Bool>(true)
    /// The next index not yet taken.
    private let next = Atomic<Int>(0)
    /// Workers inside a loop (registered before they look at it).
    private let active = Atomic<Int>(0)
    /// Workers asleep on `wake`.
    private let sleepers = Atomic<Int>(0)
    private let wake = NSCondition()

    /// A pool that starts up to `limit` worker threads, each when a loop first needs it. The
    /// workers hold the pool, so both live as long as the process (``shared`` is the one to use).
    init(limit: Int) {
        self.limit = limit
    }

    /// Starts workers until there are `count` (the caller holds `busy`).
    private func start(upTo count: Int) {
        while started < count {
            let id = started
            // The worker holds its pool: a pool and its workers live as long as the process.
            let thread = Thread { self.work(id: id) }
            thread.name = "hemo-engine-\(id + 1)"
            thread.stackSize = 8 << 20
            thread.start()
            started += 1
        }
    }

    /// Runs `body(i)` for every `i` in `0..<count` on the calling thread and up to
    /// `threads − 1` workers, each taking the next index not yet taken; returns when every call
    /// has finished.
    public func forEachIndex(_ count: Int, threads: Int, _ body: (Int) -> Void) {
        let wanted = min(max(threads, 1), count) - 1
        if wanted <= 0 {
            for index in 0..<count { body(index) }
            return
        }
        guard wanted <= limit, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            Parallel.forEachIndex(count, threads: threads, body)
            return
        }
        start(upTo: wanted)
        withoutActuallyEscaping(body) { body in
            loop = Loop(count: count, helpersWanted: wanted, body: body)
            next.store(0, ordering: .sequentiallyConsistent)
            closed.store(false, ordering: .sequentiallyConsistent)
            epoch.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                wake.lock()
                wake.broadcast()
                wake.unlock()
            }
            while true {
                let index = next.add(1, ordering: .relaxed).oldValue
                if index >= count { break }
                body(index)
            }
            // No worker may start on this loop from now on; wait for those inside it.
            closed.store(true, ordering: .sequentiallyConsistent)
            while active.load(ordering: .sequentiallyConsistent) > 0 {}
            loop.body = nil
        }
        busy.store(false, ordering: .releasing)
    }

    /// A worker's life: watch for a loop it has not joined, join it, and sleep when none comes.
    private func work(id: Int) {
        var joined = 0
        while true {
            var watchedSince: UInt64 = 0
            var spins = 0
            while epoch.load(ordering: .sequentiallyConsistent) == joined || closed.load(ordering: .sequentiallyConsistent) {
                // Between loops of one run: spin, checking the clock now and then.
                spins += 1
                if spins & 1023 != 0 { continue }
                let now = DispatchTime.now().uptimeNanoseconds
                if watchedSince == 0 { watchedSince = now; continue }
                if now - watchedSince < Self.spinNanoseconds { continue }
                wake.lock()
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while epoch.load(ordering: .sequentiallyConsistent) == joined || closed.load(ordering: .sequentiallyConsistent) {
                    wake.wait()
                }
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
                wake.unlock()
                break
            }
            active.add(1, ordering: .sequentiallyConsistent)
            let current = epoch.load(ordering: .sequentiallyConsistent)
            if !closed.load(ordering: .sequentiallyConsistent), current != joined {
                joined = current
                // The caller does not change `loop` while this worker is active in it.
                let loop = self.loop
                if id < loop.helpersWanted, let body = loop.body {
                    while true {
                        let index = next.add(1, ordering: .relaxed).oldValue
                        if index >= loop.count { break }
                        body(index)
                    }
                }
            }
            active.subtract(1, ordering: .sequentiallyConsistent)
        }
    }
}
