import HemoConcurrency
import Foundation
import HemoCore

/// A release being assembled from per-case products, by `hemo build`, `hemo infer` and the
/// cluster's coordinator alike, so every path writes the same bytes.
///
/// Thread-safe: cases may be released from several threads at once. Per-case files go into the
/// staging folder as each case finishes; the tables, provenance and manifest are written by
/// ``commit(model:)`` from the records of every case, sorted, so the order in which cases
/// finish never shows in the output.
public final class ReleaseAssembly: @unchecked Sendable {
    /// The staging folder and destination.
    public let staging: ReleaseStaging
    /// The options that shape the bytes.
    public let options: ReleaseOptions
    /// Annotations or pseudo-labels.
    public let kind: ReleaseKind
    private let weakLabels: [CaseID: WeakLabels]?
    /// For a shard (`--part K/N`): the part and the whole cohort; its release is a partial release.
    public let shard: CohortShard?
    private let journal: ReleaseJournal?
    /// Lines of a resumed journal that could not be read (torn or corrupt), one sentence each
    /// naming the journal, the line and the case; those exams are done again.
    public private(set) var journalProblems: [String] = []
    private let state = Locked(State())

    struct State {
        var records: [CaseID: CaseRecord] = [:]
        var inputs: [CaseID: [InputFile]] = [:]
        var failures: [String: FailureRow] = [:]
    }

    /// Starts (or, with `resumable`, resumes) assembling the release at `destination`.
    ///
    /// - Parameters:
    ///   - resumable: keep an fsync'd journal beside the staging folder; a run restarted with the
    ///     same options and fingerprint reuses the cases already finished.
    ///   - fingerprint: extra text that must match for a resume (e.g. the model's SHA-256).
    ///   - shard: for one part of a cohort: commit a partial release (``PartialRelease``) naming the
    ///     part and the whole cohort's fingerprint; the journal resumes only the same part.
    public init(destination: String, options: ReleaseOptions, kind: ReleaseKind, weakLabels: [CaseID: WeakLabels]?,
                force: Bool, resumable: Bool = false, fingerprint: String = "", shard: CohortShard? = nil) throws {
        if let why = options.imagesConflict { throw ReleaseError(.input, path: destination, reason: why) }
        self.options = options
        self.shard = shard
        self.kind = kind
        self.weakLabels = weakLabels
        var runPrint = kind.rawValue + "|" + options.provenance.compact() + "|" + fingerprint
        if let shard { runPrint += "|part \(shard.part) of cohort \(shard.cohortFingerprint)" }
        if resumable { try ReleaseStaging.reopenIfCommittedButJournaled(destination: destination, fingerprint: runPrint) }
        let probe = try ReleaseStaging(destination: destination, force: force, keepExisting: resumable)
        staging = probe
        if resumable {
            let url = URL(fileURLWithPath: probe.destination)
            let path = url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".journal"
            let (j, previous, problems) = try ReleaseJournal.open(path: path, fingerprint: runPrint)
            journal = j
            journalProblems = problems
            if previous.isEmpty { try probe.clear() } // another run's leftovers: start afresh
            let keep: Set<String> = state.withLock { s in
                for e in previous {
                    if let r = e.record {
                        s.records[r.id] = r
                        s.inputs[r.id] = e.inputs ?? []
                        s.failures[r.id.rawValue] = nil
                    } else if let f = e.failure {
                        s.failures[f.caseName] = f
                    }
                }
                return Set(s.records.values.flatMap { CaseFiles.paths(of: $0) + (options.probabilities ? ProbabilityMaps.paths($0.id) : []) })
            }
            // Only journaled cases carry over: a write cut short by a kill (its temporary file) or a
            // case whose files were written but never journaled is removed and redone.
            if !previous.isEmpty { try probe.prune(keeping: keep) }
        } else {
            journal = nil
        }
    }

    /// Cases (by name) already released or failed, e.g. restored from the journal.
    public var finished: Set<String> {
        state.withLock { s in Set(s.records.keys.map(\.rawValue)).union(s.failures.keys) }
    }

    /// Records released so far.
    public var releasedCount: Int { state.withLock { $0.records.count } }

    /// Writes a case's files into staging and records it; the CT as ``ReleaseOptions/images`` says.
    /// - Parameters:
    ///   - record: the case's record; computed from the product's masks when `nil`.
    ///   - inputCT: the absolute path of the case's input CT (``ImageMode/link`` links it when its
    ///     bytes are the release's; the first of the product's inputs must be its digest).
    public func release(_ product: CaseProduct, record: CaseRecord? = nil, inputCT: String? = nil, times: inout StageTimes) throws {
        var record = record ?? timed("analyse", &times) { CaseRecord(id: product.id, masks: product.masks) }
        if record.dicom == nil { record.dicom = product.dicom }
        try timed("write", &times) {
            if options.images != .omit {
                let bytes = try CaseFiles.encodeImage(product.ct, id: product.id, gzipLevel: options.gzipLevel)
                try placeImage(bytes, sha256: nil, id: product.id, inputCT: inputCT, inputSHA256: product.inputs.first?.sha256)
            }
            for file in try CaseFiles.encodeMasks(product.masks, record: record, gzipLevel: options.gzipLevel) {
                try staging.write(file.bytes, to: file.path)
            }
            if options.probabilities {
                guard let maps = product.probabilities else {
                    throw CaseFailure(stage: "inference", reason: "--probabilities: the model gave no probability maps for \(product.id)")
                }
                for file in try ProbabilityMaps.encode(maps, id: product.id, geometry: product.masks.geometry, gzipLevel: options.gzipLevel) {
                    try staging.write(file.bytes, to: file.path)
                }
            }
        }
        try journal?.append(JournalEntry(caseName: product.id.rawValue, record: record, inputs: product.inputs, failure: nil))
        state.withLock { s in
            s.records[product.id] = record
            s.inputs[product.id] = product.inputs
            s.failures[product.id.rawValue] = nil
        }
    }

    /// Stores a case whose files were already encoded by ``CaseFiles/write(_:record:into:gzipLevel:)``
    /// elsewhere (a cluster worker): each file is written atomically into staging, then the case is
    /// journaled and recorded exactly as ``release(_:record:times:)`` does after encoding.
    /// - Parameter files: release-relative paths (plain, inside the release), their bytes and, when
    ///   the caller verified it, their hex SHA-256 (the manifest reuses it); the caller checks they
    ///   are the case's own files.
    /// - Parameter inputCT: the absolute path of the case's input CT, for ``ImageMode/link`` (the
    ///   first of `inputs` must be its digest).
    public func release(encodedFiles files: [(path: String, bytes: [UInt8], sha256: String?)], record: CaseRecord,
                        inputs: [InputFile], inputCT: String? = nil, times: inout StageTimes) throws {
        if let ticket = try releaseQueued(encodedFiles: files, record: record, inputs: inputs, inputCT: inputCT, times: &times) {
            try waitUntilDurable(ticket)
        }
    }

    /// ``release(encodedFiles:record:inputs:inputCT:times:)`` without waiting for the journal: the
    /// files are written and the case's journal line is queued for the next group commit. The case
    /// is durable (a restart keeps it) only once ``waitUntilDurable(_:)`` returned for the ticket
    /// (or a later one); until then it must not be reported as released. `nil` without a journal.
    public func releaseQueued(encodedFiles files: [(path: String, bytes: [UInt8], sha256: String?)], record: CaseRecord,
                              inputs: [InputFile], inputCT: String? = nil, times: inout StageTimes) throws -> ReleaseJournal.Ticket? {
        try timed("write", &times) {
            for file in files {
                let parts = file.path.split(separator: "/", omittingEmptySubsequences: false)
                guard !file.path.hasPrefix("/"), !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
                    throw CaseFailure(stage: "write", reason: "\(file.path) is not a plain release-relative path")
                }
                if file.path == CaseFiles.imagePath(record.id) {
                    guard options.images != .omit else {
                        throw CaseFailure(stage: "write", reason: "\(file.path): a release with --images omit has no CT files")
                    }
                    try placeImage(file.bytes, sha256: file.sha256, id: record.id, inputCT: inputCT, inputSHA256: inputs.first?.sha256)
                } else if let digest = file.sha256 {
                    try staging.write(file.bytes, to: file.path, sha256: digest)
                } else {
                    try staging.write(file.bytes, to: file.path)
                }
            }
        }
        let ticket = try journal?.enqueue(JournalEntry(caseName: record.id.rawValue, record: record, inputs: inputs, failure: nil))
        state.withLock { s in
            s.records[record.id] = record
            s.inputs[record.id] = inputs
            s.failures[record.id.rawValue] = nil
        }
        return ticket
    }

    /// Waits until the journal lines up to `ticket` are on disk (one fsync for every line queued
    /// meanwhile). - Throws: ``ReleaseError`` when the journal cannot be written.
    public func waitUntilDurable(_ ticket: ReleaseJournal.Ticket) throws {
        try journal?.waitUntilDurable(ticket)
    }

    /// fsyncs of the journal so far (each made a group of exams durable).
    public var journalSyncs: Int { journal?.syncs ?? 0 }

    /// Writes the case's CT file, or with ``ImageMode/link`` links the input CT instead when its
    /// SHA-256 equals that of the bytes the release would write.
    private func placeImage(_ bytes: [UInt8], sha256 known: String?, id: CaseID, inputCT: String?, inputSHA256: String?) throws {
        let path = CaseFiles.imagePath(id)
        guard options.images == .link, let inputCT, let inputSHA256 else {
            if let known { try staging.write(bytes, to: path, sha256: known) } else { try staging.write(bytes, to: path) }
            return
        }
        let digest = known ?? SHA256.hex(of: bytes)
        if digest == inputSHA256 {
            try staging.link(inputCT, to: path, sha256: digest)
        } else {
            try staging.write(bytes, to: path, sha256: digest)
        }
    }

    /// Records a failed case (removing any files it left in staging).
    public func fail(_ row: FailureRow) throws {
        if let id = CaseID(row.caseName) {
            for p in [CaseFiles.imagePath(id), CaseFiles.labelPath(id), CaseFiles.bitmaskPath(id), "masks2d/\(id.rawValue)",
                      "\(ProbabilityMaps.folder)/\(id.rawValue)"] {
                try? FileManager.default.removeItem(atPath: staging.folder + "/" + p)
            }
        }
        try journal?.append(JournalEntry(caseName: row.caseName, record: nil, inputs: nil, failure: row))
        state.withLock { s in
            s.failures[row.caseName] = row
            if let id = CaseID(row.caseName) { s.records[id] = nil; s.inputs[id] = nil }
        }
    }

    /// What a committed release holds.
    public struct Outcome: Sendable {
        /// Records of released cases, sorted.
        public var records: [CaseRecord]
        /// Failures, sorted.
        public var failures: [FailureRow]
        /// The manifest text.
        public var manifest: String
    }

    /// Writes the tables, provenance and manifest, and renames the release into place.
    public func commit(model: JSONValue? = nil) throws -> Outcome {
        let s = state.withLock { $0 }
        let tables = ReleaseTables(records: Array(s.records.values), failures: Array(s.failures.values), kind: kind,
                                   weakLabels: weakLabels)
        do {
            if let shard {
                try staging.write(PartialRelease.partJSON(shard, weakLabels: weakLabels), to: PartialRelease.partFile)
                try staging.write(try PartialRelease.journalText(records: s.records, inputs: s.inputs, failures: s.failures),
                                  to: PartialRelease.journalFile)
            }
            try ReleaseAggregates.write(tables, into: staging, options: options,
                                        provenance: Provenance(kind: kind, options: options, inputs: s.inputs, model: model,
                                                               shard: shard))
            let manifest = try staging.commit()
            CrashDrill.point("journal-remove")
            journal?.remove()
            return Outcome(records: tables.records, failures: tables.failures, manifest: manifest)
        } catch {
            throw error
        }
    }

    /// Abandons the release: removes staging and journal.
    public func abandon() {
        staging.abandon()
        journal?.remove()
    }
}
