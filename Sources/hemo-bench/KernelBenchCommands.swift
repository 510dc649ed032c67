import ArgumentParser
import Foundation
import HemoCore
import HemoTransforms

/// Options shared by the benchmarks.
struct BenchInput: ParsableArguments {
    @Option(help: "Raw little-endian input in NIfTI order (i fastest), as written by the bench script.")
    var input: String

    @Option(help: "Grid size i,j,k of the input, e.g. 512,512,36.")
    var size: String

    @Option(name: .customLong("repeat"), help: "Number of timed runs.")
    var repeatCount: Int = 5

    @Option(help: "Untimed runs before the timed ones (warm caches, allocator and threads).")
    var warmup: Int = 0

    @Option(help: "Write the result of the last run here (raw little-endian), for the script to check.")
    var output: String?

    func gridSize() throws -> GridSize {
        let v = try parseList(size, count: 3, name: "--size").map { Int($0) }
        guard v.allSatisfy({ $0 > 0 }) else { throw ValidationError("--size needs three positive counts, e.g. 512,512,36") }
        return GridSize(v[0], v[1], v[2])
    }

    func readBytes(expected: Int) throws -> Data {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: input)) } catch {
            throw ValidationError("cannot read --input \(input): \(error.localizedDescription)")
        }
        guard data.count == expected else {
            throw ValidationError("--input \(input) has \(data.count) bytes, --size needs \(expected)")
        }
        return data
    }

    func validate() throws {
        guard repeatCount >= 1 else { throw ValidationError("--repeat must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must be 0 or more") }
    }
}

/// Parses "a,b,c" into numbers.
func parseList(_ text: String, count: Int, name: String) throws -> [Double] {
    let parts = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
    guard parts.count == count, parts.allSatisfy({ $0 != nil && $0!.isFinite }) else {
        throw ValidationError("\(name) needs \(count) comma-separated numbers, got \"\(text)\"")
    }
    return parts.map { $0! }
}

/// Wall-clock and process CPU milliseconds taken by `body` (CPU time is the steadier figure on a
/// shared machine; with one thread it is the work done).
func milliseconds(_ body: () throws -> Void) rethrows -> (wall: Double, cpu: Double) {
    func cpuNow() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return Double(t.tv_sec) * 1e3 + Double(t.tv_nsec) / 1e6
    }
    let start = DispatchTime.now().uptimeNanoseconds
    let cpuStart = cpuNow()
    try body()
    return (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6, cpuNow() - cpuStart)
}

/// The line the bench scripts parse: `run <n> <wall> ms cpu <cpu> ms`.
func timingLine(_ run: Int, _ t: (wall: Double, cpu: Double)) -> String {
    "run \(run) \(String(format: "%.3f", t.wall)) ms cpu \(String(format: "%.3f", t.cpu)) ms"
}

/// `hemo-bench resample`: resamples an int16 volume to a new spacing, timing each run.
struct ResampleBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resample", abstract: "Time resampling of a raw int16 volume (output int16, fill -1024).")

    @OptionGroup var input: BenchInput

    @Option(help: "Input spacing in mm, e.g. 0.45,0.45,5.")
    var from: String

    @Option(help: "Target spacing in mm, e.g. 1,1,1.")
    var to: String

    @Option(help: "nearest, linear or bspline.")
    var interpolation: String = "linear"

    @Option(help: "Threads to use.")
    var threads: Int = 1

    func run() throws {
        let size = try input.gridSize()
        let fromSpacing = try parseList(from, count: 3, name: "--from")
        let toSpacing = try parseList(to, count: 3, name: "--to")
        guard let method = Interpolation(rawValue: interpolation) else {
            throw ValidationError("--interpolation must be nearest, linear or bspline")
        }
        let data = try input.readBytes(expected: size.count * 2)
        let voxels = data.withUnsafeBytes { raw in
            (0..<size.count).map { Int16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: Int16.self)) }
        }
        let geometry = Geometry(size: size, spacing: SIMD3(fromSpacing[0], fromSpacing[1], fromSpacing[2]),
                                affine: Affine(rowMajor: [-fromSpacing[0], 0, 0, 0, 0, -fromSpacing[1], 0, 0,
                                                          0, 0, fromSpacing[2], 0, 0, 0, 0, 1]))
        let volume = Volume(geometry: geometry, voxels: voxels)
        let plan = try ResamplePlan(source: geometry, targetSpacing: SIMD3(toSpacing[0], toSpacing[1], toSpacing[2]))
        var result: Volume<Int16>?
        for _ in 0..<input.warmup {
            result = Resampler.resample(volume, plan: plan, interpolation: method, fill: Resampler.defaultCTFill,
                                        threads: threads)
        }
        for run in 1...input.repeatCount {
            let ms = milliseconds {
                result = Resampler.resample(volume, plan: plan, interpolation: method, fill: Resampler.defaultCTFill,
                                            threads: threads)
            }
            print(timingLine(run, ms))
        }
        if let path = input.output, let result {
            let bytes = result.voxels.withUnsafeBufferPointer { Data(buffer: $0) }
            try bytes.write(to: URL(fileURLWithPath: path))
            print("output \(result.geometry.size) written to \(path)")
        }
    }
}

/// `hemo-bench components`: 26-connected components with boxes of a uint8 mask, timing each run.
struct ComponentsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "components", abstract: "Time 26-connected labelling + boxes of a raw uint8 mask.")

    @OptionGroup var input: BenchInput

    @Flag(help: "Also build the Int32 label image (what scipy returns) inside the timed region.")
    var labelImage = false

    func run() throws {
        let size = try input.gridSize()
        let data = try input.readBytes(expected: size.count)
        let mask = Mask(geometry: Geometry(size: size, spacing: SIMD3(1, 1, 1)), bits: [UInt8](data).map { $0 != 0 ? 1 : 0 })
        var last: Components3D?
        var image: [Int32] = []
        for _ in 0..<input.warmup {
            last = ConnectedComponents.components3D(mask)
            if labelImage { image = last!.membership.labelImage() }
        }
        for run in 1...input.repeatCount {
            let ms = milliseconds {
                last = ConnectedComponents.components3D(mask)
                if labelImage { image = last!.membership.labelImage() }
            }
            print(timingLine(run, ms))
        }
        guard let last else { return }
        print("components \(last.components.count)")
        if let path = input.output {
            // One line per component: label voxels i_min j_min k_min i_max j_max k_max.
            let lines = last.components.map { c in
                "\(c.label) \(c.voxels) \(c.box.min.x) \(c.box.min.y) \(c.box.min.z) \(c.box.max.x) \(c.box.max.y) \(c.box.max.z)"
            }
            try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            print("boxes written to \(path)")
        }
        _ = image
    }
}

/// `hemo-bench analyse`: the release writer's per-case findings (slice and patient labels, 2D boxes per
/// slice and subtype, 3D lesions) from a raw uint8 label map with values 0...5, timing each run.
struct AnalyseBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyse", abstract: "Time CaseFindings.analyse on a raw uint8 label map (values 0...5).")

    @OptionGroup var input: BenchInput

    @Option(help: "Threads to use.")
    var threads: Int = 1

    func run() throws {
        let size = try input.gridSize()
        let data = try input.readBytes(expected: size.count)
        let labels = Volume(geometry: Geometry(size: size, spacing: SIMD3(0.45, 0.45, 5)), voxels: [UInt8](data))
        let masks = SubtypeMasks(labelMap: labels)
        var findings: CaseFindings?
        for _ in 0..<input.warmup { findings = CaseFindings.analyse(masks, threads: threads) }
        for run in 1...input.repeatCount {
            let ms = milliseconds { findings = CaseFindings.analyse(masks, threads: threads) }
            print(timingLine(run, ms))
        }
        if let f = findings {
            print("slices \(f.slices.count), positive \(f.patient.positiveSlices), boxes2d \(f.lesions2D.count), lesions3d \(f.lesions3D.count)")
        }
    }
}
