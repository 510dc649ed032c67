import Testing
import HemoCore
@testable import HemoEval

/// COCO box AP against pycocotools' COCOeval on the committed scenarios.
@Suite struct DetectionAgreementTests {
    static func evaluate(_ scenario: ReferenceFixtures.Detection) throws -> DetectionResult {
        func box(_ b: [Double]) -> COCOBox { COCOBox(x: b[0], y: b[1], width: b[2], height: b[3]) }
        let truth = scenario.ground_truth.map { GroundTruthBox(image: $0.image_id, category: $0.category_id, box: box($0.bbox)) }
        let detections = scenario.detections.map {
            DetectedBox(image: $0.image_id, category: $0.category_id, box: box($0.bbox), score: $0.score)
        }
        return try COCOBoxEvaluator().evaluate(groundTruth: truth, detections: detections, categories: [1, 2, 3, 4, 5])
    }

    static func agree(_ ours: Double?, _ theirs: Double?, _ label: String) {
        switch (ours, theirs) {
        case let (o?, t?): #expect(abs(o - t) <= 1e-4, "\(label): ours \(o), pycocotools \(t)")
        case (nil, nil): break
        default: Issue.record("\(label): ours \(String(describing: ours)), pycocotools \(String(describing: theirs))")
        }
    }

    @Test("AP50, AP75 and mAP[.5:.95] equal pycocotools', overall and per category",
          arguments: ReferenceFixtures.detection.scenarios)
    func averagePrecisionMatchesPycocotools(_ scenario: ReferenceFixtures.Detection) throws {
        let result = try Self.evaluate(scenario)
        Self.agree(result.ap50, scenario.expected.ap50, "AP50")
        Self.agree(result.ap75, scenario.expected.ap75, "AP75")
        Self.agree(result.meanAveragePrecision, scenario.expected.map, "mAP")
        Self.agree(result.meanAveragePrecision, scenario.expected.coco_stats_0, "stats[0]")
        Self.agree(result.ap50, scenario.expected.coco_stats_1, "stats[1]")
        for category in 1...5 {
            let theirs = try #require(scenario.expected.per_category[String(category)])
            let ours = result[category: category]
            Self.agree(ours?.ap50, theirs.ap50, "category \(category) AP50")
            Self.agree(ours?.ap75, theirs.ap75, "category \(category) AP75")
            Self.agree(ours?.meanAveragePrecision, theirs.map, "category \(category) mAP")
        }
    }

    @Test func fixturesCoverTheEdgeCases() {
        let scenarios = ReferenceFixtures.detection.scenarios
        #expect(scenarios.count >= 20)
        // A category with detections but no ground truth, and one with ground truth but no detection.
        #expect(scenarios.contains { s in (1...5).contains { c in
            !s.ground_truth.contains { $0.category_id == c } && s.detections.contains { $0.category_id == c } } })
        #expect(scenarios.contains { s in (1...5).contains { c in
            s.ground_truth.contains { $0.category_id == c } && !s.detections.contains { $0.category_id == c } } })
        // More than maxDets detections in one image and category.
        #expect(scenarios.contains { s in
            Dictionary(grouping: s.detections) { "\($0.image_id)/\($0.category_id)" }.values.contains { $0.count > 100 } })
    }
}

/// Hand-checked COCO conventions.
@Suite struct DetectionBehaviourTests {
    @Test func releaseBoxesConvertWithoutPlusOne() {
        let box = COCOBox(BoundingBox2D(xMin: 3, yMin: 4, xMax: 7, yMax: 6))
        #expect(box == COCOBox(x: 3, y: 4, width: 4, height: 2))
        // Half-overlapping boxes of equal size: IoU = 2 / (4 + 4 − 2).
        #expect(box.iou(COCOBox(x: 5, y: 4, width: 4, height: 2)) == 1.0 / 3.0)
        #expect(box.iou(COCOBox(x: 7, y: 4, width: 4, height: 2)) == 0)   // touching edges
    }

    @Test func perfectDetectionsGiveAPOneAndFalsePositivesLowerIt() throws {
        let truth = [GroundTruthBox(image: 1, category: 2, box: COCOBox(x: 0, y: 0, width: 10, height: 10))]
        let perfect = [DetectedBox(image: 1, category: 2, box: COCOBox(x: 0, y: 0, width: 10, height: 10), score: 0.9)]
        let result = try COCOBoxEvaluator().evaluate(groundTruth: truth, detections: perfect)
        #expect(abs(try #require(result.ap50) - 1) < 1e-12)
        #expect(abs(try #require(result.meanAveragePrecision) - 1) < 1e-12)
        #expect(result.evaluatedCategories.map(\.category) == [2])
        // A higher-scored false positive on another slice halves precision at every recall level.
        let withFalsePositive = perfect + [DetectedBox(image: 2, category: 2, box: COCOBox(x: 0, y: 0, width: 5, height: 5), score: 0.95)]
        let lowered = try COCOBoxEvaluator().evaluate(groundTruth: truth, detections: withFalsePositive)
        #expect(abs(try #require(lowered.ap50) - 0.5) < 1e-12)
        // No ground truth at all: no category enters the mean.
        let none = try COCOBoxEvaluator().evaluate(groundTruth: [GroundTruthBox<Int>](), detections: perfect)
        #expect(none.ap50 == nil)
    }

    @Test func thresholdsMatchNumpyLinspace() {
        let e = COCOBoxEvaluator()
        #expect(e.iouThresholds.count == 10 && e.recallThresholds.count == 101)
        #expect(e.iouThresholds[8] == 0.8999999999999999)   // numpy's value, not 0.9
        #expect(e.recallThresholds[35] == 0.35000000000000003)
    }

    @Test func invalidBoxesAreRejected() {
        let bad = [DetectedBox(image: 1, category: 1, box: COCOBox(x: 0, y: 0, width: -1, height: 3), score: 0.5)]
        #expect(throws: EvalError.self) { try COCOBoxEvaluator().evaluate(groundTruth: [], detections: bad) }
    }
}
