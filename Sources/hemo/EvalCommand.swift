import ArgumentParser
import Foundation
import HemoEval

/// `hemo eval`: score a prediction release against a truth release or cohort.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Score a prediction release against a truth release or raw cohort.",
        discussion: """
        Evaluates the cases both folders hold: slice-level and patient-level classification
        (precision, recall, F1, accuracy, specificity; ROC AUC from p_any/p_<SUBTYPE> when the
        prediction has probabilities), segmentation (Dice, IoU, lesion-volume error from the
        masks3d bitmasks) and COCO box AP (AP50, mAP .50:.95 from boxes/boxes2d.csv scores).
        Definitions: the HemoEval documentation, article "Metric definitions".
        """
    )

    @Option(help: "The prediction release folder (e.g. written by `hemo infer`).")
    var pred: String

    @Option(help: "The truth: a release folder, or a raw cohort (truth/<case>/<SUBTYPE>.nii.gz, masks/ or labelmap.nii.gz).")
    var truth: String

    @Option(help: "Also write every figure, with per-case segmentation scores, to this JSON file.")
    var json: String?

    @Option(help: "Cases read at once (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads takes a positive number (got \(threads))") }
    }

    func run() throws {
        let report: EvaluationReport
        do {
            report = try ReleaseEvaluator().evaluate(predictionPath: pred, truthPath: truth, threads: threads)
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        print(report.markdown(), terminator: "")
        if let json {
            do {
                try report.json().rendered().write(toFile: json, atomically: true, encoding: .utf8)
            } catch {
                printError("error: \(json): cannot write the JSON report: \(error.localizedDescription)")
                throw ExitCode(1)
            }
        }
        for p in report.problems {
            printError("warning: \(p.caseID): \(p.reason)")
        }
    }
}
