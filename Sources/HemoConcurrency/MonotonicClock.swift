import Dispatch

/// The monotonic clock the shells read (the pure machines take `now:` from them): nanoseconds
/// since an arbitrary origin that never jumps with the wall clock.
@inlinable
public func monotonicNanoseconds() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

extension Duration {
    /// The duration in seconds, as a `Double`.
    public var seconds: Double {
        let (s, a) = components
        return Double(s) + Double(a) / 1e18
    }
}
