import Foundation
import HemoCore
import HemoRelease

/// One row of `boxes/boxes2d.csv`: a 2D box of one subtype in one slice (max exclusive).
public struct QCBox: Sendable, Equatable {
    /// The slice (k index).
    public var slice: Int
    /// The subtype of the component.
    public var subtype: Subtype
    /// Inclusive minimum and exclusive maximum corners, in pixels (x = i, y = j).
    public var xMin: Int, yMin: Int, xMax: Int, yMax: Int
}

/// What the QC report needs of one processed case, from the release's tables.
public struct QCCaseEntry: Sendable, Equatable {
    /// The case identifier.
    public var caseID: CaseID
    /// Patient-level subtypes present (`patient_labels.csv`).
    public var subtypes: [Subtype]
    /// Number of slices and of positive slices.
    public var slices: Int, positiveSlices: Int
    /// Volume in millilitres per subtype present.
    public var millilitres: [Subtype: Double]
    /// Weak patient labels (`weak_*` columns) when the cohort had them; `nil` otherwise.
    public var weakSubtypes: [Subtype]?
    /// The `agrees` column when present.
    public var agreesWithWeakLabels: Bool?
    /// The case's 2D boxes, in table order.
    public var boxes: [QCBox]
}

/// The tables of a release, read for the QC report.
public struct ReleaseContents: Sendable {
    /// The release folder.
    public let root: String
    /// `dataset.json`'s `hemocluster.kind` (`annotations` or `pseudo-labels`; `annotations` when absent).
    public let kind: String
    /// Processed cases, sorted by identifier.
    public let cases: [QCCaseEntry]
    /// Lesion volumes (ml) per subtype from `boxes/lesions3d.csv`.
    public let lesionVolumes: [Subtype: [Double]]
    /// Positive slices per subtype from `labels/slice_labels.csv`.
    public let positiveSlices: [Subtype: Int]
    /// Slice probabilities per column (`p_any`, `p_EPH` …) for pseudo-label releases; empty otherwise.
    public let sliceProbabilities: [(column: String, values: [Double])]
    /// `failures.csv` rows: case, stage, reason.
    public let failures: [(caseID: String, stage: String, reason: String)]

    /// Whether this is a pseudo-label release.
    public var isPseudoLabels: Bool { kind == "pseudo-labels" }

    /// Reads the tables of the release at `root`. Throws ``QCError`` naming the file when a required
    /// table is missing or malformed.
    public init(root: String) throws(QCError) {
        self.root = root
        kind = Self.readKind(root)
        let patients = try Self.table(root, "labels/patient_labels.csv", required: true)!
        let sliceTable = try Self.table(root, "labels/slice_labels.csv", required: true)!
        let boxes = try Self.table(root, "boxes/boxes2d.csv", required: false)
        let lesions = try Self.table(root, "boxes/lesions3d.csv", required: false)
        let failureTable = try Self.table(root, "failures.csv", required: false)

        var boxesByCase: [String: [QCBox]] = [:]
        if let boxes {
            let source = root + "/boxes/boxes2d.csv"
            let c = try Self.columns(boxes, ["case", "slice", "subtype", "x_min", "y_min", "x_max", "y_max"], source)
            for (n, row) in boxes.rows.enumerated() {
                guard let subtype = Subtype(name: row[c[2]]), let k = Int(row[c[1]]), let x0 = Int(row[c[3]]),
                      let y0 = Int(row[c[4]]), let x1 = Int(row[c[5]]), let y1 = Int(row[c[6]]) else {
                    throw QCError(source, "row \(n + 2) has a subtype or coordinate that cannot be read")
                }
                boxesByCase[row[c[0]], default: []].append(QCBox(slice: k, subtype: subtype, xMin: x0, yMin: y0, xMax: x1, yMax: y1))
            }
        }

        let patientSource = root + "/labels/patient_labels.csv"
        let pc = try Self.columns(patients, ["case", "slices", "positive_slices"], patientSource)
        var entries: [QCCaseEntry] = []
        for (n, row) in patients.rows.enumerated() {
            guard let id = CaseID(row[pc[0]]), let slices = Int(row[pc[1]]), let positive = Int(row[pc[2]]) else {
                throw QCError(patientSource, "row \(n + 2) has a case identifier or slice count that cannot be read")
            }
            func flag(_ column: String) -> Bool { patients.column(column).map { row[$0] == "1" } ?? false }
            let subtypes = Subtype.allCases.filter { flag($0.name) }
            var ml: [Subtype: Double] = [:]
            for s in subtypes { if let i = patients.column("ml_" + s.name), let v = Double(row[i]) { ml[s] = v } }
            let hasWeak = patients.column("weak_any") != nil
            let weak = hasWeak ? Subtype.allCases.filter { flag("weak_" + $0.name) } : nil
            let agrees = patients.column("agrees").map { row[$0] == "1" }
            entries.append(QCCaseEntry(caseID: id, subtypes: subtypes, slices: slices, positiveSlices: positive,
                                       millilitres: ml, weakSubtypes: weak, agreesWithWeakLabels: agrees,
                                       boxes: boxesByCase[id.rawValue] ?? []))
        }
        cases = entries.sorted { $0.caseID < $1.caseID }

        var volumes: [Subtype: [Double]] = [:]
        if let lesions {
            let source = root + "/boxes/lesions3d.csv"
            let c = try Self.columns(lesions, ["subtype", "ml"], source)
            for (n, row) in lesions.rows.enumerated() {
                guard let s = Subtype(name: row[c[0]]), let ml = Double(row[c[1]]) else {
                    throw QCError(source, "row \(n + 2) has a subtype or volume that cannot be read")
                }
                volumes[s, default: []].append(ml)
            }
        }
        lesionVolumes = volumes

        var positives: [Subtype: Int] = [:]
        for s in Subtype.allCases {
            if let i = sliceTable.column(s.name) { positives[s] = sliceTable.rows.reduce(0) { $0 + ($1[i] == "1" ? 1 : 0) } }
        }
        positiveSlices = positives

        var probabilities: [(column: String, values: [Double])] = []
        for name in ["p_any"] + Subtype.allCases.map({ "p_" + $0.name }) {
            guard let i = sliceTable.column(name) else { continue }
            probabilities.append((name, sliceTable.rows.compactMap { Double($0[i]) }))
        }
        sliceProbabilities = probabilities

        if let failureTable {
            let c = try Self.columns(failureTable, ["case", "stage", "reason"], root + "/failures.csv")
            failures = failureTable.rows.map { ($0[c[0]], $0[c[1]], $0[c[2]]) }
        } else {
            failures = []
        }
    }

    static func readKind(_ root: String) -> String {
        guard let data = FileManager.default.contents(atPath: root + "/dataset.json"),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let hemo = object["hemocluster"] as? [String: Any], let kind = hemo["kind"] as? String else { return "annotations" }
        return kind
    }

    static func table(_ root: String, _ relative: String, required: Bool) throws(QCError) -> CSVTable? {
        let path = root + "/" + relative
        guard let data = FileManager.default.contents(atPath: path) else {
            if required { throw QCError(path, "the release has no such table; is \(root) a HemoCluster release?") }
            return nil
        }
        guard let text = String(data: data, encoding: .utf8) else { throw QCError(path, "the table is not UTF-8 text") }
        do { return try CSVTable.parse(text, source: path) } catch { throw QCError(path, "\(error)") }
    }

    static func columns(_ table: CSVTable, _ names: [String], _ source: String) throws(QCError) -> [Int] {
        var indices: [Int] = []
        for name in names {
            guard let i = table.column(name) else { throw QCError(source, "the header has no '\(name)' column") }
            indices.append(i)
        }
        return indices
    }
}
