import Foundation

/// Thrown when work on a dedicated thread did not finish in time.
struct TimedOut: Error, CustomStringConvertible {
    let seconds: Double
    var description: String { "did not finish within \(seconds) s" }
}

/// Runs blocking socket code on its own `Thread` (never on the Swift concurrency pool) and
/// returns its result, or throws ``TimedOut`` after `seconds` without waiting for a hung thread.
func onDedicatedThread<T: Sendable>(timeout seconds: Double = 20,
                                    _ body: @escaping @Sendable () throws -> T) async throws -> T {
    let once = Once()
    return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
        let thread = Thread {
            let result = Result { try body() }
            if once.claim() { continuation.resume(with: result) }
        }
        thread.start()
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) {
            if once.claim() { continuation.resume(throwing: TimedOut(seconds: seconds)) }
        }
    }
}

/// A flag that can be claimed once, from any thread.
final class Once: @unchecked Sendable {
    private let lock = NSLock()
    private var claimed = false
    func claim() -> Bool {
        lock.lock(); defer { lock.unlock() }
        if claimed { return false }
        claimed = true
        return true
    }
}

/// A unique inproc endpoint name for one test.
func uniqueInproc(_ label: String) -> String { "inproc://\(label)-\(UUID().uuidString)" }

extension String {
    var bytes: [UInt8] { Array(utf8) }
}
