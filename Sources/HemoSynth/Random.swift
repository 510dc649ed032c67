import HemoCore

/// xoshiro256**: the per-stream generator of the synthesiser (noise, case parameters).
///
/// Every stream is keyed by (seed, case, purpose[, slice]) so results never depend on
/// which thread generates what, or in which order.
public struct Xoshiro256: Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// A generator whose state is expanded from `seed` with ``SplitMix64``.
    public init(seed: UInt64) {
        var sm = SplitMix64(seed: seed)
        s0 = sm.next(); s1 = sm.next(); s2 = sm.next(); s3 = sm.next()
    }

    /// A generator for the stream named by `words` (e.g. seed, case index, purpose, slice).
    public init(key words: UInt64...) {
        self.init(seed: SplitMix64.key(words))
    }

    /// The next 64 random bits.
    @inline(__always) public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = (s3 << 45) | (s3 >> 19)
        return result
    }

    /// A uniform `Double` in `[0, 1)`.
    @inline(__always) public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// A uniform `Double` in `range`.
    public mutating func uniform(_ range: ClosedRange<Double>) -> Double {
        range.lowerBound + unit() * (range.upperBound - range.lowerBound)
    }

    /// A uniform `Float` in `range`.
    public mutating func uniformF(_ range: ClosedRange<Float>) -> Float {
        Float(uniform(Double(range.lowerBound)...Double(range.upperBound)))
    }

    /// A uniform integer in `range`.
    public mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.upperBound - range.lowerBound + 1))
    }

    /// `true` with probability `p`.
    public mutating func chance(_ p: Double) -> Bool { unit() < p }

    /// Fisher–Yates shuffle of `items`.
    public mutating func shuffle<T>(_ items: inout [T]) {
        guard items.count > 1 else { return }
        for i in stride(from: items.count - 1, to: 0, by: -1) {
            items.swapAt(i, int(0...i))
        }
    }
}
