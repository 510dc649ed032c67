import HemoConcurrency
import Foundation
import HemoCore
import NIfTI

/// One disagreement found by ``ReleaseVerifier``.
public struct Disagreement: Sendable, CustomStringConvertible {
    /// The release-relative file.
    public var file: String
    /// What disagrees.
    public var detail: String
    public var description: String { "\(file): \(detail)" }
}

/// The outcome of verifying a release.
public struct VerificationReport: Sendable {
    /// Files checked against the manifest.
    public var filesChecked: Int
    /// Cases whose masks were re-analysed.
    public var casesChecked: Int
    /// Every disagreement, in discovery order.
    public var disagreements: [Disagreement]
    /// Whether the release is intact and consistent.
    public var ok: Bool { disagreements.isEmpty }
}

/// `hemo release verify`: checks the manifest and that every table agrees with the masks.
///
/// The masks are the source of truth: the verifier re-analyses each case's `masks3d/` bitmask,
/// checks `labelsTr/` and `masks2d/` against it, then re-renders every table and compares the
/// bytes. Model scores and probabilities cannot be derived from masks, so for pseudo-label
/// releases they are read from the released tables and carried into the re-rendering; every
/// mask-derived column is still recomputed.
public struct ReleaseVerifier: Sendable {
    /// Threads used to re-analyse cases.
    public var threads: Int
    /// A verifier.
    public init(threads: Int = 1) { self.threads = max(1, threads) }

    /// Verifies the release at `path`.
    public func verify(_ path: String) throws -> VerificationReport {
        let root = URL(fileURLWithPath: path).standardizedFileURL.path
        var problems: [Disagreement] = []
        func add(_ file: String, _ detail: String) { problems.append(Disagreement(file: file, detail: detail)) }
        guard FileManager.default.fileExists(atPath: root) else {
            throw ReleaseError(.verification, path: path, reason: "no such release folder")
        }
        // 1. The manifest.
        guard let manifestData = FileManager.default.contents(atPath: root + "/" + Manifest.fileName),
              let manifestText = String(data: manifestData, encoding: .utf8),
              let entries = Manifest.parse(manifestText) else {
            throw ReleaseError(.verification, path: root + "/" + Manifest.fileName, reason: "missing or malformed manifest")
        }
        let listed = Set(entries.map(\.path))
        for (file, digest) in entries {
            guard !file.hasPrefix("/"), !file.split(separator: "/").contains("..") else {
                add(Manifest.fileName, "lists a path outside the release: \(file)"); continue
            }
            guard FileManager.default.fileExists(atPath: root + "/" + file) else { add(file, "listed in the manifest but missing"); continue }
            let actual = try Manifest.sha256(ofFile: root + "/" + file)
            if actual != digest { add(file, "SHA-256 \(actual) differs from the manifest's \(digest)") }
        }
        let staging = try ReleaseFiles(root: root)
        for f in staging.all where f != Manifest.fileName && !listed.contains(f) { add(f, "present but not in the manifest") }
        let sortedPaths = entries.map(\.path)
        if sortedPaths != sortedPaths.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
            add(Manifest.fileName, "entries are not sorted by path")
        }

        // 2. Kind, options and released tables.
        let kind: ReleaseKind = (try? readText(root, "dataset.json"))?.contains("\"kind\": \"pseudo-labels\"") == true ? .pseudoLabels : .annotations
        let provenance = (try? readJSON(root, "provenance.json")) as? [String: Any]
        let options = provenance?["options"] as? [String: Any]
        let splitSeed = options?["split_seed"] as? String ?? "hemocluster"
        // `--images`: copy and link releases hold a CT per case (a link is checked like a copy);
        // omit releases hold none, and images.sha256 names each input CT as the provenance does.
        let images = ImageMode(rawValue: options?["images"] as? String ?? "copy")
        if images == nil { add("provenance.json", "unknown images mode \(options?["images"] ?? "")") }
        let omitted = images == .omit
        if omitted {
            for f in staging.all where f.hasPrefix("imagesTr/") { add(f, "a CT file in a release made with --images omit") }
            let cases = provenance?["inputs"] as? [[String: Any]] ?? []
            let expected = cases.compactMap { c -> String? in
                guard let files = c["files"] as? [[String: Any]], let ct = files.first,
                      let path = ct["path"] as? String, let sha = ct["sha256"] as? String else { return nil }
                return "\(sha)  \(path)\n"
            }.joined()
            if let actual = try? readText(root, ReleaseFormat.imageDigestsFile) {
                if let d = Self.firstDifference(expected: expected, actual: actual) { add(ReleaseFormat.imageDigestsFile, d) }
            } else {
                add(ReleaseFormat.imageDigestsFile, "missing: a release made with --images omit names its input CTs there")
            }
        }
        let released = try ReleasedTables(root: root)
        // A classifier-only model's release (`"masks": "none"`): no mask files; its labels are
        // checked against its probabilities and the thresholds of the provenance's model.
        var classifierRule: ClassifierRule? = nil
        if options?["masks"] as? String == ReleaseFormat.noMasks {
            for f in staging.all where f.hasPrefix("labelsTr/") || f.hasPrefix("masks3d/") || f.hasPrefix("masks2d/") {
                add(f, "a mask file in a release without masks (\"masks\": \"none\")")
            }
            if kind != .pseudoLabels { add("provenance.json", "\"masks\": \"none\" in a release that is not pseudo-labels") }
            let model = provenance?["model"] as? [String: Any]
            if let rule = ClassifierRule(model: model) { classifierRule = rule } else {
                add("provenance.json", "a release without masks needs its model's outputs.classification (channels and thresholds)")
                classifierRule = ClassifierRule(thresholds: [Double](repeating: 0.5, count: 6), targets: Set(0...5))
            }
        } else if options?["masks"] != nil {
            add("provenance.json", "unknown masks value \(options?["masks"] ?? "")")
        }
        let classifier = classifierRule
        // A model with an exam-level output: the patient labels follow its released probabilities.
        let examRule = ClassifierRule(model: provenance?["model"] as? [String: Any], key: "exam_classification")

        // 3. Each case: masks → record (or the released labels of a classifier), with the released
        // model outputs carried over.
        let ids: [CaseID] = classifier != nil ? released.sliceLabels.keys.sorted() : staging.all.compactMap { f -> CaseID? in
            guard f.hasPrefix("masks3d/"), f.hasSuffix(".nii.gz") else { return nil }
            return CaseID(String(f.dropFirst("masks3d/".count).dropLast(".nii.gz".count)))
        }.sorted()
        let results = Locked([(CaseID, CaseRecord?, [Disagreement])]())
        runOnThreads(count: ids.count, threads: threads) { n in
            let id = ids[n]
            var local: [Disagreement] = []
            var record: CaseRecord? = nil
            do {
                record = try Self.checkCase(id, root: root, released: released, kind: kind, imagesOmitted: omitted,
                                            classifier: classifier, problems: &local)
            } catch {
                local.append(Disagreement(file: CaseFiles.bitmaskPath(id), detail: "\(error)"))
            }
            results.withLock { $0.append((id, record, local)) }
        }
        var records: [CaseRecord] = []
        for (_, r, d) in results.withLock({ $0 }).sorted(by: { $0.0 < $1.0 }) {
            problems += d
            if var r {
                if let examRule { Self.attachExamCall(&r, released: released, rule: examRule, problems: &problems) }
                records.append(r)
            }
        }
        // `--probabilities`: one map per subtype of every released case, nothing else.
        ProbabilityMaps.verify(root: root, files: staging.all,
                               cases: Dictionary(uniqueKeysWithValues: records.map { ($0.id, $0.geometry) }),
                               expected: options?["probabilities"] as? Bool == true, add: add)

        // 4. Re-render every table and compare bytes.
        var tables = ReleaseTables(records: records, failures: released.failures, kind: kind, weakLabels: released.weakLabels)
        tables.hasMasks = classifier == nil
        var expected: [(String, String)] = [
            ("labels/slice_labels.csv", tables.sliceLabels()),
            ("labels/patient_labels.csv", tables.patientLabels()),
            ("boxes/boxes2d.csv", tables.boxes2D()),
            ("boxes/lesions3d.csv", tables.lesions3D()),
            ("boxes/coco.json", tables.coco()),
            ("splits.json", tables.splits(rule: SplitRule(seed: splitSeed))),
            ("failures.csv", tables.failuresCSV()),
        ]
        if tables.hasDICOM {
            expected.append(("series.csv", tables.seriesTable()))
            if staging.all.contains("labels/slice_labels_sop.csv") || (options?["slice_key"] as? String) == "sop" {
                expected.append(("labels/slice_labels_sop.csv", tables.sliceLabelsBySOP()))
            }
        } else {
            for f in ["series.csv", "labels/slice_labels_sop.csv"] where staging.all.contains(f) {
                add(f, "present but no released exam was read from DICOM")
            }
        }
        let yolo = tables.yolo()
        expected += yolo
        let yoloNames = Set(yolo.map(\.0))
        for f in staging.all where f.hasPrefix("boxes/yolo/") && !yoloNames.contains(f) {
            add(f, "a YOLO file for a slice whose masks have no box")
        }
        for (file, text) in expected {
            guard let actual = try? readText(root, file) else { add(file, "missing"); continue }
            if let d = Self.firstDifference(expected: text, actual: actual) { add(file, d) }
        }
        return VerificationReport(filesChecked: entries.count, casesChecked: records.count, disagreements: problems)
    }

    static func checkCase(_ id: CaseID, root: String, released: ReleasedTables, kind: ReleaseKind, imagesOmitted: Bool = false,
                          classifier: ClassifierRule? = nil, problems: inout [Disagreement]) throws -> CaseRecord {
        if let classifier {
            var record = try classifierRecord(id, root: root, released: released, imagesOmitted: imagesOmitted, rule: classifier, problems: &problems)
            attachDICOM(&record, released: released, problems: &problems)
            return record
        }
        let bitmaskPath = CaseFiles.bitmaskPath(id)
        let bits = try NIfTIFile.read(root + "/" + bitmaskPath, options: NIfTIReadOptions()).volume.converted(to: UInt8.self)
        let masks = SubtypeMasks(bitmask: bits)
        let labels = try NIfTIFile.read(root + "/" + CaseFiles.labelPath(id), options: NIfTIReadOptions()).volume.converted(to: UInt8.self)
        let expectedLabels = masks.labelMap
        if labels.voxels != expectedLabels.voxels {
            let n = zip(labels.voxels, expectedLabels.voxels).filter { $0 != $1 }.count
            problems.append(Disagreement(file: CaseFiles.labelPath(id), detail: "\(n) voxels differ from the label map of masks3d (higher value wins)"))
        }
        if !labels.geometry.matches(bits.geometry, tolerance: 1e-6) {
            problems.append(Disagreement(file: CaseFiles.labelPath(id), detail: "grid differs from masks3d's"))
        }
        // Without CTs (--images omit) the inputs are named in images.sha256, checked above.
        if !imagesOmitted {
            let ctHeader = try NIfTIFile.readHeader(root + "/" + CaseFiles.imagePath(id), options: NIfTIReadOptions())
            if ctHeader.geometry.size != bits.geometry.size || ctHeader.geometry.affine.maxAbsoluteDifference(to: bits.geometry.affine) > 1e-4 {
                problems.append(Disagreement(file: CaseFiles.imagePath(id), detail: "grid differs from the masks'"))
            }
        }
        var record = CaseRecord(id: id, masks: masks)
        for k in 0..<record.sliceCount {
            let file = CaseFiles.slicePath(id, record.sliceName(k))
            guard let data = FileManager.default.contents(atPath: root + "/" + file) else {
                problems.append(Disagreement(file: file, detail: "missing slice PNG")); continue
            }
            if Array(data) != (try CaseFiles.slicePNG(expectedLabels, slice: k)) {
                problems.append(Disagreement(file: file, detail: "differs from slice \(k) of the label map"))
            }
        }
        attachDICOM(&record, released: released, problems: &problems)
        if kind == .pseudoLabels {
            for i in record.slices.indices { record.slices[i].probabilities = released.probabilities[id]?[record.slices[i].slice] }
            for i in record.boxes.indices {
                let b = record.boxes[i]
                record.boxes[i].score = released.scores[BoxKey(id: id, slice: b.slice, subtype: b.subtype, box: b.box)]
            }
        }
        return record
    }

    /// The released DICOM series and instances of the record's case, checked.
    static func attachDICOM(_ record: inout CaseRecord, released: ReleasedTables, problems: inout [Disagreement]) {
        let id = record.id
        if let d = released.dicom[id] {
            var info = d
            info.slices = (0..<record.sliceCount).map { k in k < d.slices.count ? d.slices[k] : nil }
            record.dicom = info
            let uids = info.slices.compactMap { $0?.sopInstanceUID }
            if let bad = uids.first(where: { !UIDSyntax.isValid($0) }) {
                problems.append(Disagreement(file: "labels/slice_labels.csv", detail: "case \(id): '\(bad)' is not a DICOM UID"))
            }
            if Set(uids).count != uids.count {
                problems.append(Disagreement(file: "labels/slice_labels.csv", detail: "case \(id): a SOPInstanceUID names more than one slice"))
            }
            if info.series.filter(\.selected).count != 1 {
                problems.append(Disagreement(file: "series.csv", detail: "case \(id): \(info.series.filter(\.selected).count) selected series, exactly 1 expected"))
            }
        } else if released.instanceCases.contains(id) {
            problems.append(Disagreement(file: "labels/slice_labels.csv", detail: "case \(id) names DICOM instances but has no rows in series.csv"))
        }
    }

    /// A classifier's record from its released slice rows: the slice count must be the CT's, and
    /// each label must follow its probability and threshold (`p ≥ t`) except within the 4-decimal
    /// rounding of the threshold; `any` also holds where a subtype does.
    static func classifierRecord(_ id: CaseID, root: String, released: ReleasedTables, imagesOmitted: Bool, rule: ClassifierRule,
                                 problems: inout [Disagreement]) throws -> CaseRecord {
        let file = "labels/slice_labels.csv"
        let rows = released.sliceLabels[id] ?? [:]
        let count = rows.count
        var geometry = Geometry(size: GridSize(1, 1, count), spacing: SIMD3(1, 1, 1))
        if !imagesOmitted {
            let header = try NIfTIFile.readHeader(root + "/" + CaseFiles.imagePath(id), options: NIfTIReadOptions())
            geometry = header.geometry
            if header.geometry.size.k != count {
                problems.append(Disagreement(file: file, detail: "case \(id): \(count) slice rows for a CT of \(header.geometry.size.k) slices"))
            }
        }
        var decisions: [(any: Bool, subtypes: Set<Subtype>)] = []
        var probabilities: [[Double]] = []
        for k in 0..<geometry.size.k {
            guard let row = rows[k], let p = released.probabilities[id]?[k], p.count == 6, p.allSatisfy({ $0.isFinite }) else {
                problems.append(Disagreement(file: file, detail: "case \(id): slice \(k) has no row with labels and probabilities"))
                decisions.append((false, [])); probabilities.append([Double](repeating: 0, count: 6)); continue
            }
            for detail in rule.disagreements(any: row.any, subtypes: row.subtypes, probabilities: p, probability: "p_") {
                problems.append(Disagreement(file: file, detail: "case \(id) slice \(k): " + detail))
            }
            decisions.append(row)
            probabilities.append(p)
        }
        return CaseRecord(id: id, geometry: geometry, sliceDecisions: decisions, sliceProbabilities: probabilities)
    }
    /// The released exam call of the record's case (`patient_labels.csv`'s labels and `p_*`),
    /// checked against the exam-level output's thresholds as slice labels are (`p ≥ t`, except
    /// within the 4-decimal rounding of the threshold; `any` also where a subtype holds).
    static func attachExamCall(_ record: inout CaseRecord, released: ReleasedTables, rule: ClassifierRule,
                               problems: inout [Disagreement]) {
        let file = "labels/patient_labels.csv", id = record.id
        guard let call = released.examCalls[id], call.probabilities.count == 6, call.probabilities.allSatisfy({ $0.isFinite }) else {
            problems.append(Disagreement(file: file, detail: "case \(id): no exam probabilities (p_any … p_IVH), which the model's exam-level output gives"))
            return
        }
        for detail in rule.disagreements(any: call.any, subtypes: call.subtypes, probabilities: call.probabilities, probability: "the exam's p_") {
            problems.append(Disagreement(file: file, detail: "case \(id): " + detail))
        }
        record.exam = call
    }

    /// The first differing line of two texts, described; `nil` when equal.
    static func firstDifference(expected: String, actual: String) -> String? {
        guard expected != actual else { return nil }
        let e = expected.split(separator: "\n", omittingEmptySubsequences: false)
        let a = actual.split(separator: "\n", omittingEmptySubsequences: false)
        for i in 0..<max(e.count, a.count) {
            let el = i < e.count ? String(e[i]) : "<end of file>"
            let al = i < a.count ? String(a[i]) : "<end of file>"
            if el != al { return "line \(i + 1) is '\(al)', the masks give '\(el)'" }
        }
        return "differs"
    }
}

/// The files of a release folder, relative and sorted.
struct ReleaseFiles {
    var all: [String]
    init(root: String) throws {
        guard let e = FileManager.default.enumerator(atPath: root) else {
            throw ReleaseError(.verification, path: root, reason: "cannot list the release")
        }
        var out: [String] = []
        while let rel = e.nextObject() as? String {
            var d: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + rel, isDirectory: &d), !d.boolValue { out.append(rel) }
        }
        all = out.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }
}

struct BoxKey: Hashable {
    var id: CaseID
    var slice: Int
    var subtype: Subtype
    var box: BoundingBox2D
}

/// What the verifier reads back from the released tables: what masks cannot give.
struct ReleasedTables {
    var failures: [FailureRow] = []
    var weakLabels: [CaseID: WeakLabels]? = nil
    var probabilities: [CaseID: [Int: [Double]]] = [:]
    var scores: [BoxKey: Double] = [:]
    /// DICOM-sourced cases: series rows from series.csv, slice instances from slice_labels.csv.
    var dicom: [CaseID: DICOMCaseInfo] = [:]
    /// Cases whose slice_labels.csv rows name an instance.
    var instanceCases: Set<CaseID> = []
    /// The released labels of each slice (`any` and the subtypes), per case and slice.
    var sliceLabels: [CaseID: [Int: (any: Bool, subtypes: Set<Subtype>)]] = [:]
    /// A model with an exam-level output: each case's patient labels and exam `p_*` as released.
    var examCalls: [CaseID: ExamCall] = [:]

    init(root: String) throws {
        if let t = try? table(root, "failures.csv") {
            failures = t.rows.compactMap { $0.count == 3 ? FailureRow(caseName: $0[0], stage: $0[1], reason: $0[2]) : nil }
        }
        let patients = try? table(root, "labels/patient_labels.csv")
        if let t = patients, let pi = t.column("p_any"), let ai = t.column("any"), pi + 6 <= t.header.count {
            for r in t.rows where r.count == t.header.count {
                guard let id = CaseID(r[0]) else { continue }
                var set = Set<Subtype>()
                for s in Subtype.allCases { if let c = t.column(s.name), r[c] == "1" { set.insert(s) } }
                examCalls[id] = ExamCall(probabilities: (pi..<(pi + 6)).map { Double(r[$0]) ?? .nan }, any: r[ai] == "1", subtypes: set)
            }
        }
        if let t = patients, let wi = t.column("weak_any") {
            var weak: [CaseID: WeakLabels] = [:]
            for r in t.rows {
                guard let id = CaseID(r[0]), !r[wi].isEmpty else { continue }
                var set = Set<Subtype>()
                for s in Subtype.allCases { if let c = t.column("weak_" + s.name), r[c] == "1" { set.insert(s) } }
                weak[id] = WeakLabels(any: r[wi] == "1", subtypes: set)
            }
            weakLabels = weak
        }
        var instances: [CaseID: [Int: SliceInstance]] = [:]
        if let t = try? table(root, "labels/slice_labels.csv"), let si = t.column("sop_instance_uid"), let ni = t.column("instance_number") {
            for r in t.rows where r.count == t.header.count {
                guard let id = CaseID(r[0]), let k = Int(r[1]), !r[si].isEmpty else { continue }
                instances[id, default: [:]][k] = SliceInstance(sopInstanceUID: r[si], instanceNumber: Int(r[ni]))
                instanceCases.insert(id)
            }
        }
        if let t = try? table(root, "series.csv") {
            for r in t.rows where r.count == 15 {
                guard let id = CaseID(r[0]) else { continue }
                let row = SeriesRow(studyHash: r[1], seriesHash: r[2], seriesNumber: Int(r[3]), modality: r[4], imageType: r[5],
                                    kernel: r[6], images: Int(r[7]) ?? -1, rows: Int(r[8]) ?? -1, columns: Int(r[9]) ?? -1,
                                    thickness: Double(r[10]), tilt: Double(r[11]) ?? .nan, selected: r[12] == "1",
                                    reason: r[13], notes: r[14])
                dicom[id, default: DICOMCaseInfo(series: [], slices: [])].series.append(row)
            }
            for id in dicom.keys {
                let m = instances[id] ?? [:]
                let n = (m.keys.max() ?? -1) + 1
                dicom[id]!.slices = (0..<n).map { m[$0] }
            }
        }
        if let t = try? table(root, "labels/slice_labels.csv"), let ai = t.column("any") {
            for r in t.rows where r.count == t.header.count {
                guard let id = CaseID(r[0]), let k = Int(r[1]) else { continue }
                var set = Set<Subtype>()
                for s in Subtype.allCases { if let c = t.column(s.name), r[c] == "1" { set.insert(s) } }
                sliceLabels[id, default: [:]][k] = (r[ai] == "1", set)
            }
        }
        if let t = try? table(root, "labels/slice_labels.csv"), let pi = t.column("p_any") {
            for r in t.rows {
                guard let id = CaseID(r[0]), let k = Int(r[1]) else { continue }
                probabilities[id, default: [:]][k] = (pi..<(pi + 6)).map { Double(r[$0]) ?? .nan }
            }
        }
        if let t = try? table(root, "boxes/boxes2d.csv") {
            for r in t.rows where r.count == 9 {
                guard let id = CaseID(r[0]), let k = Int(r[1]), let s = Subtype(name: r[2]),
                      let x0 = Int(r[3]), let y0 = Int(r[4]), let x1 = Int(r[5]), let y1 = Int(r[6]), let score = Double(r[8]) else { continue }
                scores[BoxKey(id: id, slice: k, subtype: s, box: BoundingBox2D(xMin: x0, yMin: y0, xMax: x1, yMax: y1))] = score
            }
        }
    }
}

/// DICOM UID syntax (PS3.5 9.1): at most 64 characters, dot-separated numbers without leading zeros.
enum UIDSyntax {
    static func isValid(_ uid: String) -> Bool {
        guard !uid.isEmpty, uid.utf8.count <= 64 else { return false }
        for part in uid.split(separator: ".", omittingEmptySubsequences: false) {
            guard !part.isEmpty, part.allSatisfy({ $0.isASCII && $0.isNumber }), part == "0" || !part.hasPrefix("0") else { return false }
        }
        return true
    }
}

func readText(_ root: String, _ file: String) throws -> String {
    guard let d = FileManager.default.contents(atPath: root + "/" + file), let s = String(data: d, encoding: .utf8) else {
        throw ReleaseError(.verification, path: file, reason: "missing or not UTF-8")
    }
    return s
}

func readJSON(_ root: String, _ file: String) throws -> Any {
    guard let d = FileManager.default.contents(atPath: root + "/" + file) else {
        throw ReleaseError(.verification, path: file, reason: "missing")
    }
    return try JSONSerialization.jsonObject(with: d)
}

func table(_ root: String, _ file: String) throws -> CSVTable {
    try CSVTable.parse(try readText(root, file), source: file)
}

/// The label rule of a classifier-only model, from its provenance (`outputs.classification`).
struct ClassifierRule {
    /// Thresholds of any, EPH, …, IVH.
    var thresholds: [Double]
    /// Indices (0 any, 1…5 subtypes) the model has a channel for; a softmax model's `any` is derived.
    var targets: Set<Int>

    init(thresholds: [Double], targets: Set<Int>) { self.thresholds = thresholds; self.targets = targets }

    /// Where labels `any`/`subtypes` do not follow probabilities `p` (any, EPH, …, IVH) and the
    /// thresholds: subtype `s` where the model has a channel for it and `p_s ≥ t_s`, `any` where
    /// `p_any ≥ t_any` or a subtype holds, except within the 4-decimal rounding of a threshold.
    /// Each is described with `probability` naming the column (`p_` or `the exam's p_`).
    func disagreements(any: Bool, subtypes: Set<Subtype>, probabilities p: [Double], probability: String) -> [String] {
        var out: [String] = []
        for s in Subtype.allCases {
            let v = Int(s.labelValue)
            let expected = targets.contains(v) && p[v] >= thresholds[v]
            if subtypes.contains(s) != expected && (abs(p[v] - thresholds[v]) > 0.00005 || !targets.contains(v)) {
                out.append("\(s.name) is \(subtypes.contains(s) ? 1 : 0) but \(probability)\(s.name) \(p[v]) and threshold \(thresholds[v]) give \(expected ? 1 : 0)")
            }
        }
        let expectedAny = p[0] >= thresholds[0] || !subtypes.isEmpty
        if any != expectedAny && (abs(p[0] - thresholds[0]) > 0.00005 || !subtypes.isEmpty) {
            out.append("any is \(any ? 1 : 0) but \(probability)any \(p[0]), threshold \(thresholds[0]) and the subtypes give \(expectedAny ? 1 : 0)")
        }
        return out
    }

    /// The rule of the provenance model's `outputs.<key>` (`classification`, or `exam_classification`).
    init?(model: [String: Any]?, key: String = "classification") {
        guard let c = (model?["outputs"] as? [String: Any])?[key] as? [String: Any],
              let channels = c["channels"] as? [String], let t = c["thresholds"] as? [String: Any] else { return nil }
        let names = ["any"] + Subtype.allCases.map(\.name)
        var thresholds: [Double] = []
        for n in names {
            guard let v = (t[n] as? NSNumber)?.doubleValue else { return nil }
            thresholds.append(v)
        }
        self.thresholds = thresholds
        targets = Set(channels.compactMap { names.firstIndex(of: $0) })
    }
}
