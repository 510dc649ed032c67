import Foundation
import HemoCore

/// What `hemo release merge` reports.
public struct MergeSummary: Sendable {
    /// The release folder.
    public var release: String
    /// Parts merged.
    public var parts: Int
    /// Cases released.
    public var cases: Int
    /// Exams in failures.csv.
    public var failures: Int
    /// Per-case files renamed into place.
    public var moved: Int
    /// Per-case files copied (another filesystem, or `copy`).
    public var copied: Int
    /// The manifest text.
    public var manifest: String
}

/// `hemo release merge`: joins the partial releases of a cohort's parts (`--part K/N`) into the
/// release one `hemo build` (or `hemo infer`) of the whole cohort writes, byte for byte.
///
/// Before anything moves it checks that the parts are finished partial releases of one cohort
/// (the same fingerprint and N), made with the same tool and format version, kind, options and
/// model, and that they cover the cohort exactly once (every K once, no exam in two parts, as many
/// exams as the cohort has). It then renames each part's per-case files into a staging folder
/// beside the destination (copies them when the part lies on another filesystem, or with `copy`),
/// recomputes the tables, splits, provenance and manifest from the parts' journals, and renames
/// the staging folder into place. On any error the files already moved go back to their parts.
/// Parts whose files were moved (not copied) are removed once the release is in place: a part on
/// another filesystem, and every part with `copy`, stays as it was.
public struct ReleaseMerger: Sendable {
    /// Replace an existing destination.
    public var force: Bool
    /// Copy the per-case files and keep the parts, even on the same filesystem.
    public var copy: Bool

    /// A merger.
    public init(force: Bool = false, copy: Bool = false) { self.force = force; self.copy = copy }

    /// One part as read from disk.
    struct Part {
        var path: String
        var index: Int
        var count: Int
        var fingerprint: String
        var cohortExams: Int
        var cohortHasWeakLabels: Bool
        var exams: [String]
        var weak: [CaseID: WeakLabels]
        var provenance: JSONValue
        var entries: [JournalEntry]
        var manifest: [String: String]
        var label: String { "\(path) (part \(index)/\(count))" }
    }

    static func refuse(_ path: String, _ reason: String) -> ReleaseError { ReleaseError(.mergeRefused, path: path, reason: reason) }

    /// Reads and checks one partial release.
    static func load(_ given: String) throws -> Part {
        let path = URL(fileURLWithPath: given).standardizedFileURL.path
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
            let url = URL(fileURLWithPath: path)
            let hidden = url.deletingLastPathComponent().path + "/." + url.lastPathComponent
            if fm.fileExists(atPath: hidden + ".staging") || fm.fileExists(atPath: hidden + ".journal") {
                throw refuse(given, "this part is unfinished: its run has not committed (only \(hidden).staging or .journal exists); resume it with the same command, then merge")
            }
            throw refuse(given, "no such folder")
        }
        func text(_ name: String) throws -> String {
            guard let d = fm.contents(atPath: path + "/" + name) else {
                if name == PartialRelease.partFile {
                    throw refuse(given, fm.fileExists(atPath: path + "/" + Manifest.fileName)
                        ? "is a whole release, not a part (no \(name)); only releases built with --part K/N can be merged"
                        : "is not a partial release (no \(name))")
                }
                throw refuse(given, "is damaged or unfinished: \(name) is missing")
            }
            return String(decoding: d, as: UTF8.self)
        }
        let info: JSONValue
        do { info = try JSONValue.parse(try text(PartialRelease.partFile)) } catch let e as JSONParseError {
            throw refuse(given, "\(PartialRelease.partFile) is not valid JSON (\(e))")
        }
        guard info["format"]?.stringValue == PartialRelease.format, info["version"]?.intValue == 1 else {
            throw refuse(given, "\(PartialRelease.partFile) is not a version 1 \(PartialRelease.format) file")
        }
        guard let k = info["part"]?.intValue, let n = info["parts"]?.intValue, ReleasePart(k, of: n) != nil,
              let fp = info["cohort"]?["fingerprint"]?.stringValue, let total = info["cohort"]?["exams"]?.intValue,
              let examList = info["exams"]?.arrayValue else {
            throw refuse(given, "\(PartialRelease.partFile) lacks part, parts, cohort or exams")
        }
        let exams = examList.compactMap(\.stringValue)
        var weak: [CaseID: WeakLabels] = [:]
        for w in info["weak_labels"]?.arrayValue ?? [] {
            guard let id = w["case"]?.stringValue.flatMap(CaseID.init) else { continue }
            let subtypes = Set((w["subtypes"]?.arrayValue ?? []).compactMap { v in Subtype.allCases.first { $0.name == v.stringValue } })
            weak[id] = WeakLabels(any: w["any"] == .bool(true), subtypes: subtypes)
        }
        let provenance: JSONValue
        do { provenance = try JSONValue.parse(try text("provenance.json")) } catch let e as JSONParseError {
            throw refuse(given, "provenance.json is not valid JSON (\(e))")
        }
        guard let manifestPairs = Manifest.parse(try text(Manifest.fileName)) else {
            throw refuse(given, "\(Manifest.fileName) is malformed")
        }
        var manifest: [String: String] = [:]
        for (p, d) in manifestPairs { manifest[p] = d }
        var entries: [JournalEntry] = []
        let decoder = JSONDecoder()
        for (n, line) in try text(PartialRelease.journalFile).split(separator: "\n").enumerated() {
            guard let e = try? decoder.decode(JournalEntry.self, from: Data(line.utf8)), (e.record == nil) != (e.failure == nil) else {
                throw refuse(given, "\(PartialRelease.journalFile) line \(n + 1) is not a journal entry")
            }
            entries.append(e)
        }
        let done = Set(entries.map(\.caseName))
        let missing = exams.filter { !done.contains($0) }
        guard missing.isEmpty else {
            throw refuse(given, "this part is unfinished: \(missing.count) of its \(exams.count) exams have no result (first: \(missing[0]))")
        }
        let extra = done.subtracting(exams)
        guard extra.isEmpty else {
            throw refuse(given, "\(PartialRelease.journalFile) holds exams that part.json does not list (first: \(extra.sorted()[0]))")
        }
        let omitImages = provenance["options"]?["images"]?.stringValue == ImageMode.omit.rawValue
        let maps = provenance["options"]?["probabilities"] == .bool(true)
        for e in entries {
            guard let r = e.record else { continue }
            for f in CaseFiles.paths(of: r) + (maps ? ProbabilityMaps.paths(r.id) : []) where manifest[f] == nil && !(omitImages && f == CaseFiles.imagePath(r.id)) {
                throw refuse(given, "is damaged: \(f) of exam \(r.id.rawValue) is not in its \(Manifest.fileName)")
            }
        }
        return Part(path: path, index: k, count: n, fingerprint: fp, cohortExams: total,
                    cohortHasWeakLabels: info["cohort"]?["weak_labels"] == .bool(true), exams: exams, weak: weak,
                    provenance: provenance, entries: entries, manifest: manifest)
    }

    /// Checks that `parts` are one cohort's parts, made alike, covering it exactly once.
    static func check(_ parts: [Part]) throws {
        guard let first = parts.first else { throw refuse("merge", "no parts given") }
        for p in parts {
            if let v = p.provenance["format_version"]?.stringValue, v != ReleaseFormat.version {
                throw refuse(p.path, "has release format \(v); this hemo writes \(ReleaseFormat.version): rebuild the part with this version")
            }
            if let v = p.provenance["tool"]?["version"]?.stringValue, v != HemoVersion.string {
                throw refuse(p.path, "was made by hemocluster \(v); this is \(HemoVersion.string): merge with the version that made the parts")
            }
        }
        for p in parts.dropFirst() {
            guard p.count == first.count else {
                throw refuse(p.path, "is part \(p.index)/\(p.count) but \(first.label) is one of \(first.count) parts: all parts must come from the same --part K/N split")
            }
            guard p.fingerprint == first.fingerprint, p.cohortExams == first.cohortExams else {
                throw refuse(p.path, "is a part of another cohort (fingerprint \(p.fingerprint.prefix(12))…, \(p.cohortExams) exams) than \(first.label) (\(first.fingerprint.prefix(12))…, \(first.cohortExams) exams)")
            }
            for field in ["kind", "options", "model"] {
                let a = first.provenance[field] ?? .null, b = p.provenance[field] ?? .null
                guard a.compact() == b.compact() else {
                    var detail = "\(field) \(b.compact()) against \(a.compact())"
                    if case .object(let fa) = a, case .object(let fb) = b {
                        let keys = Set(fa.map(\.0)).union(fb.map(\.0)).sorted()
                        let diff = keys.filter { a[$0]?.compact() != b[$0]?.compact() }
                        detail = diff.map { "\($0) is \(b[$0]?.compact() ?? "absent") there but \(a[$0]?.compact() ?? "absent") in \(first.path)" }.joined(separator: "; ")
                        if field == "model" { detail = "another model: " + detail }
                    }
                    throw refuse(p.path, "was made with other \(field == "kind" ? "kind" : field == "model" ? "model" : "options") than \(first.label): \(detail)")
                }
            }
        }
        var byIndex: [Int: Part] = [:]
        for p in parts {
            if let other = byIndex[p.index] {
                throw refuse(p.path, "duplicates part \(p.index)/\(p.count): \(other.path) is that part too")
            }
            byIndex[p.index] = p
        }
        let missing = (1...first.count).filter { byIndex[$0] == nil }
        guard missing.isEmpty else {
            throw refuse("merge", "part\(missing.count > 1 ? "s" : "") \(missing.map { "\($0)/\(first.count)" }.joined(separator: ", ")) \(missing.count > 1 ? "are" : "is") missing: give all \(first.count) parts")
        }
        var owner: [String: Part] = [:]
        for p in parts {
            for e in p.exams {
                if let o = owner[e] { throw refuse(p.path, "exam \(e) is in both \(o.label) and \(p.label)") }
                owner[e] = p
            }
        }
        guard owner.count == first.cohortExams else {
            throw refuse("merge", "the parts hold \(owner.count) exams but their cohort has \(first.cohortExams)")
        }
    }

    /// Merges `parts` (any order) into a release at `destination`.
    public func merge(parts paths: [String], destination: String) throws -> MergeSummary {
        let parts = try paths.map(Self.load)
        try Self.check(parts)
        let first = parts[0]
        guard let kindText = first.provenance["kind"]?.stringValue, let kind = ReleaseKind(rawValue: kindText),
              let options = first.provenance["options"], let splitSeed = options["split_seed"]?.stringValue else {
            throw Self.refuse(first.path, "provenance.json lacks kind or options.split_seed")
        }
        // A labels-only part has no CT to move; its images.sha256 is recomputed from the inputs.
        let omitImages = options["images"]?.stringValue == ImageMode.omit.rawValue
        let sliceKey = options["slice_key"]?.stringValue.flatMap(SliceKey.init(rawValue:)) ?? .slice
        let staging = try ReleaseStaging(destination: destination, force: force)
        for p in parts where staging.destination == p.path || staging.destination.hasPrefix(p.path + "/") {
            staging.abandon()
            throw Self.refuse(destination, "is a part being merged; choose another --out")
        }
        var moved: [(from: String, to: String)] = []
        var copied = 0
        var copiedFrom = Set<String>()
        func rollback() {
            for m in moved.reversed() { _ = rename(m.to, m.from) }
            staging.abandon()
        }
        var records: [CaseRecord] = []
        var inputs: [CaseID: [InputFile]] = [:]
        var failures: [FailureRow] = []
        var weak: [CaseID: WeakLabels] = [:]
        do {
            for p in parts {
                weak.merge(p.weak) { a, _ in a }
                for e in p.entries {
                    if let f = e.failure { failures.append(f); continue }
                    guard let r = e.record else { continue }
                    records.append(r)
                    inputs[r.id] = e.inputs ?? []
                    let maps = p.provenance["options"]?["probabilities"] == .bool(true)
                    for f in CaseFiles.paths(of: r) + (maps ? ProbabilityMaps.paths(r.id) : [])
                        where !(omitImages && f == CaseFiles.imagePath(r.id)) {
                        let from = p.path + "/" + f
                        let to = try staging.prepare(f)
                        if !copy && rename(from, to) == 0 {
                            moved.append((from, to))
                        } else if copy || errno == EXDEV {
                            try Self.copyFile(from, to)
                            copied += 1
                            copiedFrom.insert(p.path)
                        } else {
                            throw ReleaseError(.io, path: from, reason: "cannot move into \(staging.folder): \(String(cString: strerror(errno)))")
                        }
                        staging.adopt(f, sha256: p.manifest[f]!)
                    }
                }
            }
            var tables = ReleaseTables(records: records, failures: failures, kind: kind,
                                       weakLabels: first.cohortHasWeakLabels ? weak : nil)
            tables.hasMasks = options["masks"]?.stringValue != ReleaseFormat.noMasks
            let provenance = Provenance.render(kind: kindText, options: options, model: first.provenance["model"].flatMap { $0 == .null ? nil : $0 },
                                               part: nil, inputs: inputs)
            try ReleaseAggregates.write(tables, into: staging, splitSeed: splitSeed, provenance: provenance,
                                        imageDigests: omitImages ? Provenance.imageDigests(of: inputs) : nil, sliceKey: sliceKey)
            let manifest = try staging.commit()
            // The release is in place: the parts whose files moved are spent.
            if !copy {
                for p in parts where !copiedFrom.contains(p.path) { try? FileManager.default.removeItem(atPath: p.path) }
            }
            return MergeSummary(release: staging.destination, parts: parts.count, cases: tables.records.count,
                                failures: tables.failures.count, moved: moved.count, copied: copied, manifest: manifest)
        } catch {
            rollback()
            throw error
        }
    }

    /// Copies a file to a temporary name beside `to` and renames it into place.
    static func copyFile(_ from: String, _ to: String) throws {
        guard let data = FileManager.default.contents(atPath: from) else {
            throw ReleaseError(.io, path: from, reason: "cannot be read")
        }
        try AtomicFile.write([UInt8](data), to: to)
    }
}
