import Foundation

/// An ONNX model loaded for CPU inference (float32; 1-D, 2-D and 3-D images: NCW, NCHW, NCDHW).
///
/// Loading parses the protobuf, checks every operator and the opset, folds BatchNormalization
/// into convolutions, fuses activations and packs the weights. Batch and spatial sizes are
/// bound by each ``run(_:threads:)``; the plan for each set of input shapes is built once and
/// cached. One model may be run from several threads at once.
public final class ONNXModel: Sendable {
    /// The file the model was loaded from.
    public let path: String
    /// The graph inputs the caller provides (initializers excluded).
    public let inputs: [TensorInfo]
    /// The graph outputs ``run(_:threads:)`` returns.
    public let outputs: [TensorInfo]
    /// The number of weights (elements of all initializers).
    public let parameterCount: Int
    /// Operator type → number of nodes using it, as in the file.
    public let operatorCounts: [String: Int]
    /// The imported ai.onnx opset version.
    public let opsetVersion: Int

    let graph: ModelGraph
    private let plans = PlanCache()
    private let arenas = ArenaPool()

    /// Loads and validates the model at `path`.
    ///
    /// - Throws: ``InferenceError`` naming the file, and the node and operator when one is
    ///   unsupported, invalid or needs a data-dependent shape.
    public init(path: String) throws {
        let graph = try ModelGraph(path: path)
        self.graph = graph
        self.path = path
        inputs = graph.inputs.map(\.info)
        outputs = graph.outputs.map(\.info)
        parameterCount = graph.parameterCount
        opsetVersion = graph.opset
        operatorCounts = graph.operatorCounts
    }

    /// Multiply-adds of one run with the given input shapes (convolutions and matrix products).
    public func multiplyAdds(inputShapes: [String: [Int]]) throws -> Int {
        try plan(for: graph.inputs.map { port in
            guard let shape = inputShapes[port.info.name] else {
                throw InferenceError.inputMismatch(path: path, input: port.info.name, reason: "no shape given")
            }
            return shape
        }).multiplyAdds
    }

    /// Bytes of the activation arena one run with the given input shapes uses (every graph
    /// input, intermediate value and output, laid out by liveness).
    public func activationBytes(inputShapes: [String: [Int]]) throws -> Int {
        try plan(for: graph.inputs.map { port in
            guard let shape = inputShapes[port.info.name] else {
                throw InferenceError.inputMismatch(path: path, input: port.info.name, reason: "no shape given")
            }
            return shape
        }).arenaSize * MemoryLayout<Float>.stride
    }

    /// Runs the model.
    ///
    /// - Parameters:
    ///   - inputs: one tensor per graph input, keyed by input name.
    ///   - threads: worker threads for the kernels (1 = run on the calling thread). Results are
    ///     identical for every thread count.
    /// - Returns: one tensor per graph output, keyed by output name.
    public func run(_ inputs: [String: Tensor], threads: Int = 1) throws -> [String: Tensor] {
        var shapes: [[Int]] = []
        for port in graph.inputs {
            guard let tensor = inputs[port.info.name] else {
                throw InferenceError.inputMismatch(path: path, input: port.info.name,
                                                   reason: "missing (the model's inputs: \(graph.inputs.map(\.info.name).joined(separator: ", ")))")
            }
            guard tensor.data.count == tensor.shape.reduce(1, *) else {
                throw InferenceError.inputMismatch(path: path, input: port.info.name,
                                                   reason: "\(tensor.data.count) values for shape \(tensor.shape)")
            }
            if let declared = port.info.shape {
                guard declared.count == tensor.shape.count else {
                    throw InferenceError.inputMismatch(path: path, input: port.info.name,
                                                       reason: "rank \(tensor.shape.count) (shape \(tensor.shape)); the model declares \(port.info)")
                }
                for (dimension, extent) in zip(declared, tensor.shape) {
                    if case .fixed(let fixed) = dimension, fixed != extent {
                        throw InferenceError.inputMismatch(path: path, input: port.info.name,
                                                           reason: "shape \(tensor.shape) does not match the declared \(port.info)")
                    }
                }
            }
            shapes.append(tensor.shape)
        }
        for name in inputs.keys where !graph.inputs.contains(where: { $0.info.name == name }) {
            throw InferenceError.inputMismatch(path: path, input: name, reason: "the model has no such input")
        }
        let plan = try plan(for: shapes)
        let memory = arenas.take(count: plan.arenaSize)
        defer { arenas.give(memory) }
        let threadCount = max(1, threads)
        // Graph inputs are read where the caller's tensors hold them; outputs the plan keeps
        // out of the arena are written straight into the arrays of the returned tensors.
        let ordered = graph.inputs.map { inputs[$0.info.name]! }
        let externalOutputs: [(storage: Int, count: Int)] = plan.outputs.compactMap { output in
            guard case .storage(let id) = output.source, plan.externalStorages.contains(id) else { return nil }
            return (id, output.shape.reduce(1, *))
        }
        var arrays: [Int: [Float]] = [:]
        Self.withInputs(ordered[...], storages: plan.inputStorages[...], external: [:]) { external in
            arrays = Self.withOutputArrays(externalOutputs[...], external: external) { external in
                let executor = StepExecutor(arena: memory.pointer, storageOffsets: plan.storageOffsets,
                                            constants: plan.constants, threads: threadCount, external: external)
                for step in plan.steps { executor.run(step) }
                var copies: [Int: [Float]] = [:]
                for output in plan.outputs {
                    guard case .storage(let id) = output.source, !plan.externalStorages.contains(id) else { continue }
                    copies[id] = Array(UnsafeBufferPointer(start: executor.pointer(output.source), count: output.shape.reduce(1, *)))
                }
                return copies
            }
        }
        var results: [String: Tensor] = [:]
        for output in plan.outputs {
            switch output.source {
            case .storage(let id):
                results[output.name] = Tensor(shape: output.shape, data: arrays[id]!)
            case .constant(let index):
                let count = output.shape.reduce(1, *)
                results[output.name] = Tensor(shape: output.shape,
                                              data: Array(UnsafeBufferPointer(start: plan.constants[index].pointer, count: count)))
            }
        }
        return results
    }

    /// Runs `body` with the storages of the graph inputs pointing at the tensors' elements
    /// (read only: no step writes a graph input).
    private static func withInputs(
        _ tensors: ArraySlice<Tensor>, storages: ArraySlice<Int>, external: [Int: UnsafeMutablePointer<Float>],
        _ body: ([Int: UnsafeMutablePointer<Float>]) -> Void
    ) {
        guard let tensor = tensors.first, let storage = storages.first else { return body(external) }
        tensor.data.withUnsafeBufferPointer { buffer in
            var external = external
            if let base = buffer.baseAddress { external[storage] = UnsafeMutablePointer(mutating: base) }
            withInputs(tensors.dropFirst(), storages: storages.dropFirst(), external: external, body)
        }
    }

    /// Creates one array per external output, runs `body` with the output storages pointing at
    /// them (body fills them all), and returns them with the arrays `body` returns, by storage.
    private static func withOutputArrays(
        _ outputs: ArraySlice<(storage: Int, count: Int)>, external: [Int: UnsafeMutablePointer<Float>],
        _ body: ([Int: UnsafeMutablePointer<Float>]) -> [Int: [Float]]
    ) -> [Int: [Float]] {
        guard let first = outputs.first else { return body(external) }
        var rest: [Int: [Float]] = [:]
        let array = [Float](unsafeUninitializedCapacity: first.count) { buffer, initialized in
            var external = external
            external[first.storage] = buffer.baseAddress!
            rest = withOutputArrays(outputs.dropFirst(), external: external, body)
            initialized = first.count
        }
        rest[first.storage] = array
        return rest
    }

    /// The cached plan for these input shapes, built on first use.
    func plan(for shapes: [[Int]]) throws -> ExecutionPlan {
        if let plan = plans.plan(for: shapes) { return plan }
        let plan = try Planner.plan(graph, inputShapes: shapes)
        plans.store(plan, for: shapes)
        return plan
    }
}

/// Plans keyed by input shapes, shared by concurrent runs.
private final class PlanCache: @unchecked Sendable {
    private let lock = NSLock()
    private var plans: [[[Int]]: ExecutionPlan] = [:]

    func plan(for shapes: [[Int]]) -> ExecutionPlan? {
        lock.lock()
        defer { lock.unlock() }
        return plans[shapes]
    }

    func store(_ plan: ExecutionPlan, for shapes: [[Int]]) {
        lock.lock()
        defer { lock.unlock() }
        if plans.count >= 32 { plans.removeAll() }
        plans[shapes] = plan
    }
}
