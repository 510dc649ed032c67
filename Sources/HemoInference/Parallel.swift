import Dispatch
import Foundation
import HemoConcurrency

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

/// Runs `body(i)` for every `i` in `0..<count` on up to `threads` threads: HemoConcurrency's
/// ``SpinningWorkers`` (workers that stay awake between the steps of a run).
///
/// Each thread takes the next index not yet taken, so a thread the (shared) machine
/// deschedules does not hold the others up. Each kernel writes disjoint outputs per index and
/// reduces in a fixed order, so results do not depend on `threads` or on who ran what.
@inline(__always)
func parallelFor(_ count: Int, threads: Int, _ body: (Int) -> Void) {
    SpinningWorkers.shared.forEachIndex(count, threads: threads, body)
}

#if canImport(Glibc)
import Glibc
#endif

/// The activation arena of a run: 2 MiB-aligned and, on Linux, advised for transparent huge
/// pages (activation planes of 512×512 slices are 1 MiB apart; 4 KiB pages cost TLB misses).
///
/// Arenas are kept by an ``ArenaPool`` between runs: a fresh arena's pages are zeroed by the
/// kernel on first touch, which cost 10% of a 512×512 run of the benchmark U-Net (perf:
/// `clear_page_erms`).
final class ArenaMemory: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    /// Capacity in floats.
    let count: Int

    init(count: Int) {
        self.count = max(count, 1)
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

/// Arenas of finished runs, handed to the next run that fits (one per concurrent run).
final class ArenaPool: @unchecked Sendable {
    private let lock = NSLock()
    private var idle: [ArenaMemory] = []
    /// Idle arenas kept at most; more concurrent runs allocate and free their own.
    private let limit = 4

    /// An idle arena of at least `count` floats, or a new one. The largest idle arena that
    /// is too small is dropped, so the pool follows the largest plan in use.
    func take(count: Int) -> ArenaMemory {
        lock.lock()
        if let index = idle.firstIndex(where: { $0.count >= count }) {
            let arena = idle.remove(at: index)
            lock.unlock()
            return arena
        }
        if !idle.isEmpty { idle.removeLast() }
        lock.unlock()
        return ArenaMemory(count: count)
    }

    /// Returns an arena after its run.
    func give(_ arena: ArenaMemory) {
        lock.lock()
        defer { lock.unlock() }
        if idle.count < limit { idle.append(arena) }
        idle.sort { $0.count < $1.count }
    }
}

/// Scratch memory of kernels (Winograd bands, ConvTranspose columns), kept between calls:
/// scratch of half a MiB and more is mapped afresh by malloc on every call, and the kernel
/// zeroes every page of it on first touch (`clear_page_erms`; the profile that showed it:
/// scripts/bench/README.md).
final class ScratchPool: @unchecked Sendable {
    /// One buffer of floats, 64-byte aligned.
    final class Buffer: @unchecked Sendable {
        let pointer: UnsafeMutablePointer<Float>
        let count: Int
        init(count: Int) {
            self.count = max(count, 1)
            pointer = UnsafeMutableRawPointer.allocate(byteCount: self.count * 4, alignment: 64)
                .bindMemory(to: Float.self, capacity: self.count)
        }
        deinit { UnsafeMutableRawPointer(pointer).deallocate() }
    }

    /// The pool every kernel shares.
    static let shared = ScratchPool()

    private let lock = NSLock()
    private var idle: [Buffer] = []
    /// Idle buffers kept at most (one per thread of the widest run is the steady state).
    private let limit = 4

    /// Runs `body` with at least `count` floats of scratch (contents undefined).
    func with<Result>(count: Int, _ body: (UnsafeMutablePointer<Float>) -> Result) -> Result {
        let buffer = take(count: count)
        defer { give(buffer) }
        return body(buffer.pointer)
    }

    private func take(count: Int) -> Buffer {
        lock.lock()
        if let index = idle.firstIndex(where: { $0.count >= count }) {
            let buffer = idle.remove(at: index)
            lock.unlock()
            return buffer
        }
        // None is large enough: the largest idle one is replaced by this larger one, so one
        // thread keeps one buffer that grows to the largest request.
        if !idle.isEmpty { idle.removeLast() }
        lock.unlock()
        return Buffer(count: count)
    }

    private func give(_ buffer: Buffer) {
        lock.lock()
        defer { lock.unlock() }
        idle.append(buffer)
        idle.sort { $0.count < $1.count }
        if idle.count > limit { idle.removeFirst() }
    }
}
