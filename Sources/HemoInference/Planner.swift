/// A static schedule for one binding of input shapes: steps, arena layout and constants.
struct ExecutionPlan: Sendable {
    struct Output: Sendable {
        var name: String
        var shape: [Int]
        var source: Operand
    }
    var steps: [Step]
    var storageOffsets: [Int]
    var arenaSize: Int
    var constants: [FloatStorage]
    /// For each graph input (in graph order): its storage id.
    var inputStorages: [Int]
    var outputs: [Output]
    /// Multiply-adds of the convolutions and matrix products, for GFLOP/s.
    var multiplyAdds: Int
    /// Storages outside the arena: graph inputs (read from the caller's tensors) and graph
    /// outputs (written straight into the returned tensors).
    var externalStorages: Set<Int>
}

/// Builds an ``ExecutionPlan`` from a graph and concrete input shapes: infers every shape,
/// folds shape subgraphs to constants, fixes each runtime node's kernel parameters and lays
/// activations out in one arena, reusing the memory of values no later step reads.
struct Planner {
    enum Value {
        case constant(HostTensor)
        case runtime(shape: [Int], storage: Int)
    }

    let graph: ModelGraph
    var values: [Value?]
    var steps: [Step] = []
    var constants: [FloatStorage] = []
    var storageSizes: [Int] = []
    /// Step index that writes each storage (-1 for graph inputs).
    var storageDefinition: [Int] = []
    var storageLastUse: [Int] = []
    /// Storages that live inside another one (a Concat's input written in place into its
    /// output): the enclosing storage and the offset in floats.
    var storageParent: [Int: (storage: Int, offset: Int)] = [:]
    /// Storages that are graph inputs or parents of in-place Concat inputs.
    var pinnedStorages = Set<Int>()
    /// Storages ``allocate()`` leaves out of the arena (see ``ExecutionPlan/externalStorages``).
    var externalStorages = Set<Int>()
    /// Concat chains (``concatChains(_:)``): each earlier Concat's output value and the output
    /// value of the last Concat of its chain.
    var chainFinal: [Int: Int] = [:]
    /// Earlier Concats of a chain planned as plain copies until their last one decides: the
    /// step index and output storage, by output value.
    var deferredConcats: [Int: (step: Int, storage: Int)] = [:]
    var multiplyAdds = 0

    init(graph: ModelGraph) {
        self.graph = graph
        values = [Value?](repeating: nil, count: graph.valueNames.count)
        for (id, tensor) in graph.constants { values[id] = .constant(tensor) }
    }

    static func plan(_ graph: ModelGraph, inputShapes: [[Int]]) throws -> ExecutionPlan {
        var planner = Planner(graph: graph)
        planner.chainFinal = concatChains(graph)
        var inputStorages: [Int] = []
        for (port, shape) in zip(graph.inputs, inputShapes) {
            let storage = planner.newStorage(count: shape.reduce(1, *), definedAt: -1)
            planner.pinnedStorages.insert(storage)
            planner.values[port.id] = .runtime(shape: shape, storage: storage)
            inputStorages.append(storage)
        }
        for node in graph.nodes { try planner.plan(node) }
        var outputs: [ExecutionPlan.Output] = []
        for port in graph.outputs {
            switch planner.values[port.id] {
            case .runtime(let shape, let storage)?:
                planner.storageLastUse[storage] = Int.max
                outputs.append(.init(name: port.info.name, shape: shape, source: .storage(storage)))
            case .constant(let tensor)?:
                outputs.append(.init(name: port.info.name, shape: tensor.shape, source: planner.constant(tensor.floats)))
            case nil:
                throw InferenceError.corruptModel(path: graph.path, reason: "graph output '\(port.info.name)' is never computed")
            }
        }
        // Inputs and outputs live in the caller's tensors, not in the arena: an output storage
        // qualifies when it holds no in-place Concat input, is no graph input and backs one output.
        var external = Set(inputStorages)
        let parents = Set(planner.storageParent.values.map(\.storage))
        let outputStorages: [Int] = outputs.compactMap { if case .storage(let id) = $0.source { return id } else { return nil } }
        for storage in outputStorages where !parents.contains(storage) && planner.storageParent[storage] == nil
            && !inputStorages.contains(storage) && outputStorages.filter({ $0 == storage }).count == 1
            && planner.storageSizes[storage] > 0 {
            external.insert(storage)
        }
        planner.externalStorages = external
        let (offsets, size) = planner.allocate()
        return ExecutionPlan(steps: planner.steps, storageOffsets: offsets, arenaSize: size, constants: planner.constants,
                             inputStorages: inputStorages, outputs: outputs, multiplyAdds: planner.multiplyAdds,
                             externalStorages: external)
    }

    /// Chains of Concats where each one's inputs are the first inputs of the next, in order,
    /// on the same axis: DenseNet's dense blocks concatenate every earlier feature map again
    /// at every layer (`torch.cat(features, 1)`), so copying each Concat's inputs costs the
    /// square of the block's depth. Maps each earlier Concat's output value to the output value
    /// of the longest Concat that starts with its inputs (the chain's last); the planner then
    /// has every feature map written once, in place, into that last output, and each earlier
    /// Concat read as its first channels (``planConcat(_:)``).
    static func concatChains(_ graph: ModelGraph) -> [Int: Int] {
        let concats = graph.nodes.filter { node in
            node.op == "Concat" && node.outputs.count == 1 && node.inputs.count >= 1 && node.inputs.allSatisfy { $0 != nil }
        }
        var final: [Int: Int] = [:]
        for earlier in concats {
            let axis = try? earlier.attributes.int("axis", default: 0)
            var longest: GraphNode? = nil
            for later in concats where later.inputs.count > earlier.inputs.count && later.inputs.starts(with: earlier.inputs)
                && (try? later.attributes.int("axis", default: 0)) == axis {
                if longest == nil || later.inputs.count > longest!.inputs.count { longest = later }
            }
            if let longest { final[earlier.outputs[0]] = longest.outputs[0] }
        }
        return final
    }

    // MARK: Storage

    mutating func newStorage(count: Int, definedAt step: Int) -> Int {
        storageSizes.append(count)
        storageDefinition.append(step)
        storageLastUse.append(step)
        return storageSizes.count - 1
    }

    mutating func constant(_ values: [Float]) -> Operand {
        constants.append(FloatStorage(values))
        return .constant(constants.count - 1)
    }

    /// The outermost storage holding `storage`, and its offset there.
    func root(of storage: Int) -> (storage: Int, offset: Int) {
        var current = storage, offset = 0
        while let parent = storageParent[current] {
            offset += parent.offset
            current = parent.storage
        }
        return (current, offset)
    }

    /// Places the storages in one arena: largest first, each at the lowest offset where it
    /// overlaps no placed storage that is live at the same time (from the step that writes it
    /// to the last step that reads it). A storage holding in-place Concat inputs lives from the
    /// first of them to the last read of any of them. Largest-first leaves fewer holes than
    /// first-fit in step order: the bench U-Net's arena at 512×512 was 67.0 MB that way.
    func allocate() -> (offsets: [Int], size: Int) {
        var definition = storageDefinition, lastUse = storageLastUse
        for storage in storageSizes.indices where storageParent[storage] != nil {
            let outer = root(of: storage).storage
            definition[outer] = min(definition[outer], storageDefinition[storage])
            lastUse[outer] = max(lastUse[outer], storageLastUse[storage])
        }
        func size(_ storage: Int) -> Int { (max(storageSizes[storage], 1) + 15) / 16 * 16 }
        var offsets = [Int](repeating: 0, count: storageSizes.count)
        var placed: [(offset: Int, end: Int, storage: Int)] = []
        var arenaSize = 0
        let roots = storageSizes.indices.filter { storageParent[$0] == nil && !externalStorages.contains($0) }
            .sorted { size($0) != size($1) ? size($0) > size($1) : $0 < $1 }
        for storage in roots {
            let extent = size(storage)
            let overlapping = placed.filter { definition[$0.storage] <= lastUse[storage] && definition[storage] <= lastUse[$0.storage] }
                .sorted { $0.offset < $1.offset }
            var start = 0
            for block in overlapping {
                if block.offset - start >= extent { break }
                start = max(start, block.end)
            }
            offsets[storage] = start
            placed.append((start, start + extent, storage))
            arenaSize = max(arenaSize, start + extent)
        }
        for storage in storageSizes.indices where storageParent[storage] != nil {
            let (outer, offset) = root(of: storage)
            offsets[storage] = offsets[outer] + offset
        }
        return (offsets, arenaSize)
    }

    // MARK: Node planning

    func invalid(_ node: GraphNode, _ reason: String) -> InferenceError {
        .invalidNode(path: graph.path, node: node.name, op: node.op, reason: reason)
    }

    func value(_ node: GraphNode, _ index: Int) throws -> Value {
        guard let id = node.input(index), let value = values[id] else { throw invalid(node, "input \(index) is missing") }
        return value
    }

    func shape(of value: Value) -> [Int] {
        switch value {
        case .constant(let tensor): return tensor.shape
        case .runtime(let shape, _): return shape
        }
    }

    func constantInput(_ node: GraphNode, _ index: Int) -> HostTensor? {
        guard let id = node.input(index), case .constant(let tensor)? = values[id] else { return nil }
        return tensor
    }

    /// The operand for an input, marking it read by the step about to be appended.
    mutating func operand(_ value: Value) -> Operand {
        switch value {
        case .constant(let tensor): return constant(tensor.floats)
        case .runtime(_, let storage):
            storageLastUse[storage] = max(storageLastUse[storage], steps.count)
            return .storage(storage)
        }
    }

    /// A fresh runtime value for the step about to be appended.
    mutating func define(_ node: GraphNode, output index: Int = 0, shape: [Int]) -> Operand {
        let storage = newStorage(count: shape.reduce(1, *), definedAt: steps.count)
        values[node.outputs[index]] = .runtime(shape: shape, storage: storage)
        return .storage(storage)
    }

    mutating func alias(_ node: GraphNode, _ input: Value, shape: [Int]) {
        switch input {
        case .constant(let tensor): values[node.outputs[0]] = .constant(HostTensor(shape: shape, elements: tensor.elements))
        case .runtime(_, let storage): values[node.outputs[0]] = .runtime(shape: shape, storage: storage)
        }
    }

    mutating func plan(_ node: GraphNode) throws {
        let inputs = node.inputs.map { $0.flatMap { values[$0] } }
        for (position, id) in node.inputs.enumerated() where id != nil && inputs[position] == nil {
            throw invalid(node, "input \(position) is not computed before this node")
        }
        let allConstant = inputs.allSatisfy { value in
            if case .runtime? = value { return false } else { return true }
        }
        if node.op == "Shape" {
            var shape = shape(of: try value(node, 0))
            let rank = shape.count
            let start = try node.attributes.int("start", default: 0), end = try node.attributes.int("end", default: rank)
            let lower = min(max(start < 0 ? start + rank : start, 0), rank), upper = min(max(end < 0 ? end + rank : end, 0), rank)
            shape = lower < upper ? Array(shape[lower..<upper]) : []
            values[node.outputs[0]] = .constant(HostTensor(shape: [shape.count], ints: shape))
            return
        }
        if node.op == "Size" {
            values[node.outputs[0]] = .constant(HostTensor(shape: [], ints: [shape(of: try value(node, 0)).reduce(1, *)]))
            return
        }
        if allConstant && ModelGraph.foldableOperators.contains(node.op) {
            let hostInputs: [HostTensor?] = inputs.map { value in
                if case .constant(let tensor)? = value { return tensor } else { return nil }
            }
            values[node.outputs[0]] = .constant(try ConstantFolding.evaluate(node, inputs: hostInputs, opset: graph.opset))
            return
        }
        try planRuntime(node)
    }

    mutating func planRuntime(_ node: GraphNode) throws {
        let a = node.attributes
        switch node.op {
        case "Identity", "Dropout":
            let x = try value(node, 0)
            alias(node, x, shape: shape(of: x))
        case "Cast":
            // Activations are float32 at run time; integer and bool results are held as floats.
            let to = try a.int("to", default: 1)
            let x = try value(node, 0)
            switch to {
            case 1, 10, 11, 16:
                alias(node, x, shape: shape(of: x))
            case 9:
                try planUnary(node, .isNonZero)
            case 2, 3, 4, 5, 6, 7, 12, 13:
                try planUnary(node, .truncate)
            default:
                throw invalid(node, "casting activations to \(ModelGraph.elementTypeName(Int32(to))) is not supported")
            }
        case "Reshape":
            let x = try value(node, 0)
            guard let requested = constantInput(node, 1)?.ints,
                  let target = ShapeRules.reshape(shape(of: x), to: requested, allowZero: try a.int("allowzero", default: 0) != 0) else {
                throw invalid(node, "cannot reshape \(shape(of: x)) to \(constantInput(node, 1)?.ints ?? [])")
            }
            alias(node, x, shape: target)
        case "Flatten":
            let x = try value(node, 0)
            alias(node, x, shape: try ConstantFolding.flattenShape(shape(of: x), a))
        case "Unsqueeze", "Squeeze":
            let x = try value(node, 0)
            let axes = graph.opset >= 13 ? constantInput(node, 1)?.ints : try a.ints("axes")
            let target = node.op == "Unsqueeze" ? try ConstantFolding.unsqueezeShape(shape(of: x), axes: axes ?? [], a)
                                                : try ConstantFolding.squeezeShape(shape(of: x), axes: axes, a)
            alias(node, x, shape: target)
        case "Conv", "ConvTranspose":
            try planConvolution(node)
        case "BatchNormalization":
            let x = try value(node, 0)
            let s = shape(of: x)
            guard s.count >= 2, let scale = constantInput(node, 1), let bias = constantInput(node, 2),
                  let mean = constantInput(node, 3), let variance = constantInput(node, 4),
                  [scale, bias, mean, variance].allSatisfy({ $0.count == s[1] }) else {
                throw invalid(node, "needs \(s.count >= 2 ? s[1] : 0) constant scale, bias, mean and variance values for input \(s)")
            }
            let epsilon = try a.float("epsilon", default: 1e-5)
            let factors = (0..<s[1]).map { scale.floats[$0] / (variance.floats[$0] + epsilon).squareRoot() }
            let shifts = (0..<s[1]).map { bias.floats[$0] - mean.floats[$0] * factors[$0] }
            let input = operand(x)
            let output = define(node, shape: s)
            steps.append(.channelAffine(ChannelAffineStep(input: input, output: output, batch: s[0], channels: s[1],
                                                          spatial: s.dropFirst(2).reduce(1, *), scale: factors, shift: shifts,
                                                          activation: node.fusedActivation ?? .identity)))
        case "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "HardSwish", "HardSigmoid", "HemoSilu":
            guard let activation = try graph.fusableActivation(node) else {
                throw invalid(node, "min and max must be constant scalars")
            }
            let x = try value(node, 0)
            let input = operand(x)
            let output = define(node, shape: shape(of: x))
            steps.append(.activation(activation, input: input, output: output, count: shape(of: x).reduce(1, *)))
        case "Add" where node.inputs.count == 2, "Sub" where node.inputs.count == 2, "Mul" where node.inputs.count == 2,
             "Div" where node.inputs.count == 2:
            try planBinary(node)
        case "Concat":
            try planConcat(node)
        case "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool":
            if shape(of: try value(node, 0)).count == 4 { try planPool(node) } else { try planPoolND(node) }
        case "Resize", "Upsample":
            try planResize(node)
        case "Gemm", "MatMul":
            try planMatMul(node)
        case "Transpose":
            let x = try value(node, 0)
            let s = shape(of: x)
            let perm = try a.ints("perm") ?? Array((0..<s.count).reversed())
            guard perm.sorted() == Array(0..<s.count) else { throw invalid(node, "perm \(perm) is not a permutation of 0..<\(s.count)") }
            let strides = ShapeRules.strides(s)
            let input = operand(x)
            let output = define(node, shape: perm.map { s[$0] })
            steps.append(.stridedCopy(StridedCopyStep(input: input, output: output, shape: perm.map { s[$0] },
                                                      strides: perm.map { strides[$0] }, base: 0)))
        case "Slice":
            let x = try value(node, 0)
            let s = shape(of: x)
            let hostInputs: [HostTensor?] = node.inputs.indices.map { constantInput(node, $0) }
            let ranges = try ConstantFolding.sliceRanges(node, shape: s, inputs: hostInputs, opset: graph.opset)
            let strides = ShapeRules.strides(s)
            let base = zip(ranges, strides).reduce(0) { $0 + $1.0.start * $1.1 }
            let input = operand(x)
            let output = define(node, shape: ranges.map(\.count))
            steps.append(.stridedCopy(StridedCopyStep(input: input, output: output, shape: ranges.map(\.count),
                                                      strides: zip(ranges, strides).map { $0.step * $1 }, base: base)))
        case "Gather":
            let x = try value(node, 0)
            guard let indices = constantInput(node, 1),
                  let axis = ShapeRules.normalize(axis: try a.int("axis", default: 0), rank: shape(of: x).count) else {
                throw invalid(node, "indices must be constant and axis in range")
            }
            let plan = try ConstantFolding.gatherPlan(shape: shape(of: x), axis: axis, indices: indices, a)
            let input = operand(x)
            let output = define(node, shape: plan.shape)
            steps.append(.gather(input: input, output: output, sources: plan.sources))
        case "Softmax":
            let x = try value(node, 0)
            let s = shape(of: x)
            let legacy = graph.opset < 13
            guard let axis = ShapeRules.normalize(axis: try a.int("axis", default: legacy ? 1 : -1), rank: s.count) else {
                throw invalid(node, "axis out of range for rank \(s.count)")
            }
            let outer = s[..<axis].reduce(1, *)
            let extent = legacy ? s[axis...].reduce(1, *) : s[axis]
            let inner = legacy ? 1 : s[(axis + 1)...].reduce(1, *)
            let input = operand(x)
            let output = define(node, shape: s)
            steps.append(.softmax(SoftmaxStep(input: input, output: output, outer: outer, extent: extent, inner: inner)))
        case "ConstantOfShape", "Shape", "Constant":
            throw invalid(node, "expected to fold before the run")
        default:
            if try planMore(node) { return }
            throw InferenceError.unsupportedOperator(path: graph.path, node: node.name, op: node.op, domain: "")
        }
    }

    // MARK: Convolutions

    /// Explicit `(begin, end)` padding of one spatial axis from `pads` or `auto_pad`.
    static func padding(auto: String, input: Int, kernel: Int, stride: Int, dilation: Int,
                        explicit: (Int, Int)) -> (Int, Int, output: Int)? {
        let effective = (kernel - 1) * dilation + 1
        switch auto {
        case "SAME_UPPER", "SAME_LOWER":
            let output = (input + stride - 1) / stride
            let total = max(0, (output - 1) * stride + effective - input)
            let small = total / 2
            return auto == "SAME_UPPER" ? (small, total - small, output) : (total - small, small, output)
        case "VALID":
            guard input >= effective else { return nil }
            return (0, 0, (input - effective) / stride + 1)
        case "NOTSET", "":
            let span = input + explicit.0 + explicit.1 - effective
            guard span >= 0 else { return nil }
            return (explicit.0, explicit.1, span / stride + 1)
        default:
            return nil
        }
    }

    mutating func planConvolution(_ node: GraphNode) throws {
        guard let conv = node.convolution else { throw invalid(node, "weights were not prepared") }
        if conv.spatialRank == 3 { return try planConvolution3D(node, conv) }
        let a = node.attributes
        let x = try value(node, 0)
        var s = shape(of: x)
        // A 1-D convolution runs as a 2-D one of height 1.
        let oneD = conv.spatialRank == 1
        guard s.count == (oneD ? 3 : 4), s[1] == conv.inputChannels else {
            throw invalid(node, "input shape \(s) does not match \(conv.inputChannels) input channels (\(oneD ? "NCW" : "NCHW") expected)")
        }
        if oneD { s = [s[0], s[1], 1, s[2]] }
        func attribute(_ name: String, _ fallback: [Int]) throws -> [Int] {
            guard let value = try a.ints(name) else { return fallback }
            guard oneD else { return value }
            if name == "pads" { return value.count == 2 ? [0, value[0], 0, value[1]] : value }
            return value.count == 1 ? [name == "output_padding" ? 0 : 1] + value : value
        }
        let strides = try attribute("strides", [1, 1])
        let dilations = try attribute("dilations", [1, 1])
        let pads = try attribute("pads", [0, 0, 0, 0])
        let autoPad = try a.string("auto_pad", default: "NOTSET")
        guard strides.count == 2, dilations.count == 2, pads.count == 4, strides.allSatisfy({ $0 >= 1 }),
              dilations.allSatisfy({ $0 >= 1 }) else {
            throw invalid(node, "strides \(strides), dilations \(dilations) and pads \(pads) must describe 2 spatial axes")
        }
        var step = ConvolutionStep(
            convolution: conv, input: .storage(0), output: .storage(0), batch: s[0], inputHeight: s[2], inputWidth: s[3],
            outputHeight: 0, outputWidth: 0, strideHeight: strides[0], strideWidth: strides[1],
            padTop: pads[0], padLeft: pads[1], dilationHeight: dilations[0], dilationWidth: dilations[1])
        if !conv.transposed {
            guard let vertical = Self.padding(auto: autoPad, input: s[2], kernel: conv.kernelHeight, stride: strides[0],
                                              dilation: dilations[0], explicit: (pads[0], pads[2])),
                  let horizontal = Self.padding(auto: autoPad, input: s[3], kernel: conv.kernelWidth, stride: strides[1],
                                                dilation: dilations[1], explicit: (pads[1], pads[3])) else {
                throw invalid(node, "input \(s[2])×\(s[3]) is too small for the kernel or auto_pad '\(autoPad)' is unknown")
            }
            step.padTop = vertical.0
            step.padLeft = horizontal.0
            step.outputHeight = vertical.output
            step.outputWidth = horizontal.output
        } else {
            let outputPadding = try attribute("output_padding", [0, 0])
            let requested = try a.ints("output_shape").map { oneD && $0.count == 1 ? [1] + $0 : $0 }
            var padding = pads
            var outputs = [0, 0]
            for axis in 0..<2 {
                let kernel = axis == 0 ? conv.kernelHeight : conv.kernelWidth
                let full = strides[axis] * (s[2 + axis] - 1) + outputPadding[axis] + (kernel - 1) * dilations[axis] + 1
                var target: Int? = requested.map { $0[$0.count - 2 + axis] }
                if target == nil && (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") { target = s[2 + axis] * strides[axis] }
                if let target {
                    let total = full - target
                    let small = total / 2
                    padding[axis] = autoPad == "SAME_UPPER" || autoPad == "NOTSET" && requested != nil ? small : total - small
                    padding[axis + 2] = total - padding[axis]
                    if autoPad == "SAME_LOWER" { padding[axis] = total - small; padding[axis + 2] = small }
                }
                outputs[axis] = full - padding[axis] - padding[axis + 2]
                guard outputs[axis] > 0 else { throw invalid(node, "output extent \(outputs[axis]) ≤ 0 for input \(s)") }
            }
            step.padTop = padding[0]
            step.padLeft = padding[1]
            step.outputHeight = outputs[0]
            step.outputWidth = outputs[1]
        }
        if let fused = foldInputAffine(into: step, node: node, input: x) {
            step = fused
        } else {
            step.input = operand(x)
        }
        step.output = define(node, shape: oneD ? [s[0], conv.outputChannels, step.outputWidth]
                                               : [s[0], conv.outputChannels, step.outputHeight, step.outputWidth])
        let pixels = conv.transposed ? step.inputHeight * step.inputWidth : step.outputHeight * step.outputWidth
        multiplyAdds += s[0] * conv.multiplyAdds * pixels
        steps.append(.convolution(step))
    }

    /// DenseNet's pre-activation (BatchNormalization → ReLU → 1×1 Conv, 82 times in the
    /// DenseNet161 U-Net, each over the whole growing concatenation): when the step just planned
    /// is that normalisation (identity or ReLU), its output is read by this convolution alone
    /// and the convolution is a plain 1×1 product, the step is dropped and the GEMM applies it
    /// while packing the input (the same operations in the same order, so the same bits),
    /// saving a write and a read of the whole input. Returns the step reading the
    /// normalisation's input, or nil when the pattern does not apply.
    mutating func foldInputAffine(into step: ConvolutionStep, node: GraphNode, input x: Value) -> ConvolutionStep? {
        let conv = step.convolution
        guard case .gemm = conv.weights, !conv.transposed, conv.groups == 1, conv.kernelHeight == 1, conv.kernelWidth == 1,
              step.strideHeight == 1, step.strideWidth == 1, step.padTop == 0, step.padLeft == 0,
              step.outputHeight == step.inputHeight, step.outputWidth == step.inputWidth,
              case .runtime(_, let storage) = x, case .channelAffine(let affine)? = steps.last,
              case .storage(let written) = affine.output, written == storage, storageParent[storage] == nil,
              !pinnedStorages.contains(storage), case .storage = affine.input,
              affine.activation == .identity || affine.activation == .relu,
              let id = node.input(0), consumerCount(of: id) == 1 else { return nil }
        steps.removeLast()
        // Nothing writes or reads the normalisation's output any more; its input is now read
        // by the step about to be appended, at the index the removed step had.
        storageSizes[storage] = 0
        var fused = step
        fused.input = affine.input
        fused.inputAffine = InputAffine(scale: affine.scale, shift: affine.shift, relu: affine.activation == .relu)
        return fused
    }

    /// How many nodes read value `id`, plus one when it is a graph output.
    func consumerCount(of id: Int) -> Int {
        var count = graph.outputs.filter { $0.id == id }.count
        for node in graph.nodes { for case let input? in node.inputs where input == id { count += 1 } }
        return count
    }

    // MARK: Element-wise

    mutating func planBinary(_ node: GraphNode) throws {
        let x = try value(node, 0), y = try value(node, 1)
        let sx = shape(of: x), sy = shape(of: y)
        guard let out = ShapeRules.broadcast(sx, sy) else { throw invalid(node, "shapes \(sx) and \(sy) do not broadcast") }
        var shapeList = out.isEmpty ? [1] : out
        var aStrides = out.isEmpty ? [0] : ShapeRules.broadcastStrides(sx, to: out)
        var bStrides = out.isEmpty ? [0] : ShapeRules.broadcastStrides(sy, to: out)
        // Extents of 1 read nothing: give them stride 0, then merge axes that are contiguous for both.
        for axis in shapeList.indices where shapeList[axis] == 1 { aStrides[axis] = 0; bStrides[axis] = 0 }
        var axis = shapeList.count - 1
        while axis > 0 {
            let inner = shapeList[axis]
            if aStrides[axis - 1] == aStrides[axis] * inner && bStrides[axis - 1] == bStrides[axis] * inner {
                shapeList[axis - 1] *= inner
                aStrides[axis - 1] = aStrides[axis]
                bStrides[axis - 1] = bStrides[axis]
                shapeList.remove(at: axis); aStrides.remove(at: axis); bStrides.remove(at: axis)
            }
            axis -= 1
        }
        let kind: BinaryStep.Kind = switch node.op {
        case "Add": .add
        case "Sub": .sub
        case "Mul": .mul
        default: .div
        }
        let left = operand(x), right = operand(y)
        let output = define(node, shape: out)
        steps.append(.binary(BinaryStep(kind: kind, a: left, b: right, output: output, shape: shapeList,
                                        aStrides: aStrides, bStrides: bStrides)))
    }

    // MARK: Pooling

    mutating func planPool(_ node: GraphNode) throws {
        let a = node.attributes
        let x = try value(node, 0)
        let s = shape(of: x)
        guard s.count == 4 else { throw invalid(node, "input shape \(s) is not NCHW") }
        let global = node.op.hasPrefix("Global")
        let kernel = global ? [s[2], s[3]] : (try a.ints("kernel_shape") ?? [])
        guard kernel.count == 2 else { throw invalid(node, "kernel_shape must have 2 values") }
        let strides = global ? [1, 1] : (try a.ints("strides") ?? [1, 1])
        let dilations = global ? [1, 1] : (try a.ints("dilations") ?? [1, 1])
        let pads = global ? [0, 0, 0, 0] : (try a.ints("pads") ?? [0, 0, 0, 0])
        let autoPad = try a.string("auto_pad", default: "NOTSET")
        let ceilMode = try a.int("ceil_mode", default: 0) != 0
        guard strides.count == 2, dilations.count == 2, pads.count == 4 else { throw invalid(node, "expects 2 spatial axes") }
        if try a.int("storage_order", default: 0) != 0 { throw invalid(node, "storage_order 1 is not supported") }
        var padding = pads
        var outputs = [0, 0]
        for axis in 0..<2 {
            guard var result = Self.padding(auto: autoPad, input: s[2 + axis], kernel: kernel[axis], stride: strides[axis],
                                            dilation: dilations[axis], explicit: (pads[axis], pads[axis + 2])) else {
                throw invalid(node, "input \(s) is too small for kernel \(kernel) or auto_pad '\(autoPad)' is unknown")
            }
            if ceilMode && (autoPad == "NOTSET" || autoPad.isEmpty) {
                let effective = (kernel[axis] - 1) * dilations[axis] + 1
                let span = s[2 + axis] + pads[axis] + pads[axis + 2] - effective
                var output = (span + strides[axis] - 1) / strides[axis] + 1
                if (output - 1) * strides[axis] >= s[2 + axis] + pads[axis] { output -= 1 }
                result.output = output
            }
            padding[axis] = result.0
            padding[axis + 2] = result.1
            outputs[axis] = result.output
        }
        let input = operand(x)
        let output = define(node, shape: [s[0], s[1], outputs[0], outputs[1]])
        steps.append(.pool(PoolStep(
            kind: node.op.hasSuffix("MaxPool") ? .max : .average, input: input, output: output, planes: s[0] * s[1],
            inputHeight: s[2], inputWidth: s[3], outputHeight: outputs[0], outputWidth: outputs[1],
            kernelHeight: kernel[0], kernelWidth: kernel[1], strideHeight: strides[0], strideWidth: strides[1],
            padTop: padding[0], padLeft: padding[1], padBottom: padding[2], padRight: padding[3],
            dilationHeight: dilations[0], dilationWidth: dilations[1],
            countIncludePad: try a.int("count_include_pad", default: 0) != 0)))
    }

    // MARK: Resize

    mutating func planResize(_ node: GraphNode) throws {
        let a = node.attributes
        let x = try value(node, 0)
        let s = shape(of: x)
        let rank = s.count
        let mode = try a.string("mode", default: "nearest")
        guard ["nearest", "linear", "bilinear", "cubic"].contains(mode) else {
            throw invalid(node, "mode '\(mode)' is not supported (nearest, linear, cubic)")
        }
        var transform: String
        var nearestMode: String
        var scales: [Float]? = nil
        var sizes: [Int]? = nil
        if node.op == "Upsample" || graph.opset < 11 {
            transform = "asymmetric"
            nearestMode = "floor"
            if node.op == "Upsample" && graph.opset < 9 { scales = try a.floats("scales") } else { scales = constantInput(node, 1)?.floats }
        } else {
            transform = try a.string("coordinate_transformation_mode", default: "half_pixel")
            nearestMode = try a.string("nearest_mode", default: "round_prefer_floor")
            if let value = constantInput(node, 2), value.count > 0 { scales = value.floats }
            if let value = constantInput(node, 3), value.count > 0 { sizes = value.ints }
            if try a.int("antialias", default: 0) != 0 { throw invalid(node, "antialias is not supported") }
            let policy = try a.string("keep_aspect_ratio_policy", default: "stretch")
            if policy != "stretch" { throw invalid(node, "keep_aspect_ratio_policy '\(policy)' is not supported") }
            // Opset 18 `axes`: scales or sizes for those axes only; the others keep their extent.
            if let axes = try a.ints("axes") {
                let normalized = try axes.map { axis -> Int in
                    guard let value = ShapeRules.normalize(axis: axis, rank: rank) else { throw invalid(node, "axis \(axis) out of range") }
                    return value
                }
                if let given = scales, given.count == normalized.count {
                    var full = [Float](repeating: 1, count: rank)
                    for (i, axis) in normalized.enumerated() { full[axis] = given[i] }
                    scales = full
                }
                if let given = sizes, given.count == normalized.count {
                    var full = s
                    for (i, axis) in normalized.enumerated() { full[axis] = given[i] }
                    sizes = full
                }
            }
        }
        var outShape: [Int]
        if let sizes {
            guard sizes.count == rank else { throw invalid(node, "sizes \(sizes) must have \(rank) values") }
            outShape = sizes
        } else if let scales {
            guard scales.count == rank else { throw invalid(node, "scales \(scales) must have \(rank) values") }
            outShape = (0..<rank).map { Int((Float(s[$0]) * scales[$0]).rounded(.down)) }
        } else {
            throw invalid(node, "needs constant scales or sizes")
        }
        guard outShape.allSatisfy({ $0 > 0 }) else { throw invalid(node, "output shape \(outShape) is empty") }
        guard ["half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel", "half_pixel_symmetric"].contains(transform) else {
            throw invalid(node, "coordinate_transformation_mode '\(transform)' is not supported (half_pixel, asymmetric, align_corners, pytorch_half_pixel, half_pixel_symmetric)")
        }
        guard ["floor", "ceil", "round_prefer_floor", "round_prefer_ceil"].contains(nearestMode) else {
            throw invalid(node, "nearest_mode '\(nearestMode)' is not supported")
        }
        // The 2-D kernel: NCHW, nearest or linear, spatial axes only. Everything else: one
        // resampling step per resized axis.
        if rank != 4 || mode == "cubic" || outShape[0] != s[0] || outShape[1] != s[1] || transform == "half_pixel_symmetric" {
            let normalizedMode = mode == "bilinear" ? "linear" : mode
            try planResizeSeparable(node, input: x, outShape: outShape, scales: scales, mode: normalizedMode,
                                    transform: transform, nearestMode: nearestMode)
            return
        }
        let linear = mode != "nearest"
        func axisTables(_ axis: Int) -> (i0: [Int], i1: [Int], w: [Float]) {
            let inExtent = s[axis], outExtent = outShape[axis]
            let scale = scales.map { $0[axis] } ?? Float(outExtent) / Float(inExtent)
            var i0 = [Int](), i1 = [Int](), w = [Float]()
            for o in 0..<outExtent {
                let xo = Float(o)
                var original: Float
                switch transform {
                case "asymmetric": original = xo / scale
                case "align_corners": original = outExtent == 1 ? 0 : xo * Float(inExtent - 1) / Float(outExtent - 1)
                case "pytorch_half_pixel": original = outExtent > 1 ? (xo + 0.5) / scale - 0.5 : 0
                default: original = (xo + 0.5) / scale - 0.5
                }
                if linear {
                    original = min(max(original, 0), Float(inExtent - 1))
                    let low = Int(original.rounded(.down))
                    i0.append(low)
                    i1.append(min(low + 1, inExtent - 1))
                    w.append(original - Float(low))
                } else {
                    let index = resizeNearestIndex(original, mode: nearestMode)
                    i0.append(min(max(index, 0), inExtent - 1))
                }
            }
            return (i0, i1, w)
        }
        let rows = axisTables(2), columns = axisTables(3)
        let input = operand(x)
        let output = define(node, shape: outShape)
        steps.append(.resize(ResizeStep(
            input: input, output: output, planes: s[0] * s[1], inputHeight: s[2], inputWidth: s[3],
            outputHeight: outShape[2], outputWidth: outShape[3], linear: linear, rows0: rows.i0, columns0: columns.i0,
            rows1: rows.i1, columns1: columns.i1, rowWeights: rows.w, columnWeights: columns.w)))
    }

    // MARK: Matrix products

    mutating func planMatMul(_ node: GraphNode) throws {
        let a = node.attributes
        let x = try value(node, 0), y = try value(node, 1)
        let sx = shape(of: x), sy = shape(of: y)
        if node.op == "Gemm" {
            guard sx.count == 2, sy.count == 2 else { throw invalid(node, "Gemm needs 2-D inputs, got \(sx) and \(sy)") }
            let transA = try a.int("transA", default: 0) != 0, transB = try a.int("transB", default: 0) != 0
            let m = transA ? sx[1] : sx[0], k = transA ? sx[0] : sx[1]
            let n = transB ? sy[0] : sy[1], kb = transB ? sy[1] : sy[0]
            guard k == kb else { throw invalid(node, "inner dimensions differ: \(sx) and \(sy)") }
            var cOperand: Operand? = nil
            var cRow = 0, cColumn = 0
            if node.input(2) != nil {
                let c = try value(node, 2)
                let sc = shape(of: c)
                guard let broadcast = ShapeRules.broadcast(sc, [m, n]), broadcast == [m, n] else {
                    throw invalid(node, "C of shape \(sc) does not broadcast to [\(m), \(n)]")
                }
                let strides = ShapeRules.broadcastStrides(sc, to: [m, n])
                cRow = m == 1 ? 0 : strides[0]
                cColumn = n == 1 ? 0 : strides[1]
                cOperand = operand(c)
            }
            let left = operand(x), right = operand(y)
            let output = define(node, shape: [m, n])
            multiplyAdds += m * n * k
            steps.append(.matmul(MatMulStep(
                a: left, b: right, c: cOperand, output: output, batch: 1, m: m, k: k, n: n, aBatchStride: 0, bBatchStride: 0,
                aRowStride: transA ? 1 : k, aDepthStride: transA ? m : 1, bDepthStride: transB ? 1 : n,
                bColumnStride: transB ? k : 1, cRowStride: cRow, cColumnStride: cColumn,
                alpha: try a.float("alpha", default: 1), beta: try a.float("beta", default: 1))))
            return
        }
        guard !sx.isEmpty, !sy.isEmpty else { throw invalid(node, "MatMul of scalars (\(sx), \(sy))") }
        // 1-D operands: A [k] is [1, k], B [k] is [k, 1]; the added axis is dropped from the output.
        let ax = sx.count == 1 ? [1] + sx : sx, by = sy.count == 1 ? sy + [1] : sy
        let m = ax[ax.count - 2], k = ax[ax.count - 1], n = by[by.count - 1]
        guard by[by.count - 2] == k else { throw invalid(node, "inner dimensions differ: \(sx) and \(sy)") }
        let batchX = Array(ax.dropLast(2)), batchY = Array(by.dropLast(2))
        guard let batchShape = ShapeRules.broadcast(batchX, batchY) else {
            throw invalid(node, "batch dimensions \(batchX) and \(batchY) do not broadcast")
        }
        let batch = batchShape.reduce(1, *)
        var aOffsets: [Int]? = nil, bOffsets: [Int]? = nil
        var aBatchStride = m * k, bBatchStride = k * n
        if batchX != batchShape || batchY != batchShape {
            let ax = ConstantFolding.broadcastIndices(batchX, to: batchShape), bx = ConstantFolding.broadcastIndices(batchY, to: batchShape)
            aOffsets = ax.map { $0 * m * k }
            bOffsets = bx.map { $0 * k * n }
            if batchY.reduce(1, *) == 1 && batchX == batchShape { bOffsets = nil; aOffsets = nil; bBatchStride = 0 }
            if batchX.reduce(1, *) == 1 && batchY == batchShape && aOffsets != nil { aOffsets = nil; bOffsets = nil; aBatchStride = 0 }
        }
        var outShape = batchShape
        if sx.count > 1 { outShape.append(m) }
        if sy.count > 1 { outShape.append(n) }
        let left = operand(x), right = operand(y)
        let output = define(node, shape: outShape)
        multiplyAdds += batch * m * n * k
        steps.append(.matmul(MatMulStep(
            a: left, b: right, c: nil, output: output, batch: batch, m: m, k: k, n: n, aBatchStride: aBatchStride,
            bBatchStride: bBatchStride, aRowStride: k, aDepthStride: 1, bDepthStride: n, bColumnStride: 1,
            cRowStride: 0, cColumnStride: 0, alpha: 1, beta: 0, aOffsets: aOffsets, bOffsets: bOffsets)))
    }
}

/// ONNX Resize's `nearest_mode`: the input index nearest to the continuous coordinate
/// `original` (`round_prefer_floor` is the default), before clamping to the extent.
func resizeNearestIndex(_ original: Float, mode: String) -> Int {
    switch mode {
    case "floor": return Int(original.rounded(.down))
    case "ceil": return Int(original.rounded(.up))
    case "round_prefer_ceil": return Int(original.rounded(.toNearestOrAwayFromZero))
    default:
        let floor = original.rounded(.down)
        return original == floor + 0.5 ? Int(floor) : Int(original.rounded(.toNearestOrAwayFromZero))
    }
}

extension Planner {
    /// Concat. With one outer block (batch 1 on the channel axis) the inputs are consecutive
    /// ranges of the output, so producers can write there directly:
    /// - in a chain (``concatChains(_:)``), the last Concat's output holds every input, each
    ///   written in place by its producer, and each earlier Concat is its first channels: no
    ///   copy at all (the earlier ones are planned as copies, then turned into no-ops when the
    ///   last one finds every input free to place);
    /// - otherwise the input produced last (a U-Net's upsampled path) is written there by its
    ///   producer; earlier ones (the skip, live since the encoder) are copied, so the whole
    ///   output is not held while the network runs between them.
    mutating func planConcat(_ node: GraphNode) throws {
        let a = node.attributes
        let present = try node.inputs.indices.filter { node.inputs[$0] != nil }.map { try value(node, $0) }
        let shapes = present.map { shape(of: $0) }
        guard let first = shapes.first,
              let axis = ShapeRules.normalize(axis: try a.int("axis", default: 0), rank: first.count) else {
            throw invalid(node, "axis out of range")
        }
        for s in shapes where s.count != first.count || (0..<first.count).contains(where: { $0 != axis && s[$0] != first[$0] }) {
            throw invalid(node, "input shapes \(shapes) differ outside axis \(axis)")
        }
        var outShape = first
        outShape[axis] = shapes.reduce(0) { $0 + $1[axis] }
        let chunkSizes = shapes.map { $0[axis...].reduce(1, *) }
        let outer = first[..<axis].reduce(1, *)
        let storages: [Int?] = present.map { value in
            if case .runtime(_, let storage) = value { return storage } else { return nil }
        }
        /// Whether input `index` can be written in place into the output.
        func placeable(_ index: Int) -> Bool {
            guard case .runtime(let shape, let storage) = present[index], !pinnedStorages.contains(storage),
                  storageParent[storage] == nil, storages.filter({ $0 == storage }).count == 1,
                  storageSizes[storage] == shape.reduce(1, *) else { return false }
            return true
        }
        let outputValue = node.outputs[0]
        if outer == 1 && chainFinal[outputValue] != nil {
            // An earlier Concat of a chain: a copy for now (the chain's last decides).
            let operands = present.map { operand($0) }
            let step = steps.count
            let output = define(node, shape: outShape)
            if case .storage(let storage) = output { deferredConcats[outputValue] = (step, storage) }
            steps.append(.concat(ConcatStep(inputs: operands, chunkSizes: chunkSizes, outer: outer, output: output,
                                            inPlace: [Bool](repeating: false, count: present.count))))
            return
        }
        let members = chainFinal.filter { $0.value == outputValue }.keys.sorted()
        if outer == 1 && !members.isEmpty && present.indices.allSatisfy(placeable)
            && members.allSatisfy({ member in
                guard let deferred = deferredConcats[member] else { return false }
                return !pinnedStorages.contains(deferred.storage) && storageParent[deferred.storage] == nil
            }) {
            let output = define(node, shape: outShape)
            guard case .storage(let outputStorage) = output else { return }
            pinnedStorages.insert(outputStorage)
            var offset = 0
            for (index, value) in present.enumerated() {
                if case .runtime(_, let storage) = value { storageParent[storage] = (outputStorage, offset) }
                offset += chunkSizes[index]
            }
            for member in members {
                let deferred = deferredConcats[member]!
                storageParent[deferred.storage] = (outputStorage, 0)
                // Its inputs are already in place: the step copies nothing.
                if case .concat(var step) = steps[deferred.step] {
                    step.inPlace = [Bool](repeating: true, count: step.inPlace.count)
                    steps[deferred.step] = .concat(step)
                }
            }
            return
        }
        var inPlace = [Bool](repeating: false, count: present.count)
        if outer == 1 {
            let latest = storages.compactMap { $0.map { storageDefinition[$0] } }.max()
            for index in present.indices {
                guard placeable(index), case .runtime(_, let storage) = present[index], storageDefinition[storage] == latest else { continue }
                inPlace[index] = true
            }
        }
        let operands = present.enumerated().map { index, value in
            inPlace[index] ? .storage(0) : operand(value)
        }
        let output = define(node, shape: outShape)
        if inPlace.contains(true), case .storage(let outputStorage) = output {
            pinnedStorages.insert(outputStorage)
            var offset = 0
            for (index, value) in present.enumerated() {
                if inPlace[index], case .runtime(_, let storage) = value { storageParent[storage] = (outputStorage, offset) }
                offset += chunkSizes[index]
            }
        }
        if inPlace.contains(false) {
            steps.append(.concat(ConcatStep(inputs: operands, chunkSizes: chunkSizes, outer: outer, output: output,
                                            inPlace: inPlace)))
        }
    }
}
