import Dispatch

/// Deterministic work splitting for the transforms.
///
/// Work is cut into contiguous blocks of items whose boundaries depend only on the item count
/// and the number of threads, and every item writes only its own outputs, so results are
/// bit-identical whatever `threads` is.
enum Parallel {
    /// Runs `body` over `0..<count` split into at most `threads` contiguous ranges.
    ///
    /// With `threads <= 1` (or little work) the body runs once on the calling thread.
    static func forEachRange(_ count: Int, threads: Int, minimumPerThread: Int = 1,
                             _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let usable = max(1, min(threads, count / max(1, minimumPerThread)))
        if usable <= 1 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UncheckedBody(body: body)
            DispatchQueue.concurrentPerform(iterations: usable) { part in
                let lower = count * part / usable
                let upper = count * (part + 1) / usable
                if lower < upper { box.body(lower..<upper) }
            }
        }
    }
}

/// A work item shared by the threads of ``Parallel``: safe because every call writes only the outputs of
/// its own range.
private struct UncheckedBody: @unchecked Sendable {
    let body: (Range<Int>) -> Void
}

/// A pointer that may be shared between the threads of ``Parallel`` because each thread
/// writes a disjoint set of elements.
struct SharedMutablePointer<Element>: @unchecked Sendable {
    /// The shared base address.
    let base: UnsafeMutablePointer<Element>
    init(_ base: UnsafeMutablePointer<Element>) { self.base = base }
}
