import HemoCore
import HemoRelease

extension EvaluationReport {
    /// Decimals of every rate in the JSON and Markdown outputs.
    public static let decimals = 6

    static func number(_ v: Double?) -> JSONValue {
        guard let v, v.isFinite else { return .null }
        return .number(v, decimals: decimals)
    }

    static func text(_ v: Double?, decimals: Int = 4) -> String {
        guard let v, v.isFinite else { return "–" }
        return formatFixed(v, decimals: decimals)
    }

    static func classificationJSON(_ r: ClassificationResult, withAUC: Bool) -> JSONValue {
        let c = r.confusion
        var fields: [(String, JSONValue)] = [
            ("tp", .int(c.truePositives)), ("fp", .int(c.falsePositives)),
            ("fn", .int(c.falseNegatives)), ("tn", .int(c.trueNegatives)),
            ("precision", number(c.precision)), ("recall", number(c.recall)), ("f1", number(c.f1)),
            ("accuracy", number(c.accuracy)), ("specificity", number(c.specificity)),
        ]
        if withAUC { fields.append(("roc_auc", number(r.rocAUC))) }
        return .object(fields)
    }

    static func lesionJSON(_ l: LesionCounts?, perCase: Double?) -> JSONValue {
        guard let l else { return .null }
        return .object([
            ("truth_lesions", .int(l.truthLesions)), ("detected", .int(l.detectedTruthLesions)),
            ("predicted_lesions", .int(l.predictedLesions)), ("false_positive_lesions", .int(l.falsePositiveLesions)),
            ("sensitivity", number(l.sensitivity)), ("precision", number(l.precision)),
            ("false_positives_per_case", number(perCase)),
        ])
    }

    /// The whole report as JSON (fixed key order and decimals; `null` for undefined values).
    public func json() -> JSONValue {
        let segmentationJSON: [(String, JSONValue)] = segmentation.map { entry in
            let s = entry.summary
            return (entry.target.name, .object([
                ("cases", .int(s.caseCount)), ("non_empty_cases", .int(s.nonEmptyCaseCount)),
                ("mean_dice", Self.number(s.meanDice)), ("median_dice", Self.number(s.medianDice)),
                ("mean_iou", Self.number(s.meanIoU)), ("median_iou", Self.number(s.medianIoU)),
                ("pooled_dice", Self.number(s.cases.isEmpty ? nil : s.pooledDice)),
                ("pooled_iou", Self.number(s.cases.isEmpty ? nil : s.pooledIoU)),
                ("volume_mae_ml", Self.number(s.volumeMeanAbsoluteErrorML)),
                ("volume_bias_ml", Self.number(s.volumeBiasML)),
                ("lesions", Self.lesionJSON(s.pooledLesions, perCase: s.falsePositiveLesionsPerCase)),
                ("per_case", .array(s.cases.map { c in .object([
                    ("case", .string(c.caseID)), ("truth_voxels", .int(c.counts.truth)),
                    ("predicted_voxels", .int(c.counts.predicted)), ("intersection", .int(c.counts.intersection)),
                    ("dice", Self.number(c.counts.dice)), ("iou", Self.number(c.counts.iou)),
                    ("truth_ml", Self.number(c.truthVolumeML)), ("predicted_ml", Self.number(c.predictedVolumeML)),
                    ("truth_lesions", c.lesions.map { .int($0.truthLesions) } ?? .null),
                    ("detected_lesions", c.lesions.map { .int($0.detectedTruthLesions) } ?? .null),
                    ("predicted_lesions", c.lesions.map { .int($0.predictedLesions) } ?? .null),
                    ("false_positive_lesions", c.lesions.map { .int($0.falsePositiveLesions) } ?? .null),
                ]) })),
            ]))
        }
        let perSubtype: [(String, JSONValue)] = detection.categories.map { c in
            (Subtype(rawValue: UInt8(clamping: c.category))?.name ?? String(c.category), .object([
                ("ground_truth_boxes", .int(c.groundTruthCount)), ("detections", .int(c.detectionCount)),
                ("ap50", Self.number(c.ap50)), ("ap75", Self.number(c.ap75)), ("map", Self.number(c.meanAveragePrecision)),
            ]))
        }
        return .object([
            ("prediction", .string(prediction)),
            ("truth", .string(truth)),
            ("truth_kind", .string(truthKind.rawValue)),
            ("cases", .object([
                ("evaluated", .array(commonCases.map { .string($0.rawValue) })),
                ("prediction_only", .array(predictionOnlyCases.map { .string($0.rawValue) })),
                ("truth_only", .array(truthOnlyCases.map { .string($0.rawValue) })),
            ])),
            ("problems", .array(problems.map { .object([("case", .string($0.caseID)), ("reason", .string($0.reason))]) })),
            ("slice_level", .object(sliceLevel.map { ($0.target.name, Self.classificationJSON($0, withAUC: true)) })),
            ("patient_level", .object(patientLevel.map { ($0.target.name, Self.classificationJSON($0, withAUC: false)) })),
            ("segmentation", .object(segmentationJSON)),
            ("detection", .object([
                ("ap50", Self.number(detection.ap50)), ("ap75", Self.number(detection.ap75)),
                ("map", Self.number(detection.meanAveragePrecision)),
                ("iou_thresholds", .array(detection.iouThresholds.map { .number($0, decimals: 2) })),
                ("per_subtype", .object(perSubtype)),
            ])),
        ])
    }

    /// A Markdown summary: one table per level, then segmentation and detection.
    public func markdown() -> String {
        var out = "# Evaluation\n\n"
        out += "Prediction `\(prediction)` against \(truthKind.rawValue) `\(truth)`: \(commonCases.count) case(s) evaluated"
        if !predictionOnlyCases.isEmpty { out += ", \(predictionOnlyCases.count) only in the prediction" }
        if !truthOnlyCases.isEmpty { out += ", \(truthOnlyCases.count) only in the truth" }
        out += ".\n\n"

        out += "## Slice level\n\n| target | TP | FP | FN | TN | precision | recall | F1 | accuracy | specificity | ROC AUC |\n"
        out += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        for r in sliceLevel {
            let c = r.confusion
            out += "| \(r.target) | \(c.truePositives) | \(c.falsePositives) | \(c.falseNegatives) | \(c.trueNegatives) | "
            out += "\(Self.text(c.precision)) | \(Self.text(c.recall)) | \(Self.text(c.f1)) | \(Self.text(c.accuracy)) | "
            out += "\(Self.text(c.specificity)) | \(Self.text(r.rocAUC)) |\n"
        }
        out += "\n## Patient level\n\n| target | TP | FP | FN | TN | sensitivity | specificity |\n|---|---:|---:|---:|---:|---:|---:|\n"
        for r in patientLevel {
            let c = r.confusion
            out += "| \(r.target) | \(c.truePositives) | \(c.falsePositives) | \(c.falseNegatives) | \(c.trueNegatives) | "
            out += "\(Self.text(c.sensitivity)) | \(Self.text(c.specificity)) |\n"
        }
        out += "\n## Segmentation\n\nDice and IoU are 1 on a case where truth and prediction are both empty.\n\n"
        out += "| target | cases (non-empty) | mean Dice | median Dice | pooled Dice | mean IoU | pooled IoU | volume MAE mL | volume bias mL |\n"
        out += "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        for (target, s) in segmentation {
            out += "| \(target) | \(s.caseCount) (\(s.nonEmptyCaseCount)) | \(Self.text(s.meanDice)) | \(Self.text(s.medianDice)) | "
            out += "\(Self.text(s.cases.isEmpty ? nil : s.pooledDice)) | \(Self.text(s.meanIoU)) | "
            out += "\(Self.text(s.cases.isEmpty ? nil : s.pooledIoU)) | \(Self.text(s.volumeMeanAbsoluteErrorML, decimals: 3)) | "
            out += "\(Self.text(s.volumeBiasML, decimals: 3)) |\n"
        }
        out += "\n## Lesions (3D, 26-connected; a hit is one shared voxel)\n\n"
        out += "| target | truth lesions | detected | sensitivity | predicted lesions | false positive | precision | FP per case |\n"
        out += "|---|---:|---:|---:|---:|---:|---:|---:|\n"
        for (target, s) in segmentation {
            guard let l = s.pooledLesions else { continue }
            out += "| \(target) | \(l.truthLesions) | \(l.detectedTruthLesions) | \(Self.text(l.sensitivity)) | "
            out += "\(l.predictedLesions) | \(l.falsePositiveLesions) | \(Self.text(l.precision)) | "
            out += "\(Self.text(s.falsePositiveLesionsPerCase, decimals: 2)) |\n"
        }
        out += "\n## Detection (COCO box AP, per slice and subtype)\n\n| subtype | GT boxes | detections | AP50 | AP75 | mAP .50:.95 |\n"
        out += "|---|---:|---:|---:|---:|---:|\n"
        for c in detection.categories {
            let name = Subtype(rawValue: UInt8(clamping: c.category))?.name ?? String(c.category)
            out += "| \(name) | \(c.groundTruthCount) | \(c.detectionCount) | \(Self.text(c.ap50)) | \(Self.text(c.ap75)) | "
            out += "\(Self.text(c.meanAveragePrecision)) |\n"
        }
        out += "| **mean** (subtypes with GT) | | | \(Self.text(detection.ap50)) | \(Self.text(detection.ap75)) | "
        out += "\(Self.text(detection.meanAveragePrecision)) |\n"
        if !problems.isEmpty {
            out += "\n## Problems\n\n"
            for p in problems { out += "- \(p.caseID): \(p.reason)\n" }
        }
        return out
    }
}
