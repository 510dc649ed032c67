import ArgumentParser
import Foundation
import HemoCore
import HemoEval
import HemoQC
import HemoRelease
import HemoSynth

/// `hemo demo`: the main job on the embedded default, what `scripts/demo.sh` runs.
///
/// A synthetic cohort with exact truth → a release built by a local coordinator and worker
/// processes (checked against a one-process build) → verification of the release (manifest and
/// tables against masks) → evaluation of the release against the synthetic truth → pseudo-labels
/// of the same cohort by the bundled default model on the same local cluster (`hemo run --infer`,
/// checked against a one-process `hemo infer`), evaluated against the truth → QC report.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the main job on the embedded default: synthesise a cohort, build its release on a local cluster, verify, evaluate and QC it.",
        discussion: "Everything is written under --work: cohort/, release/, pseudo-labels/, eval.json, eval-pseudo-labels.json, qc/index.html and preview.png."
    )

    @Option(help: "Working folder for the demo's cohort, release and reports.")
    var work: String = NSTemporaryDirectory() + "hemocluster-demo"

    @Option(help: "Number of synthetic exams.")
    var cases: Int = 12

    @Option(help: "In-plane size of the synthetic exams in pixels.")
    var inPlane: Int = 512

    @Option(help: "Slices per synthetic exam (default: a realistic count for 5 mm slices).")
    var slices: Int?

    @Option(help: "Seed of the synthetic cohort.")
    var seed: UInt64 = 1

    @Option(help: "Worker processes of the local cluster.")
    var workers: Int = 2

    @Flag(inversion: .prefixedNo, help: "Also build (and pseudo-label) in one process and check that the manifests are identical.")
    var compare = true

    @Flag(inversion: .prefixedNo, help: "Also pseudo-label the cohort with the bundled default model on the local cluster (hemo run --infer) and evaluate it against the truth.")
    var infer = true

    @Option(help: "Threads (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard cases >= 1 else { throw ValidationError("--cases must be at least 1") }
        guard threads >= 1, workers >= 1 else { throw ValidationError("--threads and --workers must be at least 1") }
        guard slices.map({ $0 >= 1 }) ?? true else { throw ValidationError("--slices must be at least 1") }
    }

    func run() throws {
        let cohortPath = work + "/cohort"
        let releasePath = work + "/release"
        try? FileManager.default.removeItem(atPath: cohortPath)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)

        step("1/6 synthesise \(cases) head-CT exams (seed \(seed), \(inPlane)×\(inPlane) in-plane) → \(cohortPath)")
        let generator = try SynthGenerator(options: SynthOptions(seed: seed, inPlanePixels: inPlane, sliceCount: slices))
        let written = try CohortWriter(directory: cohortPath, generator: generator,
                                       forms: try AnnotationForms(list: "labelmap,polygons")).run(cases: cases, threads: threads)
        let tiles = PreviewRenderer.cohortTiles(written.written, generator: generator, sliceThreads: threads)
        try Data(try PreviewRenderer.png(tiles: tiles, columns: 3)).write(to: URL(fileURLWithPath: work + "/preview.png"))

        step("2/6 build the release on a local cluster: a ZeroMQ coordinator and \(workers) worker processes → \(releasePath)")
        let cluster = try RunCommand.parse(["--cohort", cohortPath, "--out", releasePath, "--workers", "\(workers)", "--force"])
        try cluster.run()
        if compare {
            step("   rebuild in one process (hemo build) and compare the manifests")
            let summary = try ReleaseBuilder(options: ReleaseOptions(), threads: threads, force: true)
                .build(cohort: try Cohort.open(cohortPath), destination: work + "/release-one-process")
            let clusterManifest = try String(contentsOfFile: releasePath + "/MANIFEST.sha256", encoding: .utf8)
            guard clusterManifest == summary.manifest else {
                printError("error: the cluster's MANIFEST.sha256 differs from hemo build's")
                throw ExitCode(1)
            }
            print("identical: the cluster's MANIFEST.sha256 equals hemo build's (\(clusterManifest.split(separator: "\n").count) files)")
        }

        step("3/6 verify the release (manifest, and every table against the masks)")
        let report = try ReleaseVerifier(threads: threads).verify(releasePath)
        guard report.ok else {
            for d in report.disagreements.prefix(20) { printError("  \(d)") }
            throw ExitCode(1)
        }
        print("ok: \(report.filesChecked) files match MANIFEST.sha256; \(report.casesChecked) cases agree with their masks")

        step("4/6 evaluate the release against the synthetic truth")
        let eval = try ReleaseEvaluator().evaluate(predictionPath: releasePath, truthPath: cohortPath, threads: threads)
        try eval.json().rendered().write(toFile: work + "/eval.json", atomically: true, encoding: .utf8)
        print(eval.markdown(), terminator: "")

        if infer {
            let pseudoPath = work + "/pseudo-labels"
            step("5/6 pseudo-label the cohort on the local cluster with the default model (hemo run --infer; trained on synthetic data, a demonstration) → \(pseudoPath)")
            try RunCommand.parse(["--cohort", cohortPath, "--out", pseudoPath, "--workers", "\(workers)", "--infer", "--force"]).run()
            if compare {
                step("   pseudo-label in one process (hemo infer) and compare the manifests")
                let onePath = work + "/pseudo-labels-one-process"
                try InferCommand.parse(["--cohort", cohortPath, "--out", onePath, "--threads", "\(threads)", "--force"]).run()
                let clusterManifest = try String(contentsOfFile: pseudoPath + "/MANIFEST.sha256", encoding: .utf8)
                guard clusterManifest == (try String(contentsOfFile: onePath + "/MANIFEST.sha256", encoding: .utf8)) else {
                    printError("error: the cluster's pseudo-label MANIFEST.sha256 differs from hemo infer's")
                    throw ExitCode(1)
                }
                print("identical: the cluster's pseudo-label MANIFEST.sha256 equals hemo infer's")
            }
            let pseudoReport = try ReleaseVerifier(threads: threads).verify(pseudoPath)
            guard pseudoReport.ok else {
                for d in pseudoReport.disagreements.prefix(20) { printError("  \(d)") }
                throw ExitCode(1)
            }
            print("ok: the pseudo-label release verifies (\(pseudoReport.filesChecked) files); its evaluation against the synthetic truth:")
            let pseudoEval = try ReleaseEvaluator().evaluate(predictionPath: pseudoPath, truthPath: cohortPath, threads: threads)
            try pseudoEval.json().rendered().write(toFile: work + "/eval-pseudo-labels.json", atomically: true, encoding: .utf8)
            print(pseudoEval.markdown(), terminator: "")
        } else {
            step("5/6 pseudo-labelling skipped (--no-infer)")
        }

        step("6/6 write the QC report (montages and index.html)")
        _ = try QualityControl.run(release: releasePath, output: work + "/qc", threads: threads)

        print("\nrelease: \(releasePath)\(infer ? "\npseudo-labels: \(work)/pseudo-labels (evaluation: \(work)/eval-pseudo-labels.json)" : "")\npreview: \(work)/preview.png\nevaluation: \(work)/eval.json\nQC report: \(work)/qc/index.html")
    }

    private func step(_ s: String) { print("\n== \(s)") }
}
