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

/// Lesion-level counts against scipy.ndimage.label (26-connectivity) on the same scenarios.
@Suite struct LesionAgreementTests {
    @Test("lesion counts equal the scipy reference per case and target",
          arguments: ReferenceFixtures.segmentation.scenarios)
    func lesionCountsMatchScipy(_ scenario: ReferenceFixtures.Segmentation) throws {
        let geometry = Geometry(size: GridSize(scenario.shape[0], scenario.shape[1], scenario.shape[2]), spacing: SIMD3(1, 1, 1))
        for (n, c) in scenario.cases.enumerated() {
            let counts = LesionCounts.perTarget(truthBitmask: c.truth, predictedBitmask: c.predicted, geometry: geometry)
            for target in EvalTarget.all {
                let e = try #require(scenario.expected[target.name]).lesions[n]
                let l = try #require(counts[target])
                #expect([l.truthLesions, l.detectedTruthLesions, l.predictedLesions, l.matchedPredictedLesions] == e,
                        "\(c.case) \(target)")
            }
        }
    }

    @Test func diagonalNeighboursJoinAndOneSharedVoxelIsAHit() {
        let g = Geometry(size: GridSize(4, 4, 2), spacing: SIMD3(1, 1, 1))
        var truth = Mask(geometry: g), predicted = Mask(geometry: g)
        truth[0, 0, 0] = true; truth[1, 1, 1] = true        // one lesion (corner neighbours)
        truth[3, 3, 0] = true                               // a second lesion
        predicted[1, 1, 1] = true                           // hits the first
        predicted[3, 0, 1] = true                           // a false positive
        let l = LesionCounts(truth: truth, predicted: predicted)
        #expect(l == LesionCounts(truthLesions: 2, detectedTruthLesions: 1, predictedLesions: 2, matchedPredictedLesions: 1))
        #expect(l.sensitivity == 0.5 && l.precision == 0.5 && l.falsePositiveLesions == 1)
        #expect(LesionCounts().sensitivity == nil)
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
