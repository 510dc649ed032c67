import ArgumentParser
import Foundation
import HemoCore
import HemoRelease
import HemoTransforms
import DICOM

/// Options shared by commands that build or rebuild a release.
struct ReleaseOptionGroup: ParsableArguments {
    @Option(help: "Target grid: 'native' keeps each exam's grid, or X,Y,Z spacing in mm (e.g. 1,1,1).")
    var spacing: String = "native"

    @Option(help: "CT interpolation when resampling: linear or bspline (masks always use nearest neighbour).")
    var interpolation: String = "linear"

    @Flag(help: "Reorient every exam to canonical RAS (axis permutations and flips only).")
    var canonical = false

    @Option(help: "gzip level of the NIfTI files, 0-9 (1: fast, files about 4% larger than at 6).")
    var gzipLevel: Int = 1

    @Option(help: "Seed of the patient-level train/val/test split.")
    var splitSeed: String = "hemocluster"

    @Option(help: "Annotation form to read: auto, labelmap, subtype-masks or polygons.")
    var annotations: String = "auto"

    @Option(help: "DICOM series rules, e.g. thickness=2-5,kernel=H30,description=brain (substrings, case-insensitive). Default: the CT ORIGINAL\\PRIMARY axial non-localiser series with most slices.")
    var seriesSelect: String = ""

    @Flag(help: "DICOM: fail an exam whose slices are unevenly spaced instead of resampling it to uniform spacing.")
    var strict = false

    @Option(help: "DICOM: salt of the UID hashes in provenance, series.csv and study-hash case names (keep it secret to stop releases being linked).")
    var uidSalt: String = "hemocluster"

    @Option(help: "Slice-label keys: 'slice' (case, slice) or 'sop' (also labels/slice_labels_sop.csv keyed by SOPInstanceUID).")
    var sliceKey: String = "slice"

    @Option(help: "Case names: 'folder' (folder or cohort.csv name) or 'study-hash' (DICOM cases named study-<hash of StudyInstanceUID>).")
    var caseIds: String = "folder"

    @Flag(help: "Pseudo-labels only (infer, run/coordinator with --infer or --model): also release per-subtype probability maps under probabilities/<case>/<SUBTYPE>.nii.gz (uint8, round(p*255), scl_slope 1/255).")
    var probabilities = false

    /// The refusal of `--probabilities` where no model runs.
    static let probabilitiesNeedModel = "--probabilities releases the model's probability maps: use `hemo infer`, or `hemo run`/`hemo coordinator` with --infer or --model"

    func validate() throws {
        _ = try releaseOptions()
    }

    func releaseOptions() throws -> ReleaseOptions {
        var o = ReleaseOptions()
        if spacing != "native" {
            let parts = spacing.split(separator: ",").compactMap { Double($0) }
            guard parts.count == 3, parts.allSatisfy({ $0 > 0 && $0.isFinite }) else {
                throw ValidationError("--spacing takes 'native' or three positive numbers like 1,1,1 (got '\(spacing)')")
            }
            o.spacing = .millimetres(SIMD3(parts[0], parts[1], parts[2]))
        }
        guard let interp = Interpolation(rawValue: interpolation), interp != .nearest else {
            throw ValidationError("--interpolation takes linear or bspline (got '\(interpolation)')")
        }
        o.interpolation = interp
        o.canonical = canonical
        guard (0...9).contains(gzipLevel) else { throw ValidationError("--gzip-level takes 0 to 9 (got \(gzipLevel))") }
        o.gzipLevel = gzipLevel
        o.splitSeed = splitSeed
        guard let a = AnnotationSource(rawValue: annotations) else {
            throw ValidationError("--annotations takes auto, labelmap, subtype-masks or polygons (got '\(annotations)')")
        }
        o.annotations = a
        if !seriesSelect.isEmpty {
            do { _ = try SeriesSelectionRules(parsing: seriesSelect) } catch { throw ValidationError(error.reason) }
        }
        o.seriesSelect = seriesSelect
        o.strictSpacing = strict
        o.uidSalt = uidSalt
        guard let k = SliceKey(rawValue: sliceKey) else { throw ValidationError("--slice-key takes slice or sop (got '\(sliceKey)')") }
        o.sliceKey = k
        guard let c = CaseIDSource(rawValue: caseIds) else { throw ValidationError("--case-ids takes folder or study-hash (got '\(caseIds)')") }
        o.caseIDs = c
        o.probabilities = probabilities
        return o
    }
}

/// The input cohort and the release folder: shared by `build`, `run` and `coordinator`.
struct CohortReleaseOptions: ParsableArguments {
    @Option(help: "The raw cohort folder (see README: Raw cohort layout).")
    var cohort: String

    @Option(help: "The release folder to create.")
    var out: String

    @Flag(help: "Replace --out if it exists.")
    var force = false

    /// Opens the cohort (naming cases as `options.caseIDs` says), or prints the reason and exits 1.
    func openCohort(_ options: ReleaseOptions) throws -> Cohort {
        do { return try Cohort.open(cohort, caseIDs: options.caseIDs, uidSalt: options.uidSalt) } catch let e as CohortError {
            printError("error: \(e)")
            throw ExitCode(1)
        }
    }
}

/// `hemo build`: a raw cohort to a release on this machine.
struct BuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build a release from a raw cohort (CT + annotations) in one process.",
        discussion: "Exams that cannot be processed go to failures.csv with the stage and the reason; the rest are released. The release is written to a staging folder and renamed into place when complete."
    )

    @OptionGroup var io: CohortReleaseOptions

    @OptionGroup var release: ReleaseOptionGroup
    @OptionGroup var images: ImagesOptionGroup

    @OptionGroup var shard: PartOptionGroup

    @Option(help: "Exams processed at once (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard !release.probabilities else { throw ValidationError(ReleaseOptionGroup.probabilitiesNeedModel) }
    }

    func run() throws {
        var options = try release.releaseOptions()
        try images.apply(to: &options)
        let cohort = shard.apply(to: try io.openCohort(options))
        let progress = ProgressReporter(label: "build")
        let builder = ReleaseBuilder(options: options, threads: threads, force: io.force)
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
        print(BuildReport.text(summary))
    }
}

/// The end-of-build summary shown to people.
enum BuildReport {
    static func text(_ s: BuildSummary) -> String {
        var lines = ["release: \(s.release)",
                     "cases: \(s.cases), slices: \(s.slices), failures: \(s.failures.count), time: \(String(format: "%.2f", s.seconds)) s (\(String(format: "%.2f", Double(s.cases) / max(s.seconds, 1e-9))) exams/s)"]
        lines.append("lesions: " + Subtype.allCases.map { "\($0.name) \(s.lesionsPerSubtype[$0] ?? 0)" }.joined(separator: ", "))
        lines.append("stage seconds (summed over exams): " + s.stages.entries.map { "\($0.0) \(String(format: "%.2f", $0.1))" }.joined(separator: ", "))
        for f in s.failures.prefix(20) { lines.append("failed: \(f.caseName) [\(f.stage)] \(f.reason)") }
        if s.failures.count > 20 { lines.append("… \(s.failures.count - 20) more in failures.csv") }
        return lines.joined(separator: "\n")
    }
}
