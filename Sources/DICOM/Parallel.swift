import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Work over files and slices on plain threads (`DispatchQueue.concurrentPerform`), never on the
/// Swift concurrency pool: file reads and C decoders block.
///
/// Items are handed out one at a time from a shared counter, and every item writes only its own
/// output slot, so results do not depend on the thread count or on scheduling.
enum Parallel {
    /// Processors online (at least 1).
    static var processors: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// Runs `body(i)` for every `i` in `0..<count` on up to `threads` threads.
    static func forEach(_ count: Int, threads: Int, _ body: (Int) -> Void) {
        guard count > 0 else { return }
        let usable = max(1, min(threads, count))
        if usable == 1 {
            for i in 0..<count { body(i) }
            return
        }
        let next = AtomicCounter()
        withoutActuallyEscaping(body) { body in
            let box = UncheckedBody(body: body)
            DispatchQueue.concurrentPerform(iterations: usable) { _ in
                while true {
                    let i = next.increment()
                    guard i < count else { return }
                    box.body(i)
                }
            }
        }
    }

    /// `transform(i)` for every `i` in `0..<count`, computed on up to `threads` threads, in index order.
    static func map<T>(_ count: Int, threads: Int, _ transform: (Int) -> T) -> [T] {
        let slots = UnsafeMutablePointer<T?>.allocate(capacity: max(1, count))
        slots.initialize(repeating: nil, count: count)
        defer { slots.deinitialize(count: count); slots.deallocate() }
        let shared = SharedSlots(base: slots)
        forEach(count, threads: threads) { i in shared.base[i] = transform(i) }
        return (0..<count).map { slots[$0]! }
    }
}

/// A closure shared by the threads of ``Parallel``: each call writes only its own item's output.
private struct UncheckedBody: @unchecked Sendable {
    let body: (Int) -> Void
}

/// Output slots written by the threads of ``Parallel``, one slot per item.
struct SharedSlots<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
}

/// The next item index, shared by the threads of ``Parallel`` (a mutex-guarded counter).
private final class AtomicCounter: @unchecked Sendable {
    private let lock = NSLockish()
    private var value = 0
    func increment() -> Int { lock.locked { defer { value += 1 }; return value } }
}
