import HemoConcurrency
import Foundation
import HemoCore

/// What a finished build reports.
public struct BuildSummary: Sendable {
    /// The release folder.
    public var release: String
    /// Cases released.
    public var cases: Int
    /// Slices released.
    public var slices: Int
    /// 3D lesions per subtype.
    public var lesionsPerSubtype: [Subtype: Int]
    /// Exams that failed (also in failures.csv).
    public var failures: [FailureRow]
    /// Wall time in seconds.
    public var seconds: Double
    /// Time per stage summed over cases.
    public var stages: StageTimes
    /// The manifest text.
    public var manifest: String
}

/// Progress of a running build, reported after each exam.
public struct BuildProgress: Sendable {
    /// Exams finished (released or failed).
    public var done: Int
    /// Exams in all.
    public var total: Int
    /// Exams failed so far.
    public var failed: Int
    /// The exam just finished.
    public var lastCase: String
    /// Its failure, if it failed.
    public var lastFailure: CaseFailure?
}

/// `hemo build`: a raw cohort to a release, in one process.
public struct ReleaseBuilder: Sendable {
    /// Build options.
    public var options: ReleaseOptions
    /// Exams processed at once.
    public var threads: Int
    /// Replace an existing release.
    public var force: Bool

    /// A builder.
    public init(options: ReleaseOptions, threads: Int, force: Bool) {
        self.options = options; self.threads = max(1, threads); self.force = force
    }

    /// Builds the release of `cohort` at `destination`.
    /// - Parameter progress: called from worker threads after each exam (serialised).
    public func build(cohort: Cohort, destination: String,
                      progress: @escaping @Sendable (BuildProgress) -> Void = { _ in }) throws -> BuildSummary {
        let options = self.options
        return try build(cohort: cohort, destination: destination, kind: .annotations, model: nil, progress: progress) { c, inner, times in
            (try CasePipeline.run(c, options: options, threads: inner, times: &times), nil)
        }
    }

    /// Builds a release of `cohort` at `destination` with `process` turning each exam into its
    /// product (and, optionally, its record): the machinery `hemo build` and `hemo infer` share
    /// (staging, failure isolation, progress, sorted tables, manifest).
    ///
    /// - Parameters:
    ///   - kind: annotations or pseudo-labels (probability columns and box scores).
    ///   - model: the model's provenance (SHA-256 and settings) for pseudo-labels.
    ///   - process: called from worker threads with the exam, the threads it may use itself, and the
    ///     stage times to add to; throws ``CaseFailure`` to fail the exam.
    public func build(cohort: Cohort, destination: String, kind: ReleaseKind, model: JSONValue?,
                      progress: @escaping @Sendable (BuildProgress) -> Void = { _ in },
                      process: @escaping @Sendable (CohortCase, Int, inout StageTimes) throws -> (CaseProduct, CaseRecord?))
        throws -> BuildSummary
    {
        let start = DispatchTime.now().uptimeNanoseconds
        // A shard journals as a cluster run does, so `hemo build --part` restarted with the same
        // arguments resumes; a whole-cohort build starts afresh.
        let assembly = try ReleaseAssembly(destination: destination, options: options, kind: kind,
                                           weakLabels: cohort.weakLabels, force: force, resumable: cohort.shard != nil,
                                           fingerprint: model?.compact() ?? "", shard: cohort.shard)
        let finished = assembly.finished
        struct Shared {
            var stages = StageTimes()
            var done = 0
            var failed = 0
        }
        let shared = Locked(Shared())
        do {
            for p in cohort.problems where !finished.contains(p.name) {
                try assembly.fail(FailureRow(caseName: p.name, stage: "input", reason: p.reason))
                shared.withLock { $0.failed += 1 }
            }
            let cases = cohort.cases.filter { !finished.contains($0.id.rawValue) }
            let total = cases.count
            // Case-level parallelism; each exam's transforms run single-threaded when several exams
            // run at once, and with every thread when there is only one exam.
            let inner = cases.count == 1 ? threads : 1
            let fatal = Locked<Error?>(nil)
            runOnThreads(count: cases.count, threads: threads) { i in
                let c = cases[i]
                var times = StageTimes()
                var failure: CaseFailure? = nil
                do {
                    let (product, record) = try process(c, inner, &times)
                    try assembly.release(product, record: record, inputCT: c.ct, times: &times)
                } catch let f as CaseFailure {
                    failure = f
                } catch {
                    failure = CaseFailure(stage: "write", reason: "\(error)")
                }
                if let failure {
                    do { try assembly.fail(FailureRow(caseName: c.id.rawValue, stage: failure.stage, reason: failure.reason)) } catch {
                        fatal.withLock { $0 = error }
                    }
                }
                let report = shared.withLock { s -> BuildProgress in
                    s.stages.merge(times)
                    if failure != nil { s.failed += 1 }
                    s.done += 1
                    return BuildProgress(done: s.done, total: total, failed: s.failed, lastCase: c.id.rawValue, lastFailure: failure)
                }
                progress(report)
            }
            if let e = fatal.withLock({ $0 }) { throw e }
            let outcome = try assembly.commit(model: model)
            let result = shared.withLock { $0 }
            var lesions: [Subtype: Int] = [:]
            for r in outcome.records { for l in r.lesions { lesions[l.subtype, default: 0] += 1 } }
            return BuildSummary(release: assembly.staging.destination, cases: outcome.records.count,
                                slices: outcome.records.reduce(0) { $0 + $1.sliceCount },
                                lesionsPerSubtype: lesions, failures: outcome.failures,
                                seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9,
                                stages: result.stages, manifest: outcome.manifest)
        } catch {
            assembly.abandon()
            throw error
        }
    }
}

/// `provenance.json`: what the release is a function of. No timestamps, hosts or workers.
public struct Provenance: Sendable {
    /// Annotations or pseudo-labels.
    public var kind: ReleaseKind
    /// The options that shaped the bytes.
    public var options: ReleaseOptions
    /// Each case's input files with their SHA-256.
    public var inputs: [CaseID: [InputFile]]
    /// The model (SHA-256 and settings) for pseudo-labels.
    public var model: JSONValue?
    /// For a shard's partial release: which part, and the whole cohort's fingerprint.
    public var shard: CohortShard?

    /// A provenance record.
    public init(kind: ReleaseKind, options: ReleaseOptions, inputs: [CaseID: [InputFile]], model: JSONValue?,
                shard: CohortShard? = nil) {
        self.kind = kind; self.options = options; self.inputs = inputs; self.model = model; self.shard = shard
    }

    /// `images.sha256` of a labels-only release (``ImageMode/omit``): `<sha256>  <input CT path,
    /// relative to the cohort>` per released exam, sorted by case, so `sha256sum -c` run in the
    /// cohort folder checks the CTs the labels belong to. The CT is each exam's first input.
    public func imageDigests() -> String { Self.imageDigests(of: inputs) }

    /// ``imageDigests()`` of the given inputs (what `hemo release merge` writes for labels-only parts).
    static func imageDigests(of inputs: [CaseID: [InputFile]]) -> String {
        inputs.keys.sorted().compactMap { id in inputs[id]?.first.map { "\($0.sha256)  \($0.path)\n" } }.joined()
    }

    /// The JSON text.
    public func rendered() -> String {
        Self.render(kind: kind.rawValue, options: options.provenance, model: model,
                    part: shard.map(PartialRelease.provenance), inputs: inputs)
    }

    /// The JSON text from its parts: what ``rendered()`` writes, and what `hemo release merge`
    /// writes from the options and model it read back from the parts' provenance.
    static func render(kind: String, options: JSONValue, model: JSONValue?, part: JSONValue?,
                       inputs: [CaseID: [InputFile]]) -> String {
        let cases: [JSONValue] = inputs.keys.sorted().map { id in
            .object([
                ("case", .string(id.rawValue)),
                ("files", .array(inputs[id]!.map { .object([("path", .string($0.path)), ("sha256", .string($0.sha256))]) })),
            ])
        }
        var fields: [(String, JSONValue)] = [
            ("tool", .object([("name", .string("hemocluster")), ("version", .string(HemoVersion.string))])),
            ("format_version", .string(ReleaseFormat.version)),
            ("kind", .string(kind)),
            ("options", options),
            ("model", model ?? .null),
        ]
        if let part { fields.append(("part", part)) }
        fields.append(("inputs", .array(cases)))
        return JSONValue.object(fields).rendered()
    }
}

/// Writes the release-wide files from the tables.
public enum ReleaseAggregates {
    /// Writes every aggregate file of the format (not the manifest) into `staging`.
    public static func write(_ t: ReleaseTables, into staging: ReleaseStaging, options: ReleaseOptions, provenance: Provenance) throws {
        var t = t
        t.hasMasks = options.writesMasks
        try write(t, into: staging, splitSeed: options.splitSeed, provenance: provenance.rendered(),
                  imageDigests: options.images == .omit ? provenance.imageDigests() : nil, sliceKey: options.sliceKey)
    }

    /// Writes every aggregate file with the split seed and the provenance text given, and
    /// `images.sha256` when `imageDigests` is given (a labels-only release).
    static func write(_ t: ReleaseTables, into staging: ReleaseStaging, splitSeed: String, provenance: String,
                      imageDigests: String? = nil, sliceKey: SliceKey = .slice) throws {
        CrashDrill.point("tables")
        try staging.write(t.datasetJSON(), to: "dataset.json")
        try staging.write(t.sliceLabels(), to: "labels/slice_labels.csv")
        CrashDrill.point("tables-labels")
        if t.hasDICOM {
            try staging.write(t.seriesTable(), to: "series.csv")
            if sliceKey == .sop { try staging.write(t.sliceLabelsBySOP(), to: "labels/slice_labels_sop.csv") }
        }
        try staging.write(t.patientLabels(), to: "labels/patient_labels.csv")
        try staging.write(t.boxes2D(), to: "boxes/boxes2d.csv")
        try staging.write(t.lesions3D(), to: "boxes/lesions3d.csv")
        CrashDrill.point("tables-boxes")
        try staging.write(t.coco(), to: "boxes/coco.json")
        for (path, text) in t.yolo() { try staging.write(text, to: path) }
        CrashDrill.point("tables-yolo")
        try staging.write(t.splits(rule: SplitRule(seed: splitSeed)), to: "splits.json")
        try staging.write(provenance, to: "provenance.json")
        if let imageDigests { try staging.write(imageDigests, to: ReleaseFormat.imageDigestsFile) }
        try staging.write(t.failuresCSV(), to: "failures.csv")
    }
}
