import Foundation

/// HemoCluster's one thread-pool API. Three loops, one rule each:
/// - ``forEachRange(_:threads:minimumPerThread:_:)``: compute over contiguous blocks whose
///   boundaries depend only on the count and the thread count, so results are bit-identical
///   whatever the thread count is (transforms).
/// - ``forEachIndex(_:threads:_:)``: compute where items differ in cost; each thread takes the
///   next index not yet taken, so a descheduled thread does not hold the others up.
/// - ``onDedicatedThreads(count:threads:_:)``: work that blocks in C calls or I/O, on threads of
///   its own, never on the Swift concurrency pool or Dispatch's.
///
/// The first two run on Dispatch's `concurrentPerform` and must not block; call them from a
/// thread or a dispatch queue, not from the Swift concurrency pool.
public enum Parallel {
    /// Processors online (at least 1).
    public static var processors: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    /// `transform(i)` for every `i` in `0..<count`, computed by ``forEachIndex(_:threads:_:)``,
    /// returned in index order.
    public static func map<T>(_ count: Int, threads: Int, _ transform: (Int) -> T) -> [T] {
        guard count > 0 else { return [] }
        let slots = UnsafeMutablePointer<T?>.allocate(capacity: count)
        slots.initialize(repeating: nil, count: count)
        defer { slots.deinitialize(count: count); slots.deallocate() }
        let shared = SharedMutablePointer(slots)
        forEachIndex(count, threads: threads) { i in shared.base[i] = transform(i) }
        return (0..<count).map { slots[$0]! }
    }

    /// Runs `body` over `0..<count` split into at most `threads` contiguous ranges.
    ///
    /// With `threads <= 1` (or too little work for two threads) the body runs once on the
    /// calling thread.
    public static func forEachRange(_ count: Int, threads: Int, minimumPerThread: Int = 1,
                                    _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let usable = max(1, min(threads, count / max(1, minimumPerThread)))
        if usable <= 1 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UncheckedRangeBody(body: body)
            DispatchQueue.concurrentPerform(iterations: usable) { part in
                let lower = count * part / usable
                let upper = count * (part + 1) / usable
                if lower < upper { box.body(lower..<upper) }
            }
        }
    }

    /// Runs `body(i)` for every `i` in `0..<count` on up to `threads` threads, each taking the
    /// next index not yet taken.
    public static func forEachIndex(_ count: Int, threads: Int, _ body: (Int) -> Void) {
        let workers = min(max(threads, 1), count)
        if workers <= 1 {
            for index in 0..<count { body(index) }
            return
        }
        let next = IndexDispenser(count: count)
        withoutActuallyEscaping(body) { body in
            let box = UncheckedIndexBody(body: body)
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                while let index = next.take() { box.body(index) }
            }
        }
    }

    /// Runs `body(i)` for `i` in `0..<count` on `threads` dedicated threads (8 MiB stacks),
    /// handing out indices in order; returns when every call has finished.
    public static func onDedicatedThreads(count: Int, threads: Int, _ body: @escaping @Sendable (Int) -> Void) {
        guard count > 0 else { return }
        let width = max(1, min(threads, count))
        if width == 1 {
            for i in 0..<count { body(i) }
            return
        }
        let next = IndexDispenser(count: count)
        let group = DispatchGroup()
        for _ in 0..<width {
            group.enter()
            let t = Thread {
                while let i = next.take() { body(i) }
                group.leave()
            }
            t.stackSize = 8 << 20
            t.start()
        }
        group.wait()
    }
}

/// Runs `body(i)` for `i` in `0..<count` on `threads` dedicated threads: ``Parallel/onDedicatedThreads(count:threads:_:)``.
@inlinable
public func runOnThreads(count: Int, threads: Int, _ body: @escaping @Sendable (Int) -> Void) {
    Parallel.onDedicatedThreads(count: count, threads: threads, body)
}

/// A body shared by the threads of ``Parallel/forEachRange(_:threads:minimumPerThread:_:)``: safe
/// because every call writes only the outputs of its own range.
private struct UncheckedRangeBody: @unchecked Sendable {
    let body: (Range<Int>) -> Void
}

/// A body shared by the threads of ``Parallel/forEachIndex(_:threads:_:)``.
private struct UncheckedIndexBody: @unchecked Sendable {
    let body: (Int) -> Void
}

/// A pointer that may be shared between the threads of a ``Parallel`` loop because each thread
/// writes a disjoint set of elements.
public struct SharedMutablePointer<Element>: @unchecked Sendable {
    /// The shared base address.
    public let base: UnsafeMutablePointer<Element>
    /// Shares `base`.
    public init(_ base: UnsafeMutablePointer<Element>) { self.base = base }
}

/// Hands out indices 0..<count once each, across threads.
final class IndexDispenser: @unchecked Sendable {
    private var value = 0
    private let count: Int
    private let lock = NSLock()
    init(count: Int) { self.count = count }
    func take() -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard value < count else { return nil }
        value += 1
        return value - 1
    }
}

