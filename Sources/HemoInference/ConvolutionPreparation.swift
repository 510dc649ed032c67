#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ModelGraph {
    /// The activation a node computes, when it can be fused into the store of a convolution.
    func fusableActivation(_ node: GraphNode) throws -> Activation? {
        let a = node.attributes
        switch node.op {
        case "Relu": return .relu
        case "LeakyRelu": return .leakyRelu(alpha: try a.float("alpha", default: 0.01))
        case "Sigmoid": return .sigmoid
        case "Tanh": return .tanh
        case "HardSigmoid":
            return .hardSigmoid(alpha: try a.float("alpha", default: 0.2), beta: try a.float("beta", default: 0.5))
        case "HardSwish": return .hardSwish
        case "HemoSilu": return .silu
        case "Clip":
            if opset < 11 {
                return .clip(min: try a.float("min", default: -.greatestFiniteMagnitude),
                             max: try a.float("max", default: .greatestFiniteMagnitude))
            }
            var low = -Float.greatestFiniteMagnitude
            var high = Float.greatestFiniteMagnitude
            if let id = node.input(1) {
                guard let value = constants[id], value.count == 1 else { return nil }
                low = value.floats[0]
            }
            if let id = node.input(2) {
                guard let value = constants[id], value.count == 1 else { return nil }
                high = value.floats[0]
            }
            return .clip(min: low, max: high)
        default: return nil
        }
    }

    /// Folds BatchNormalization into the preceding Conv, fuses single-consumer activations into
    /// convolutions, and packs every convolution's weights.
    mutating func prepareConvolutions() throws {
        fuseSiLU()
        var consumers = [Int](repeating: 0, count: valueNames.count)
        for node in nodes { for case let id? in node.inputs { consumers[id] += 1 } }
        for output in outputs { consumers[output.id] += 1 }
        func soleConsumer(of id: Int, after index: Int) -> Int? {
            guard consumers[id] == 1 else { return nil }
            return nodes.indices.dropFirst(index + 1).first { nodes[$0].inputs.contains(id) }
        }

        var removed = Set<Int>()
        for index in nodes.indices where nodes[index].op == "Conv" || nodes[index].op == "ConvTranspose" {
            var node = nodes[index]
            let transposed = node.op == "ConvTranspose"
            let a = node.attributes
            guard let weightID = node.input(1), let weightTensor = constants[weightID], !weightTensor.isInteger else {
                throw a.invalid("the weights (input 1) must be a float initializer")
            }
            let rank = weightTensor.shape.count
            guard rank >= 3 && rank <= 5 else {
                throw a.invalid("only 1-D, 2-D and 3-D convolutions (3- to 5-D weights) are supported; weights have shape \(weightTensor.shape)")
            }
            let groups = try a.int("group", default: 1)
            var weights = weightTensor.floats
            let s = weightTensor.shape
            let kernelDepth = rank == 5 ? s[2] : 1
            let kernelHeight = rank >= 4 ? s[rank - 2] : 1, kernelWidth = s[rank - 1]
            let inputChannels = transposed ? s[0] : s[1] * groups
            let outputChannels = transposed ? s[1] * groups : s[0]
            guard groups >= 1, inputChannels % groups == 0, outputChannels % groups == 0 else {
                throw a.invalid("group \(groups) does not divide the channels (weights \(s))")
            }
            var bias: [Float]? = nil
            if let biasID = node.input(2) {
                guard let b = constants[biasID], b.count == outputChannels else {
                    throw a.invalid("the bias (input 2) must be an initializer of \(outputChannels) values")
                }
                bias = b.floats
            }
            if let kernelShape = try a.ints("kernel_shape"), kernelShape != Array(s[2...]) {
                throw a.invalid("kernel_shape \(kernelShape) disagrees with the weights' shape \(s)")
            }

            // Fold a following BatchNormalization into the weights and bias.
            var output = node.outputs[0]
            if !transposed, let next = soleConsumer(of: output, after: index), nodes[next].op == "BatchNormalization",
               nodes[next].input(0) == output,
               let scale = nodes[next].input(1).flatMap({ constants[$0] }),
               let shift = nodes[next].input(2).flatMap({ constants[$0] }),
               let mean = nodes[next].input(3).flatMap({ constants[$0] }),
               let variance = nodes[next].input(4).flatMap({ constants[$0] }),
               [scale, shift, mean, variance].allSatisfy({ $0.count == outputChannels }) {
                let epsilon = try nodes[next].attributes.float("epsilon", default: 1e-5)
                let perChannel = weights.count / outputChannels
                var folded = bias ?? [Float](repeating: 0, count: outputChannels)
                let (sc, sh, mu, va) = (scale.floats, shift.floats, mean.floats, variance.floats)
                for channel in 0..<outputChannels {
                    let factor = sc[channel] / sqrtf(va[channel] + epsilon)
                    for k in 0..<perChannel { weights[channel * perChannel + k] *= factor }
                    folded[channel] = (folded[channel] - mu[channel]) * factor + sh[channel]
                }
                bias = folded
                output = nodes[next].outputs[0]
                removed.insert(next)
            }
            // Fuse a following activation.
            var activation = Activation.identity
            if let next = soleConsumer(of: output, after: index), !removed.contains(next),
               nodes[next].input(0) == output, let fused = try fusableActivation(nodes[next]) {
                activation = fused
                output = nodes[next].outputs[0]
                removed.insert(next)
            }
            node.outputs = [output]

            let inputPerGroup = inputChannels / groups
            let outputPerGroup = outputChannels / groups
            let area = kernelDepth * kernelHeight * kernelWidth
            let prepared: PreparedConvolution.Weights
            if !transposed && inputPerGroup == 1 && groups > 1 && rank <= 4 {
                prepared = .depthwise(FloatStorage(weights))
            } else if !transposed, rank == 4, Winograd.applies(
                kernelHeight: kernelHeight, kernelWidth: kernelWidth, groups: groups, inputChannels: inputChannels,
                outputChannels: outputChannels, strides: try a.ints("strides") ?? [1, 1],
                dilations: try a.ints("dilations") ?? [1, 1]) {
                prepared = .winograd(weights.withUnsafeBufferPointer { w in
                    Winograd.transformWeights(w.baseAddress!, outputChannels: outputChannels, inputChannels: inputChannels)
                })
            } else if !transposed, rank == 5, Winograd.applies(
                kernelHeight: kernelHeight, kernelWidth: kernelWidth, groups: groups, inputChannels: inputChannels * kernelDepth,
                outputChannels: outputChannels, strides: Array((try a.ints("strides") ?? [1, 1, 1]).suffix(2)),
                dilations: Array((try a.ints("dilations") ?? [1, 1, 1]).suffix(2))) {
                // Each output depth slice is a 3×3 2-D convolution over Cin·kd slab channels:
                // the [Cout, Cin, kd, 3, 3] weights are [Cout, Cin·kd, 3, 3].
                prepared = .winograd(weights.withUnsafeBufferPointer { w in
                    Winograd.transformWeights(w.baseAddress!, outputChannels: outputChannels, inputChannels: inputChannels * kernelDepth)
                })
            } else if !transposed {
                prepared = .gemm((0..<groups).map { group in
                    let base = group * outputPerGroup * inputPerGroup * area
                    let depth = inputPerGroup * area
                    return weights.withUnsafeBufferPointer { w in
                        PackedMatrix(rows: outputPerGroup, depth: depth) { row, k in w[base + row * depth + k] }
                    }
                })
            } else {
                // W is [Cin, Cout/g, kh, kw]; A[(co, ky, kx), ci] = W[g·Cin/g + ci, co, ky, kx].
                prepared = .gemm((0..<groups).map { group in
                    weights.withUnsafeBufferPointer { w in
                        PackedMatrix(rows: outputPerGroup * area, depth: inputPerGroup) { row, ci in
                            w[((group * inputPerGroup + ci) * outputPerGroup) * area + row]
                        }
                    }
                })
            }
            // Weights no other node reads are dropped once packed, so the raw and packed
            // copies of every layer are not all resident at once.
            if consumers[weightID] == 1 { constants[weightID] = nil }
            node.convolution = PreparedConvolution(
                transposed: transposed, weights: prepared, bias: bias.map { FloatStorage($0) },
                inputChannels: inputChannels, outputChannels: outputChannels, groups: groups,
                kernelHeight: kernelHeight, kernelWidth: kernelWidth, activation: activation,
                kernelDepth: kernelDepth, spatialRank: rank - 2)
            nodes[index] = node
        }
        // Fuse a single-consumer activation into a normalisation's store (Conv → InstanceNorm →
        // LeakyReLU in nnU-Net, GroupNorm → ReLU in SegResNet, and a BatchNormalization left
        // unfolded → ReLU, DenseNet's pre-activation of each layer's concatenated input).
        for index in nodes.indices where !removed.contains(index)
            && ["InstanceNormalization", "LayerNormalization", "GroupNormalization", "BatchNormalization"].contains(nodes[index].op)
            && nodes[index].outputs.count == 1 {
            let output = nodes[index].outputs[0]
            if let next = soleConsumer(of: output, after: index), !removed.contains(next), nodes[next].input(0) == output,
               let fused = try fusableActivation(nodes[next]) {
                nodes[index].fusedActivation = fused
                nodes[index].outputs = [nodes[next].outputs[0]]
                removed.insert(next)
            }
        }
        nodes = nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
        // The packed copies replace the raw weights: convolutions keep only their data input,
        // and initializers nothing reads any more are dropped (half the weight memory).
        for index in nodes.indices where nodes[index].convolution != nil {
            nodes[index].inputs = Array(nodes[index].inputs.prefix(1))
        }
        var stillRead = Set(outputs.map(\.id))
        for node in nodes { for case let id? in node.inputs { stillRead.insert(id) } }
        constants = constants.filter { stillRead.contains($0.key) }
        moveResizesAfterPointwiseConvolutions()
    }

    /// Rewrites `Sigmoid(x)` followed by `Mul(x, sigmoid)` — SiLU as exporters emit it
    /// (EfficientNet, MobileViT) — as one internal `HemoSilu` activation node, so it fuses into
    /// a preceding convolution or normalisation like any activation, when the sigmoid feeds only
    /// the product and `x` feeds only the two.
    mutating func fuseSiLU() {
        var consumers = [Int](repeating: 0, count: valueNames.count)
        for node in nodes { for case let id? in node.inputs { consumers[id] += 1 } }
        for output in outputs { consumers[output.id] += 1 }
        var removed = Set<Int>()
        for index in nodes.indices where nodes[index].op == "Sigmoid" && nodes[index].outputs.count == 1 {
            guard let x = nodes[index].input(0) else { continue }
            let sigmoid = nodes[index].outputs[0]
            guard consumers[sigmoid] == 1, consumers[x] == 2,
                  let product = nodes.indices.dropFirst(index + 1).first(where: { nodes[$0].inputs.contains(sigmoid) }),
                  nodes[product].op == "Mul", nodes[product].inputs.count == 2,
                  Set(nodes[product].inputs.compactMap { $0 }) == [x, sigmoid] else { continue }
            nodes[product].op = "HemoSilu"
            nodes[product].inputs = [x]
            removed.insert(index)
        }
        nodes = nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
    }

    /// Rewrites `Resize → 1×1 Conv` (the decoder pattern `upsample, then reduce channels`) as
    /// `1×1 Conv → Resize`: a per-pixel linear map commutes with nearest and (bi)linear
    /// resizing, whose weights sum to 1, so the convolution runs on a quarter of the pixels
    /// of a ×2 upsampling and the resized tensor has the convolution's (fewer) channels.
    ///
    /// Only when the Resize gives scales (not sizes, which name the channel count), its output
    /// feeds nothing else, and the convolution is ungrouped, unpadded and of stride 1; with a
    /// linear resize, only when no activation is fused (nearest commutes with any).
    mutating func moveResizesAfterPointwiseConvolutions() {
        var consumers = [Int](repeating: 0, count: valueNames.count)
        for node in nodes { for case let id? in node.inputs { consumers[id] += 1 } }
        for output in outputs { consumers[output.id] += 1 }
        for resizeIndex in nodes.indices where nodes[resizeIndex].op == "Resize" || nodes[resizeIndex].op == "Upsample" {
            let resize = nodes[resizeIndex]
            guard let source = resize.input(0), resize.outputs.count == 1, consumers[resize.outputs[0]] == 1,
                  let mode = try? resize.attributes.string("mode", default: "nearest") else { continue }
            let nearest = mode == "nearest"
            guard nearest || mode == "linear" || mode == "bilinear" else { continue }
            if resize.op == "Resize" && opset >= 11, let sizes = resize.input(3) {
                guard let given = constants[sizes], given.count == 0 else { continue }
            }
            guard let convIndex = nodes.indices.dropFirst(resizeIndex + 1).first(where: { nodes[$0].inputs.contains(resize.outputs[0]) }),
                  nodes[convIndex].op == "Conv", nodes[convIndex].input(0) == resize.outputs[0],
                  let conv = nodes[convIndex].convolution, !conv.transposed, conv.groups == 1,
                  conv.kernelHeight == 1, conv.kernelWidth == 1, conv.spatialRank == 2, nearest || conv.activation == .identity else { continue }
            let a = nodes[convIndex].attributes
            func attribute(_ name: String, default fallback: [Int]) -> [Int]? {
                do { return try a.ints(name) ?? fallback } catch { return nil }
            }
            guard attribute("strides", default: [1, 1]) == [1, 1], attribute("pads", default: [0, 0, 0, 0]) == [0, 0, 0, 0],
                  attribute("dilations", default: [1, 1]) == [1, 1] else { continue }
            let narrow = valueNames.count
            valueNames.append(valueNames[nodes[convIndex].outputs[0]] + "/before-resize")
            consumers.append(1)
            var movedConv = nodes[convIndex]
            movedConv.inputs[0] = source
            let finalOutput = movedConv.outputs[0]
            movedConv.outputs = [narrow]
            var movedResize = resize
            movedResize.inputs[0] = narrow
            movedResize.outputs = [finalOutput]
            consumers[resize.outputs[0]] = 0
            nodes[resizeIndex] = movedConv
            nodes[convIndex] = movedResize
        }
    }
}
