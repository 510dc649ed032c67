import ArgumentParser
import Foundation
import HemoInference

/// `hemo model`: run, benchmark and describe ONNX models with HemoInference.
struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Run, benchmark and describe ONNX models (float32; NCW, NCHW or NCDHW) on the CPU.",
        subcommands: [ModelRun.self, ModelBench.self, ModelInfo.self, ModelImport.self, ModelPredict.self]
    )
}

/// `hemo model run`: one inference from a `.npy` input to one `.npy` per graph output.
struct ModelRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a model on a .npy input and write one .npy per graph output, named after it."
    )

    @Argument(help: "The ONNX model file.")
    var model: String

    @Option(help: "The input tensor: a little-endian float32 .npy in C order (e.g. N×C×H×W or N×C×D×H×W).")
    var input: String

    @Option(name: .customLong("input-name"), help: "The graph input to bind (default: the model's only input).")
    var inputName: String?

    @Option(help: "Directory for the outputs (created if missing); writes <output name>.npy per graph output.")
    var output: String

    @Option(help: "Worker threads for the kernels (results are identical for any count).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1.") }
    }

    func run() throws {
        let onnx = try ONNXModel(path: model)
        let name: String
        if let inputName {
            guard onnx.inputs.contains(where: { $0.name == inputName }) else {
                throw ValidationError("The model has no input '\(inputName)'; its inputs: \(onnx.inputs.map(\.name).joined(separator: ", ")).")
            }
            name = inputName
        } else {
            guard onnx.inputs.count == 1 else {
                throw ValidationError("The model has \(onnx.inputs.count) inputs (\(onnx.inputs.map(\.name).joined(separator: ", "))); choose one with --input-name.")
            }
            name = onnx.inputs[0].name
        }
        let tensor = try NumPyFile.read(path: input)
        let results = try onnx.run([name: tensor], threads: threads)
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        for info in onnx.outputs {
            guard let result = results[info.name] else { continue }
            let safeName = info.name.map { $0 == "/" || $0 == "\\" || $0 == ":" ? "_" : $0 }
            let path = URL(fileURLWithPath: output).appendingPathComponent(String(safeName) + ".npy").path
            try NumPyFile.write(result, to: path)
            print("\(info.name): \(result.shape) -> \(path)")
        }
    }
}

/// `hemo model bench`: median time per slice and throughput on a seeded random input.
struct ModelBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time whole runs of a model on a .npy input (any rank) or a seeded random B×C×S×S (×S for 3-D models) input; print the median ms per run and per slice, GFLOP/s and memory."
    )

    @Argument(help: "The ONNX model file.")
    var model: String

    @Option(help: "Height and width of the input slices.")
    var size: Int = 256

    @Option(help: "Slices per run (the batch dimension).")
    var batch: Int = 1

    @Option(help: "Worker threads for the kernels.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Timed runs (the median is reported, at least 5) after one warm-up run.")
    var runs: Int = 5

    @Option(name: [.customLong("input"), .customLong("input-npy")],
            help: "Use this .npy as input instead of a random one (its shape, of any rank, wins over --size/--batch).")
    var inputNpy: String?

    func validate() throws {
        guard size >= 1, batch >= 1, threads >= 1 else {
            throw ValidationError("--size, --batch and --threads must be at least 1.")
        }
        guard runs >= 5 else { throw ValidationError("--runs must be at least 5 (the median of 5 or more timed runs is reported).") }
    }

    func run() throws {
        let residentBeforeLoading = Self.memoryStatusMegabytes("VmRSS")
        let onnx = try ONNXModel(path: model)
        guard onnx.inputs.count == 1, let info = onnx.inputs.first else {
            throw ValidationError("bench needs a model with one input; this one has \(onnx.inputs.count).")
        }
        let tensor: Tensor
        if let inputNpy {
            tensor = try NumPyFile.read(path: inputNpy)
        } else {
            var channels = 3
            if let shape = info.shape, shape.count >= 3, case .fixed(let fixed) = shape[1] { channels = fixed }
            let spatial = max(1, (info.shape?.count ?? 4) - 2)
            let shape = [batch, channels] + [Int](repeating: size, count: spatial)
            var state: UInt64 = 0x9E37_79B9_7F4A_7C15
            let count = shape.reduce(1, *)
            let data = (0..<count).map { _ -> Float in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return Float(Int64(bitPattern: state >> 11) % 2_000_001) / 1_000_000 - 1
            }
            tensor = Tensor(shape: shape, data: data)
        }
        let slices = tensor.shape.first ?? 1
        let flops = 2.0 * Double(try onnx.multiplyAdds(inputShapes: [info.name: tensor.shape]))
        _ = try onnx.run([info.name: tensor], threads: threads)
        var times: [Double] = []
        var cpuTimes: [Double] = []
        for _ in 0..<runs {
            let cpuStart = Self.processCPUMilliseconds()
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try onnx.run([info.name: tensor], threads: threads)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            cpuTimes.append(Self.processCPUMilliseconds() - cpuStart)
        }
        let median = Self.median(times), cpuMedian = Self.median(cpuTimes)
        let perSlice = median / Double(slices)
        let gflops = flops / (median / 1000) / 1e9
        print(String(format: "model %@ input %@ threads %d: %.2f ms per slice (median of %d, %.2f ms per run), %.2f GFLOP/s (%.3f GFLOP per run), cpu %.2f ms per slice",
                     (model as NSString).lastPathComponent, "\(tensor.shape)", threads, perSlice, runs, median, gflops, flops / 1e9,
                     cpuMedian / Double(slices)), terminator: "")
        if let before = residentBeforeLoading, let peak = Self.memoryStatusMegabytes("VmHWM") {
            let arena = Double(try onnx.activationBytes(inputShapes: [info.name: tensor.shape])) / 1_048_576
            print(String(format: ", engine memory %.1f MB (peak RSS %.1f MB - %.1f MB before loading the model; activation arena %.1f MB)",
                         peak - before, peak, before, arena))
        } else {
            print()
        }
    }
}

extension ModelBench {
    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// A `kB` field of /proc/self/status (VmRSS: resident now; VmHWM: peak resident) in MB
    /// (2^20 bytes); `nil` where the file does not exist.
    static func memoryStatusMegabytes(_ field: String) -> Double? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
            let digits = line.dropFirst(field.count + 1).filter(\.isNumber)
            return Double(String(digits)).map { $0 / 1024 }
        }
        return nil
    }

    /// CPU time of the whole process (all threads), in milliseconds: on a shared machine this
    /// shows the work done, independent of how much of the CPU other processes took.
    static func processCPUMilliseconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return Double(time.tv_sec) * 1000 + Double(time.tv_nsec) / 1e6
    }
}

/// `hemo model info`: inputs, outputs, operators, parameter count, and for one input shape the
/// FLOPs and the planned activation memory.
struct ModelInfo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "List a model's inputs, outputs, operators (with node counts), parameter count, FLOPs and planned activation memory."
    )

    @Argument(help: "The ONNX model file.")
    var model: String

    @Option(help: "Input shape for FLOPs and memory, e.g. 1,3,256,256 (default: the declared shape with symbolic batch 1).")
    var shape: String?

    @Option(help: "Take the input shape from this .npy instead.")
    var input: String?

    func run() throws {
        let onnx = try ONNXModel(path: model)
        print("model: \(model)")
        print("opset: \(onnx.opsetVersion)")
        print("inputs:")
        for info in onnx.inputs { print("  \(info)") }
        print("outputs:")
        for info in onnx.outputs { print("  \(info)") }
        print("operators:")
        for (op, count) in onnx.operatorCounts.sorted(by: { $0.key < $1.key }) { print("  \(op) ×\(count)") }
        print("parameters: \(onnx.parameterCount)")
        guard onnx.inputs.count == 1, let info = onnx.inputs.first else {
            print("flops: (models with one input only)")
            return
        }
        var dims: [Int]? = nil
        if let input {
            dims = try NumPyFile.read(path: input).shape
        } else if let shape {
            let parts = shape.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? 0) >= 1 }) else {
                throw ValidationError("--shape must be positive integers separated by commas, e.g. 1,3,256,256.")
            }
            dims = parts.map { $0! }
        } else if let declared = info.shape {
            var resolved: [Int] = []
            for (axis, dimension) in declared.enumerated() {
                switch dimension {
                case .fixed(let extent): resolved.append(extent)
                case .symbolic: if axis == 0 { resolved.append(1) }
                }
            }
            if resolved.count == declared.count { dims = resolved }
        }
        guard let dims else {
            print("flops: the input has symbolic spatial extents; give --shape or --input")
            return
        }
        let shapes = [info.name: dims]
        let multiplyAdds = try onnx.multiplyAdds(inputShapes: shapes)
        let arena = try onnx.activationBytes(inputShapes: shapes)
        print("input shape: \(dims)")
        print(String(format: "flops: %.3f GFLOP per run (%d multiply-adds of convolutions and matrix products, ×2)",
                     2 * Double(multiplyAdds) / 1e9, multiplyAdds))
        print(String(format: "activation memory: %.1f MB planned (one arena, by liveness)", Double(arena) / 1_048_576))
    }
}
