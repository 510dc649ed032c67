import ArgumentParser
import Dispatch
import Foundation
import HemoCore
import HemoSynth

/// `hemo synth`: writes a raw synthetic cohort (annotator output, not a release).
struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Generate a raw synthetic head-CT cohort with hemorrhage annotations and exact truth.",
        discussion: """
        Writes <out>/<case>/ct.nii.gz (int16 HU), the chosen annotation forms, truth/<case>/<SUBTYPE>.nii.gz, \
        weak_labels.csv and cohort.csv. The same seed and options give byte-identical files whatever --threads is.
        """
    )

    @Option(name: .long, help: "Cohort folder to write (created when missing).")
    var out: String

    @Option(name: .long, help: "Number of cases (case_000, case_001, …).")
    var cases: Int

    @Option(name: .long, help: "Master seed; case i depends only on (seed, i, options).")
    var seed: UInt64 = 0

    @Option(name: .long, help: "Fraction of cases with hemorrhage, allotted exactly per block of 20 cases.")
    var positiveFraction: Double = 0.5

    @Option(name: .long, help: "Slices per case (default: per-case coverage of 140–200 mm divided by the thickness).")
    var slices: Int?

    @Option(name: .long, help: "Slice thickness in mm (default 5).")
    var sliceThickness: Double?

    @Option(name: .long, help: "Draw each case's slice thickness from the usual reconstructions (0.625–5 mm) within MIN-MAX mm, e.g. 0.6-5 (default: 5 mm).")
    var sliceThicknessRange: String?

    @Option(name: .long, help: "In-plane size in pixels; the spacing follows from a 179–307 mm field of view (0.35–0.6 mm at 512), at least the head's length.")
    var inPlane: Int = 512

    @Option(name: .long, help: "Annotation forms, comma list of labelmap, subtype-masks, polygons (or all, none).")
    var annotations: String = "labelmap,polygons"

    @Option(name: .long, help: "Worker threads; all cores unless told otherwise.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .long, help: "gzip level 0–9 of the NIfTI files; 1 because noisy CT compresses only slightly better at 6, at several times the cost.")
    var gzipLevel: Int = 1

    @Flag(name: .long, help: "Write the label map and subtype masks as an annotator might outline them: per case every outline dilated or eroded by one pixel, or exact (truth/ stays exact).")
    var annotatorNoise = false

    @Flag(name: .long, help: "Leave out physiological calcifications (choroid plexus, pineal, falx, basal ganglia).")
    var noCalcifications = false

    @Flag(name: .long, help: "Give cases, without blood of their own, the look of real scans: skull-stripped exams (extracranial voxels filled, with the bright rim and the bright or dim skull-base bone stripping leaves), bone blurred into the brain over the skull base, dense basal cisterns, a wider partial-volume slab at the skull, correlated noise. Anatomy, lesions and labels stay those of the same case without them.")
    var realScanMimics = false

    @Option(name: .long, help: "Also draw a PNG preview sheet (one panel per subtype plus normal slices).")
    var preview: String?

    @Option(name: .long, help: "With --preview: draw six slices of this case from skull base to vertex instead of the cohort sheet.")
    var previewCase: Int?

    func validate() throws {
        guard cases >= 1 else { throw ValidationError("--cases must be at least 1") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard (0...9).contains(gzipLevel) else { throw ValidationError("--gzip-level must be between 0 and 9") }
        if let text = sliceThicknessRange, thicknessRange == nil {
            throw ValidationError("--slice-thickness-range \(text) must be MIN-MAX in mm with MIN <= MAX, e.g. 0.6-5")
        }
        do {
            try options.validate()
            _ = try AnnotationForms(list: annotations)
        } catch {
            throw ValidationError(error.description)
        }
    }

    var options: SynthOptions {
        var o = SynthOptions(seed: seed, positiveFraction: positiveFraction, inPlanePixels: inPlane, sliceCount: slices,
                     sliceThickness: sliceThickness, sliceThicknessRange: thicknessRange, calcifications: !noCalcifications)
        o.annotatorNoise = annotatorNoise
        o.realScanMimics = realScanMimics
        return o
    }

    /// `--slice-thickness-range MIN-MAX` as a range (nil when absent or malformed; `validate` names the latter).
    var thicknessRange: ClosedRange<Double>? {
        guard let text = sliceThicknessRange else { return nil }
        let parts = text.split(separator: "-").compactMap { Double($0) }
        guard parts.count == 2, parts[0] <= parts[1] else { return nil }
        return parts[0]...parts[1]
    }

    func run() throws {
        let generator = try SynthGenerator(options: options)
        let writer = CohortWriter(directory: out, generator: generator, forms: try AnnotationForms(list: annotations),
                                  gzipLevel: gzipLevel)
        let started = DispatchTime.now()
        let result = try writer.run(cases: cases, threads: threads)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        for failure in result.failures {
            FileHandle.standardError.write(Data("hemo synth: \(failure)\n".utf8))
        }
        let positives = result.written.filter { !$0.presentSubtypes.isEmpty }.count
        print("wrote \(result.written.count) cases (\(positives) with hemorrhage) to \(out) in \(String(format: "%.2f", seconds)) s")
        if let preview {
            let tiles: [PreviewTile]
            if let previewCase {
                let synthCase = generator.generate(caseIndex: previewCase, sliceThreads: threads)
                let k = synthCase.ct.geometry.size.k
                tiles = [0.08, 0.22, 0.4, 0.55, 0.72, 0.9].map { PreviewTile(synthCase: synthCase, slice: Int(Double(k - 1) * $0)) }
            } else {
                tiles = PreviewRenderer.cohortTiles(result.written, generator: generator, sliceThreads: threads)
            }
            let png = try PreviewRenderer.png(tiles: tiles, columns: 3)
            try Data(png).write(to: URL(fileURLWithPath: preview), options: .atomic)
            print("preview: \(preview) (\(tiles.count) panels)")
        }
        if !result.failures.isEmpty { throw ExitCode(1) }
    }
}
