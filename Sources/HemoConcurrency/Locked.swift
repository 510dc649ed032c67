import Foundation

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
