import Dispatch

/// Owned float memory for packed weights and constants, freed when the last reference goes.
final class FloatStorage: @unchecked Sendable {
    /// The first element; 64-byte aligned. Written only while the owner is being built.
    let pointer: UnsafeMutablePointer<Float>
    /// The number of floats.
    let count: Int

    /// Zero-filled storage for `count` floats.
    init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    /// Storage holding a copy of `values`.
    convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { pointer.update(from: base, count: values.count) }
        }
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}

/// Runs `body(i)` for every `i` in `0..<count` on up to `threads` threads.
///
/// Work is dealt round-robin (thread `t` takes `t, t + threads, …`). Each kernel writes disjoint
/// outputs per index and reduces in a fixed order, so results do not depend on `threads`.
@inline(__always)
func parallelFor(_ count: Int, threads: Int, _ body: (Int) -> Void) {
    let workers = min(max(threads, 1), count)
    if workers <= 1 {
        for index in 0..<count { body(index) }
        return
    }
    withoutActuallyEscaping(body) { body in
        let box = UnsafeSendableClosure(body)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var index = worker
            while index < count {
                box.body(index)
                index += workers
            }
        }
    }
}

/// Carries a non-escaping closure into `concurrentPerform`, which is synchronous.
private struct UnsafeSendableClosure: @unchecked Sendable {
    let body: (Int) -> Void
    init(_ body: @escaping (Int) -> Void) { self.body = body }
}
