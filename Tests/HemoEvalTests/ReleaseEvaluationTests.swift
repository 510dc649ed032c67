import Foundation
import Testing
import HemoCore
import HemoRelease
import NIfTI
@testable import HemoEval

/// Two tiny cohorts (truth and prediction) whose masks are boxes, so every expected figure
/// can be worked out by hand. Grid 16×12×4, spacing 1×1×2 mm → 0.002 mL per voxel.
struct HandCheckedCohorts {
    let root: String
    var truthCohort: String { root + "/truth-cohort" }
    var predictionCohort: String { root + "/prediction-cohort" }
    var truthRelease: String { root + "/truth-release" }
    var predictionRelease: String { root + "/prediction-release" }

    static let geometry = Geometry(size: GridSize(16, 12, 4), spacing: SIMD3(1, 1, 2))

    /// Label map with value `label` in the box [i0, i1) × [j0, j1) × [k0, k1).
    static func fill(_ v: inout Volume<UInt8>, _ label: UInt8, i: Range<Int>, j: Range<Int>, k: Range<Int>) {
        for kk in k { for jj in j { for ii in i { v[ii, jj, kk] = label } } }
    }

    static func writeCase(_ folder: String, _ name: String, labels: Volume<UInt8>) throws {
        let dir = folder + "/" + name
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var ct = Volume<Int16>(geometry: geometry, repeating: 40)
        for n in ct.voxels.indices { ct.voxels[n] = Int16(30 + n % 17) }
        try NIfTIFile.write(ct, to: dir + "/ct.nii.gz")
        try NIfTIFile.write(labels, to: dir + "/labelmap.nii.gz")
    }

    /// Truth: c1 IPH cube i 2..<6, j 2..<6, k 1..<3 (32 voxels); c2 empty; c3 SDH strip
    /// i 10..<12, j 0..<8, all slices (64 voxels).
    /// Prediction: c1 the cube shifted to i 4..<8 (16 voxels overlap); c2 empty; c3 the exact
    /// strip plus a false EPH block i 0..<2, j 10..<12, k 0 (4 voxels).
    static func make() throws -> HandCheckedCohorts {
        let c = HandCheckedCohorts(root: NSTemporaryDirectory() + "hemo-eval-\(UUID().uuidString)")
        var t1 = Volume<UInt8>(geometry: geometry, repeating: 0)
        fill(&t1, 4, i: 2..<6, j: 2..<6, k: 1..<3)
        var p1 = Volume<UInt8>(geometry: geometry, repeating: 0)
        fill(&p1, 4, i: 4..<8, j: 2..<6, k: 1..<3)
        let empty = Volume<UInt8>(geometry: geometry, repeating: 0)
        var t3 = Volume<UInt8>(geometry: geometry, repeating: 0)
        fill(&t3, 2, i: 10..<12, j: 0..<8, k: 0..<4)
        var p3 = t3
        fill(&p3, 1, i: 0..<2, j: 10..<12, k: 0..<1)
        for (name, t, p) in [("c1", t1, p1), ("c2", empty, empty), ("c3", t3, p3)] {
            try writeCase(c.truthCohort, name, labels: t)
            try writeCase(c.predictionCohort, name, labels: p)
        }
        let builder = ReleaseBuilder(options: ReleaseOptions(), threads: 1, force: false)
        _ = try builder.build(cohort: try Cohort.open(c.truthCohort), destination: c.truthRelease)
        _ = try builder.build(cohort: try Cohort.open(c.predictionCohort), destination: c.predictionRelease)
        return c
    }
}

@Suite(.serialized) struct ReleaseEvaluationTests {
    static func result(_ results: [ClassificationResult], _ target: EvalTarget) throws -> ClassificationResult {
        try #require(results.first { $0.target == target })
    }

    static func segmentation(_ r: EvaluationReport, _ target: EvalTarget) throws -> SegmentationSummary {
        try #require(r.segmentation.first { $0.target == target }).summary
    }

    static func checkHandFigures(_ r: EvaluationReport) throws {
        #expect(r.commonCases.map(\.rawValue) == ["c1", "c2", "c3"])
        #expect(r.problems.isEmpty, "\(r.problems)")
        // Slice level: 12 slices, 6 with hemorrhage, all found; EPH: one false slice.
        #expect(try result(r.sliceLevel, .any).confusion == BinaryConfusion(truePositives: 6, falsePositives: 0, falseNegatives: 0, trueNegatives: 6))
        let eph = try result(r.sliceLevel, .subtype(.eph)).confusion
        #expect(eph == BinaryConfusion(truePositives: 0, falsePositives: 1, falseNegatives: 0, trueNegatives: 11))
        #expect(eph.precision == 0 && eph.recall == 0 && eph.specificity == 11.0 / 12.0)
        // Patient level.
        #expect(try result(r.patientLevel, .any).confusion == BinaryConfusion(truePositives: 2, falsePositives: 0, falseNegatives: 0, trueNegatives: 1))
        #expect(try result(r.patientLevel, .subtype(.eph)).confusion == BinaryConfusion(truePositives: 0, falsePositives: 1, falseNegatives: 0, trueNegatives: 2))
        #expect(try result(r.patientLevel, .subtype(.iph)).confusion == BinaryConfusion(truePositives: 1, falsePositives: 0, falseNegatives: 0, trueNegatives: 2))
        // Segmentation: IPH Dice c1 = 2·16/64, c2 and c3 empty on both sides = 1.
        let iph = try segmentation(r, .subtype(.iph))
        #expect(iph.cases.map(\.counts.dice) == [0.5, 1, 1])
        #expect(abs(try #require(iph.meanDice) - 2.5 / 3) < 1e-12)
        #expect(iph.medianDice == 1)
        #expect(iph.pooledDice == 0.5)
        #expect(abs(iph.pooledIoU - 1.0 / 3) < 1e-12)
        #expect(iph.volumeBiasML == 0)
        let anySeg = try segmentation(r, .any)
        #expect(abs(anySeg.cases[2].counts.dice - 128.0 / 132.0) < 1e-12)
        let ephSeg = try segmentation(r, .subtype(.eph))
        #expect(ephSeg.cases.map(\.counts.dice) == [1, 1, 0])
        #expect(abs(try #require(ephSeg.volumeBiasML) - 4 * 0.002 / 3) < 1e-12)
        #expect(abs(try #require(ephSeg.volumeMeanAbsoluteErrorML) - 4 * 0.002 / 3) < 1e-12)
        // Lesions: every truth lesion is hit; the EPH block of c3 is one false-positive lesion.
        #expect(anySeg.pooledLesions == LesionCounts(truthLesions: 2, detectedTruthLesions: 2, predictedLesions: 3, matchedPredictedLesions: 2))
        #expect(ephSeg.pooledLesions == LesionCounts(truthLesions: 0, detectedTruthLesions: 0, predictedLesions: 1, matchedPredictedLesions: 0))
        #expect(abs(try #require(ephSeg.falsePositiveLesionsPerCase) - 1.0 / 3) < 1e-12)
        // Detection: IPH boxes overlap with IoU 8/24 < 0.5 → AP 0; SDH exact → AP 1; EPH has no
        // ground truth → left out of the mean.
        #expect(r.detection[category: 4]?.ap50 == 0)
        #expect(abs(try #require(r.detection[category: 2]?.meanAveragePrecision) - 1) < 1e-12)
        #expect(r.detection[category: 1]?.ap50 == nil)
        #expect(r.detection[category: 1]?.detectionCount == 1)
        #expect(abs(try #require(r.detection.ap50) - 0.5) < 1e-12)
        #expect(abs(try #require(r.detection.meanAveragePrecision) - 0.5) < 1e-12)
    }

    @Test func releaseAgainstCohortAndAgainstReleaseGiveTheHandCheckedFigures() throws {
        let c = try HandCheckedCohorts.make()
        defer { try? FileManager.default.removeItem(atPath: c.root) }
        let againstCohort = try ReleaseEvaluator().evaluate(predictionPath: c.predictionRelease, truthPath: c.truthCohort)
        #expect(againstCohort.truthKind == .cohort)
        try Self.checkHandFigures(againstCohort)
        let againstRelease = try ReleaseEvaluator().evaluate(predictionPath: c.predictionRelease, truthPath: c.truthRelease)
        #expect(againstRelease.truthKind == .release)
        try Self.checkHandFigures(againstRelease)
        #expect(againstRelease.json().rendered() == againstCohort.json().rendered()
            .replacingOccurrences(of: "\"truth\": \"\(c.truthCohort)\"", with: "\"truth\": \"\(c.truthRelease)\"")
            .replacingOccurrences(of: "\"truth_kind\": \"cohort\"", with: "\"truth_kind\": \"release\""))
        // No AUC without probabilities.
        #expect(againstRelease.sliceLevel.allSatisfy { $0.rocAUC == nil })
        // The thread count does not change a byte of the report.
        let threaded = try ReleaseEvaluator().evaluate(predictionPath: c.predictionRelease, truthPath: c.truthRelease, threads: 3)
        #expect(threaded.json().rendered() == againstRelease.json().rendered())
        #expect(threaded.markdown() == againstRelease.markdown())
    }

    @Test func syntheticTruthFolderOverridesTheCohortAnnotations() throws {
        let c = try HandCheckedCohorts.make()
        defer { try? FileManager.default.removeItem(atPath: c.root) }
        // truth/c2/IVH.nii.gz: the synthetic generator's ground truth says c2 has an IVH block.
        var ivh = Volume<UInt8>(geometry: HandCheckedCohorts.geometry, repeating: 0)
        HandCheckedCohorts.fill(&ivh, 1, i: 0..<2, j: 0..<2, k: 0..<1)
        try FileManager.default.createDirectory(atPath: c.truthCohort + "/truth/c2", withIntermediateDirectories: true)
        try NIfTIFile.write(ivh, to: c.truthCohort + "/truth/c2/IVH.nii.gz")
        let r = try ReleaseEvaluator().evaluate(predictionPath: c.predictionRelease, truthPath: c.truthCohort)
        let seg = try Self.segmentation(r, .subtype(.ivh))
        #expect(seg.cases.map(\.counts.truth) == [0, 4, 0])
        #expect(try Self.result(r.patientLevel, .subtype(.ivh)).confusion.falseNegatives == 1)
    }

    @Test func probabilitiesGiveROCAUCWithTiesCountedHalf() throws {
        let c = try HandCheckedCohorts.make()
        defer { try? FileManager.default.removeItem(atPath: c.root) }
        // Rewrite the prediction's slice table as a pseudo-label release would, with p_any chosen
        // so that AUC = (6 + 5.5 + 4·6) / 36: one positive ties with one negative at 0.6.
        let pAny: [String: [Double]] = ["c1": [0.2, 0.9, 0.6, 0.6], "c2": [0.1, 0.1, 0.1, 0.1], "c3": [0.7, 0.7, 0.7, 0.7]]
        let path = c.predictionRelease + "/labels/slice_labels.csv"
        var table = try CSVTable.parse(try String(contentsOfFile: path, encoding: .utf8), source: path)
        table.header += ["p_any", "p_EPH", "p_SDH", "p_SAH", "p_IPH", "p_IVH"]
        table.rows = table.rows.map { row in
            let k = Int(row[1])!
            return row + [String(pAny[row[0]]![k]), "0", "0", "0", "0", "0"]
        }
        try table.rendered().write(toFile: path, atomically: true, encoding: .utf8)
        let r = try ReleaseEvaluator().evaluate(predictionPath: c.predictionRelease, truthPath: c.truthRelease)
        #expect(abs(try #require(Self.result(r.sliceLevel, .any).rocAUC) - 35.5 / 36) < 1e-12)
        #expect(try Self.result(r.sliceLevel, .subtype(.iph)).rocAUC == 0.5)       // all scores tied
        #expect(try Self.result(r.sliceLevel, .subtype(.eph)).rocAUC == nil)       // no positive slice
        let json = r.json().rendered()
        #expect(json.contains("\"roc_auc\": 0.986111"))
        #expect(r.markdown().contains("| any | 6 | 0 | 0 | 6 |"))
    }

    @Test func aCaseWithoutMasksIsReportedAndTheOthersAreStillScored() throws {
        let c = try HandCheckedCohorts.make()
        defer { try? FileManager.default.removeItem(atPath: c.root) }
        try FileManager.default.removeItem(atPath: c.predictionRelease + "/masks3d/c3.nii.gz")
        try FileManager.default.removeItem(atPath: c.predictionRelease + "/labelsTr/c3.nii.gz")
        let r = try ReleaseEvaluator().evaluate(predictionPath: c.predictionRelease, truthPath: c.truthRelease)
        #expect(r.problems.map(\.caseID) == ["c3"])
        #expect(r.problems[0].reason.contains("masks3d/c3.nii.gz"))
        #expect(try Self.segmentation(r, .any).caseCount == 2)
        #expect(try Self.result(r.sliceLevel, .any).confusion.count == 12)   // labels still scored
    }

    @Test func unusableInputsAreTypedErrorsNamingTheFolder() throws {
        let c = try HandCheckedCohorts.make()
        defer { try? FileManager.default.removeItem(atPath: c.root) }
        #expect {
            try ReleaseEvaluator().evaluate(predictionPath: c.root + "/nowhere", truthPath: c.truthRelease)
        } throws: { ($0 as? EvalError)?.source == c.root + "/nowhere" }
        #expect {
            try ReleaseEvaluator().evaluate(predictionPath: c.truthCohort, truthPath: c.truthRelease)
        } throws: { ($0 as? EvalError)?.description.contains("must be a release") == true }
        // No case in common.
        for name in ["c1", "c2", "c3"] {
            try FileManager.default.moveItem(atPath: c.truthCohort + "/" + name, toPath: c.truthCohort + "/x" + name)
        }
        #expect {
            try ReleaseEvaluator().evaluate(predictionPath: c.predictionRelease, truthPath: c.truthCohort)
        } throws: { ($0 as? EvalError)?.code == .noCommonCases }
        // A malformed table names the file and the row.
        let path = c.predictionRelease + "/labels/slice_labels.csv"
        try "case,slice,any,EPH,SDH,SAH,IPH,IVH\nc1,000,0,2,0,0,0,0\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect {
            try ReleaseEvaluator().evaluate(predictionPath: c.predictionRelease, truthPath: c.truthRelease)
        } throws: { ($0 as? EvalError)?.description.contains("slice_labels.csv: row 2, column EPH") == true }
    }

    @Test func aCaseOnAnotherGridIsReportedAndTheOthersAreStillScored() throws {
        let c = try HandCheckedCohorts.make()
        defer { try? FileManager.default.removeItem(atPath: c.root) }
        // The truth of c2 on a grid with one more slice: segmentation and slice metrics skip it.
        let other = Geometry(size: GridSize(16, 12, 5), spacing: SIMD3(1, 1, 2))
        try NIfTIFile.write(Volume<UInt8>(geometry: other, repeating: 0), to: c.truthRelease + "/masks3d/c2.nii.gz")
        let slices = c.truthRelease + "/labels/slice_labels.csv"
        try (try String(contentsOfFile: slices, encoding: .utf8) + "c2,004,0,0,0,0,0,0\n")
            .write(toFile: slices, atomically: true, encoding: .utf8)
        let r = try ReleaseEvaluator().evaluate(predictionPath: c.predictionRelease, truthPath: c.truthRelease)
        #expect(r.problems.map(\.caseID) == ["c2", "c2"])
        #expect(r.problems[0].reason.contains("grids differ"))
        #expect(r.problems[1].reason.contains("slices differ"))
        #expect(try Self.segmentation(r, .any).cases.map(\.caseID) == ["c1", "c3"])
        #expect(try Self.result(r.sliceLevel, .any).confusion.count == 8)
        #expect(try Self.result(r.patientLevel, .any).confusion.count == 3)   // patient labels still compared
        #expect(r.markdown().contains("## Problems"))
    }

    @Test func missingOptionalTablesFallBackAndBadRowsNameFileAndRow() throws {
        let c = try HandCheckedCohorts.make()
        defer { try? FileManager.default.removeItem(atPath: c.root) }
        // Without patient_labels.csv the patient labels are the union of the slice labels.
        try FileManager.default.removeItem(atPath: c.predictionRelease + "/labels/patient_labels.csv")
        let r = try ReleaseEvaluator().evaluate(predictionPath: c.predictionRelease, truthPath: c.truthRelease)
        #expect(try Self.result(r.patientLevel, .subtype(.eph)).confusion.falsePositives == 1)
        // A box row with an unknown subtype.
        let boxes = c.predictionRelease + "/boxes/boxes2d.csv"
        try (try String(contentsOfFile: boxes, encoding: .utf8) + "c1,001,XYZ,0,0,1,1,1,1\n")
            .write(toFile: boxes, atomically: true, encoding: .utf8)
        #expect {
            try ReleaseEvaluator().evaluate(predictionPath: c.predictionRelease, truthPath: c.truthRelease)
        } throws: { error in
            let text = (error as? EvalError)?.description ?? ""
            return text.contains("boxes2d.csv") && text.contains("'XYZ' is not a subtype name")
        }
    }
}
