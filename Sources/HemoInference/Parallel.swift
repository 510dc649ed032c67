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

#if canImport(Glibc)
import Glibc
#endif

/// The activation arena of one run: 2 MiB-aligned and, on Linux, advised for transparent huge
/// pages (activation planes of 512×512 slices are 1 MiB apart; 4 KiB pages cost TLB misses).
struct ArenaMemory: ~Copyable {
    let pointer: UnsafeMutablePointer<Float>

    init(count: Int) {
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        #if canImport(Glibc)
        let alignment = 2 << 20
        let rounded = (bytes + alignment - 1) / alignment * alignment
        var raw: UnsafeMutableRawPointer? = nil
        if posix_memalign(&raw, alignment, rounded) == 0, let raw {
            if rounded >= alignment { _ = madvise(raw, rounded, MADV_HUGEPAGE) }
            pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
            return
        }
        #endif
        pointer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64).bindMemory(to: Float.self, capacity: max(count, 1))
    }

    deinit {
        #if canImport(Glibc)
        free(pointer)
        #else
        UnsafeMutableRawPointer(pointer).deallocate()
        #endif
    }
}
