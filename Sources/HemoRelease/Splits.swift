import HemoCore

/// Patient-level train/val/test assignment: a pure function of a case identifier and the
/// release's split seed, so a case keeps its split when the cohort grows.
///
/// The rule: `u = first 8 bytes of SHA-256("hemocluster-split-v1\0" + seed + "\0" + case)` read
/// big-endian and divided by 2^64; `train` when `u < train`, `val` when `u < train + val`,
/// else `test`.
public struct SplitRule: Sendable, Hashable {
    /// The seed text.
    public var seed: String
    /// Fraction of cases in `train`.
    public var train: Double
    /// Fraction of cases in `val`.
    public var val: Double

    /// A rule with the default 70/15/15 fractions.
    public init(seed: String, train: Double = 0.70, val: Double = 0.15) {
        self.seed = seed; self.train = train; self.val = val
    }

    /// The three split names in file order.
    public enum Split: String, CaseIterable, Sendable { case train, val, test }

    /// The split of `id`.
    public func split(of id: CaseID) -> Split {
        let digest = { () -> [UInt8] in
            var h = SHA256()
            h.update(Array("hemocluster-split-v1\u{0}\(seed)\u{0}\(id.rawValue)".utf8))
            return h.finalize()
        }()
        var x: UInt64 = 0
        for b in digest.prefix(8) { x = x << 8 | UInt64(b) }
        let u = Double(x) / 18_446_744_073_709_551_616.0
        if u < train { return .train }
        if u < train + val { return .val }
        return .test
    }
}
