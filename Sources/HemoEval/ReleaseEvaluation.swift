import HemoConcurrency
import Foundation
import HemoCore
import HemoRelease

/// A slice of a case: the image unit of the detection evaluation, ordered by case then slice.
public struct SliceImage: Hashable, Comparable, Sendable {
    /// The case.
    public var caseID: CaseID
    /// Slice index k.
    public var slice: Int

    /// A slice.
    public init(caseID: CaseID, slice: Int) { self.caseID = caseID; self.slice = slice }

    /// Case order, then slice order.
    public static func < (a: SliceImage, b: SliceImage) -> Bool {
        a.caseID != b.caseID ? a.caseID < b.caseID : a.slice < b.slice
    }
}

/// Binary classification of one target at one level (slice or patient).
public struct ClassificationResult: Sendable, Hashable {
    /// The target.
    public var target: EvalTarget
    /// The counts.
    public var confusion: BinaryConfusion
    /// ROC AUC from the prediction's probabilities; `nil` when there are none or the truth has one class.
    public var rocAUC: Double?

    /// A result.
    public init(target: EvalTarget, confusion: BinaryConfusion, rocAUC: Double?) {
        self.target = target; self.confusion = confusion; self.rocAUC = rocAUC
    }
}

/// A case that could be evaluated only in part, and why.
public struct CaseProblem: Sendable, Hashable {
    /// The case.
    public var caseID: String
    /// What was skipped and why.
    public var reason: String

    /// A problem.
    public init(caseID: String, reason: String) { self.caseID = caseID; self.reason = reason }
}

/// Everything `hemo eval` measures.
public struct EvaluationReport: Sendable {
    /// The prediction folder.
    public var prediction: String
    /// The truth folder.
    public var truth: String
    /// Whether the truth is a release or a cohort.
    public var truthKind: EvalSource.Kind
    /// Cases both sides hold, sorted: the evaluated cases.
    public var commonCases: [CaseID]
    /// Cases only the prediction holds (not evaluated).
    public var predictionOnlyCases: [CaseID]
    /// Cases only the truth holds (not evaluated; e.g. the prediction run failed on them).
    public var truthOnlyCases: [CaseID]
    /// Cases evaluated only in part.
    public var problems: [CaseProblem]
    /// Slice-level classification, `any` then the subtypes.
    public var sliceLevel: [ClassificationResult]
    /// Patient-level classification, `any` then the subtypes.
    public var patientLevel: [ClassificationResult]
    /// Segmentation per target, `any` then the subtypes.
    public var segmentation: [(target: EvalTarget, summary: SegmentationSummary)]
    /// COCO box AP per subtype (category = label value).
    public var detection: DetectionResult
}

/// Compares a prediction release with a truth release or cohort, case by case.
public struct ReleaseEvaluator: Sendable {
    /// The COCO evaluator for boxes.
    public var detectionEvaluator = COCOBoxEvaluator()

    /// An evaluator with COCO's default detection parameters.
    public init() {}

    /// Evaluates the release at `predictionPath` against the release or cohort at `truthPath`.
    ///
    /// Only cases both sides hold are evaluated. A case whose masks cannot be read or whose
    /// grids differ is reported in ``EvaluationReport/problems`` and left out of the
    /// segmentation (and, when the slice counts differ, of the slice and box metrics); the
    /// other cases are still evaluated.
    ///
    /// - Throws: ``EvalError`` when a folder cannot be opened, a table is malformed or the sides
    ///   have no case in common.
    public func evaluate(predictionPath: String, truthPath: String, threads: Int = 1) throws(EvalError) -> EvaluationReport {
        let prediction = try EvalSource.open(predictionPath)
        guard prediction.kind == .release else {
            throw EvalError(.badInput("the prediction must be a release (labels/slice_labels.csv not found)"), source: predictionPath)
        }
        let truth = try EvalSource.open(truthPath)
        return try evaluate(prediction: prediction, truth: truth, threads: threads)
    }

    /// What one case contributes, computed on a worker thread.
    struct CaseContribution: Sendable {
        var problems: [CaseProblem] = []
        var overlaps: [EvalTarget: OverlapCounts]? = nil
        var lesions: [EvalTarget: LesionCounts]? = nil
        var voxelVolumeML = 0.0
        var truthLabels: CaseLabels? = nil
        var predictedLabels: CaseLabels? = nil
    }

    /// Reads and compares one case: masks (overlaps) and labels. Never throws: what fails is a problem.
    static func contribution(of id: CaseID, prediction: EvalSource, truth: EvalSource) -> CaseContribution {
        var out = CaseContribution()
        var truthMask: Volume<UInt8>? = nil, predictedMask: Volume<UInt8>? = nil
        do { truthMask = try truth.bitmask(of: id) } catch {
            out.problems.append(CaseProblem(caseID: id.rawValue, reason: "truth masks: \(error)"))
        }
        do { predictedMask = try prediction.bitmask(of: id) } catch {
            out.problems.append(CaseProblem(caseID: id.rawValue, reason: "predicted masks: \(error)"))
        }
        if let t = truthMask, let p = predictedMask {
            if t.geometry.size != p.geometry.size {
                out.problems.append(CaseProblem(caseID: id.rawValue, reason:
                    "grids differ (truth \(t.geometry.size), prediction \(p.geometry.size)); segmentation skipped"))
            } else {
                out.overlaps = try? OverlapCounts.perTarget(truthBitmask: t.voxels, predictedBitmask: p.voxels, source: id.rawValue)
                out.lesions = LesionCounts.perTarget(truthBitmask: t.voxels, predictedBitmask: p.voxels, geometry: t.geometry)
                out.voxelVolumeML = t.geometry.voxelVolumeML
            }
        }
        if truth.kind == .release || truthMask != nil {
            do { out.truthLabels = try truth.labels(of: id, bitmask: truthMask) } catch {
                out.problems.append(CaseProblem(caseID: id.rawValue, reason: "truth labels: \(error)"))
            }
        }
        do { out.predictedLabels = try prediction.labels(of: id, bitmask: predictedMask) } catch {
            out.problems.append(CaseProblem(caseID: id.rawValue, reason: "predicted labels: \(error)"))
        }
        return out
    }

    /// Evaluates two opened sides; see ``evaluate(predictionPath:truthPath:threads:)``.
    ///
    /// Cases are read on `threads` dedicated threads; the figures are aggregated in case order,
    /// so the report does not depend on the thread count.
    public func evaluate(prediction: EvalSource, truth: EvalSource, threads: Int = 1) throws(EvalError) -> EvaluationReport {
        let predictedSet = Set(prediction.caseIDs), truthSet = Set(truth.caseIDs)
        let common = prediction.caseIDs.filter { truthSet.contains($0) }
        guard !common.isEmpty else {
            throw EvalError(.noCommonCases, source: "\(prediction.root) vs \(truth.root)")
        }
        let collected = Locked([CaseContribution?](repeating: nil, count: common.count))
        runOnThreads(count: common.count, threads: threads) { n in
            let c = Self.contribution(of: common[n], prediction: prediction, truth: truth)
            collected.withLock { $0[n] = c }
        }
        let contributions = collected.withLock { $0 }

        var problems: [CaseProblem] = []
        var sliceConfusion = [EvalTarget: BinaryConfusion]()
        var sliceTruth = [EvalTarget: [Bool]](), sliceScores = [EvalTarget: [Double]]()
        var probabilitiesComplete = prediction.hasProbabilities
        var patientConfusion = [EvalTarget: BinaryConfusion]()
        var overlaps = [EvalTarget: [CaseOverlap]]()
        var truthBoxes: [GroundTruthBox<SliceImage>] = []
        var predictedBoxes: [DetectedBox<SliceImage>] = []

        for (id, contribution) in zip(common, contributions) {
            guard let contribution else { continue }
            problems += contribution.problems
            if let counts = contribution.overlaps {
                for target in EvalTarget.all {
                    overlaps[target, default: []].append(
                        CaseOverlap(caseID: id.rawValue, counts: counts[target] ?? OverlapCounts(),
                                    voxelVolumeML: contribution.voxelVolumeML, lesions: contribution.lesions?[target]))
                }
            }
            guard let truthLabels = contribution.truthLabels, let predictedLabels = contribution.predictedLabels else { continue }

            // Patient level.
            for target in EvalTarget.all {
                patientConfusion[target, default: BinaryConfusion()].add(
                    truth: truthLabels.patientContains(target), predicted: predictedLabels.patientContains(target))
            }
            // Slice level and boxes need the same slices on both sides.
            let truthSlices = truthLabels.slices.map(\.slice), predictedSlices = predictedLabels.slices.map(\.slice)
            guard truthSlices == predictedSlices else {
                problems.append(CaseProblem(caseID: id.rawValue, reason:
                    "slices differ (truth \(truthSlices.count), prediction \(predictedSlices.count)); slice and box metrics skipped"))
                continue
            }
            for (t, p) in zip(truthLabels.slices, predictedLabels.slices) {
                for target in EvalTarget.all {
                    sliceConfusion[target, default: BinaryConfusion()].add(truth: t.contains(target), predicted: p.contains(target))
                    if probabilitiesComplete {
                        if let score = p.probability(target) {
                            sliceTruth[target, default: []].append(t.contains(target))
                            sliceScores[target, default: []].append(score)
                        } else {
                            probabilitiesComplete = false
                        }
                    }
                }
            }
            for b in truthLabels.boxes {
                truthBoxes.append(GroundTruthBox(image: SliceImage(caseID: id, slice: b.slice),
                                                 category: Int(b.subtype.rawValue), box: COCOBox(b.box)))
            }
            for b in predictedLabels.boxes {
                predictedBoxes.append(DetectedBox(image: SliceImage(caseID: id, slice: b.slice),
                                                  category: Int(b.subtype.rawValue), box: COCOBox(b.box), score: b.score))
            }
        }

        var sliceLevel: [ClassificationResult] = []
        var patientLevel: [ClassificationResult] = []
        for target in EvalTarget.all {
            var auc: Double? = nil
            if probabilitiesComplete, let t = sliceTruth[target], let s = sliceScores[target] {
                auc = try ROCAUC.score(truth: t, scores: s, source: "\(prediction.root) slice probabilities of \(target)")
            }
            sliceLevel.append(ClassificationResult(target: target, confusion: sliceConfusion[target] ?? BinaryConfusion(), rocAUC: auc))
            patientLevel.append(ClassificationResult(target: target, confusion: patientConfusion[target] ?? BinaryConfusion(), rocAUC: nil))
        }
        let detection = try detectionEvaluator.evaluate(groundTruth: truthBoxes, detections: predictedBoxes,
                                                        source: "\(prediction.root) boxes")
        return EvaluationReport(
            prediction: prediction.root, truth: truth.root, truthKind: truth.kind,
            commonCases: common,
            predictionOnlyCases: prediction.caseIDs.filter { !truthSet.contains($0) },
            truthOnlyCases: truth.caseIDs.filter { !predictedSet.contains($0) },
            problems: problems, sliceLevel: sliceLevel, patientLevel: patientLevel,
            segmentation: EvalTarget.all.map { ($0, SegmentationSummary(cases: overlaps[$0] ?? [])) },
            detection: detection)
    }
}
