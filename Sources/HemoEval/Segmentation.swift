/// Voxel counts of one truth mask against one predicted mask.
///
/// Dice and IoU follow the conventions of <doc:Metrics>: when both masks are empty the
/// prediction is perfect and both scores are 1.
public struct OverlapCounts: Sendable, Hashable, Codable {
    /// Voxels set in the truth.
    public var truth: Int
    /// Voxels set in the prediction.
    public var predicted: Int
    /// Voxels set in both.
    public var intersection: Int

    /// Counts from their values.
    public init(truth: Int = 0, predicted: Int = 0, intersection: Int = 0) {
        self.truth = truth
        self.predicted = predicted
        self.intersection = intersection
    }

    /// Counts two 0/1 (or zero / non-zero) masks of the same length.
    public init(truth: [UInt8], predicted: [UInt8], source: String = "masks") throws(EvalError) {
        guard truth.count == predicted.count else {
            throw EvalError(.lengthMismatch(expected: truth.count, actual: predicted.count), source: source)
        }
        self.init()
        for (t, p) in zip(truth, predicted) {
            let inTruth = t != 0, inPrediction = p != 0
            if inTruth { self.truth += 1 }
            if inPrediction { self.predicted += 1 }
            if inTruth && inPrediction { intersection += 1 }
        }
    }

    /// Voxels set in either mask.
    public var union: Int { truth + predicted - intersection }
    /// Voxels predicted but absent from the truth.
    public var falsePositives: Int { predicted - intersection }
    /// Voxels of the truth the prediction missed.
    public var falseNegatives: Int { truth - intersection }

    /// 2·|T∩P| / (|T| + |P|); 1 when both masks are empty.
    public var dice: Double {
        truth + predicted == 0 ? 1 : 2 * Double(intersection) / Double(truth + predicted)
    }

    /// |T∩P| / |T∪P|; 1 when both masks are empty.
    public var iou: Double {
        union == 0 ? 1 : Double(intersection) / Double(union)
    }

    /// Adds the counts of two masks pairs (pooling voxels).
    public static func + (a: OverlapCounts, b: OverlapCounts) -> OverlapCounts {
        OverlapCounts(truth: a.truth + b.truth, predicted: a.predicted + b.predicted,
                      intersection: a.intersection + b.intersection)
    }

    /// Overlap counts for `any` and each subtype of two bitmask volumes (bit v−1 set = subtype v),
    /// in one pass.
    ///
    /// - Throws: ``EvalError/Code/lengthMismatch(expected:actual:)`` when the volumes differ in size.
    public static func perTarget(truthBitmask truth: [UInt8], predictedBitmask predicted: [UInt8],
                                 source: String = "masks") throws(EvalError) -> [EvalTarget: OverlapCounts] {
        guard truth.count == predicted.count else {
            throw EvalError(.lengthMismatch(expected: truth.count, actual: predicted.count), source: source)
        }
        // Index 0 = any, 1...5 = subtype bits.
        var t = [Int](repeating: 0, count: 6), p = t, both = t
        for (tv, pv) in zip(truth, predicted) where (tv | pv) & 0x1F != 0 {
            let tm = tv & 0x1F, pm = pv & 0x1F
            if tm != 0 { t[0] += 1 }
            if pm != 0 { p[0] += 1 }
            if tm != 0 && pm != 0 { both[0] += 1 }
            for bit in 0..<5 {
                let tb = (tm >> bit) & 1, pb = (pm >> bit) & 1
                t[bit + 1] += Int(tb)
                p[bit + 1] += Int(pb)
                both[bit + 1] += Int(tb & pb)
            }
        }
        var out: [EvalTarget: OverlapCounts] = [:]
        for (index, target) in EvalTarget.all.enumerated() {
            out[target] = OverlapCounts(truth: t[index], predicted: p[index], intersection: both[index])
        }
        return out
    }
}

/// One case's overlap for one target, with the voxel volume that turns counts into millilitres.
public struct CaseOverlap: Sendable, Hashable, Codable {
    /// The case identifier.
    public var caseID: String
    /// Voxel counts.
    public var counts: OverlapCounts
    /// Volume of one voxel in millilitres.
    public var voxelVolumeML: Double
    /// Lesion-level counts, when computed.
    public var lesions: LesionCounts?

    /// A case's overlap.
    public init(caseID: String, counts: OverlapCounts, voxelVolumeML: Double, lesions: LesionCounts? = nil) {
        self.caseID = caseID
        self.counts = counts
        self.voxelVolumeML = voxelVolumeML
        self.lesions = lesions
    }

    /// Lesion volume of the truth in mL.
    public var truthVolumeML: Double { Double(counts.truth) * voxelVolumeML }
    /// Lesion volume of the prediction in mL.
    public var predictedVolumeML: Double { Double(counts.predicted) * voxelVolumeML }
    /// Predicted minus true lesion volume in mL (positive = over-segmentation).
    public var volumeErrorML: Double { Double(counts.predicted - counts.truth) * voxelVolumeML }
}

/// Segmentation quality of one target over a set of cases.
///
/// Per-case scores are averaged with every case weighing the same, including cases where
/// both masks are empty (Dice = IoU = 1 there), so a model that correctly predicts nothing on
/// hemorrhage-free cases is rewarded; the pooled scores instead count every voxel of every
/// case once, so large lesions dominate and empty cases add nothing.
public struct SegmentationSummary: Sendable, Hashable, Codable {
    /// The cases, in the order given.
    public var cases: [CaseOverlap]

    /// A summary of `cases`.
    public init(cases: [CaseOverlap]) { self.cases = cases }

    /// Number of cases.
    public var caseCount: Int { cases.count }
    /// Cases where at least one of truth and prediction is non-empty.
    public var nonEmptyCaseCount: Int { cases.filter { $0.counts.union > 0 }.count }

    /// Mean of the per-case Dice; `nil` without cases.
    public var meanDice: Double? { Self.mean(cases.map(\.counts.dice)) }
    /// Median of the per-case Dice (mean of the two middle values for an even count); `nil` without cases.
    public var medianDice: Double? { Self.median(cases.map(\.counts.dice)) }
    /// Mean of the per-case IoU; `nil` without cases.
    public var meanIoU: Double? { Self.mean(cases.map(\.counts.iou)) }
    /// Median of the per-case IoU; `nil` without cases.
    public var medianIoU: Double? { Self.median(cases.map(\.counts.iou)) }

    /// Voxel counts summed over all cases.
    public var pooled: OverlapCounts { cases.reduce(OverlapCounts()) { $0 + $1.counts } }
    /// Dice of the pooled counts (1 when every mask is empty).
    public var pooledDice: Double { pooled.dice }
    /// IoU of the pooled counts (1 when every mask is empty).
    public var pooledIoU: Double { pooled.iou }

    /// Mean over cases of |predicted − true| lesion volume, in mL; `nil` without cases.
    public var volumeMeanAbsoluteErrorML: Double? { Self.mean(cases.map { abs($0.volumeErrorML) }) }
    /// Mean over cases of (predicted − true) lesion volume, in mL; `nil` without cases.
    public var volumeBiasML: Double? { Self.mean(cases.map(\.volumeErrorML)) }

    /// Lesion counts summed over the cases that have them; `nil` when none has.
    public var pooledLesions: LesionCounts? {
        let counted = cases.compactMap(\.lesions)
        return counted.isEmpty ? nil : counted.reduce(LesionCounts(), +)
    }
    /// False-positive lesions per case (over the cases with lesion counts); `nil` without such cases.
    public var falsePositiveLesionsPerCase: Double? {
        let counted = cases.compactMap(\.lesions)
        return counted.isEmpty ? nil : Double(counted.reduce(0) { $0 + $1.falsePositiveLesions }) / Double(counted.count)
    }

    /// Arithmetic mean; `nil` for no value.
    static func mean(_ values: [Double]) -> Double? {
        values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }

    /// Median as numpy computes it; `nil` for no value.
    static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }
}
