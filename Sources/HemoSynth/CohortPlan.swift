import HemoCore

/// How positives and subtypes are spread over a cohort: the default prevalence.
///
/// Cases are taken in blocks of ``SynthOptions/blockSize`` (20). In each block exactly
/// `round(20 × positiveFraction)` cases are positive (which ones: a shuffle keyed by the seed and
/// block). Each positive gets a *primary* subtype dealt from a shuffled deck whose make-up follows
/// ``primaryWeights`` by largest remainder, with every subtype at least once when the block has five
/// or more positives. Secondary lesions are then added per case with clinical co-occurrence rates
/// (``CasePlanner``): SAH with SDH (35 %), IVH with deep IPH (45 %), SAH with EPH (25 %), and so on.
///
/// With the default fraction 0.5 that gives, among positives, roughly SDH 40 %, SAH 45 %, IPH 30 %,
/// IVH 20 %, EPH 10 % of cases (subtypes overlap), EPH the rarest, as in clinical ICH cohorts.
public enum CohortPlan {
    /// Relative weights of the primary subtype among positives.
    public static let primaryWeights: [(Subtype, Double)] = [(.sdh, 0.30), (.sah, 0.26), (.iph, 0.24), (.ivh, 0.10), (.eph, 0.10)]

    /// The primary subtype of case `index`, or `nil` when the case is planned negative.
    public static func primarySubtype(caseIndex index: Int, options: SynthOptions) -> Subtype? {
        let block = index / SynthOptions.blockSize
        let position = index % SynthOptions.blockSize
        let positives = Int((Double(SynthOptions.blockSize) * options.positiveFraction).rounded())
        guard positives > 0 else { return nil }
        var order = Array(0..<SynthOptions.blockSize)
        var rng = Xoshiro256(key: options.seed, UInt64(block), 0xB10C)
        rng.shuffle(&order)
        guard let rank = order.prefix(positives).firstIndex(of: position) else { return nil }
        var deck = deal(positives)
        var deckRng = Xoshiro256(key: options.seed, UInt64(block), 0xDEC4)
        deckRng.shuffle(&deck)
        return deck[rank]
    }

    /// `count` primary subtypes in proportion to ``primaryWeights`` (largest remainder; each at least once when count ≥ 5).
    static func deal(_ count: Int) -> [Subtype] {
        var quota = primaryWeights.map { (s, w) in (s, Int((w * Double(count)).rounded(.down)), w * Double(count) - (w * Double(count)).rounded(.down)) }
        if count >= primaryWeights.count {
            for q in quota.indices where quota[q].1 == 0 { quota[q].1 = 1; quota[q].2 = -1 }
        }
        var assigned = quota.reduce(0) { $0 + $1.1 }
        // Hand out the remaining slots by largest remainder, ties in list order.
        let byRemainder = quota.indices.sorted { quota[$0].2 > quota[$1].2 || (quota[$0].2 == quota[$1].2 && $0 < $1) }
        var r = 0
        while assigned < count {
            quota[byRemainder[r % byRemainder.count]].1 += 1
            assigned += 1; r += 1
        }
        // Too many (from the at-least-once rule): take back from the largest.
        while assigned > count {
            let largest = quota.indices.max { quota[$0].1 < quota[$1].1 }!
            quota[largest].1 -= 1
            assigned -= 1
        }
        return quota.flatMap { Array(repeating: $0.0, count: $0.1) }
    }
}
