import Foundation

/// Runs `body(i)` for `i` in `0..<count` on `threads` dedicated threads (never the Swift
/// concurrency pool: the work blocks in C calls), handing out indices in order.
/// Returns when every call has finished.
public func runOnThreads(count: Int, threads: Int, _ body: @escaping @Sendable (Int) -> Void) {
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

/// A value guarded by a lock, for collecting results from worker threads.
public final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    /// Wraps `value`.
    public init(_ value: Value) { self.value = value }
    /// Runs `body` with exclusive access.
    @discardableResult
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock(); defer { lock.unlock() }
        return try body(&value)
    }
}

/// Seconds spent per stage, summed over cases (so with several threads the sum exceeds wall time).
public struct StageTimes: Sendable {
    /// Stage name → seconds, in first-seen order.
    public private(set) var entries: [(String, Double)] = []
    /// No time yet.
    public init() {}
    /// Adds `seconds` to `stage`.
    public mutating func add(_ stage: String, _ seconds: Double) {
        if let i = entries.firstIndex(where: { $0.0 == stage }) { entries[i].1 += seconds } else { entries.append((stage, seconds)) }
    }
    /// Adds every stage of `other`.
    public mutating func merge(_ other: StageTimes) { for (s, t) in other.entries { add(s, t) } }
}

/// Measures `body` and adds its duration to `times[stage]`.
@inline(__always)
public func timed<R>(_ stage: String, _ times: inout StageTimes, _ body: () throws -> R) rethrows -> R {
    let start = DispatchTime.now().uptimeNanoseconds
    defer { times.add(stage, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
    return try body()
}
