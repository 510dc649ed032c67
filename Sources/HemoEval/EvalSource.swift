import Foundation
import HemoCore
import HemoRelease
import NIfTI

/// One slice's labels as an evaluation side holds them.
public struct SliceLabel: Sendable, Hashable {
    /// Slice index k.
    public var slice: Int
    /// Subtypes present in the slice.
    public var subtypes: Set<Subtype>
    /// For pseudo-labels: `[p_any, p_EPH, p_SDH, p_SAH, p_IPH, p_IVH]`.
    public var probabilities: [Double]?

    /// A slice label.
    public init(slice: Int, subtypes: Set<Subtype>, probabilities: [Double]? = nil) {
        self.slice = slice; self.subtypes = subtypes; self.probabilities = probabilities
    }

    /// Whether `target` is present in the slice.
    public func contains(_ target: EvalTarget) -> Bool {
        switch target {
        case .any: !subtypes.isEmpty
        case let .subtype(s): subtypes.contains(s)
        }
    }

    /// The probability of `target`, when the side has probabilities.
    public func probability(_ target: EvalTarget) -> Double? {
        guard let probabilities, probabilities.count == 6 else { return nil }
        switch target {
        case .any: return probabilities[0]
        case let .subtype(s): return probabilities[Int(s.rawValue)]
        }
    }
}

/// A 2D box of one subtype in one slice, with its score (1 for annotations).
public struct SliceBox: Sendable, Hashable {
    /// Slice index k.
    public var slice: Int
    /// The subtype.
    public var subtype: Subtype
    /// The box, max exclusive.
    public var box: BoundingBox2D
    /// Confidence.
    public var score: Double

    /// A box.
    public init(slice: Int, subtype: Subtype, box: BoundingBox2D, score: Double) {
        self.slice = slice; self.subtype = subtype; self.box = box; self.score = score
    }
}

/// Labels and boxes of one case.
public struct CaseLabels: Sendable, Hashable {
    /// The case.
    public var id: CaseID
    /// One entry per slice, by slice index.
    public var slices: [SliceLabel]
    /// Subtypes present in the case (patient level).
    public var patientSubtypes: Set<Subtype>
    /// Whether the case has any hemorrhage (patient level).
    public var patientAny: Bool
    /// 2D boxes.
    public var boxes: [SliceBox]

    /// Labels of a case.
    public init(id: CaseID, slices: [SliceLabel], patientSubtypes: Set<Subtype>, patientAny: Bool, boxes: [SliceBox]) {
        self.id = id; self.slices = slices; self.patientSubtypes = patientSubtypes
        self.patientAny = patientAny; self.boxes = boxes
    }

    /// Labels derived from masks with the release's own analysis (slice flags, 8-connected boxes).
    public init(record: CaseRecord) {
        self.init(id: record.id,
                  slices: record.slices.map { SliceLabel(slice: $0.slice, subtypes: $0.subtypes, probabilities: $0.probabilities) },
                  patientSubtypes: record.subtypes, patientAny: record.anyHemorrhage,
                  boxes: record.boxes.map { SliceBox(slice: $0.slice, subtype: $0.subtype, box: $0.box, score: $0.score ?? 1) })
    }

    /// Whether `target` is present in the case.
    public func patientContains(_ target: EvalTarget) -> Bool {
        switch target {
        case .any: patientAny
        case let .subtype(s): patientSubtypes.contains(s)
        }
    }
}

/// A side of an evaluation: a release (`labels/`, `boxes/`, `masks3d/`) or a raw cohort whose
/// annotations are the truth (`truth/<case>/<SUBTYPE>.nii.gz` of a synthetic cohort when present,
/// else the cohort's own `masks/`, `labelmap.nii.gz` or `polygons.json`).
///
/// Release tables are read once when the side is opened; masks are read one case at a time by
/// ``bitmask(of:)`` so memory stays at one case per side.
public struct EvalSource: Sendable {
    /// What the folder is.
    public enum Kind: String, Sendable {
        /// A HemoCluster release.
        case release
        /// A raw cohort (truth only).
        case cohort
    }

    /// The folder, absolute.
    public let root: String
    /// Release or cohort.
    public let kind: Kind
    /// Cases the side holds, sorted.
    public let caseIDs: [CaseID]
    /// Whether `labels/slice_labels.csv` has the `p_any…p_IVH` columns.
    public let hasProbabilities: Bool
    private let tables: [CaseID: CaseLabels]
    private let cohortCases: [CaseID: CohortCase]

    /// Opens `path` as a release when it holds `labels/slice_labels.csv`, else as a raw cohort.
    ///
    /// - Throws: ``EvalError`` naming the file when the folder is missing or a table is malformed.
    public static func open(_ path: String) throws(EvalError) -> EvalSource {
        let root = URL(fileURLWithPath: path).standardizedFileURL.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw EvalError(.badInput("no such folder; pass a release folder or a raw cohort folder"), source: path)
        }
        if FileManager.default.fileExists(atPath: root + "/labels/slice_labels.csv") {
            return try openRelease(root)
        }
        return try openCohort(root)
    }

    private init(root: String, kind: Kind, caseIDs: [CaseID], hasProbabilities: Bool,
                 tables: [CaseID: CaseLabels], cohortCases: [CaseID: CohortCase]) {
        self.root = root; self.kind = kind; self.caseIDs = caseIDs; self.hasProbabilities = hasProbabilities
        self.tables = tables; self.cohortCases = cohortCases
    }

    // MARK: Release

    static func readTable(_ root: String, _ file: String) throws(EvalError) -> CSVTable {
        let path = root + "/" + file
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EvalError(.badInput("missing or unreadable"), source: path)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw EvalError(.badInput("is not UTF-8 text"), source: path)
        }
        do { return try CSVTable.parse(text, source: path) } catch {
            throw EvalError(.badInput("\(error)"), source: path)
        }
    }

    static func columns(_ table: CSVTable, _ names: [String], file: String) throws(EvalError) -> [Int] {
        var out: [Int] = []
        for name in names {
            guard let index = table.column(name) else {
                throw EvalError(.badInput("the header lacks the column \(name)"), source: file)
            }
            out.append(index)
        }
        return out
    }

    static func flag(_ text: String, file: String, row: Int, column: String) throws(EvalError) -> Bool {
        switch text {
        case "1": return true
        case "0": return false
        default: throw EvalError(.badInput("row \(row), column \(column): '\(text)' is not 0 or 1"), source: file)
        }
    }

    static func integer(_ text: String, file: String, row: Int, column: String) throws(EvalError) -> Int {
        guard let v = Int(text), v >= 0 else {
            throw EvalError(.badInput("row \(row), column \(column): '\(text)' is not a non-negative integer"), source: file)
        }
        return v
    }

    static func number(_ text: String, file: String, row: Int, column: String) throws(EvalError) -> Double {
        guard let v = Double(text), v.isFinite else {
            throw EvalError(.badInput("row \(row), column \(column): '\(text)' is not a finite number"), source: file)
        }
        return v
    }

    static func caseID(_ text: String, file: String, row: Int) throws(EvalError) -> CaseID {
        guard let id = CaseID(text) else {
            throw EvalError(.badInput("row \(row): '\(text)' is not a valid case identifier"), source: file)
        }
        return id
    }

    static func openRelease(_ root: String) throws(EvalError) -> EvalSource {
        let names = Subtype.allCases.map(\.name)
        // Slice labels.
        let sliceFile = root + "/labels/slice_labels.csv"
        let sliceTable = try readTable(root, "labels/slice_labels.csv")
        let sc = try columns(sliceTable, ["case", "slice"] + names, file: sliceFile)
        let pc = ["p_any"] + names.map { "p_" + $0 }
        let probabilityColumns = pc.compactMap { sliceTable.column($0) }
        let hasProbabilities = probabilityColumns.count == pc.count
        var slices: [CaseID: [SliceLabel]] = [:]
        for (n, row) in sliceTable.rows.enumerated() {
            let line = n + 2
            let id = try caseID(row[sc[0]], file: sliceFile, row: line)
            let k = try integer(row[sc[1]], file: sliceFile, row: line, column: "slice")
            var present = Set<Subtype>()
            for (s, column) in zip(Subtype.allCases, sc.dropFirst(2)) where try flag(row[column], file: sliceFile, row: line, column: s.name) {
                present.insert(s)
            }
            var probabilities: [Double]? = nil
            if hasProbabilities {
                var p: [Double] = []
                for (name, column) in zip(pc, probabilityColumns) {
                    p.append(try number(row[column], file: sliceFile, row: line, column: name))
                }
                probabilities = p
            }
            slices[id, default: []].append(SliceLabel(slice: k, subtypes: present, probabilities: probabilities))
        }
        // Patient labels (optional: derived from the slices when absent).
        var patients: [CaseID: (any: Bool, subtypes: Set<Subtype>)] = [:]
        let patientFile = root + "/labels/patient_labels.csv"
        if FileManager.default.fileExists(atPath: patientFile) {
            let table = try readTable(root, "labels/patient_labels.csv")
            let pcs = try columns(table, ["case", "any"] + names, file: patientFile)
            for (n, row) in table.rows.enumerated() {
                let line = n + 2
                let id = try caseID(row[pcs[0]], file: patientFile, row: line)
                let any = try flag(row[pcs[1]], file: patientFile, row: line, column: "any")
                var present = Set<Subtype>()
                for (s, column) in zip(Subtype.allCases, pcs.dropFirst(2)) where try flag(row[column], file: patientFile, row: line, column: s.name) {
                    present.insert(s)
                }
                patients[id] = (any, present)
            }
        }
        // Boxes (optional: no boxes when absent).
        var boxes: [CaseID: [SliceBox]] = [:]
        let boxFile = root + "/boxes/boxes2d.csv"
        if FileManager.default.fileExists(atPath: boxFile) {
            let table = try readTable(root, "boxes/boxes2d.csv")
            let bc = try columns(table, ["case", "slice", "subtype", "x_min", "y_min", "x_max", "y_max"], file: boxFile)
            let scoreColumn = table.column("score")
            for (n, row) in table.rows.enumerated() {
                let line = n + 2
                let id = try caseID(row[bc[0]], file: boxFile, row: line)
                let k = try integer(row[bc[1]], file: boxFile, row: line, column: "slice")
                guard let subtype = Subtype(name: row[bc[2]]) else {
                    throw EvalError(.badInput("row \(line): '\(row[bc[2]])' is not a subtype name"), source: boxFile)
                }
                let x0 = try integer(row[bc[3]], file: boxFile, row: line, column: "x_min")
                let y0 = try integer(row[bc[4]], file: boxFile, row: line, column: "y_min")
                let x1 = try integer(row[bc[5]], file: boxFile, row: line, column: "x_max")
                let y1 = try integer(row[bc[6]], file: boxFile, row: line, column: "y_max")
                guard x1 >= x0, y1 >= y0 else {
                    throw EvalError(.badInput("row \(line): the box's maximum is below its minimum"), source: boxFile)
                }
                let score = try scoreColumn.map { c throws(EvalError) in try number(row[c], file: boxFile, row: line, column: "score") } ?? 1
                boxes[id, default: []].append(SliceBox(slice: k, subtype: subtype,
                                                       box: BoundingBox2D(xMin: x0, yMin: y0, xMax: x1, yMax: y1), score: score))
            }
        }
        var tables: [CaseID: CaseLabels] = [:]
        for (id, rows) in slices {
            let sorted = rows.sorted { $0.slice < $1.slice }
            let fromSlices = sorted.reduce(into: Set<Subtype>()) { $0.formUnion($1.subtypes) }
            let patient = patients[id] ?? (!fromSlices.isEmpty, fromSlices)
            tables[id] = CaseLabels(id: id, slices: sorted, patientSubtypes: patient.subtypes, patientAny: patient.any,
                                    boxes: boxes[id] ?? [])
        }
        return EvalSource(root: root, kind: .release, caseIDs: tables.keys.sorted(), hasProbabilities: hasProbabilities,
                          tables: tables, cohortCases: [:])
    }

    // MARK: Cohort

    static func openCohort(_ root: String) throws(EvalError) -> EvalSource {
        let cohort: Cohort
        do { cohort = try Cohort.open(root) } catch {
            throw EvalError(.badInput("\(error)"), source: root)
        }
        var cases: [CaseID: CohortCase] = [:]
        for var c in cohort.cases {
            // A synthetic cohort keeps its ground truth apart: truth/<case>/<SUBTYPE>.nii.gz.
            let truth = Self.subtypeFiles(in: root + "/truth/" + c.id.rawValue)
            if !truth.isEmpty || FileManager.default.fileExists(atPath: root + "/truth/" + c.id.rawValue) {
                c.subtypeMasks = truth
                c.labelMap = nil
                c.polygons = nil
            }
            cases[c.id] = c
        }
        guard !cases.isEmpty else {
            throw EvalError(.badInput("neither a release (no labels/slice_labels.csv) nor a cohort with cases"), source: root)
        }
        return EvalSource(root: root, kind: .cohort, caseIDs: cases.keys.sorted(), hasProbabilities: false,
                          tables: [:], cohortCases: cases)
    }

    static func subtypeFiles(in folder: String) -> [Subtype: String] {
        var out: [Subtype: String] = [:]
        for s in Subtype.allCases {
            for ext in [".nii.gz", ".nii"] where out[s] == nil {
                let p = folder + "/" + s.name + ext
                if FileManager.default.fileExists(atPath: p) { out[s] = p }
            }
        }
        return out
    }

    // MARK: Per case

    /// The subtype bitmask of case `id` (bit v−1 set = subtype v): a release's
    /// `masks3d/<case>.nii.gz` (or its `labelsTr/<case>.nii.gz` label map converted, when the
    /// bitmask is absent), or a cohort's annotations on the CT grid. Blocking file I/O: call
    /// from a thread, not the concurrency pool.
    public func bitmask(of id: CaseID) throws(EvalError) -> Volume<UInt8> {
        switch kind {
        case .release:
            let bitmask = root + "/" + CaseFiles.bitmaskPath(id)
            if FileManager.default.fileExists(atPath: bitmask) {
                return try Self.readUInt8(bitmask)
            }
            let labels = root + "/" + CaseFiles.labelPath(id)
            if FileManager.default.fileExists(atPath: labels) {
                var map = try Self.readUInt8(labels)
                for n in map.voxels.indices {
                    let v = map.voxels[n]
                    guard v <= 5 else {
                        throw EvalError(.badInput("voxel \(n) holds label \(v); labels are 0...5"), source: labels)
                    }
                    map.voxels[n] = v == 0 ? 0 : 1 << (v - 1)
                }
                return map
            }
            throw EvalError(.badInput("neither \(CaseFiles.bitmaskPath(id)) nor \(CaseFiles.labelPath(id)) exists"), source: root)
        case .cohort:
            guard let c = cohortCases[id] else {
                throw EvalError(.badInput("no such case in the cohort"), source: root + "/" + id.rawValue)
            }
            do {
                let grid = try NIfTIFile.readHeader(c.ct).geometry
                return try CasePipeline.readMasks(c, grid: grid, options: ReleaseOptions()).bitmask
            } catch {
                throw EvalError(.badInput("\(error)"), source: c.relative(c.ct))
            }
        }
    }

    /// The labels and boxes of case `id`: from a release's tables, or, for a cohort, derived from
    /// `bitmask` with the release's own analysis (so both sides are computed the same way).
    public func labels(of id: CaseID, bitmask: Volume<UInt8>?) throws(EvalError) -> CaseLabels {
        switch kind {
        case .release:
            guard let t = tables[id] else {
                throw EvalError(.badInput("case \(id) has no row in labels/slice_labels.csv"), source: root)
            }
            return t
        case .cohort:
            let volume: Volume<UInt8>
            if let bitmask { volume = bitmask } else { volume = try self.bitmask(of: id) }
            return CaseLabels(record: CaseRecord(id: id, masks: SubtypeMasks(bitmask: volume)))
        }
    }

    static func readUInt8(_ path: String) throws(EvalError) -> Volume<UInt8> {
        let image: NIfTIImage
        do { image = try NIfTIFile.read(path) } catch {
            throw EvalError(.badInput(error.description), source: path)
        }
        guard case let .uint8(v) = image.volume, v.frames == 1 else {
            throw EvalError(.badInput("expected a 3D uint8 volume, found \(image.volume.voxelType.rawValue) with \(image.volume.frames) frame(s)"), source: path)
        }
        return v
    }
}
