import Foundation
import HemoCore

/// Part K of N of a cohort (`--part K/N`): a stable, hash-based subset of its exams.
///
/// The rule: `x = first 8 bytes of SHA-256("hemocluster-part-v1\0" + exam)` read big-endian;
/// the exam belongs to part `⌊x · N / 2^64⌋ + 1`. It depends only on the exam's name and N, never
/// on the cohort's other exams, the split seed or the machine, so every shard computes the same
/// partition independently, and a part's exams are spread like the cohort's.
public struct ReleasePart: Sendable, Hashable, CustomStringConvertible {
    /// K, from 1.
    public var index: Int
    /// N, the number of parts.
    public var count: Int

    /// Part `index` of `count`; `nil` unless 1 ≤ index ≤ count.
    public init?(_ index: Int, of count: Int) {
        guard count >= 1, (1...count).contains(index) else { return nil }
        self.index = index; self.count = count
    }

    /// Parses `K/N`, e.g. `2/7`; `nil` when malformed or out of range.
    public init?(parsing text: String) {
        let f = text.split(separator: "/", omittingEmptySubsequences: false)
        guard f.count == 2, let k = Int(f[0]), let n = Int(f[1]) else { return nil }
        self.init(k, of: n)
    }

    /// `K/N`.
    public var description: String { "\(index)/\(count)" }

    /// The part (from 1) that the exam named `name` belongs to among `count` parts.
    public static func index(of name: String, among count: Int) -> Int {
        var h = SHA256()
        h.update(Array("hemocluster-part-v1\u{0}\(name)".utf8))
        var x: UInt64 = 0
        for b in h.finalize().prefix(8) { x = x << 8 | UInt64(b) }
        return Int(x.multipliedFullWidth(by: UInt64(count)).high) + 1
    }

    /// Whether the exam named `name` belongs to this part.
    public func contains(_ name: String) -> Bool { Self.index(of: name, among: count) == index }
}

/// What a shard's release knows about the whole cohort it is a part of.
public struct CohortShard: Sendable, Hashable {
    /// Which part.
    public var part: ReleasePart
    /// The whole cohort's fingerprint (``Cohort/fingerprint``).
    public var cohortFingerprint: String
    /// Distinct exam names in the whole cohort (cases and unusable entries).
    public var cohortExams: Int
    /// Whether the cohort has weak patient labels (`weak_labels.csv`).
    public var cohortHasWeakLabels: Bool
    /// The names of this part's exams (cases and unusable entries), sorted byte-wise.
    public var exams: [String]
}

extension Cohort {
    /// The whole cohort's fingerprint, hex SHA-256 over `hemocluster-cohort-v1`, every case's name
    /// and cohort-relative input paths, every unusable entry's name and reason, and the weak
    /// labels. It names the exam list, not the file contents (each shard hashes its own inputs
    /// into its provenance), so computing it costs a directory listing, not a read of the cohort.
    public var fingerprint: String {
        var h = SHA256()
        h.update(Array("hemocluster-cohort-v1\n".utf8))
        for c in cases {
            h.update(Array(("case\u{0}" + c.id.rawValue + "\u{0}" + c.inputFiles.map { c.relative($0) }.joined(separator: "\u{0}") + "\n").utf8))
        }
        for p in problems { h.update(Array("problem\u{0}\(p.name)\u{0}\(p.reason)\n".utf8)) }
        if let weakLabels {
            for id in weakLabels.keys.sorted() {
                let w = weakLabels[id]!
                h.update(Array("weak\u{0}\(id.rawValue)\u{0}\(w.any ? 1 : 0)\(Subtype.allCases.map { w.subtypes.contains($0) ? "1" : "0" }.joined())\n".utf8))
            }
        }
        return h.finalizeHex()
    }

    /// The cohort restricted to `part`: its cases and unusable entries whose names fall in the
    /// part, carrying the whole cohort's ``CohortShard`` record, so that its release is a partial
    /// release that `hemo release merge` can join with the other parts.
    public func restricted(to part: ReleasePart) -> Cohort {
        var out = self
        out.cases = cases.filter { part.contains($0.id.rawValue) }
        out.problems = problems.filter { part.contains($0.name) }
        let names = out.cases.map(\.id.rawValue) + out.problems.map(\.name)
        // Distinct names: a case listed twice in cohort.csv is one exam (and one row).
        let all = Set(cases.map(\.id.rawValue) + problems.map(\.name))
        out.shard = CohortShard(part: part, cohortFingerprint: fingerprint, cohortExams: all.count,
                                cohortHasWeakLabels: weakLabels != nil,
                                exams: Set(names).sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
        return out
    }
}

/// The files that make a release a partial one (a shard's), beside the release format's files.
public enum PartialRelease {
    /// `part.json`: which part, the whole cohort's fingerprint and size, this part's exams and
    /// their weak labels.
    public static let partFile = "part.json"
    /// `journal.jsonl`: one JSON line per exam of the part (its record and input files, or its
    /// failure), sorted by exam: what `hemo release merge` rebuilds the tables from.
    public static let journalFile = "journal.jsonl"
    /// The `format` of `part.json`.
    public static let format = "hemocluster-part"

    /// The `part.json` text of a shard.
    static func partJSON(_ shard: CohortShard, weakLabels: [CaseID: WeakLabels]?) -> String {
        var weak: JSONValue = .null
        if shard.cohortHasWeakLabels {
            let ids = shard.exams.compactMap { CaseID($0) }.filter { weakLabels?[$0] != nil }
            weak = .array(ids.map { id in
                let w = weakLabels![id]!
                return .object([("case", .string(id.rawValue)), ("any", .bool(w.any)),
                                ("subtypes", .array(Subtype.allCases.filter { w.subtypes.contains($0) }.map { .string($0.name) }))])
            })
        }
        return JSONValue.object([
            ("format", .string(format)),
            ("version", .int(1)),
            ("part", .int(shard.part.index)),
            ("parts", .int(shard.part.count)),
            ("cohort", .object([("fingerprint", .string(shard.cohortFingerprint)), ("exams", .int(shard.cohortExams)),
                                ("weak_labels", .bool(shard.cohortHasWeakLabels))])),
            ("exams", .array(shard.exams.map { .string($0) })),
            ("weak_labels", weak),
        ]).rendered()
    }

    /// The `journal.jsonl` text: entries sorted by exam name.
    static func journalText(records: [CaseID: CaseRecord], inputs: [CaseID: [InputFile]], failures: [String: FailureRow]) throws -> String {
        var entries: [(String, JournalEntry)] = []
        for (id, r) in records { entries.append((id.rawValue, JournalEntry(caseName: id.rawValue, record: r, inputs: inputs[id] ?? [], failure: nil))) }
        for (name, f) in failures { entries.append((name, JournalEntry(caseName: name, record: nil, inputs: nil, failure: f))) }
        entries.sort { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }
        var text: [UInt8] = []
        for (_, e) in entries { text += try JournalLineEncoder.encode(e); text.append(UInt8(ascii: "\n")) }
        return String(decoding: text, as: UTF8.self)
    }

    /// The `part` object of a shard's `provenance.json`.
    static func provenance(_ shard: CohortShard) -> JSONValue {
        .object([("part", .int(shard.part.index)), ("parts", .int(shard.part.count)),
                 ("cohort_fingerprint", .string(shard.cohortFingerprint)), ("cohort_exams", .int(shard.cohortExams))])
    }
}
