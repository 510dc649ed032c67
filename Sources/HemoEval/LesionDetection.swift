import HemoCore
import HemoTransforms

/// Lesion-level detection counts of one truth mask against one predicted mask.
///
/// Lesions are the 26-connected components of each mask (as in `lesions3d.csv`). A truth lesion
/// is *detected* when at least one of its voxels is predicted; a predicted lesion is *matched*
/// when at least one of its voxels is in the truth, otherwise it is a false-positive lesion.
/// The counts add up over cases (pooling).
public struct LesionCounts: Sendable, Hashable, Codable {
    /// Lesions of the truth.
    public var truthLesions: Int
    /// Truth lesions with at least one predicted voxel.
    public var detectedTruthLesions: Int
    /// Lesions of the prediction.
    public var predictedLesions: Int
    /// Predicted lesions with at least one truth voxel.
    public var matchedPredictedLesions: Int

    /// Counts from their values.
    public init(truthLesions: Int = 0, detectedTruthLesions: Int = 0, predictedLesions: Int = 0, matchedPredictedLesions: Int = 0) {
        self.truthLesions = truthLesions
        self.detectedTruthLesions = detectedTruthLesions
        self.predictedLesions = predictedLesions
        self.matchedPredictedLesions = matchedPredictedLesions
    }

    /// Labels both masks (26-connectivity) and counts hits. The masks must share a grid size.
    public init(truth: Mask, predicted: Mask) {
        precondition(truth.bits.count == predicted.bits.count, "lesion counts need masks on one grid")
        let truthComponents = ConnectedComponents.components3D(truth).membership
        let predictedComponents = ConnectedComponents.components3D(predicted).membership
        self.init(truthLesions: truthComponents.count,
                  detectedTruthLesions: Self.componentsHitting(predicted.bits, in: truthComponents),
                  predictedLesions: predictedComponents.count,
                  matchedPredictedLesions: Self.componentsHitting(truth.bits, in: predictedComponents))
    }

    /// How many components have at least one voxel set in `other`.
    static func componentsHitting(_ other: [UInt8], in components: ComponentRuns) -> Int {
        var hits = 0
        for label in stride(from: 1, through: components.count, by: 1) {
            search: for run in components.runs(of: label) {
                for offset in run.offsets where other[offset] != 0 {
                    hits += 1
                    break search
                }
            }
        }
        return hits
    }

    /// Truth lesions without any predicted voxel.
    public var missedTruthLesions: Int { truthLesions - detectedTruthLesions }
    /// Predicted lesions without any truth voxel.
    public var falsePositiveLesions: Int { predictedLesions - matchedPredictedLesions }
    /// Detected / truth lesions; `nil` when the truth has no lesion.
    public var sensitivity: Double? {
        truthLesions == 0 ? nil : Double(detectedTruthLesions) / Double(truthLesions)
    }
    /// Matched / predicted lesions; `nil` when nothing was predicted.
    public var precision: Double? {
        predictedLesions == 0 ? nil : Double(matchedPredictedLesions) / Double(predictedLesions)
    }

    /// Sums two counts (pooling cases).
    public static func + (a: LesionCounts, b: LesionCounts) -> LesionCounts {
        LesionCounts(truthLesions: a.truthLesions + b.truthLesions,
                     detectedTruthLesions: a.detectedTruthLesions + b.detectedTruthLesions,
                     predictedLesions: a.predictedLesions + b.predictedLesions,
                     matchedPredictedLesions: a.matchedPredictedLesions + b.matchedPredictedLesions)
    }

    /// Lesion counts for `any` and each subtype of two bitmask volumes (bit v−1 = subtype v) on `geometry`.
    /// Targets absent from both volumes are not labelled (their counts are zero).
    public static func perTarget(truthBitmask truth: [UInt8], predictedBitmask predicted: [UInt8],
                                 geometry: Geometry) -> [EvalTarget: LesionCounts] {
        precondition(truth.count == geometry.size.count && predicted.count == geometry.size.count,
                     "bitmasks must cover the grid")
        let present = truth.reduce(0, |) | predicted.reduce(0, |)
        var out: [EvalTarget: LesionCounts] = [:]
        for target in EvalTarget.all {
            guard target.contains(bitmask: present) else {
                out[target] = LesionCounts()
                continue
            }
            let t = Mask(geometry: geometry, bits: truth.map { target.contains(bitmask: $0) ? 1 : 0 })
            let p = Mask(geometry: geometry, bits: predicted.map { target.contains(bitmask: $0) ? 1 : 0 })
            out[target] = LesionCounts(truth: t, predicted: p)
        }
        return out
    }
}
