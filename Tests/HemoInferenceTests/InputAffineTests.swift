import Foundation
import Testing
@testable import HemoInference

/// DenseNet's pre-activation, BatchNormalization → ReLU → 1×1 Conv: the planner drops the
/// normalisation's step and the GEMM applies it while packing the convolution's input, only
/// when that convolution alone reads the normalised values and is a plain 1×1 product.
@Suite("Input affine folding")
struct InputAffineTests {
    /// `x → BatchNormalization → Relu → Conv(kernel) → y`; with `exposeNormalised` the ReLU's
    /// output is a graph output too. Channels 4 → 3, images 6×5.
    static func model(kernel: Int, exposeNormalised: Bool) throws -> String {
        let tensor = ONNXTestGraphs.tensor, port = ONNXTestGraphs.port
        var batchNorm = Onnx_NodeProto()
        batchNorm.opType = "BatchNormalization"
        batchNorm.name = "bn"
        batchNorm.input = ["x", "gamma", "beta", "mean", "var"]
        batchNorm.output = ["normalised"]
        var relu = Onnx_NodeProto()
        relu.opType = "Relu"
        relu.name = "relu"
        relu.input = ["normalised"]
        relu.output = ["activated"]
        var conv = Onnx_NodeProto()
        conv.opType = "Conv"
        conv.name = "conv"
        conv.input = ["activated", "w", "b"]
        conv.output = ["y"]
        if kernel > 1 {
            var pads = Onnx_AttributeProto()
            pads.name = "pads"
            pads.type = .ints
            pads.ints = [Int64](repeating: Int64(kernel / 2), count: 4)
            conv.attribute = [pads]
        }
        var graph = Onnx_GraphProto()
        graph.name = "pre_activation"
        let p = parameters(kernel: kernel)
        graph.initializer = [tensor("gamma", [4], p.gamma), tensor("beta", [4], p.beta), tensor("mean", [4], p.mean),
                             tensor("var", [4], p.variance), tensor("w", [3, 4, kernel, kernel], p.weights), tensor("b", [3], p.bias)]
        graph.node = [batchNorm, relu, conv]
        graph.input = [port("x", [nil, 4, 6, 5])]
        graph.output = [port("y", [nil, 3, 6, 5])] + (exposeNormalised ? [port("activated", [nil, 4, 6, 5])] : [])
        return try ONNXTestGraphs.write(graph, stem: "pre-activation")
    }

    static func parameters(kernel: Int) -> (gamma: [Float], beta: [Float], mean: [Float], variance: [Float], weights: [Float], bias: [Float]) {
        (KernelTests.values(4, seed: 71).map { 2 * $0 - 0.5 }, KernelTests.values(4, seed: 72).map { $0 - 0.5 },
         KernelTests.values(4, seed: 73).map { $0 - 0.3 }, KernelTests.values(4, seed: 74).map { $0 + 0.2 },
         KernelTests.values(12 * kernel * kernel, seed: 75).map { $0 - 0.5 }, KernelTests.values(3, seed: 76))
    }

    /// `y` of one image (4×6×5) in Double, the normalised values rounded to float as stored.
    static func reference(_ image: [Float], kernel: Int) -> [Float] {
        let p = parameters(kernel: kernel)
        let plane = 30, radius = kernel / 2
        var activated = [Double](repeating: 0, count: 4 * plane)
        for c in 0..<4 {
            let factor = Double(p.gamma[c]) / (Double(p.variance[c]) + 1e-5).squareRoot()
            for i in 0..<plane {
                activated[c * plane + i] = Double(Float(max(0, (Double(image[c * plane + i]) - Double(p.mean[c])) * factor + Double(p.beta[c]))))
            }
        }
        var y = [Float](repeating: 0, count: 3 * plane)
        for o in 0..<3 {
            for row in 0..<6 {
                for column in 0..<5 {
                    var sum = Double(p.bias[o])
                    for c in 0..<4 {
                        for ky in 0..<kernel {
                            for kx in 0..<kernel {
                                let iy = row + ky - radius, ix = column + kx - radius
                                if iy < 0 || iy >= 6 || ix < 0 || ix >= 5 { continue }
                                sum += Double(p.weights[((o * 4 + c) * kernel + ky) * kernel + kx]) * activated[c * plane + iy * 5 + ix]
                            }
                        }
                    }
                    y[o * plane + row * 5 + column] = Float(sum)
                }
            }
        }
        return y
    }

    @Test("BatchNormalization → ReLU → 1x1 Conv runs as one convolution step that normalises while packing; a padded 3x3 Conv or a second reader of the normalised values keeps the separate step; all match Double for batch 1 and 2, 1 and 2 threads",
          arguments: [(1, false, true), (1, true, false), (3, false, false)])
    func foldsOnlyWhenTheConvolutionAloneReadsAPointwiseInput(_ c: (Int, Bool, Bool)) throws {
        let (kernel, exposeNormalised, folds) = c
        let path = try Self.model(kernel: kernel, exposeNormalised: exposeNormalised)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let model = try ONNXModel(path: path)
        for batch in [1, 2] {
            let steps = try model.plan(for: [[batch, 4, 6, 5]]).steps
            let affineSteps = steps.filter { if case .channelAffine = $0 { return true } else { return false } }.count
            let foldedConvolutions = steps.filter { if case .convolution(let s) = $0 { return s.inputAffine != nil } else { return false } }.count
            #expect(affineSteps == (folds ? 0 : 1) && foldedConvolutions == (folds ? 1 : 0), "batch \(batch)")
            let input = KernelTests.values(batch * 120, seed: 77).map { 3 * $0 - 1.5 }
            for threads in [1, 2] {
                let outputs = try model.run(["x": Tensor(shape: [batch, 4, 6, 5], data: input)], threads: threads)
                let y = try #require(outputs["y"])
                #expect(y.shape == [batch, 3, 6, 5])
                for image in 0..<batch {
                    let expected = Self.reference(Array(input[(image * 120)..<((image + 1) * 120)]), kernel: kernel)
                    let got = y.data[(image * 90)..<((image + 1) * 90)]
                    let bad = zip(got, expected).filter { !(abs($0 - $1) <= 1e-5 * max(1, abs($1))) }.count
                    #expect(bad == 0, "batch \(batch), image \(image), \(threads) threads")
                }
                if exposeNormalised { #expect(outputs["activated"]?.shape == [batch, 4, 6, 5]) }
            }
        }
    }
}
