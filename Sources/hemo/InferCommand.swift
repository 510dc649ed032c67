import ArgumentParser
import Foundation
import HemoCore
import HemoPseudoLabel
import HemoRelease

/// `hemo infer`: a raw cohort to a pseudo-label release with an ONNX model.
struct InferCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infer",
        abstract: "Pseudo-label a cohort with an ONNX model: CT exams in, a pseudo-label release out.",
        discussion: """
        The model (MODEL.onnx with its sidecar MODEL.json beside it) is loaded once and serves every
        exam. The release has the format of `hemo build` plus p_any/p_<SUBTYPE> columns in
        slice_labels.csv and model scores in boxes2d.csv and coco.json; weak_*/agrees columns in
        patient_labels.csv when the cohort has weak_labels.csv. Annotations in the cohort are not
        read. Exams that fail go to failures.csv with the stage and the reason. The default model
        is a demonstration trained on synthetic data, not a clinical model.
        """
    )

    @OptionGroup var io: CohortReleaseOptions

    @OptionGroup var release: ReleaseOptionGroup
    @OptionGroup var images: ImagesOptionGroup

    @OptionGroup var shard: PartOptionGroup

    @Option(help: "The ONNX model with its sidecar MODEL.json beside it, or a model folder with model.json (e.g. from `hemo model import nnunet`); default: hemo's bundled demonstration model.")
    var model: String?

    @Option(help: "Exams processed at once (default: all cores). The output is the same for any count.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        var options = try release.releaseOptions()
        try images.apply(to: &options)
        let loaded = try InferCommand.loadModelOrExit(model, probabilities: options.probabilities)
        let cohort = shard.apply(to: try io.openCohort(options))
        let progress = ProgressReporter(label: "infer")
        let builder = PseudoLabelBuilder(model: loaded, options: options, threads: threads, force: io.force)
        let summary: BuildSummary
        do {
            summary = try builder.build(cohort: cohort, destination: io.out) { p in
                progress.update(done: p.done, total: p.total, failed: p.failed,
                                note: p.lastFailure.map { "failed: \(p.lastCase): \($0)" })
            }
        } catch let e as ReleaseError {
            printError("error: \(e)")
            throw ExitCode(1)
        }
        print("model: \(loaded.fileName) sha256 \(loaded.sha256)")
        print(BuildReport.text(summary))
    }

    /// The model at `path`, or the bundled default model when `path` is nil.
    static func loadModel(_ path: String?) throws(ModelLoadError) -> PseudoLabelModel {
        if let path { return try PseudoLabelModel(onnxPath: path) }
        return try PseudoLabelModel.loadDefault()
    }

    /// ``loadModel(_:)``; a model that cannot be loaded is printed (file and reason) and exits 1,
    /// as is one that gives no per-voxel probabilities when `probabilities` (`--probabilities`)
    /// asks for maps.
    static func loadModelOrExit(_ path: String?, probabilities: Bool = false) throws -> PseudoLabelModel {
        let model: PseudoLabelModel
        do { model = try loadModel(path) } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        if probabilities && !model.givesProbabilityMaps {
            printError("error: \(model.fileName): a whole-slice or classifier-only model gives no per-voxel probabilities; --probabilities needs a format-1/2 or sliding-window format-3 model")
            throw ExitCode(1)
        }
        return model
    }
}
