/// SplitMix64: a tiny, fast, well-mixed 64-bit generator used to derive keys and seed ``Xoshiro256``.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The generator state.
    public var state: UInt64

    /// A generator starting at `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    @inline(__always) public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Mixes a list of words into one well-distributed key (order matters).
    public static func key(_ words: [UInt64]) -> UInt64 {
        var mixer = SplitMix64(seed: 0x5EED_C0DE_1234_5678)
        var h: UInt64 = 0
        for w in words {
            mixer.state ^= w &+ h
            h = mixer.next()
        }
        return h
    }
}

