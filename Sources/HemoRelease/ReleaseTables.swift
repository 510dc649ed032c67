import HemoCore

/// What kind of release: annotations (a release build) or model output (pseudo-labels).
public enum ReleaseKind: String, Sendable {
    /// Masks from annotators: scores are 1, no probability columns.
    case annotations
    /// Masks from a model: probability columns and box scores.
    case pseudoLabels = "pseudo-labels"
}

/// An exam that could not be processed: a row of `failures.csv`.
public struct FailureRow: Sendable, Hashable, Comparable, Codable {
    /// The case identifier (or the rejected name when the identifier itself was bad).
    public var caseName: String
    /// The stage that failed: `input`, `read`, `annotations`, `transform`, `inference`, `write`.
    public var stage: String
    /// What went wrong, with cohort-relative file names.
    public var reason: String

    /// A failure row.
    public init(caseName: String, stage: String, reason: String) {
        self.caseName = caseName; self.stage = stage; self.reason = reason
    }

    public static func < (a: FailureRow, b: FailureRow) -> Bool {
        Array(a.caseName.utf8).lexicographicallyPrecedes(b.caseName.utf8)
    }
}

/// Renders the release's tables from case records. Pure: the same records give the same bytes.
public struct ReleaseTables: Sendable {
    /// Case records sorted by identifier.
    public var records: [CaseRecord]
    /// Failures sorted by case.
    public var failures: [FailureRow]
    /// Annotations or pseudo-labels.
    public var kind: ReleaseKind
    /// Weak patient labels, when the cohort had them.
    public var weakLabels: [CaseID: WeakLabels]?
    /// False for a release without masks (a classifier-only model): `dataset.json` says so and the
    /// `ml_*` columns of `patient_labels.csv` are empty (no volume without a mask).
    public var hasMasks: Bool = true

    /// Tables over `records` (sorted here) and `failures`.
    public init(records: [CaseRecord], failures: [FailureRow], kind: ReleaseKind, weakLabels: [CaseID: WeakLabels]?) {
        self.records = records.sorted { $0.id < $1.id }
        self.failures = failures.sorted()
        self.kind = kind
        self.weakLabels = weakLabels
    }

    static let subtypeNames = Subtype.allCases.map(\.name)
    static func flag(_ b: Bool) -> String { b ? "1" : "0" }

    /// Whether the release's model has an exam-level classification output (some record carries
    /// its call): then `patient_labels.csv` gives the exam's `p_*` and its labels are the exam's.
    public var hasExamProbabilities: Bool { records.contains { $0.exam != nil } }

    /// Whether any released exam was read from DICOM (then the DICOM columns and tables exist).
    public var hasDICOM: Bool { records.contains { $0.dicom != nil } }

    /// `labels/slice_labels.csv`; with DICOM-sourced exams in the release, two more columns,
    /// `sop_instance_uid` and `instance_number` (empty for NIfTI exams and for slices made by resampling).
    public func sliceLabels() -> String {
        var header = ["case", "slice", "any"] + Self.subtypeNames
        if kind == .pseudoLabels { header += ["p_any"] + Self.subtypeNames.map { "p_" + $0 } }
        let dicom = hasDICOM
        if dicom { header += ["sop_instance_uid", "instance_number"] }
        var t = CSVTable(header: header)
        for r in records {
            for s in r.slices {
                t.rows.append(sliceRow(r, s) + (dicom ? instanceColumns(r, s.slice) : []))
            }
        }
        return t.rendered()
    }

    func sliceRow(_ r: CaseRecord, _ s: SliceRow) -> [String] {
        var row = [r.id.rawValue, r.sliceName(s.slice), Self.flag(s.isPositive)]
        row += Subtype.allCases.map { Self.flag(s.subtypes.contains($0)) }
        if kind == .pseudoLabels {
            let p = s.probabilities ?? [Double](repeating: 0, count: 6)
            row += p.map { formatFixed($0, decimals: 4) }
        }
        return row
    }

    func instanceColumns(_ r: CaseRecord, _ k: Int) -> [String] {
        guard let d = r.dicom, k < d.slices.count, let inst = d.slices[k] else { return ["", ""] }
        return [inst.sopInstanceUID, inst.instanceNumber.map(String.init) ?? ""]
    }

    /// `labels/slice_labels_sop.csv` (`--slice-key sop`): one row per released slice read from a
    /// DICOM instance, keyed by its SOPInstanceUID (as RSNA's labels are), sorted by case and slice.
    public func sliceLabelsBySOP() -> String {
        var header = ["sop_instance_uid", "instance_number", "case", "slice", "any"] + Self.subtypeNames
        if kind == .pseudoLabels { header += ["p_any"] + Self.subtypeNames.map { "p_" + $0 } }
        var t = CSVTable(header: header)
        for r in records {
            guard let d = r.dicom else { continue }
            for s in r.slices {
                guard s.slice < d.slices.count, let inst = d.slices[s.slice] else { continue }
                t.rows.append([inst.sopInstanceUID, inst.instanceNumber.map(String.init) ?? ""] + sliceRow(r, s))
            }
        }
        return t.rendered()
    }

    /// `series.csv`: every series of every DICOM-sourced exam, UIDs as salted hashes, and the
    /// selection's verdict (exactly one `selected` row per exam).
    public func seriesTable() -> String {
        var t = CSVTable(header: ["case", "study_hash", "series_hash", "series_number", "modality", "image_type", "kernel",
                                  "images", "rows", "columns", "slice_thickness", "gantry_tilt", "selected", "reason", "notes"])
        for r in records {
            guard let d = r.dicom else { continue }
            for s in d.series {
                t.rows.append([r.id.rawValue, s.studyHash, s.seriesHash, s.seriesNumber.map(String.init) ?? "", s.modality,
                               s.imageType, s.kernel, String(s.images), String(s.rows), String(s.columns),
                               s.thickness.map { formatFixed($0, decimals: 3) } ?? "", formatFixed(s.tilt, decimals: 3),
                               Self.flag(s.selected), s.reason, s.notes])
            }
        }
        return t.rendered()
    }

    /// `labels/patient_labels.csv`. A model with an exam-level classification output adds
    /// `p_any,p_EPH,…,p_IVH` (its exam probabilities, 4 decimals) after the `ml_*` columns, and its
    /// labels are the exam call's (``CaseRecord/patientSubtypes``).
    public func patientLabels() -> String {
        var header = ["case", "any"] + Self.subtypeNames + ["slices", "positive_slices"] + Self.subtypeNames.map { "ml_" + $0 }
        let exam = hasExamProbabilities
        if exam { header += ["p_any"] + Self.subtypeNames.map { "p_" + $0 } }
        if weakLabels != nil { header += ["weak_any"] + Self.subtypeNames.map { "weak_" + $0 } + ["agrees"] }
        var t = CSVTable(header: header)
        for r in records {
            var row = [r.id.rawValue, Self.flag(r.anyHemorrhage)]
            let subtypes = r.patientSubtypes
            row += Subtype.allCases.map { Self.flag(subtypes.contains($0)) }
            row += [String(r.sliceCount), String(r.positiveSlices)]
            row += Subtype.allCases.map { hasMasks ? formatFixed(r.millilitres[$0] ?? 0, decimals: 3) : "" }
            if exam { row += r.exam.map { $0.probabilities.map { formatFixed($0, decimals: 4) } } ?? [String](repeating: "", count: 6) }
            if let weakLabels {
                if let w = weakLabels[r.id] {
                    row += [Self.flag(w.any)] + Subtype.allCases.map { Self.flag(w.subtypes.contains($0)) }
                    row.append(Self.flag(w.any == r.anyHemorrhage && w.subtypes == subtypes))
                } else {
                    row += [String](repeating: "", count: 7)
                }
            }
            t.rows.append(row)
        }
        return t.rendered()
    }

    func scoreText(_ s: Double?) -> String {
        guard kind == .pseudoLabels, let s else { return "1" }
        return formatFixed(s, decimals: 4)
    }

    /// `boxes/boxes2d.csv`.
    public func boxes2D() -> String {
        var t = CSVTable(header: ["case", "slice", "subtype", "x_min", "y_min", "x_max", "y_max", "pixels", "score"])
        for r in records {
            for b in r.boxes {
                t.rows.append([r.id.rawValue, r.sliceName(b.slice), b.subtype.name,
                               String(b.box.xMin), String(b.box.yMin), String(b.box.xMax), String(b.box.yMax),
                               String(b.pixels), scoreText(b.score)])
            }
        }
        return t.rendered()
    }

    /// `boxes/lesions3d.csv`.
    public func lesions3D() -> String {
        var t = CSVTable(header: ["case", "lesion", "subtype", "voxels", "ml", "i_min", "j_min", "k_min",
                                  "i_max", "j_max", "k_max", "x_mm", "y_mm", "z_mm"])
        for r in records {
            for l in r.lesions {
                t.rows.append([r.id.rawValue, String(l.lesion), l.subtype.name, String(l.voxels),
                               formatFixed(l.ml, decimals: 3),
                               String(l.box.min.x), String(l.box.min.y), String(l.box.min.z),
                               String(l.box.max.x), String(l.box.max.y), String(l.box.max.z),
                               formatFixed(l.centroid.x, decimals: 3), formatFixed(l.centroid.y, decimals: 3),
                               formatFixed(l.centroid.z, decimals: 3)])
            }
        }
        return t.rendered()
    }

    /// `boxes/coco.json`: one image per slice that has a box.
    public func coco() -> String {
        var images: [JSONValue] = []
        var annotations: [JSONValue] = []
        var imageID = 0
        var annotationID = 0
        for r in records {
            var bySlice: [Int: [BoxRow]] = [:]
            for b in r.boxes { bySlice[b.slice, default: []].append(b) }
            for k in bySlice.keys.sorted() {
                imageID += 1
                images.append(.object([
                    ("id", .int(imageID)),
                    ("file_name", .string("\(r.id.rawValue)/\(r.sliceName(k)).png")),
                    ("width", .int(r.width)),
                    ("height", .int(r.height)),
                ]))
                for b in bySlice[k]! {
                    annotationID += 1
                    var fields: [(String, JSONValue)] = [
                        ("id", .int(annotationID)),
                        ("image_id", .int(imageID)),
                        ("category_id", .int(Int(b.subtype.labelValue))),
                        ("bbox", .array([.int(b.box.xMin), .int(b.box.yMin), .int(b.box.width), .int(b.box.height)])),
                        ("area", .int(b.pixels)),
                        ("iscrowd", .int(0)),
                    ]
                    if kind == .pseudoLabels { fields.append(("score", .numberText(scoreText(b.score)))) }
                    annotations.append(.object(fields))
                }
            }
        }
        let categories: [JSONValue] = Subtype.allCases.map {
            .object([("id", .int(Int($0.labelValue))), ("name", .string($0.name)), ("supercategory", .string("hemorrhage"))])
        }
        return JSONValue.object([
            ("info", .object([("description", .string("HemoCluster release boxes")), ("version", .string(ReleaseFormat.version))])),
            ("images", .array(images)),
            ("annotations", .array(annotations)),
            ("categories", .array(categories)),
        ]).rendered()
    }

    /// `boxes/yolo/<case>_<slice>.txt` files: relative path → content, one per slice with boxes.
    public func yolo() -> [(String, String)] {
        var out: [(String, String)] = []
        for r in records {
            var bySlice: [Int: [BoxRow]] = [:]
            for b in r.boxes { bySlice[b.slice, default: []].append(b) }
            for k in bySlice.keys.sorted() {
                let w = Double(r.width), h = Double(r.height)
                let lines = bySlice[k]!.map { b -> String in
                    let cx = (Double(b.box.xMin) + Double(b.box.width) / 2) / w
                    let cy = (Double(b.box.yMin) + Double(b.box.height) / 2) / h
                    return "\(b.subtype.yoloClass) \(formatFixed(cx, decimals: 6)) \(formatFixed(cy, decimals: 6)) "
                        + "\(formatFixed(Double(b.box.width) / w, decimals: 6)) \(formatFixed(Double(b.box.height) / h, decimals: 6))"
                }
                out.append(("boxes/yolo/\(r.id.rawValue)_\(r.sliceName(k)).txt", lines.joined(separator: "\n") + "\n"))
            }
        }
        return out
    }

    /// `splits.json`.
    public func splits(rule: SplitRule) -> String {
        var groups: [SplitRule.Split: [JSONValue]] = [:]
        for r in records { groups[rule.split(of: r.id), default: []].append(.string(r.id.rawValue)) }
        return JSONValue.object([
            ("seed", .string(rule.seed)),
            ("rule", .string("sha256(\"hemocluster-split-v1\\0\" + seed + \"\\0\" + case), first 8 bytes / 2^64")),
            ("fractions", .object([("train", .number(rule.train, decimals: 4)), ("val", .number(rule.val, decimals: 4)),
                                   ("test", .number(1 - rule.train - rule.val, decimals: 4))])),
            ("train", .array(groups[.train] ?? [])),
            ("val", .array(groups[.val] ?? [])),
            ("test", .array(groups[.test] ?? [])),
        ]).rendered()
    }

    /// `failures.csv`.
    public func failuresCSV() -> String {
        CSVTable(header: ["case", "stage", "reason"], rows: failures.map { [$0.caseName, $0.stage, $0.reason] }).rendered()
    }

    /// `dataset.json`: nnU-Net v2's fields plus a `hemocluster` object.
    public func datasetJSON() -> String {
        var labels: [(String, JSONValue)] = [("background", .int(0))]
        labels += Subtype.allCases.map { ($0.name, .int(Int($0.labelValue))) }
        return JSONValue.object([
            ("channel_names", .object([("0", .string("CT"))])),
            ("labels", .object(labels)),
            ("numTraining", .int(records.count)),
            ("file_ending", .string(".nii.gz")),
            ("name", .string("HemoCluster")),
            ("description", .string("Intracranial hemorrhage: EPH, SDH, SAH, IPH, IVH")),
            ("hemocluster", .object([
                ("format_version", .string(ReleaseFormat.version)),
                ("kind", .string(kind.rawValue)),
                ("tool_version", .string(HemoVersion.string)),
                ("cases", .int(records.count)),
                ("failures", .int(failures.count)),
            ] + (hasMasks
                ? [("subtype_masks", .string("masks3d/<case>.nii.gz: uint8, bit (v-1) set where subtype v is annotated"))]
                : [("masks", .string(ReleaseFormat.noMasks)),
                   ("labels_from", .string("a classifier's slice probabilities and the thresholds of its sidecar (provenance.json: model)"))]))),
        ]).rendered()
    }
}

/// Constants of the release format.
public enum ReleaseFormat {
    /// The version written to `dataset.json` and `provenance.json`. 1.1 = version 1 plus
    /// the `masks3d/` per-subtype bitmask volumes.
    public static let version = "1.1"
    /// The file of a labels-only release (`--images omit`) that names each input CT by SHA-256.
    public static let imageDigestsFile = "images.sha256"
    /// The value of `masks` (provenance options, `dataset.json`) in a release without masks: a
    /// classifier-only model's pseudo-labels.
    public static let noMasks = "none"
}
