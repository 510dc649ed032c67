import Testing
@testable import HemoEval

/// The largest absolute difference to the reference implementations over all committed
/// scenarios, printed so the agreement can be quoted, and held to a bound far below the
/// 1e-6 / 1e-4 the scenario tests accept.
@Suite struct AgreementReportTests {
    @Test func largestDifferencesToReferencesAreRoundingOnly() throws {
        var classification = 0.0, auc = 0.0, detection = 0.0, segmentation = 0.0
        for s in ReferenceFixtures.classification.scenarios {
            let c = try BinaryConfusion(truth: s.truth.map { $0 == 1 }, predicted: s.predicted.map { $0 == 1 })
            let e = s.expected
            for (ours, theirs) in [(c.precision, e.precision), (c.recall, e.recall), (c.f1, e.f1),
                                   (c.accuracy, e.accuracy), (c.specificity, e.specificity)] {
                classification = max(classification, abs(ours - theirs))
            }
            if let ours = try ROCAUC.score(truth: s.truth.map { $0 == 1 }, scores: s.scores), let theirs = e.roc_auc {
                auc = max(auc, abs(ours - theirs))
            }
        }
        for s in ReferenceFixtures.detection.scenarios {
            let r = try DetectionAgreementTests.evaluate(s)
            var pairs: [(Double?, Double?)] = [(r.ap50, s.expected.ap50), (r.ap75, s.expected.ap75),
                                               (r.meanAveragePrecision, s.expected.map)]
            for c in 1...5 {
                let e = s.expected.per_category[String(c)]
                pairs += [(r[category: c]?.ap50, e?.ap50), (r[category: c]?.ap75, e?.ap75),
                          (r[category: c]?.meanAveragePrecision, e?.map)]
            }
            for case let (ours?, theirs?) in pairs { detection = max(detection, abs(ours - theirs)) }
        }
        for s in ReferenceFixtures.segmentation.scenarios {
            for target in EvalTarget.all {
                var cases: [CaseOverlap] = []
                for c in s.cases {
                    let counts = try OverlapCounts.perTarget(truthBitmask: c.truth, predictedBitmask: c.predicted)
                    cases.append(CaseOverlap(caseID: c.case, counts: counts[target]!, voxelVolumeML: s.voxel_ml))
                }
                let sum = SegmentationSummary(cases: cases)
                let e = try #require(s.expected[target.name])
                for (ours, theirs) in [(sum.meanDice!, e.mean_dice), (sum.medianDice!, e.median_dice),
                                       (sum.meanIoU!, e.mean_iou), (sum.medianIoU!, e.median_iou),
                                       (sum.pooledDice, e.pooled_dice), (sum.pooledIoU, e.pooled_iou),
                                       (sum.volumeMeanAbsoluteErrorML!, e.volume_mae_ml),
                                       (sum.volumeBiasML!, e.volume_bias_ml)] {
                    segmentation = max(segmentation, abs(ours - theirs))
                }
            }
        }
        print("HemoEval agreement, max |ours - reference|: classification \(classification), ROC AUC \(auc), "
              + "COCO AP \(detection), segmentation \(segmentation)")
        #expect(classification <= 1e-12)
        #expect(auc <= 1e-12)
        #expect(detection <= 1e-12)
        #expect(segmentation <= 1e-12)
    }
}
