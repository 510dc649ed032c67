import Testing
import HemoCore
@testable import HemoEval

/// Segmentation metrics against the numpy reference of scripts/make-eval-fixtures.py.
@Suite struct SegmentationAgreementTests {
    @Test("Dice, IoU (per case, mean, median, pooled) and volume errors equal the numpy reference",
          arguments: ReferenceFixtures.segmentation.scenarios)
    func summariesMatchReference(_ scenario: ReferenceFixtures.Segmentation) throws {
        var perTarget: [EvalTarget: [CaseOverlap]] = [:]
        for c in scenario.cases {
            let counts = try OverlapCounts.perTarget(truthBitmask: c.truth, predictedBitmask: c.predicted, source: c.case)
            for (target, count) in counts {
                perTarget[target, default: []].append(CaseOverlap(caseID: c.case, counts: count, voxelVolumeML: scenario.voxel_ml))
            }
        }
        for target in EvalTarget.all {
            let e = try #require(scenario.expected[target.name])
            let summary = SegmentationSummary(cases: perTarget[target] ?? [])
            #expect(summary.cases.map(\.counts.dice).count == e.dice.count)
            for (ours, theirs) in zip(summary.cases.map(\.counts.dice), e.dice) { #expect(abs(ours - theirs) <= 1e-9, "\(target)") }
            for (ours, theirs) in zip(summary.cases.map(\.counts.iou), e.iou) { #expect(abs(ours - theirs) <= 1e-9, "\(target)") }
            #expect(abs(try #require(summary.meanDice) - e.mean_dice) <= 1e-9, "\(target)")
            #expect(abs(try #require(summary.medianDice) - e.median_dice) <= 1e-9, "\(target)")
            #expect(abs(try #require(summary.meanIoU) - e.mean_iou) <= 1e-9, "\(target)")
            #expect(abs(try #require(summary.medianIoU) - e.median_iou) <= 1e-9, "\(target)")
            #expect(abs(summary.pooledDice - e.pooled_dice) <= 1e-9, "\(target)")
            #expect(abs(summary.pooledIoU - e.pooled_iou) <= 1e-9, "\(target)")
            #expect(abs(try #require(summary.volumeMeanAbsoluteErrorML) - e.volume_mae_ml) <= 1e-9, "\(target)")
            #expect(abs(try #require(summary.volumeBiasML) - e.volume_bias_ml) <= 1e-9, "\(target)")
        }
    }
}

/// Hand-checked conventions of the segmentation metrics.
@Suite struct SegmentationBehaviourTests {
    @Test func bothEmptyIsPerfectAndCountsInTheMean() throws {
        let empty = try OverlapCounts(truth: [0, 0, 0], predicted: [0, 0, 0])
        #expect(empty.dice == 1 && empty.iou == 1)
        let missed = try OverlapCounts(truth: [1, 1, 0], predicted: [0, 0, 0])
        #expect(missed.dice == 0 && missed.iou == 0)
        let summary = SegmentationSummary(cases: [
            CaseOverlap(caseID: "a", counts: empty, voxelVolumeML: 0.5),
            CaseOverlap(caseID: "b", counts: missed, voxelVolumeML: 0.5),
        ])
        #expect(summary.meanDice == 0.5)
        #expect(summary.pooledDice == 0)
        #expect(summary.volumeBiasML == -0.5)
        #expect(summary.volumeMeanAbsoluteErrorML == 0.5)
        #expect(SegmentationSummary(cases: []).meanDice == nil)
    }

    @Test func bitmaskSubtypesAreSeparated() throws {
        // Voxel values: bit 0 = EPH, bit 2 = SAH.
        let truth: [UInt8] = [0b001, 0b101, 0b100, 0]
        let predicted: [UInt8] = [0b001, 0b001, 0, 0b100]
        let counts = try OverlapCounts.perTarget(truthBitmask: truth, predictedBitmask: predicted)
        #expect(counts[.any] == OverlapCounts(truth: 3, predicted: 3, intersection: 2))
        #expect(counts[.subtype(.eph)] == OverlapCounts(truth: 2, predicted: 2, intersection: 2))
        #expect(counts[.subtype(.sah)] == OverlapCounts(truth: 2, predicted: 1, intersection: 0))
        #expect(counts[.subtype(.ivh)] == OverlapCounts())
        #expect(throws: EvalError.self) { try OverlapCounts.perTarget(truthBitmask: [0], predictedBitmask: []) }
    }
}
