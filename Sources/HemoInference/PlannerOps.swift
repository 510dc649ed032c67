#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Planning of the operators beyond the NCHW convolution core: N-D element-wise operators with
/// broadcasting, normalisations, reductions, padding, data movement, 3-D convolutions and
/// pooling, general resizing and Einsum.
extension Planner {
    /// Plans `node` when its operator is one of these; false when it is not.
    mutating func planMore(_ node: GraphNode) throws -> Bool {
        let a = node.attributes
        switch node.op {
        case "Add", "Sub", "Mul", "Div", "Pow", "Min", "Max", "Equal", "Less", "Greater", "LessOrEqual",
             "GreaterOrEqual", "And", "Or", "Xor", "PRelu", "Where", "Sum", "Mean", "Mod":
            try planElementwise(node)
        case "Erf", "Gelu", "Mish", "Softplus", "Exp", "Log", "Sqrt", "Reciprocal", "Neg", "Abs", "Not", "Floor",
             "Ceil", "Sign", "Round", "Elu", "Selu", "Softsign", "Sin", "Cos":
            let kind: UnaryStep.Kind
            switch node.op {
            case "Erf": kind = .erf
            case "Gelu": kind = try a.string("approximate", default: "none") == "tanh" ? .geluTanh : .gelu
            case "Mish": kind = .mish
            case "Softplus": kind = .softplus
            case "Exp": kind = .exp
            case "Log": kind = .log
            case "Sqrt": kind = .sqrt
            case "Reciprocal": kind = .reciprocal
            case "Neg": kind = .neg
            case "Abs": kind = .abs
            case "Not": kind = .not
            case "Floor": kind = .floor
            case "Ceil": kind = .ceil
            case "Sign": kind = .sign
            case "Round": kind = .round
            case "Elu": kind = .elu(try a.float("alpha", default: 1))
            case "Selu": kind = .selu(try a.float("alpha", default: 1.67326319217681884765625),
                                      try a.float("gamma", default: 1.05070102214813232421875))
            case "Softsign": kind = .softsign
            case "Sin": kind = .sin
            default: kind = .cos
            }
            try planUnary(node, kind)
        case "InstanceNormalization", "LayerNormalization", "GroupNormalization":
            try planNormalization(node)
        case "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL2", "ReduceL1", "ReduceSumSquare",
             "ReduceProd", "ReduceLogSumExp":
            try planReduce(node)
        case "Pad":
            try planPad(node)
        case "Split":
            try planSplit(node)
        case "Expand":
            let x = try value(node, 0)
            let s = shape(of: x)
            guard let requested = constantInput(node, 1)?.ints, let out = ShapeRules.broadcast(s, requested) else {
                throw invalid(node, "cannot expand \(s) to \(constantInput(node, 1)?.ints ?? [])")
            }
            if out == s { alias(node, x, shape: s); return true }
            let input = operand(x)
            let output = define(node, shape: out)
            steps.append(.stridedCopy(StridedCopyStep(input: input, output: output, shape: out,
                                                      strides: ShapeRules.broadcastStrides(s, to: out), base: 0)))
        case "Tile":
            let x = try value(node, 0)
            let s = shape(of: x)
            guard let repeats = constantInput(node, 1)?.ints, repeats.count == s.count, repeats.allSatisfy({ $0 >= 0 }) else {
                throw invalid(node, "repeats must be constant, one non-negative value per axis of \(s)")
            }
            // Output [r0·d0, r1·d1, …] is the row-major view [r0, d0, r1, d1, …] with stride 0 on each r.
            let strides = ShapeRules.strides(s)
            var viewShape: [Int] = [], viewStrides: [Int] = []
            for axis in s.indices {
                viewShape += [repeats[axis], s[axis]]
                viewStrides += [0, strides[axis]]
            }
            let input = operand(x)
            let output = define(node, shape: zip(s, repeats).map { $0 * $1 })
            steps.append(.stridedCopy(StridedCopyStep(input: input, output: output, shape: viewShape, strides: viewStrides, base: 0)))
        case "Einsum":
            try planEinsum(node)
        case "Range":
            throw InferenceError.dynamicShape(path: graph.path, node: node.name, op: node.op,
                                              reason: "start, limit and delta must be known before the run")
        default:
            return false
        }
        return true
    }

    // MARK: Element-wise

    /// The broadcast output shape of `shapes`, coalesced: extents, and per operand its strides.
    static func broadcastLayout(_ shapes: [[Int]]) -> (output: [Int], shape: [Int], strides: [[Int]])? {
        guard var out = shapes.first else { return nil }
        for s in shapes.dropFirst() {
            guard let next = ShapeRules.broadcast(out, s) else { return nil }
            out = next
        }
        var shapeList = out.isEmpty ? [1] : out
        var strides = shapes.map { out.isEmpty ? [0] : ShapeRules.broadcastStrides($0, to: out) }
        for axis in shapeList.indices where shapeList[axis] == 1 {
            for i in strides.indices { strides[i][axis] = 0 }
        }
        var axis = shapeList.count - 1
        while axis > 0 {
            let inner = shapeList[axis]
            if strides.allSatisfy({ $0[axis - 1] == $0[axis] * inner }) {
                shapeList[axis - 1] *= inner
                for i in strides.indices {
                    strides[i][axis - 1] = strides[i][axis]
                    strides[i].remove(at: axis)
                }
                shapeList.remove(at: axis)
            }
            axis -= 1
        }
        return (out, shapeList, strides)
    }

    mutating func planElementwise(_ node: GraphNode) throws {
        let present = try node.inputs.indices.filter { node.inputs[$0] != nil }.map { try value(node, $0) }
        if node.op == "Where" {
            guard present.count == 3, let layout = Self.broadcastLayout(present.map { shape(of: $0) }) else {
                throw invalid(node, "shapes \(present.map { shape(of: $0) }) do not broadcast")
            }
            let condition = operand(present[0]), x = operand(present[1]), y = operand(present[2])
            let output = define(node, shape: layout.output)
            steps.append(.binary(BinaryStep(kind: .add, a: x, b: y, output: output, condition: condition,
                                            conditionStrides: layout.strides[0], shape: layout.shape,
                                            aStrides: layout.strides[1], bStrides: layout.strides[2])))
            return
        }
        let kind: BinaryStep.Kind
        switch node.op {
        case "Add", "Sum", "Mean": kind = .add
        case "Sub": kind = .sub
        case "Mul": kind = .mul
        case "Div": kind = .div
        case "Pow": kind = .pow
        case "Min": kind = .min
        case "Max": kind = .max
        case "Equal": kind = .equal
        case "Less": kind = .less
        case "Greater": kind = .greater
        case "LessOrEqual": kind = .lessOrEqual
        case "GreaterOrEqual": kind = .greaterOrEqual
        case "And": kind = .and
        case "Or": kind = .or
        case "Xor": kind = .xor
        case "Mod": kind = try node.attributes.int("fmod", default: 0) == 1 ? .fmod : .mod
        default: kind = .prelu
        }
        guard let first = present.first else { throw invalid(node, "has no inputs") }
        if present.count == 1 {
            if node.op == "Mean" || node.op == "Sum" || node.op == "Min" || node.op == "Max" {
                alias(node, first, shape: shape(of: first))
                return
            }
            throw invalid(node, "needs two inputs")
        }
        // Variadic Sum/Min/Max/Mean: a chain of binary steps (Mean divides at the end).
        var accumulated = first
        for (index, next) in present.dropFirst().enumerated() {
            let last = index == present.count - 2 && node.op != "Mean"
            accumulated = try planBinaryStep(node, kind, accumulated, next, final: last)
        }
        if node.op == "Mean" {
            let divisor = Value.constant(HostTensor(shape: [], floats: [Float(present.count)]))
            _ = try planBinaryStep(node, .div, accumulated, divisor, final: true)
        }
    }

    /// One broadcast binary step; `final` defines the node's output, otherwise a fresh intermediate.
    mutating func planBinaryStep(_ node: GraphNode, _ kind: BinaryStep.Kind, _ x: Value, _ y: Value, final: Bool) throws -> Value {
        let sx = shape(of: x), sy = shape(of: y)
        guard let layout = Self.broadcastLayout([sx, sy]) else { throw invalid(node, "shapes \(sx) and \(sy) do not broadcast") }
        let left = operand(x), right = operand(y)
        let output: Operand
        let result: Value
        if final {
            output = define(node, shape: layout.output)
            result = values[node.outputs[0]]!
        } else {
            let storage = newStorage(count: layout.output.reduce(1, *), definedAt: steps.count)
            output = .storage(storage)
            result = .runtime(shape: layout.output, storage: storage)
        }
        steps.append(.binary(BinaryStep(kind: kind, a: left, b: right, output: output, shape: layout.shape,
                                        aStrides: layout.strides[0], bStrides: layout.strides[1])))
        return result
    }

    mutating func planUnary(_ node: GraphNode, _ kind: UnaryStep.Kind) throws {
        let x = try value(node, 0)
        let s = shape(of: x)
        let input = operand(x)
        let output = define(node, shape: s)
        steps.append(.unary(UnaryStep(kind: kind, input: input, output: output, count: s.reduce(1, *))))
    }

    // MARK: Normalisation

    mutating func planNormalization(_ node: GraphNode) throws {
        let a = node.attributes
        let x = try value(node, 0)
        let s = shape(of: x)
        let epsilon = try a.float("epsilon", default: 1e-5)
        guard let scale = constantInput(node, 1) else { throw invalid(node, "the scale (input 1) must be constant") }
        let bias = constantInput(node, 2)
        if node.input(2) != nil && bias == nil { throw invalid(node, "the bias (input 2) must be constant") }
        var step = NormalizeStep(input: .storage(0), output: .storage(0), rows: 0, extent: 0, rowPeriod: 1, block: 1,
                                 epsilon: epsilon, scale: [], bias: [], activation: node.fusedActivation ?? .identity)
        switch node.op {
        case "InstanceNormalization":
            guard s.count >= 3, scale.count == s[1], bias?.count ?? s[1] == s[1] else {
                throw invalid(node, "needs an input of rank ≥ 3 and \(s.count > 1 ? s[1] : 0) scale and bias values, got \(s)")
            }
            step.rows = s[0] * s[1]
            step.extent = s.dropFirst(2).reduce(1, *)
            step.rowPeriod = s[1]
            step.block = step.extent
            step.scale = scale.floats
            step.bias = bias?.floats ?? [Float](repeating: 0, count: s[1])
        case "GroupNormalization":
            let groups = try a.int("num_groups", default: 0)
            guard s.count >= 3, groups >= 1, s[1] % groups == 0 else {
                throw invalid(node, "num_groups \(groups) must divide the \(s.count > 1 ? s[1] : 0) channels of \(s)")
            }
            let channels = s[1], spatial = s.dropFirst(2).reduce(1, *)
            // Opset 18 gives one scale per group, opset 21 one per channel.
            func perChannel(_ t: HostTensor?, _ fill: Float) throws -> [Float] {
                guard let t else { return [Float](repeating: fill, count: channels) }
                if t.count == channels { return t.floats }
                if t.count == groups { return (0..<channels).map { t.floats[$0 / (channels / groups)] } }
                throw invalid(node, "scale and bias must have \(groups) or \(channels) values, got \(t.count)")
            }
            step.rows = s[0] * groups
            step.extent = channels / groups * spatial
            step.rowPeriod = groups
            step.block = spatial
            step.scale = try perChannel(scale, 1)
            step.bias = try perChannel(bias, 0)
        default:
            guard let axis = ShapeRules.normalize(axis: try a.int("axis", default: -1), rank: s.count) else {
                throw invalid(node, "axis out of range for rank \(s.count)")
            }
            if try a.int("stash_type", default: 1) != 1 { throw invalid(node, "stash_type other than float32 is not supported") }
            let normalized = Array(s[axis...])
            guard let scaleShape = ShapeRules.broadcast(normalized, scale.shape), scaleShape == normalized,
                  bias.map({ ShapeRules.broadcast(normalized, $0.shape) == normalized }) ?? true else {
                throw invalid(node, "scale \(scale.shape) and bias \(bias?.shape ?? []) do not broadcast to \(normalized)")
            }
            let count = normalized.reduce(1, *)
            let scaleIndices = ConstantFolding.broadcastIndices(scale.shape, to: normalized)
            step.rows = s[..<axis].reduce(1, *)
            step.extent = count
            step.scale = scaleIndices.map { scale.floats[$0] }
            if let bias {
                let biasIndices = ConstantFolding.broadcastIndices(bias.shape, to: normalized)
                step.bias = biasIndices.map { bias.floats[$0] }
            } else {
                step.bias = [Float](repeating: 0, count: count)
            }
        }
        step.input = operand(x)
        step.output = define(node, shape: s)
        steps.append(.normalize(step))
    }

    // MARK: Reductions

    mutating func planReduce(_ node: GraphNode) throws {
        let a = node.attributes
        let x = try value(node, 0)
        let s = shape(of: x)
        // Axes: an attribute before opset 18 (ReduceSum: before 13), an input after.
        var axes = try a.ints("axes")
        if axes == nil, node.input(1) != nil {
            guard let given = constantInput(node, 1) else { throw invalid(node, "axes (input 1) must be constant") }
            axes = given.ints
        }
        let keep = try a.int("keepdims", default: 1) != 0
        let noop = try a.int("noop_with_empty_axes", default: 0) != 0
        if (axes ?? []).isEmpty && noop {
            alias(node, x, shape: s)
            return
        }
        let reducedAxes = try Set((axes?.isEmpty ?? true) ? Array(0..<s.count) : axes!.map { axis in
            guard let normalized = ShapeRules.normalize(axis: axis, rank: s.count) else { throw invalid(node, "axis \(axis) out of range for \(s)") }
            return normalized
        })
        let kind: ReduceStep.Kind = switch node.op {
        case "ReduceMean": .mean
        case "ReduceSum": .sum
        case "ReduceMax": .max
        case "ReduceMin": .min
        case "ReduceL2": .l2
        case "ReduceL1": .l1
        case "ReduceSumSquare": .sumSquare
        case "ReduceProd": .prod
        default: .logSumExp
        }
        var outShape: [Int] = []
        for axis in s.indices {
            if reducedAxes.contains(axis) { if keep { outShape.append(1) } } else { outShape.append(s[axis]) }
        }
        try appendReduce(node, kind, x, reducedAxes: reducedAxes, outputShape: outShape)
    }

    mutating func appendReduce(_ node: GraphNode, _ kind: ReduceStep.Kind, _ x: Value, reducedAxes: Set<Int>, outputShape: [Int]) throws {
        let s = shape(of: x)
        let strides = ShapeRules.strides(s)
        var keptShape: [Int] = [], keptStrides: [Int] = []
        var offsets = [0]
        for axis in s.indices {
            if reducedAxes.contains(axis) {
                var next: [Int] = []
                next.reserveCapacity(offsets.count * s[axis])
                for base in offsets { for i in 0..<s[axis] { next.append(base + i * strides[axis]) } }
                offsets = next
            } else {
                keptShape.append(s[axis])
                keptStrides.append(strides[axis])
            }
        }
        let input = operand(x)
        let output = define(node, shape: outputShape)
        steps.append(.reduce(ReduceStep(kind: kind, input: input, output: output, keptShape: keptShape,
                                        keptStrides: keptStrides, reducedOffsets: offsets)))
    }

    // MARK: Pad and Split

    mutating func planPad(_ node: GraphNode) throws {
        let a = node.attributes
        let x = try value(node, 0)
        let s = shape(of: x)
        let rank = s.count
        let mode = try a.string("mode", default: "constant")
        var pads: [Int]
        var constantValue: Float = 0
        if graph.opset < 11 {
            pads = try a.ints("pads") ?? []
            constantValue = try a.float("value", default: 0)
        } else {
            guard let given = constantInput(node, 1) else { throw invalid(node, "pads (input 1) must be constant") }
            pads = given.ints
            if node.input(2) != nil {
                guard let value = constantInput(node, 2) else { throw invalid(node, "constant_value (input 2) must be constant") }
                constantValue = value.floats.first ?? 0
            }
            if node.input(3) != nil {
                guard let axesValue = constantInput(node, 3) else { throw invalid(node, "axes (input 3) must be constant") }
                let axes = axesValue.ints
                guard pads.count == 2 * axes.count else { throw invalid(node, "pads \(pads) do not match axes \(axes)") }
                var full = [Int](repeating: 0, count: 2 * rank)
                for (i, axis) in axes.enumerated() {
                    guard let normalized = ShapeRules.normalize(axis: axis, rank: rank) else { throw invalid(node, "axis \(axis) out of range") }
                    full[normalized] = pads[i]
                    full[normalized + rank] = pads[i + axes.count]
                }
                pads = full
            }
        }
        guard pads.count == 2 * rank else { throw invalid(node, "pads \(pads) must have \(2 * rank) values for input \(s)") }
        guard ["constant", "reflect", "edge", "wrap"].contains(mode) else { throw invalid(node, "mode '\(mode)' is not supported") }
        var outShape: [Int] = []
        var sources: [[Int]] = []
        for axis in 0..<rank {
            let begin = pads[axis], end = pads[axis + rank], n = s[axis]
            let extent = n + begin + end
            guard extent >= 0 else { throw invalid(node, "pads \(pads) leave a negative extent for \(s)") }
            if mode == "reflect" && (begin >= n || end >= n) && (begin > 0 || end > 0) {
                throw invalid(node, "reflect padding \(begin), \(end) must be smaller than the extent \(n)")
            }
            outShape.append(extent)
            sources.append((0..<extent).map { o in
                var i = o - begin
                if i >= 0 && i < n { return i }
                switch mode {
                case "reflect":
                    if n == 1 { return 0 }
                    while i < 0 || i >= n { i = i < 0 ? -i : 2 * (n - 1) - i }
                    return i
                case "edge": return min(max(i, 0), n - 1)
                case "wrap": return ((i % n) + n) % n
                default: return -1
                }
            })
        }
        let input = operand(x)
        let output = define(node, shape: outShape)
        steps.append(.pad(PadStep(input: input, output: output, outputShape: outShape, inputStrides: ShapeRules.strides(s),
                                  sources: sources, value: constantValue)))
    }

    mutating func planSplit(_ node: GraphNode) throws {
        let a = node.attributes
        let x = try value(node, 0)
        let s = shape(of: x)
        guard let axis = ShapeRules.normalize(axis: try a.int("axis", default: 0), rank: s.count) else {
            throw invalid(node, "axis out of range for \(s)")
        }
        var sizes: [Int]
        if let given = try a.ints("split") {
            sizes = given
        } else if node.input(1) != nil {
            guard let given = constantInput(node, 1) else { throw invalid(node, "split (input 1) must be constant") }
            sizes = given.ints
        } else {
            let parts = try a.int("num_outputs", default: node.outputs.count)
            let size = (s[axis] + parts - 1) / max(parts, 1)
            sizes = (0..<parts).map { min(size, max(0, s[axis] - $0 * size)) }
        }
        guard sizes.count == node.outputs.count, sizes.reduce(0, +) == s[axis] else {
            throw invalid(node, "split \(sizes) does not cut axis \(axis) of \(s) into \(node.outputs.count) parts")
        }
        let strides = ShapeRules.strides(s)
        var start = 0
        for (index, size) in sizes.enumerated() {
            var outShape = s
            outShape[axis] = size
            let input = operand(x)
            let output = define(node, output: index, shape: outShape)
            steps.append(.stridedCopy(StridedCopyStep(input: input, output: output, shape: outShape, strides: strides,
                                                      base: start * strides[axis])))
            start += size
        }
    }

    // MARK: Einsum

    mutating func planEinsum(_ node: GraphNode) throws {
        let equation = try node.attributes.string("equation", default: "").filter { !$0.isWhitespace }
        let present = try node.inputs.indices.filter { node.inputs[$0] != nil }.map { try value(node, $0) }
        let parts = equation.components(separatedBy: "->")
        let terms = parts[0].split(separator: ",", omittingEmptySubsequences: false).map { Array($0) }
        guard !equation.contains("."), terms.count == present.count, (1...2).contains(present.count),
              terms.allSatisfy({ $0.allSatisfy(\.isLetter) }) else {
            throw invalid(node, "equation '\(equation)' is not supported (one or two operands, letters only, no ellipsis)")
        }
        var extents: [Character: Int] = [:]
        for (term, operandValue) in zip(terms, present) {
            let s = shape(of: operandValue)
            guard term.count == s.count else { throw invalid(node, "term '\(String(term))' does not match shape \(s)") }
            for (letter, extent) in zip(term, s) {
                if let known = extents[letter], known != extent { throw invalid(node, "index '\(letter)' has extents \(known) and \(extent)") }
                extents[letter] = extent
            }
        }
        let outputLetters: [Character]
        if parts.count > 1 {
            outputLetters = Array(parts[1])
        } else {
            let all = terms.flatMap { $0 }
            outputLetters = Set(all).filter { letter in all.filter { $0 == letter }.count == 1 }.sorted()
        }
        guard outputLetters.allSatisfy({ extents[$0] != nil }) else { throw invalid(node, "output indices '\(String(outputLetters))' unknown") }
        let contracted = extents.keys.filter { !outputLetters.contains($0) }.sorted()
        var outputStrides: [[Int]] = [], contractedStrides: [[Int]] = []
        for (term, operandValue) in zip(terms, present) {
            let strides = ShapeRules.strides(shape(of: operandValue))
            func stride(_ letter: Character) -> Int {
                zip(term, strides).filter { $0.0 == letter }.reduce(0) { $0 + $1.1 }
            }
            outputStrides.append(outputLetters.map(stride))
            contractedStrides.append(contracted.map(stride))
        }
        let outShape = outputLetters.map { extents[$0]! }
        let inputs = present.map { operand($0) }
        let output = define(node, shape: outShape)
        multiplyAdds += outShape.reduce(1, *) * contracted.map { extents[$0]! }.reduce(1, *)
        steps.append(.einsum(EinsumStep(inputs: inputs, output: output, outputShape: outShape,
                                        contractedShape: contracted.map { extents[$0]! },
                                        outputStrides: outputStrides, contractedStrides: contractedStrides)))
    }

    // MARK: 3-D convolution and N-D pooling

    mutating func planConvolution3D(_ node: GraphNode, _ conv: PreparedConvolution) throws {
        let a = node.attributes
        let x = try value(node, 0)
        let s = shape(of: x)
        guard s.count == 5, s[1] == conv.inputChannels else {
            throw invalid(node, "input shape \(s) does not match \(conv.inputChannels) input channels (NCDHW expected)")
        }
        let kernel = [conv.kernelDepth, conv.kernelHeight, conv.kernelWidth]
        let strides = try a.ints("strides") ?? [1, 1, 1]
        let dilations = try a.ints("dilations") ?? [1, 1, 1]
        let pads = try a.ints("pads") ?? [0, 0, 0, 0, 0, 0]
        let autoPad = try a.string("auto_pad", default: "NOTSET")
        guard strides.count == 3, dilations.count == 3, pads.count == 6, strides.allSatisfy({ $0 >= 1 }),
              dilations.allSatisfy({ $0 >= 1 }) else {
            throw invalid(node, "strides \(strides), dilations \(dilations) and pads \(pads) must describe 3 spatial axes")
        }
        var begin = [0, 0, 0], outExtents = [0, 0, 0]
        let inExtents = Array(s[2...])
        if !conv.transposed {
            for axis in 0..<3 {
                guard let result = Self.padding(auto: autoPad, input: inExtents[axis], kernel: kernel[axis], stride: strides[axis],
                                                dilation: dilations[axis], explicit: (pads[axis], pads[axis + 3])) else {
                    throw invalid(node, "input \(inExtents) is too small for the kernel \(kernel) or auto_pad '\(autoPad)' is unknown")
                }
                begin[axis] = result.0
                outExtents[axis] = result.output
            }
        } else {
            let outputPadding = try a.ints("output_padding") ?? [0, 0, 0]
            let requested = try a.ints("output_shape")
            for axis in 0..<3 {
                let full = strides[axis] * (inExtents[axis] - 1) + outputPadding[axis] + (kernel[axis] - 1) * dilations[axis] + 1
                var target: Int? = requested.map { $0[$0.count - 3 + axis] }
                if target == nil && (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") { target = inExtents[axis] * strides[axis] }
                var padBegin = pads[axis], padEnd = pads[axis + 3]
                if let target {
                    let total = full - target
                    padBegin = autoPad == "SAME_LOWER" ? total - total / 2 : total / 2
                    padEnd = total - padBegin
                }
                begin[axis] = padBegin
                outExtents[axis] = full - padBegin - padEnd
                guard outExtents[axis] > 0 else { throw invalid(node, "output extent \(outExtents[axis]) ≤ 0 for input \(s)") }
            }
        }
        let input = operand(x)
        let output = define(node, shape: [s[0], conv.outputChannels] + outExtents)
        let pixels = conv.transposed ? inExtents.reduce(1, *) : outExtents.reduce(1, *)
        multiplyAdds += s[0] * conv.multiplyAdds * pixels
        steps.append(.convolution3D(Convolution3DStep(convolution: conv, input: input, output: output, batch: s[0],
                                                      inputExtents: inExtents, outputExtents: outExtents, strides: strides,
                                                      pads: begin, dilations: dilations)))
    }

    /// Pooling of 3-D (NCW) and 5-D (NCDHW) inputs; global pooling of any rank but 4.
    mutating func planPoolND(_ node: GraphNode) throws {
        let a = node.attributes
        let x = try value(node, 0)
        let s = shape(of: x)
        guard s.count >= 3 && s.count <= 5 else { throw invalid(node, "input shape \(s) must have 1 to 3 spatial axes") }
        let spatial = s.count - 2
        if node.op.hasPrefix("Global") {
            try appendReduce(node, node.op == "GlobalMaxPool" ? .max : .mean, x, reducedAxes: Set(2..<s.count),
                             outputShape: [s[0], s[1]] + [Int](repeating: 1, count: spatial))
            return
        }
        guard let kernel = try a.ints("kernel_shape"), kernel.count == spatial else {
            throw invalid(node, "kernel_shape must have \(spatial) values")
        }
        let strides = try a.ints("strides") ?? [Int](repeating: 1, count: spatial)
        let dilations = try a.ints("dilations") ?? [Int](repeating: 1, count: spatial)
        let pads = try a.ints("pads") ?? [Int](repeating: 0, count: 2 * spatial)
        let autoPad = try a.string("auto_pad", default: "NOTSET")
        let ceilMode = try a.int("ceil_mode", default: 0) != 0
        guard strides.count == spatial, dilations.count == spatial, pads.count == 2 * spatial else {
            throw invalid(node, "expects \(spatial) spatial axes")
        }
        var padBegin: [Int] = [], padEnd: [Int] = [], outputs: [Int] = []
        for axis in 0..<spatial {
            let n = s[2 + axis]
            guard var result = Self.padding(auto: autoPad, input: n, kernel: kernel[axis], stride: strides[axis],
                                            dilation: dilations[axis], explicit: (pads[axis], pads[axis + spatial])) else {
                throw invalid(node, "input \(s) is too small for kernel \(kernel) or auto_pad '\(autoPad)' is unknown")
            }
            if ceilMode && (autoPad == "NOTSET" || autoPad.isEmpty) {
                let effective = (kernel[axis] - 1) * dilations[axis] + 1
                let span = n + pads[axis] + pads[axis + spatial] - effective
                var output = (span + strides[axis] - 1) / strides[axis] + 1
                if (output - 1) * strides[axis] >= n + pads[axis] { output -= 1 }
                result.output = output
            }
            padBegin.append(result.0)
            padEnd.append(result.1)
            outputs.append(result.output)
        }
        let fill = 3 - spatial
        func padded(_ values: [Int], _ value: Int) -> [Int] { [Int](repeating: value, count: fill) + values }
        let input = operand(x)
        let output = define(node, shape: [s[0], s[1]] + outputs)
        steps.append(.poolND(PoolNDStep(
            kind: node.op == "MaxPool" ? .max : .average, input: input, output: output, planes: s[0] * s[1],
            inputExtents: padded(Array(s[2...]), 1), outputExtents: padded(outputs, 1), kernel: padded(kernel, 1),
            strides: padded(strides, 1), dilations: padded(dilations, 1), padBegin: padded(padBegin, 0),
            padEnd: padded(padEnd, 0), countIncludePad: try a.int("count_include_pad", default: 0) != 0)))
    }

    // MARK: Resize (general)

    /// Resize of any rank and mode, one resampling step per resized axis.
    mutating func planResizeSeparable(_ node: GraphNode, input x: Value, outShape: [Int], scales: [Float]?, mode: String,
                                      transform: String, nearestMode: String) throws {
        let a = node.attributes
        let s = shape(of: x)
        let cubicA = try a.float("cubic_coeff_a", default: -0.75)
        let excludeOutside = try a.int("exclude_outside", default: 0) != 0
        let extrapolation = try a.float("extrapolation_value", default: 0)
        if transform == "tf_crop_and_resize" { throw invalid(node, "coordinate_transformation_mode 'tf_crop_and_resize' is not supported") }
        _ = extrapolation
        var current = x
        let changed = s.indices.filter { axis in s[axis] != outShape[axis] || (scales.map { $0[axis] != 1 } ?? false) }
        if changed.isEmpty { alias(node, x, shape: s); return }
        var currentShape = s
        for (position, axis) in changed.enumerated() {
            let inExtent = s[axis], outExtent = outShape[axis]
            let scale = scales.map { $0[axis] } ?? Float(outExtent) / Float(inExtent)
            var taps = 1
            var indices: [Int] = [], weights: [Float] = []
            for o in 0..<outExtent {
                let xo = Float(o)
                var original: Float
                switch transform {
                case "asymmetric": original = xo / scale
                case "align_corners": original = outExtent == 1 ? 0 : xo * Float(inExtent - 1) / Float(outExtent - 1)
                case "pytorch_half_pixel": original = outExtent > 1 ? (xo + 0.5) / scale - 0.5 : 0
                case "half_pixel_symmetric":
                    let adjustment = Float(outExtent) / (scale * Float(inExtent))
                    let center = Float(inExtent) / 2
                    let offset = center * (1 - adjustment)
                    original = offset + (xo + 0.5) / scale - 0.5
                default: original = (xo + 0.5) / scale - 0.5
                }
                switch mode {
                case "nearest":
                    let index = resizeNearestIndex(original, mode: nearestMode)
                    indices.append(min(max(index, 0), inExtent - 1))
                    weights.append(1)
                case "cubic":
                    taps = 4
                    let floor = original.rounded(.down)
                    let t = original - floor
                    let base = Int(floor)
                    func kernelWeight(_ d: Float) -> Float {
                        let x = abs(d)
                        if x <= 1 { return ((cubicA + 2) * x - (cubicA + 3)) * x * x + 1 }
                        if x < 2 { return ((cubicA * x - 5 * cubicA) * x + 8 * cubicA) * x - 4 * cubicA }
                        return 0
                    }
                    var tapWeights = [kernelWeight(1 + t), kernelWeight(t), kernelWeight(1 - t), kernelWeight(2 - t)]
                    var tapIndices = (0..<4).map { base - 1 + $0 }
                    if excludeOutside {
                        for i in 0..<4 where tapIndices[i] < 0 || tapIndices[i] >= inExtent { tapWeights[i] = 0 }
                        let total = tapWeights.reduce(0, +)
                        if total != 0 { tapWeights = tapWeights.map { $0 / total } }
                    }
                    tapIndices = tapIndices.map { min(max($0, 0), inExtent - 1) }
                    indices += tapIndices
                    weights += tapWeights
                default:
                    taps = 2
                    original = min(max(original, 0), Float(inExtent - 1))
                    let low = Int(original.rounded(.down))
                    indices += [low, min(low + 1, inExtent - 1)]
                    let w = original - Float(low)
                    weights += [1 - w, w]
                }
            }
            let outer = currentShape[..<axis].reduce(1, *), inner = currentShape[(axis + 1)...].reduce(1, *)
            var nextShape = currentShape
            nextShape[axis] = outExtent
            let input = operand(current)
            let output: Operand
            if position == changed.count - 1 {
                output = define(node, shape: nextShape)
                current = values[node.outputs[0]]!
            } else {
                let storage = newStorage(count: nextShape.reduce(1, *), definedAt: steps.count)
                output = .storage(storage)
                current = .runtime(shape: nextShape, storage: storage)
            }
            steps.append(.resample(ResampleStep(input: input, output: output, outer: outer, inExtent: inExtent, outExtent: outExtent,
                                                inner: inner, taps: taps, indices: indices, weights: weights)))
            currentShape = nextShape
        }
    }
}
