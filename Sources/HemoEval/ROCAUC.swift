/// Area under the receiver operating characteristic curve, computed as scikit-learn's
/// `roc_auc_score` does for a binary truth.
public enum ROCAUC {
    /// The ROC AUC of `scores` against `truth` (higher score = more likely positive).
    ///
    /// The curve has one point per distinct score (thresholds taken from the highest score
    /// down, so tied scores move the curve diagonally) plus the origin; the area is the
    /// trapezoidal rule over those points. This equals the Mann–Whitney probability that a random
    /// positive outscores a random negative, counting ties as one half.
    ///
    /// - Returns: `nil` when the truth holds only one class (scikit-learn raises
    ///   `ValueError: Only one class present in y_true` there) or is empty.
    /// - Throws: ``EvalError`` when the lengths differ or a score is NaN or infinite.
    public static func score(truth: [Bool], scores: [Double], source: String = "roc-auc") throws(EvalError) -> Double? {
        guard truth.count == scores.count else {
            throw EvalError(.lengthMismatch(expected: truth.count, actual: scores.count), source: source)
        }
        if let bad = scores.firstIndex(where: { !$0.isFinite }) {
            throw EvalError(.nonFiniteValue(index: bad), source: source)
        }
        let curve = rocCurve(truth: truth, scores: scores)
        guard let last = curve.last, last.falsePositives > 0, last.truePositives > 0 else { return nil }
        let fpTotal = Double(last.falsePositives), tpTotal = Double(last.truePositives)
        var area = 0.0
        var previous = (fpr: 0.0, tpr: 0.0)
        for point in curve {
            let fpr = Double(point.falsePositives) / fpTotal
            let tpr = Double(point.truePositives) / tpTotal
            area += (fpr - previous.fpr) * (tpr + previous.tpr) / 2
            previous = (fpr, tpr)
        }
        return area
    }

    /// Cumulative (false positives, true positives) at each distinct score, highest first,
    /// keeping only the points where the curve changes direction (the corners), as
    /// scikit-learn's `roc_curve(drop_intermediate=True)`.
    static func rocCurve(truth: [Bool], scores: [Double]) -> [(falsePositives: Int, truePositives: Int)] {
        let order = scores.indices.sorted { a, b in
            scores[a] != scores[b] ? scores[a] > scores[b] : a < b
        }
        var points: [(falsePositives: Int, truePositives: Int)] = []
        var tp = 0, fp = 0
        for (rank, index) in order.enumerated() {
            if truth[index] { tp += 1 } else { fp += 1 }
            let isLastOfTie = rank == order.count - 1 || scores[order[rank + 1]] != scores[index]
            if isLastOfTie { points.append((fp, tp)) }
        }
        // Drop collinear intermediate points (they add nothing to the area) like scikit-learn.
        guard points.count > 2 else { return points }
        var kept = [points[0]]
        for i in 1..<(points.count - 1) {
            let d2fp = points[i + 1].falsePositives - 2 * points[i].falsePositives + points[i - 1].falsePositives
            let d2tp = points[i + 1].truePositives - 2 * points[i].truePositives + points[i - 1].truePositives
            if d2fp != 0 || d2tp != 0 { kept.append(points[i]) }
        }
        kept.append(points[points.count - 1])
        return kept
    }
}
