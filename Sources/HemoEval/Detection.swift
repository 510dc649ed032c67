import HemoCore

/// A box as COCO stores it: top-left corner and size, in pixels, `[x, y, w, h]`.
///
/// Release boxes (min inclusive, max exclusive) convert without any +1: a box covering
/// columns 3...6 has `x` 3 and `width` 4, and COCO's IoU uses `w·h` directly.
public struct COCOBox: Sendable, Hashable, Codable {
    /// Left edge.
    public var x: Double
    /// Top edge.
    public var y: Double
    /// Width.
    public var width: Double
    /// Height.
    public var height: Double

    /// A box from its corner and size.
    public init(x: Double, y: Double, width: Double, height: Double) {
        self.x = x; self.y = y; self.width = width; self.height = height
    }

    /// The COCO box of a release box.
    public init(_ box: BoundingBox2D) {
        self.init(x: Double(box.xMin), y: Double(box.yMin), width: Double(box.width), height: Double(box.height))
    }

    /// `width · height`, the area COCO gives detection results.
    public var area: Double { width * height }

    /// Intersection over union as pycocotools' `bbIou` computes it for non-crowd boxes:
    /// 0 when the boxes do not overlap with a positive width and height.
    public func iou(_ other: COCOBox) -> Double {
        let w = min(width + x, other.width + other.x) - max(x, other.x)
        if w <= 0 { return 0 }
        let h = min(height + y, other.height + other.y) - max(y, other.y)
        if h <= 0 { return 0 }
        let intersection = w * h
        return intersection / (area + other.area - intersection)
    }
}

/// A ground-truth object: a box of one category in one image.
public struct GroundTruthBox<Image: Hashable & Comparable & Sendable>: Sendable, Hashable {
    /// The image (for HemoCluster: a slice of a case).
    public var image: Image
    /// The category (for HemoCluster: the subtype's label value 1...5).
    public var category: Int
    /// The box.
    public var box: COCOBox

    /// A ground-truth object.
    public init(image: Image, category: Int, box: COCOBox) {
        self.image = image; self.category = category; self.box = box
    }
}

/// A detection: a scored box of one category in one image.
public struct DetectedBox<Image: Hashable & Comparable & Sendable>: Sendable, Hashable {
    /// The image.
    public var image: Image
    /// The category.
    public var category: Int
    /// The box.
    public var box: COCOBox
    /// Confidence; higher ranks first.
    public var score: Double

    /// A detection.
    public init(image: Image, category: Int, box: COCOBox, score: Double) {
        self.image = image; self.category = category; self.box = box; self.score = score
    }
}

/// Average precision of one category.
public struct CategoryAveragePrecision: Sendable, Hashable, Codable {
    /// The category.
    public var category: Int
    /// Ground-truth boxes of the category.
    public var groundTruthCount: Int
    /// Detections of the category that were evaluated (after the per-image cap).
    public var detectionCount: Int
    /// AP at each IoU threshold of the evaluator, in order; `nil` when the category has no
    /// ground truth (pycocotools stores -1 and leaves it out of every mean).
    public var averagePrecisionByThreshold: [Double]?

    /// A category's result.
    public init(category: Int, groundTruthCount: Int, detectionCount: Int, averagePrecisionByThreshold: [Double]?) {
        self.category = category
        self.groundTruthCount = groundTruthCount
        self.detectionCount = detectionCount
        self.averagePrecisionByThreshold = averagePrecisionByThreshold
    }

    /// AP at the first threshold (IoU 0.5 with the default evaluator).
    public var ap50: Double? { averagePrecisionByThreshold?.first }
    /// AP at the sixth threshold (IoU 0.75 with the default evaluator).
    public var ap75: Double? {
        guard let ap = averagePrecisionByThreshold, ap.count > 5 else { return nil }
        return ap[5]
    }
    /// Mean AP over all thresholds (COCO's AP[.50:.95] with the default evaluator).
    public var meanAveragePrecision: Double? {
        guard let ap = averagePrecisionByThreshold, !ap.isEmpty else { return nil }
        return ap.reduce(0, +) / Double(ap.count)
    }
}

/// The result of a detection evaluation.
public struct DetectionResult: Sendable, Hashable, Codable {
    /// IoU thresholds used, in order.
    public var iouThresholds: [Double]
    /// One entry per evaluated category, in the order of the evaluator's category list.
    public var categories: [CategoryAveragePrecision]

    /// A result.
    public init(iouThresholds: [Double], categories: [CategoryAveragePrecision]) {
        self.iouThresholds = iouThresholds
        self.categories = categories
    }

    /// Categories with ground truth (those that enter the means).
    public var evaluatedCategories: [CategoryAveragePrecision] {
        categories.filter { $0.averagePrecisionByThreshold != nil }
    }

    /// AP at IoU 0.5 averaged over categories with ground truth; `nil` when none has any.
    public var ap50: Double? { Self.mean(evaluatedCategories.compactMap(\.ap50)) }
    /// AP at IoU 0.75 averaged over categories with ground truth; `nil` when none has any.
    public var ap75: Double? { Self.mean(evaluatedCategories.compactMap(\.ap75)) }
    /// AP averaged over thresholds and categories with ground truth (COCO's headline AP); `nil`
    /// when no category has ground truth.
    public var meanAveragePrecision: Double? { Self.mean(evaluatedCategories.compactMap(\.meanAveragePrecision)) }

    /// The entry of `category`, if it was evaluated.
    public subscript(category category: Int) -> CategoryAveragePrecision? {
        categories.first { $0.category == category }
    }

    static func mean(_ values: [Double]) -> Double? {
        values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }
}

/// COCO-style box average precision, reproducing pycocotools' `COCOeval(iouType="bbox")` with
/// area range "all", `maxDets` 100 and no crowd boxes. See <doc:Metrics> for the definition.
public struct COCOBoxEvaluator: Sendable {
    /// IoU thresholds; COCO's ten values 0.50, 0.55, …, 0.95 by default.
    public var iouThresholds: [Double]
    /// Recall levels at which interpolated precision is sampled; COCO's 101 values 0, 0.01, …, 1.
    public var recallThresholds: [Double]
    /// Highest-scoring detections kept per image and category.
    public var maxDetectionsPerImage: Int

    /// COCO's default parameters, with thresholds computed as numpy's `linspace` computes them
    /// so that comparisons at the boundaries give the same answers as pycocotools.
    public init(maxDetectionsPerImage: Int = 100) {
        let step = (0.95 - 0.5) / 9
        iouThresholds = (0..<9).map { Double($0) * step + 0.5 } + [0.95]
        recallThresholds = (0..<100).map { Double($0) * 0.01 } + [1.0]
        self.maxDetectionsPerImage = maxDetectionsPerImage
    }

    /// Evaluates `detections` against `groundTruth` for each of `categories`.
    ///
    /// Images are all those holding a ground-truth box or a detection; a detection on an image
    /// without ground truth is a false positive. Detections of categories outside `categories`
    /// are ignored, as pycocotools ignores categories absent from the ground-truth file.
    ///
    /// - Throws: ``EvalError`` when a score or coordinate is not finite or a box has a negative size.
    public func evaluate<Image>(groundTruth: [GroundTruthBox<Image>], detections: [DetectedBox<Image>],
                                categories: [Int] = Subtype.allCases.map { Int($0.rawValue) },
                                source: String = "detection") throws(EvalError) -> DetectionResult {
        for (index, g) in groundTruth.enumerated() {
            try Self.validate(g.box, score: 0, index: index, source: source + " ground truth")
        }
        for (index, d) in detections.enumerated() {
            try Self.validate(d.box, score: d.score, index: index, source: source + " detections")
        }
        typealias Key = ImageCategoryKey<Image>
        var truthByKey: [Key: [COCOBox]] = [:]
        var detectionsByKey: [Key: [(box: COCOBox, score: Double)]] = [:]
        var imagesByCategory: [Int: Set<Image>] = [:]
        for g in groundTruth {
            truthByKey[Key(image: g.image, category: g.category), default: []].append(g.box)
            imagesByCategory[g.category, default: []].insert(g.image)
        }
        for d in detections {
            detectionsByKey[Key(image: d.image, category: d.category), default: []].append((d.box, d.score))
            imagesByCategory[d.category, default: []].insert(d.image)
        }
        let results = categories.map { category in
            let images = (imagesByCategory[category] ?? []).sorted()
            let perImage = images.map { image in
                matchImage(truth: truthByKey[Key(image: image, category: category)] ?? [],
                           detections: detectionsByKey[Key(image: image, category: category)] ?? [])
            }
            return accumulate(category: category, images: perImage)
        }
        return DetectionResult(iouThresholds: iouThresholds, categories: results)
    }

    /// One image and category after greedy matching: the kept detections' scores (highest
    /// first, ties in input order) and, per IoU threshold, whether each one found a match.
    struct ImageMatches {
        var truthCount: Int
        var scores: [Double]
        var matched: [[Bool]]
    }

    /// Greedy matching of pycocotools' `evaluateImg`: detections by decreasing score take the
    /// still-free ground-truth box of highest IoU at or above the threshold; among equal IoUs the
    /// later box in input order wins, as in pycocotools.
    func matchImage(truth: [COCOBox], detections: [(box: COCOBox, score: Double)]) -> ImageMatches {
        let order = detections.indices.sorted { a, b in
            detections[a].score != detections[b].score ? detections[a].score > detections[b].score : a < b
        }.prefix(maxDetectionsPerImage)
        let kept = order.map { detections[$0] }
        let ious = kept.map { d in truth.map { d.box.iou($0) } }
        var matched = [[Bool]]()
        matched.reserveCapacity(iouThresholds.count)
        for threshold in iouThresholds {
            var truthTaken = [Bool](repeating: false, count: truth.count)
            var row = [Bool](repeating: false, count: kept.count)
            for d in kept.indices {
                var best = min(threshold, 1 - 1e-10)
                var match = -1
                for g in truth.indices where !truthTaken[g] {
                    if ious[d][g] < best { continue }
                    best = ious[d][g]
                    match = g
                }
                if match >= 0 {
                    truthTaken[match] = true
                    row[d] = true
                }
            }
            matched.append(row)
        }
        return ImageMatches(truthCount: truth.count, scores: kept.map(\.score), matched: matched)
    }

    /// pycocotools' `accumulate` for one category: detections of all images ranked by score
    /// (ties: image order, then the per-image order), cumulative precision and recall, precision
    /// made non-increasing from the right, then sampled at the first rank whose recall reaches
    /// each recall threshold (0 past the highest recall); AP is the mean of those samples.
    func accumulate(category: Int, images: [ImageMatches]) -> CategoryAveragePrecision {
        let truthCount = images.reduce(0) { $0 + $1.truthCount }
        var scores: [Double] = []
        var matched = [[Bool]](repeating: [], count: iouThresholds.count)
        for image in images {
            scores += image.scores
            for t in iouThresholds.indices { matched[t] += image.matched[t] }
        }
        guard truthCount > 0 else {
            return CategoryAveragePrecision(category: category, groundTruthCount: 0,
                                            detectionCount: scores.count, averagePrecisionByThreshold: nil)
        }
        let order = scores.indices.sorted { a, b in
            scores[a] != scores[b] ? scores[a] > scores[b] : a < b
        }
        let epsilon = Double.ulpOfOne   // numpy's np.spacing(1)
        var apByThreshold: [Double] = []
        for t in iouThresholds.indices {
            var recall = [Double](), precision = [Double]()
            recall.reserveCapacity(order.count)
            precision.reserveCapacity(order.count)
            var tp = 0.0, fp = 0.0
            for index in order {
                if matched[t][index] { tp += 1 } else { fp += 1 }
                recall.append(tp / Double(truthCount))
                precision.append(tp / (fp + tp + epsilon))
            }
            if precision.count > 1 {
                for i in stride(from: precision.count - 1, to: 0, by: -1) where precision[i] > precision[i - 1] {
                    precision[i - 1] = precision[i]
                }
            }
            var sum = 0.0
            var rank = 0
            for threshold in recallThresholds {
                while rank < recall.count && recall[rank] < threshold { rank += 1 }
                if rank == recall.count { break }
                sum += precision[rank]
            }
            apByThreshold.append(sum / Double(recallThresholds.count))
        }
        return CategoryAveragePrecision(category: category, groundTruthCount: truthCount,
                                        detectionCount: scores.count, averagePrecisionByThreshold: apByThreshold)
    }

    static func validate(_ box: COCOBox, score: Double, index: Int, source: String) throws(EvalError) {
        guard box.x.isFinite, box.y.isFinite, box.width.isFinite, box.height.isFinite, score.isFinite else {
            throw EvalError(.nonFiniteValue(index: index), source: source)
        }
        guard box.width >= 0, box.height >= 0 else {
            throw EvalError(.negativeBoxSize(index: index), source: source)
        }
    }
}

/// An (image, category) pair: the unit pycocotools matches boxes within.
struct ImageCategoryKey<Image: Hashable>: Hashable {
    var image: Image
    var category: Int
}
