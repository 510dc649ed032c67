import ArgumentParser
import DICOM
import Foundation
import HemoCore

/// `hemo-bench dicom-fuzz FILE…`: the DICOM fuzz test at any size (system test 61 runs 100,000).
struct DICOMFuzzBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dicom-fuzz",
        abstract: "Parse and decode COUNT deterministic mutations of the given DICOM files; every one must end in a data set or an error naming the file.",
        discussion: "Mutation n depends only on --seed and n. Exits 1 when an error fails to name its file; a crash is a failure by itself."
    )

    @Argument(help: "Valid DICOM files to mutate (e.g. a study's images).")
    var files: [String]

    @Option(help: "Mutated files to try.")
    var count: Int = 10_000

    @Option(help: "Seed of the mutations.")
    var seed: UInt64 = 17

    func run() throws {
        var seeds: [[UInt8]] = []
        for f in files {
            guard let d = FileManager.default.contents(atPath: f) else { throw ValidationError("cannot read \(f)") }
            seeds.append(Array(d))
        }
        let clock = ContinuousClock()
        let start = clock.now
        let r = fuzzDICOM(seeds, count: count, seed: seed)
        let t = clock.now - start
        print("dicom-fuzz: \(r.files) mutated files from \(seeds.count) seeds, seed \(seed): \(r.decoded) decoded, \(r.rejected) rejected with the file named, \(r.unnamed) unnamed errors; \(r.seriesReads) series reads with a mutated file, \(r.seriesVolumes) gave a volume; \(t.components.seconds) s")
        if r.unnamed > 0 { throw ExitCode(1) }
    }
}

/// `hemo-bench dicom-read STUDY`: reads a study to a float32 volume N times and prints the times
/// (scripts/bench/dicom.sh compares them with dcm2niix).
struct DICOMReadBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dicom-read",
        abstract: "Read a DICOM study folder to a float32 HU volume, timed (for scripts/bench/dicom.sh)."
    )

    @Argument(help: "The study folder.")
    var study: String

    @Option(name: .customLong("repeat"), help: "Number of timed runs.")
    var repeatCount: Int = 5

    func run() throws {
        let clock = ContinuousClock()
        var ms: [Double] = []
        var voxels = 0
        for _ in 0..<max(1, repeatCount) {
            let start = clock.now
            let v = try DICOMStudy.read(study)
            let d = clock.now - start
            voxels = v.volume.voxels.count
            ms.append(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
        }
        print("voxels \(voxels) ms " + ms.map { String(format: "%.1f", $0) }.joined(separator: " "))
    }
}
