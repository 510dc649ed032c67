import Foundation
import HemoCore
import HemoRelease
import HemoTransforms

/// The per-exam work of `hemo infer` and of cluster workers given an infer job: read the CT,
/// apply the release's geometry transforms, run the model, and return the same product and
/// record shape a release build writes (pseudo-label probabilities and box scores filled in).
/// A pure function of the CT file, the options and the model.
public enum PseudoLabelPipeline {
    /// Runs one exam. Annotations in the cohort are ignored: the masks come from the model.
    ///
    /// - Parameters:
    ///   - threads: threads of the geometry transforms and the model's kernels.
    ///   - isCancelled: asked between stages and before each batch of slices; when it answers true
    ///     the run stops with `CancellationError` (a cluster worker's cancelled attempt).
    /// - Throws: ``CaseFailure`` naming the stage (`read`, `transform`, `inference`) and the reason.
    public static func run(_ c: CohortCase, model: PseudoLabelModel, options: ReleaseOptions, threads: Int,
                           times: inout StageTimes, isCancelled: () -> Bool = { false }) throws -> (CaseProduct, CaseRecord) {
        // One read of the CT file gives both the volume and its provenance hash.
        let (raw, inputs, dicom) = try timed("read", &times) { try CasePipeline.readCTSource(c, options: options) }
        let ct = try timed("transform", &times) {
            try CasePipeline.transform(ct: raw, masks: SubtypeMasks(geometry: raw.geometry), options: options, threads: threads).ct
        }
        if isCancelled() { throw CancellationError() }
        let prediction = try model.predict(ct, threads: threads, keepProbabilities: options.probabilities, times: &times,
                                           isCancelled: isCancelled)
        let masks = SubtypeMasks(labelMap: prediction.labels)
        let scores = prediction.scores
        var record = timed("analyse", &times) {
            if let decisions = prediction.sliceDecisions {
                // A classifier-only model: labels by its thresholds, no masks (``CaseRecord/hasMasks``).
                return CaseRecord(id: c.id, geometry: ct.geometry, sliceDecisions: decisions, sliceProbabilities: prediction.sliceProbabilities)
            }
            return CaseRecord(id: c.id, masks: masks, sliceProbabilities: prediction.sliceProbabilities,
                              boxScore: { $0.mean(of: scores) })
        }
        let info = dicom.map { DICOMCaseInfo(series: $0.series, slices: $0.sliceInstances(on: ct.geometry)) }
        record.dicom = info
        record.exam = prediction.examCall
        var maps: [Volume<UInt8>]? = nil
        if options.probabilities {
            guard let kept = prediction.channelProbabilities else {
                throw CaseFailure(stage: "inference", reason: "\(model.fileName): the model gave no probabilities for --probabilities")
            }
            maps = timed("postprocess", &times) { model.subtypeProbabilityMaps(kept, geometry: ct.geometry) }
        }
        return (CaseProduct(id: c.id, ct: ct.converted(to: Int16.self), masks: masks, inputs: inputs, dicom: info,
                            probabilities: maps), record)
    }
}

/// `hemo infer` as a library: a raw cohort to a pseudo-label release, through the release
/// builder's machinery (staging, failure isolation, progress, tables, manifest).
public struct PseudoLabelBuilder: Sendable {
    /// The model, loaded once for every exam.
    public var model: PseudoLabelModel
    /// Options shaping the release (grid, gzip level, split seed).
    public var options: ReleaseOptions
    /// Exams processed at once.
    public var threads: Int
    /// Replace an existing release.
    public var force: Bool

    /// A builder.
    public init(model: PseudoLabelModel, options: ReleaseOptions, threads: Int, force: Bool) {
        var options = options
        options.writesMasks = model.writesMasks
        self.model = model; self.options = options; self.threads = max(1, threads); self.force = force
    }

    /// Writes the pseudo-label release of `cohort` at `destination`.
    /// - Parameter progress: called from worker threads after each exam (serialised).
    public func build(cohort: Cohort, destination: String,
                      progress: @escaping @Sendable (BuildProgress) -> Void = { _ in }) throws -> BuildSummary {
        let model = self.model, options = self.options
        return try ReleaseBuilder(options: options, threads: threads, force: force)
            .build(cohort: cohort, destination: destination, kind: .pseudoLabels, model: model.provenance, progress: progress) { c, inner, times in
                let (product, record) = try PseudoLabelPipeline.run(c, model: model, options: options, threads: inner, times: &times)
                return (product, record)
            }
    }
}
