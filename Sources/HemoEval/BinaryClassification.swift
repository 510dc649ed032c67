/// The four counts of a binary decision against a binary truth.
///
/// Every derived rate follows scikit-learn's default `zero_division="warn"` behaviour: a ratio
/// whose denominator is zero is reported as `0` (scikit-learn warns and returns 0.0). See
/// <doc:Metrics> for the exact definitions.
public struct BinaryConfusion: Sendable, Hashable, Codable {
    /// Truth positive, predicted positive.
    public var truePositives: Int
    /// Truth negative, predicted positive.
    public var falsePositives: Int
    /// Truth positive, predicted negative.
    public var falseNegatives: Int
    /// Truth negative, predicted negative.
    public var trueNegatives: Int

    /// A confusion from its four counts.
    public init(truePositives: Int = 0, falsePositives: Int = 0, falseNegatives: Int = 0, trueNegatives: Int = 0) {
        self.truePositives = truePositives
        self.falsePositives = falsePositives
        self.falseNegatives = falseNegatives
        self.trueNegatives = trueNegatives
    }

    /// Counts paired truths and predictions.
    ///
    /// - Throws: ``EvalError/Code/lengthMismatch(expected:actual:)`` when the arrays differ in
    ///   length; `source` names the caller's `source`.
    public init(truth: [Bool], predicted: [Bool], source: String = "classification") throws(EvalError) {
        guard truth.count == predicted.count else {
            throw EvalError(.lengthMismatch(expected: truth.count, actual: predicted.count), source: source)
        }
        self.init()
        for (t, p) in zip(truth, predicted) { add(truth: t, predicted: p) }
    }

    /// Adds one paired observation.
    public mutating func add(truth: Bool, predicted: Bool) {
        switch (truth, predicted) {
        case (true, true): truePositives += 1
        case (false, true): falsePositives += 1
        case (true, false): falseNegatives += 1
        case (false, false): trueNegatives += 1
        }
    }

    /// Number of observations.
    public var count: Int { truePositives + falsePositives + falseNegatives + trueNegatives }
    /// Truth positives (TP + FN).
    public var positives: Int { truePositives + falseNegatives }
    /// Truth negatives (TN + FP).
    public var negatives: Int { trueNegatives + falsePositives }

    /// TP / (TP + FP); 0 when nothing was predicted positive.
    public var precision: Double { Self.ratio(truePositives, truePositives + falsePositives) }
    /// TP / (TP + FN), the sensitivity; 0 when the truth has no positive.
    public var recall: Double { Self.ratio(truePositives, truePositives + falseNegatives) }
    /// Same as ``recall``.
    public var sensitivity: Double { recall }
    /// TN / (TN + FP), the recall of the negative class; 0 when the truth has no negative.
    public var specificity: Double { Self.ratio(trueNegatives, trueNegatives + falsePositives) }
    /// 2·TP / (2·TP + FP + FN), the harmonic mean of precision and recall; 0 when TP + FP + FN = 0.
    public var f1: Double { Self.ratio(2 * truePositives, 2 * truePositives + falsePositives + falseNegatives) }
    /// (TP + TN) / N; NaN when there is no observation (as scikit-learn's `accuracy_score` on empty input).
    public var accuracy: Double {
        count == 0 ? .nan : Double(truePositives + trueNegatives) / Double(count)
    }

    /// Sums two confusions (pooling observations).
    public static func + (a: BinaryConfusion, b: BinaryConfusion) -> BinaryConfusion {
        BinaryConfusion(truePositives: a.truePositives + b.truePositives,
                        falsePositives: a.falsePositives + b.falsePositives,
                        falseNegatives: a.falseNegatives + b.falseNegatives,
                        trueNegatives: a.trueNegatives + b.trueNegatives)
    }

    /// `numerator / denominator`, or 0 when the denominator is 0 (scikit-learn's default).
    static func ratio(_ numerator: Int, _ denominator: Int) -> Double {
        denominator == 0 ? 0 : Double(numerator) / Double(denominator)
    }
}
