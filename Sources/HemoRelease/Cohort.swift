import DICOM
import Foundation
import HemoCore

/// One exam of a raw cohort: where its CT and its annotations are.
///
/// Paths are absolute; ``relativePaths`` keeps the cohort-relative names used in
/// provenance and error messages, so a release never depends on where the cohort sits.
public struct CohortCase: Sendable, Hashable {
    /// The validated case identifier.
    public var id: CaseID
    /// The CT volume (HU after scaling).
    public var ct: String
    /// A multi-label NIfTI on the CT grid (values 0...5), if delivered.
    public var labelMap: String?
    /// One binary NIfTI per subtype, if delivered.
    public var subtypeMasks: [Subtype: String]
    /// Per-slice 2D polygons (``PolygonDocument`` JSON), if delivered.
    public var polygons: String?
    /// The cohort folder the paths are relative to.
    public var root: String

    /// A case from its files.
    public init(id: CaseID, ct: String, labelMap: String? = nil, subtypeMasks: [Subtype: String] = [:],
                polygons: String? = nil, root: String) {
        self.id = id; self.ct = ct; self.labelMap = labelMap; self.subtypeMasks = subtypeMasks
        self.polygons = polygons; self.root = root
    }

    /// Every input file of the case, absolute, in a fixed order.
    public var inputFiles: [String] {
        [ct] + (labelMap.map { [$0] } ?? []) + Subtype.allCases.compactMap { subtypeMasks[$0] } + (polygons.map { [$0] } ?? [])
    }

    /// `path` relative to the cohort folder when it lies inside it, else unchanged.
    public func relative(_ path: String) -> String { Cohort.relative(path, to: root) }

    /// Rough size of the exam in bytes (the CT file, or a DICOM study's files), used to dispatch large exams first.
    public var sizeEstimate: Int {
        func size(_ p: String) -> Int { ((try? FileManager.default.attributesOfItem(atPath: p)[.size]) as? NSNumber)?.intValue ?? 0 }
        if isDICOM { return ((try? DICOMStudy.files(in: ct)) ?? []).reduce(0) { $0 + size($1) } }
        return size(ct)
    }
}

/// Patient-level labels delivered without masks (`weak_labels.csv`).
public struct WeakLabels: Sendable, Hashable {
    /// Any hemorrhage.
    public var any: Bool
    /// Per-subtype presence.
    public var subtypes: Set<Subtype>
}

/// An entry of the cohort that cannot become a case (bad identifier, missing CT, …).
public struct CohortProblem: Sendable, Hashable {
    /// The folder or list entry name as found.
    public var name: String
    /// Why it was rejected.
    public var reason: String
}

/// A raw cohort: the input of `hemo build` and `hemo infer`.
///
/// Layout (see the README section "Raw cohort layout"):
/// ```
/// <cohort>/
///   cohort.csv              optional: case,ct,labelmap,subtype_masks,polygons (paths relative to the cohort)
///   weak_labels.csv         optional: case,any,EPH,SDH,SAH,IPH,IVH
///   <case>/ct.nii.gz
///   <case>/labelmap.nii.gz            optional
///   <case>/masks/<SUBTYPE>.nii.gz     optional
///   <case>/polygons.json              optional
/// ```
/// Without `cohort.csv`, every sub-folder holding `ct.nii.gz` (or `ct.nii`) is a case.
public struct Cohort: Sendable {
    /// The cohort folder, absolute.
    public var root: String
    /// The cases, sorted by identifier.
    public var cases: [CohortCase]
    /// Entries that could not become cases, sorted by name.
    public var problems: [CohortProblem]
    /// Weak patient labels by case, when `weak_labels.csv` exists.
    public var weakLabels: [CaseID: WeakLabels]?
    /// Set when this is one part of a cohort (``restricted(to:)``): its release is a partial release.
    public var shard: CohortShard? = nil

    /// Opens the cohort at `path`.
    ///
    /// A case's CT is `ct.nii.gz`/`ct.nii`, or, when the case folder has neither, the DICOM study
    /// the folder holds in any nesting (`cohort.csv` may also name a study folder as `ct`). With
    /// `caseIDs` ``CaseIDSource/studyHash``, DICOM cases are named `study-` + 16 hex digits of the
    /// StudyInstanceUID hashed with `uidSalt`.
    /// - Throws: ``CohortError`` when the folder does not exist or a list file is malformed.
    public static func open(_ path: String, caseIDs: CaseIDSource = .folder, uidSalt: String = ReleaseOptions().uidSalt) throws -> Cohort {
        let fm = FileManager.default
        let root = URL(fileURLWithPath: path).standardizedFileURL.path
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: root, isDirectory: &isDir), isDir.boolValue else {
            throw CohortError(path: path, reason: "no such folder; pass the folder that holds the case folders (see `hemo synth` for an example)")
        }
        var cases: [CohortCase] = []
        var problems: [CohortProblem] = []
        let list = root + "/cohort.csv"
        if fm.fileExists(atPath: list) {
            let table = try parseCSV(at: list)
            guard let ci = table.column("case"), let cti = table.column("ct") else {
                throw CohortError(path: list, reason: "the header must name at least the columns case and ct")
            }
            let li = table.column("labelmap"), mi = table.column("subtype_masks"), pi = table.column("polygons")
            var seen = Set<CaseID>()
            for row in table.rows {
                guard let id = CaseID(row[ci]) else {
                    problems.append(CohortProblem(name: row[ci], reason: CaseID.problem(with: row[ci]) ?? "invalid case identifier"))
                    continue
                }
                guard seen.insert(id).inserted else {
                    problems.append(CohortProblem(name: row[ci], reason: "case listed twice in cohort.csv"))
                    continue
                }
                func abs(_ rel: String) -> String? {
                    rel.isEmpty ? nil : (rel.hasPrefix("/") ? rel : root + "/" + rel)
                }
                guard let ct = abs(row[cti]) else {
                    problems.append(CohortProblem(name: row[ci], reason: "cohort.csv gives no ct path"))
                    continue
                }
                var masks: [Subtype: String] = [:]
                if let mi, let folder = abs(row[mi]) {
                    masks = subtypeMaskFiles(in: folder)
                }
                cases.append(CohortCase(id: id, ct: ct, labelMap: li.flatMap { abs(row[$0]) },
                                        subtypeMasks: masks, polygons: pi.flatMap { abs(row[$0]) }, root: root))
            }
        } else {
            let entries = ((try? fm.contentsOfDirectory(atPath: root)) ?? []).sorted()
            for name in entries {
                let folder = root + "/" + name
                var d: ObjCBool = false
                guard fm.fileExists(atPath: folder, isDirectory: &d), d.boolValue else { continue }
                var ct = ["ct.nii.gz", "ct.nii"].map { folder + "/" + $0 }.first { fm.fileExists(atPath: $0) }
                if ct == nil && DICOMStudy.containsDICOM(folder) { ct = folder }
                guard let ct else { continue } // not a case folder (e.g. truth/)
                guard let id = CaseID(name) else {
                    problems.append(CohortProblem(name: name, reason: CaseID.problem(with: name) ?? "invalid case identifier"))
                    continue
                }
                func existing(_ names: [String]) -> String? {
                    names.map { folder + "/" + $0 }.first { fm.fileExists(atPath: $0) }
                }
                cases.append(CohortCase(id: id, ct: ct,
                                        labelMap: existing(["labelmap.nii.gz", "labelmap.nii"]),
                                        subtypeMasks: subtypeMaskFiles(in: folder + "/masks"),
                                        polygons: existing(["polygons.json"]), root: root))
            }
        }
        if caseIDs == .studyHash { renameByStudy(&cases, &problems, salt: uidSalt) }
        cases.sort { $0.id < $1.id }
        problems.sort { Array($0.name.utf8).lexicographicallyPrecedes($1.name.utf8) }
        var weak: [CaseID: WeakLabels]? = nil
        let weakPath = root + "/weak_labels.csv"
        if fm.fileExists(atPath: weakPath) { weak = try parseWeakLabels(at: weakPath) }
        return Cohort(root: root, cases: cases, problems: problems, weakLabels: weak)
    }

    /// Names DICOM cases by their salted study hash; a case whose study cannot be read, or whose
    /// study another case already holds, becomes a problem.
    static func renameByStudy(_ cases: inout [CohortCase], _ problems: inout [CohortProblem], salt: String) {
        var out: [CohortCase] = []
        var seen: [CaseID: String] = [:]
        for var c in cases {
            guard c.isDICOM else { out.append(c); continue }
            do {
                let uid = try DICOMStudy.studyInstanceUID(in: c.ct)
                let id = CaseID("study-" + UIDHash.hash(uid, salt: salt))!
                if let other = seen[id] {
                    problems.append(CohortProblem(name: c.id.rawValue, reason: "holds the same DICOM study as case \(other)"))
                    continue
                }
                seen[id] = c.id.rawValue
                c.id = id
                out.append(c)
            } catch {
                problems.append(CohortProblem(name: c.id.rawValue, reason: "no readable DICOM study: \(error.reason)"))
            }
        }
        cases = out
    }

    static func subtypeMaskFiles(in folder: String) -> [Subtype: String] {
        var out: [Subtype: String] = [:]
        for s in Subtype.allCases {
            for ext in [".nii.gz", ".nii"] {
                let p = folder + "/" + s.name + ext
                if out[s] == nil && FileManager.default.fileExists(atPath: p) { out[s] = p }
            }
        }
        return out
    }

    static func parseCSV(at path: String) throws -> CSVTable {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CohortError(path: path, reason: "cannot be read")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CohortError(path: path, reason: "is not UTF-8 text")
        }
        do { return try CSVTable.parse(text, source: path) } catch let e as CSVError {
            throw CohortError(path: path, reason: e.reason)
        }
    }

    static func parseWeakLabels(at path: String) throws -> [CaseID: WeakLabels] {
        let t = try parseCSV(at: path)
        guard let ci = t.column("case"), let ai = t.column("any") else {
            throw CohortError(path: path, reason: "the header must name case, any and the subtype columns EPH,SDH,SAH,IPH,IVH")
        }
        let si = Subtype.allCases.map { ($0, t.column($0.name)) }
        var out: [CaseID: WeakLabels] = [:]
        for (n, row) in t.rows.enumerated() {
            guard let id = CaseID(row[ci]) else { continue }
            func flag(_ text: String, _ column: String) throws -> Bool {
                switch text.trimmingCharacters(in: .whitespaces) {
                case "1", "true", "True": return true
                case "0", "false", "False", "": return false
                default: throw CohortError(path: path, reason: "row \(n + 2), column \(column): '\(text)' is not 0 or 1")
                }
            }
            var set = Set<Subtype>()
            for (s, i) in si { if let i, try flag(row[i], s.name) { set.insert(s) } }
            out[id] = WeakLabels(any: try flag(row[ai], "any"), subtypes: set)
        }
        return out
    }

    /// `path` relative to `root` when inside it.
    static func relative(_ path: String, to root: String) -> String {
        let prefix = root.hasSuffix("/") ? root : root + "/"
        return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
    }
}

/// A cohort that cannot be opened at all.
public struct CohortError: Error, CustomStringConvertible, Sendable {
    /// The folder or file.
    public var path: String
    /// What is wrong and what to do.
    public var reason: String
    public var description: String { "\(path): \(reason)" }
}
