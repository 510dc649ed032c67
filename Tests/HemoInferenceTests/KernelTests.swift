import Foundation
import HemoInferenceAVX512
import Testing
@testable import HemoInference

/// The fast convolution paths against a plain direct convolution in Double.
@Suite("Convolution kernels")
struct KernelTests {
    /// A direct 3×3 convolution (stride 1) with bias and ReLU, summed in Double.
    static func reference(input: [Float], channels: Int, height: Int, width: Int, weights: [Float], outputs: Int,
                          bias: [Float], padTop: Int, padLeft: Int, outputHeight: Int, outputWidth: Int) -> [Float] {
        var result = [Float](repeating: 0, count: outputs * outputHeight * outputWidth)
        for co in 0..<outputs {
            for oy in 0..<outputHeight {
                for ox in 0..<outputWidth {
                    var sum = Double(bias[co])
                    for ci in 0..<channels {
                        for ky in 0..<3 {
                            for kx in 0..<3 {
                                let iy = oy + ky - padTop, ix = ox + kx - padLeft
                                if iy < 0 || iy >= height || ix < 0 || ix >= width { continue }
                                sum += Double(weights[((co * channels + ci) * 3 + ky) * 3 + kx]) * Double(input[(ci * height + iy) * width + ix])
                            }
                        }
                    }
                    result[(co * outputHeight + oy) * outputWidth + ox] = Float(max(sum, 0))
                }
            }
        }
        return result
    }

    /// Seeded values in [-1, 1).
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 1_000_000) / 1_000_000
        }
    }

    @Test("Winograd F(2x2,3x3) and the im2col GEMM match a direct convolution",
          arguments: [(20, 36, 13, 19, 1, 1, 0, 0), (16, 32, 8, 8, 1, 1, 1, 1), (33, 50, 7, 30, 0, 2, 0, 1)])
    func winogradAndGEMMMatchDirectConvolution(_ c: (Int, Int, Int, Int, Int, Int, Int, Int)) {
        let (channels, outputs, height, width, padTop, padLeft, padBottom, padRight) = c
        let outputHeight = height + padTop + padBottom - 2, outputWidth = width + padLeft + padRight - 2
        let input = Self.values(channels * height * width, seed: 1)
        let weights = Self.values(outputs * channels * 9, seed: 2).map { $0 * 0.3 }
        let bias = Self.values(outputs, seed: 3)
        let expected = Self.reference(input: input, channels: channels, height: height, width: width, weights: weights,
                                      outputs: outputs, bias: bias, padTop: padTop, padLeft: padLeft,
                                      outputHeight: outputHeight, outputWidth: outputWidth)
        #expect(Winograd.applies(kernelHeight: 3, kernelWidth: 3, groups: 1, inputChannels: channels, outputChannels: outputs,
                                 strides: [1, 1], dilations: [1, 1]))
        let transformed = weights.withUnsafeBufferPointer {
            Winograd.transformWeights($0.baseAddress!, outputChannels: outputs, inputChannels: channels)
        }
        let packed = PackedMatrix(rows: outputs, depth: channels * 9) { row, k in weights[row * channels * 9 + k] }
        for threads in [1, 3] {
            var winograd = [Float](repeating: .nan, count: expected.count)
            var gemm = [Float](repeating: .nan, count: expected.count)
            input.withUnsafeBufferPointer { x in
                bias.withUnsafeBufferPointer { b in
                    winograd.withUnsafeMutableBufferPointer { y in
                        Winograd.convolve(transformed, input: x.baseAddress!, inputChannels: channels, inputHeight: height,
                                          inputWidth: width, output: y.baseAddress!, outputChannels: outputs,
                                          outputHeight: outputHeight, outputWidth: outputWidth, padTop: padTop, padLeft: padLeft,
                                          bias: b.baseAddress, activation: .relu, threads: threads)
                    }
                    gemm.withUnsafeMutableBufferPointer { y in
                        let geometry = Im2ColGeometry(
                            channels: channels, inputHeight: height, inputWidth: width, kernelHeight: 3, kernelWidth: 3,
                            strideHeight: 1, strideWidth: 1, padTop: padTop, padLeft: padLeft, dilationHeight: 1,
                            dilationWidth: 1, outputHeight: outputHeight, outputWidth: outputWidth)
                        GEMM.multiply(packed, input: x.baseAddress!, geometry: geometry, output: y.baseAddress!,
                                      bias: b.baseAddress, activation: .relu, threads: threads)
                    }
                }
            }
            // NaN (an output never written) counts as a mismatch.
            let winogradMismatches = zip(winograd, expected).filter { !(abs($0 - $1) <= 1e-4) }.count
            let gemmMismatches = zip(gemm, expected).filter { !(abs($0 - $1) <= 1e-4) }.count
            #expect(winogradMismatches == 0, "Winograd, \(threads) threads")
            #expect(gemmMismatches == 0, "GEMM, \(threads) threads")
        }
    }

    @Test("A wide Winograd layer on a small image (one or two bands, its 16 products run in parallel) gives the same bits for 1, 2 and 4 threads and matches a direct convolution",
          arguments: [(64, 96, 8, 8), (64, 96, 16, 16), (768, 48, 14, 14)])
    func smallImageWinogradIsThreadIndependent(_ c: (Int, Int, Int, Int)) {
        let (channels, outputs, height, width) = c
        let input = Self.values(channels * height * width, seed: 4)
        let weights = Self.values(outputs * channels * 9, seed: 5).map { $0 * 0.1 }
        let bias = Self.values(outputs, seed: 6)
        let expected = Self.reference(input: input, channels: channels, height: height, width: width, weights: weights,
                                      outputs: outputs, bias: bias, padTop: 1, padLeft: 1, outputHeight: height, outputWidth: width)
        let transformed = weights.withUnsafeBufferPointer {
            Winograd.transformWeights($0.baseAddress!, outputChannels: outputs, inputChannels: channels)
        }
        var results: [[Float]] = []
        for threads in [1, 2, 4] {
            var output = [Float](repeating: .nan, count: expected.count)
            input.withUnsafeBufferPointer { x in
                bias.withUnsafeBufferPointer { b in
                    output.withUnsafeMutableBufferPointer { y in
                        Winograd.convolve(transformed, input: x.baseAddress!, inputChannels: channels, inputHeight: height,
                                          inputWidth: width, output: y.baseAddress!, outputChannels: outputs,
                                          outputHeight: height, outputWidth: width, padTop: 1, padLeft: 1,
                                          bias: b.baseAddress, activation: .relu, threads: threads)
                    }
                }
            }
            // Relative beyond 1: the 768-channel case sums 6912 products to about 170.
            let mismatches = zip(output, expected).filter { !(abs($0 - $1) <= 1e-4 * max(1, abs($1))) }.count
            let worst = zip(output, expected).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .nan
            #expect(mismatches == 0, "\(threads) threads, worst relative error \(worst)")
            results.append(output)
        }
        let bits = results.map { $0.map(\.bitPattern) }
        #expect(bits[0] == bits[1] && bits[0] == bits[2], "1, 2 and 4 threads differ")
    }

    /// A direct convolution of any window, stride, padding and dilation (no activation), in Double.
    static func reference(input: [Float], weights: [Float], bias: [Float], outputs: Int, geometry g: Im2ColGeometry) -> [Float] {
        var result = [Float](repeating: 0, count: outputs * g.columns)
        for co in 0..<outputs {
            for oy in 0..<g.outputHeight {
                for ox in 0..<g.outputWidth {
                    var sum = Double(bias[co])
                    for ci in 0..<g.channels {
                        for ky in 0..<g.kernelHeight {
                            for kx in 0..<g.kernelWidth {
                                let iy = oy * g.strideHeight + ky * g.dilationHeight - g.padTop
                                let ix = ox * g.strideWidth + kx * g.dilationWidth - g.padLeft
                                if iy < 0 || iy >= g.inputHeight || ix < 0 || ix >= g.inputWidth { continue }
                                sum += Double(weights[((co * g.channels + ci) * g.kernelHeight + ky) * g.kernelWidth + kx])
                                    * Double(input[(ci * g.inputHeight + iy) * g.inputWidth + ix])
                            }
                        }
                    }
                    result[(co * g.outputHeight + oy) * g.outputWidth + ox] = Float(sum)
                }
            }
        }
        return result
    }

    @Test("The AVX2 and AVX-512 GEMM tiles match a direct convolution and give the same bits",
          arguments: [
              // channels, outputs, height, width, kernel, stride, pad, dilation
              (3, 33, 37, 41, 7, 2, 3, 1), (40, 5, 9, 13, 1, 1, 0, 1), (20, 16, 19, 70, 3, 1, 2, 2),
              (300, 1, 6, 35, 3, 2, 1, 1), (8, 70, 33, 64, 3, 1, 1, 1),
          ])
    func gemmTilesAgree(_ c: (Int, Int, Int, Int, Int, Int, Int, Int)) {
        let (channels, outputs, height, width, kernel, stride, pad, dilation) = c
        let span = (kernel - 1) * dilation + 1
        let geometry = Im2ColGeometry(
            channels: channels, inputHeight: height, inputWidth: width, kernelHeight: kernel, kernelWidth: kernel,
            strideHeight: stride, strideWidth: stride, padTop: pad, padLeft: pad, dilationHeight: dilation,
            dilationWidth: dilation, outputHeight: (height + 2 * pad - span) / stride + 1,
            outputWidth: (width + 2 * pad - span) / stride + 1)
        let input = Self.values(channels * height * width, seed: 7)
        let weights = Self.values(outputs * geometry.depth, seed: 8).map { $0 * 0.2 }
        let bias = Self.values(outputs, seed: 9)
        let expected = Self.reference(input: input, weights: weights, bias: bias, outputs: outputs, geometry: geometry)
        let packed = PackedMatrix(rows: outputs, depth: geometry.depth) { row, k in weights[row * geometry.depth + k] }
        var results: [[Float]] = []
        for kernels in GEMMKernels.allCases where kernels.isAvailable {
            for threads in [1, 2] {
                var output = [Float](repeating: .nan, count: expected.count)
                input.withUnsafeBufferPointer { x in
                    bias.withUnsafeBufferPointer { b in
                        output.withUnsafeMutableBufferPointer { y in
                            GEMM.multiply(packed, input: x.baseAddress!, geometry: geometry, output: y.baseAddress!,
                                          bias: b.baseAddress, activation: .identity, threads: threads, kernels: kernels)
                        }
                    }
                }
                // NaN (an output never written) counts as a mismatch.
                let mismatches = zip(output, expected).filter { !(abs($0 - $1) <= 1e-4 * max(1, abs($1))) }.count
                #expect(mismatches == 0, "\(kernels), \(threads) threads")
                results.append(output)
            }
        }
        for result in results.dropFirst() {
            #expect(result.map(\.bitPattern) == results[0].map(\.bitPattern), "tiles or thread counts differ in bits")
        }
    }

    @Test("Sigmoid and SiLU give the same bits on the AVX2 and AVX-512 paths, within 2e-6 of Double")
    func sigmoidPathsAgree() throws {
        let inputs = Self.values(1003, seed: 10).enumerated().map { $0.element * Float($0.offset % 7) * 30 }
        for silu in [false, true] {
            var narrow = inputs
            narrow.withUnsafeMutableBufferPointer { Activation.sigmoid($0.baseAddress!, count: $0.count, silu: silu) }
            for (x, y) in zip(inputs, narrow) {
                let gate = 1 / (1 + Foundation.exp(-Double(x)))
                let expected = silu ? Double(x) * gate : gate
                #expect(abs(Double(y) - expected) <= 2e-6 * max(1, abs(expected)), "x = \(x)")
            }
            if GEMMKernels.avx512.isAvailable {
                var wide = inputs
                wide.withUnsafeMutableBufferPointer { avx512Sigmoid($0.baseAddress!, count: $0.count, silu: silu) }
                #expect(wide.map(\.bitPattern) == narrow.map(\.bitPattern), "silu: \(silu)")
            }
        }
    }

    @Test("A padded GEMM convolution run in bands of rows matches a direct convolution")
    func bandedPaddedConvolutionMatchesDirectConvolution() {
        // 64 channels × 62 padded columns: bands of 64 output rows, so 70 rows take two bands.
        let (channels, outputs, height, width) = (64, 4, 70, 60)
        let input = Self.values(channels * height * width, seed: 4)
        let weights = Self.values(outputs * channels * 9, seed: 5).map { $0 * 0.1 }
        let bias = Self.values(outputs, seed: 6)
        let expected = Self.reference(input: input, channels: channels, height: height, width: width, weights: weights,
                                      outputs: outputs, bias: bias, padTop: 1, padLeft: 1, outputHeight: height, outputWidth: width)
        let convolution = PreparedConvolution(
            transposed: false,
            weights: .gemm([PackedMatrix(rows: outputs, depth: channels * 9) { row, k in weights[row * channels * 9 + k] }]),
            bias: FloatStorage(bias), inputChannels: channels, outputChannels: outputs, groups: 1,
            kernelHeight: 3, kernelWidth: 3, activation: .relu)
        let step = ConvolutionStep(
            convolution: convolution, input: .storage(0), output: .storage(1), batch: 1, inputHeight: height,
            inputWidth: width, outputHeight: height, outputWidth: width, strideHeight: 1, strideWidth: 1,
            padTop: 1, padLeft: 1, dilationHeight: 1, dilationWidth: 1)
        for threads in [1, 2] {
            var arena = input + [Float](repeating: .nan, count: expected.count)
            arena.withUnsafeMutableBufferPointer { memory in
                let executor = StepExecutor(arena: memory.baseAddress!, storageOffsets: [0, input.count], constants: [],
                                            threads: threads)
                executor.run(.convolution(step))
            }
            // NaN (an output never written) counts as a mismatch.
            let mismatches = zip(arena[input.count...], expected).filter { !(abs($0 - $1) <= 1e-4) }.count
            #expect(mismatches == 0, "\(threads) threads")
        }
    }

    @Test("A padded stride-2 7x7 convolution read through the zero-bordered bands gives the bits of the plain packed GEMM for 1, 2 and 4 threads, within 1e-4 of a direct convolution")
    func bandedStrideTwoConvolutionMatchesPackedGEMM() {
        let (channels, outputs, height, width) = (3, 8, 71, 75)
        let geometry = Im2ColGeometry(
            channels: channels, inputHeight: height, inputWidth: width, kernelHeight: 7, kernelWidth: 7,
            strideHeight: 2, strideWidth: 2, padTop: 3, padLeft: 3, dilationHeight: 1, dilationWidth: 1,
            outputHeight: (height + 6 - 7) / 2 + 1, outputWidth: (width + 6 - 7) / 2 + 1)
        #expect(geometry.outputWidth >= 32)
        let input = Self.values(channels * height * width, seed: 7)
        let weights = Self.values(outputs * geometry.depth, seed: 8).map { $0 * 0.1 }
        let bias = Self.values(outputs, seed: 9)
        let expected = Self.reference(input: input, weights: weights, bias: bias, outputs: outputs, geometry: geometry)
        let packed = PackedMatrix(rows: outputs, depth: geometry.depth) { row, k in weights[row * geometry.depth + k] }
        var plain = [Float](repeating: .nan, count: expected.count)
        input.withUnsafeBufferPointer { x in
            bias.withUnsafeBufferPointer { b in
                plain.withUnsafeMutableBufferPointer { y in
                    GEMM.multiply(packed, input: x.baseAddress!, geometry: geometry, output: y.baseAddress!,
                                  bias: b.baseAddress, activation: .identity, threads: 1)
                }
            }
        }
        let convolution = PreparedConvolution(
            transposed: false, weights: .gemm([packed]), bias: FloatStorage(bias), inputChannels: channels,
            outputChannels: outputs, groups: 1, kernelHeight: 7, kernelWidth: 7, activation: .identity)
        let step = ConvolutionStep(
            convolution: convolution, input: .storage(0), output: .storage(1), batch: 1, inputHeight: height,
            inputWidth: width, outputHeight: geometry.outputHeight, outputWidth: geometry.outputWidth, strideHeight: 2,
            strideWidth: 2, padTop: 3, padLeft: 3, dilationHeight: 1, dilationWidth: 1)
        for threads in [1, 2, 4] {
            var arena = input + [Float](repeating: .nan, count: expected.count)
            arena.withUnsafeMutableBufferPointer { memory in
                let executor = StepExecutor(arena: memory.baseAddress!, storageOffsets: [0, input.count], constants: [],
                                            threads: threads)
                executor.run(.convolution(step))
            }
            let banded = Array(arena[input.count...])
            let mismatches = zip(banded, expected).filter { !(abs($0 - $1) <= 1e-4) }.count
            #expect(mismatches == 0, "\(threads) threads")
            #expect(banded.map(\.bitPattern) == plain.map(\.bitPattern), "\(threads) threads: not the plain GEMM's bits")
        }
    }

    /// A direct 3-D convolution (3×3×3 kernel) with bias and LeakyReLU (0.01), summed in Double.
    static func reference3D(input: [Float], batch: Int, channels: Int, extents: [Int], weights: [Float], outputs: Int,
                            bias: [Float], stride: [Int], pad: [Int], outputExtents: [Int]) -> [Float] {
        let (d, h, w) = (extents[0], extents[1], extents[2])
        let (od, oh, ow) = (outputExtents[0], outputExtents[1], outputExtents[2])
        var result = [Float](repeating: 0, count: batch * outputs * od * oh * ow)
        for n in 0..<batch {
            for co in 0..<outputs {
                for oz in 0..<od { for oy in 0..<oh { for ox in 0..<ow {
                    var sum = Double(bias[co])
                    for ci in 0..<channels {
                        for kz in 0..<3 { for ky in 0..<3 { for kx in 0..<3 {
                            let iz: Int = oz * stride[0] + kz - pad[0]
                            let iy: Int = oy * stride[1] + ky - pad[1]
                            let ix: Int = ox * stride[2] + kx - pad[2]
                            if iz < 0 || iz >= d || iy < 0 || iy >= h || ix < 0 || ix >= w { continue }
                            let tap: Int = ((co * channels + ci) * 3 + kz) * 3 + ky
                            let weight = weights[tap * 3 + kx]
                            let plane: Int = (n * channels + ci) * d + iz
                            sum += Double(weight) * Double(input[(plane * h + iy) * w + ix])
                        } } }
                    }
                    let value = Float(sum)
                    let slice: Int = ((n * outputs + co) * od + oz) * oh + oy
                    result[slice * ow + ox] = value >= 0 ? value : 0.01 * value
                } } }
            }
        }
        return result
    }

    @Test("3-D GEMM convolutions (stride 1 read flat from the slab, stride 2 through packed strips over several rows, one task per depth slice or each slice on every thread) match a direct convolution and give the same bits for 1, 2 and 3 threads",
          arguments: [(2, 8, 8, [5, 6, 20], [1, 1, 1]), (1, 3, 12, [3, 7, 9], [1, 1, 1]), (2, 8, 16, [6, 10, 30], [2, 2, 2]),
                      (1, 16, 8, [2, 4, 5], [1, 2, 2])])
    func convolution3DMatchesDirectConvolution(_ c: (Int, Int, Int, [Int], [Int])) {
        let (batch, channels, outputs, extents, stride) = c
        let pad = [1, 1, 1]
        var outputExtents: [Int] = []
        for axis in 0..<3 { outputExtents.append((extents[axis] + 2 * pad[axis] - 3) / stride[axis] + 1) }
        let input = Self.values(batch * channels * extents.reduce(1, *), seed: 10)
        let weights = Self.values(outputs * channels * 27, seed: 11).map { $0 * 0.2 }
        let bias = Self.values(outputs, seed: 12)
        let expected = Self.reference3D(input: input, batch: batch, channels: channels, extents: extents, weights: weights,
                                        outputs: outputs, bias: bias, stride: stride, pad: pad, outputExtents: outputExtents)
        var convolution = PreparedConvolution(
            transposed: false,
            weights: .gemm([PackedMatrix(rows: outputs, depth: channels * 27) { row, k in weights[row * channels * 27 + k] }]),
            bias: FloatStorage(bias), inputChannels: channels, outputChannels: outputs, groups: 1,
            kernelHeight: 3, kernelWidth: 3, activation: .leakyRelu(alpha: 0.01))
        convolution.kernelDepth = 3
        convolution.spatialRank = 3
        let step = Convolution3DStep(convolution: convolution, input: .storage(0), output: .storage(1), batch: batch,
                                     inputExtents: extents, outputExtents: outputExtents, strides: stride, pads: pad,
                                     dilations: [1, 1, 1])
        var first: [UInt32]?
        for threads in [1, 2, 3] {
            var arena = input + [Float](repeating: .nan, count: expected.count)
            arena.withUnsafeMutableBufferPointer { memory in
                let executor = StepExecutor(arena: memory.baseAddress!, storageOffsets: [0, input.count], constants: [],
                                            threads: threads)
                executor.run(.convolution3D(step))
            }
            let result = Array(arena[input.count...])
            // NaN (an output never written) counts as a mismatch.
            let mismatches = zip(result, expected).filter { !(abs($0 - $1) <= 1e-4) }.count
            #expect(mismatches == 0, "\(threads) threads")
            let bits: [UInt32] = result.map { $0.bitPattern }
            if let first {
                #expect(bits == first, "\(threads) threads")
            } else {
                first = bits
            }
        }
    }

    @Test("The depthwise kernel (eight output vectors at a time over a zero-bordered plane) matches a direct convolution and gives the same bits for 1, 2 and 3 threads",
          arguments: [(3, 9, 112, 3, 2, 1), (2, 7, 56, 5, 1, 2), (4, 5, 14, 3, 2, 1), (3, 6, 7, 3, 1, 1), (2, 3, 61, 3, 1, 0)])
    func depthwiseMatchesDirectConvolution(_ c: (Int, Int, Int, Int, Int, Int)) {
        let (channels, height, width, kernel, stride, pad) = c
        let outputHeight = (height + 2 * pad - kernel) / stride + 1, outputWidth = (width + 2 * pad - kernel) / stride + 1
        let input = Self.values(channels * height * width, seed: 21)
        let weights = Self.values(channels * kernel * kernel, seed: 22)
        let bias = Self.values(channels, seed: 23)
        var expected = [Float](repeating: 0, count: channels * outputHeight * outputWidth)
        for channel in 0..<channels {
            for oy in 0..<outputHeight {
                for ox in 0..<outputWidth {
                    var sum = Double(bias[channel])
                    for ky in 0..<kernel {
                        for kx in 0..<kernel {
                            let iy = oy * stride + ky - pad, ix = ox * stride + kx - pad
                            if iy < 0 || iy >= height || ix < 0 || ix >= width { continue }
                            sum += Double(weights[(channel * kernel + ky) * kernel + kx]) * Double(input[(channel * height + iy) * width + ix])
                        }
                    }
                    expected[(channel * outputHeight + oy) * outputWidth + ox] = Float(sum)
                }
            }
        }
        let convolution = PreparedConvolution(
            transposed: false, weights: .depthwise(FloatStorage(weights)), bias: FloatStorage(bias), inputChannels: channels,
            outputChannels: channels, groups: channels, kernelHeight: kernel, kernelWidth: kernel, activation: .identity)
        let step = ConvolutionStep(convolution: convolution, input: .storage(0), output: .storage(1), batch: 1,
                                   inputHeight: height, inputWidth: width, outputHeight: outputHeight, outputWidth: outputWidth,
                                   strideHeight: stride, strideWidth: stride, padTop: pad, padLeft: pad,
                                   dilationHeight: 1, dilationWidth: 1)
        var first: [UInt32]?
        for threads in [1, 2, 3] {
            var arena = input + [Float](repeating: .nan, count: expected.count)
            arena.withUnsafeMutableBufferPointer { memory in
                let executor = StepExecutor(arena: memory.baseAddress!, storageOffsets: [0, input.count], constants: [],
                                            threads: threads)
                executor.run(.convolution(step))
            }
            let result = Array(arena[input.count...])
            // NaN (an output never written) counts as a mismatch.
            let mismatches = zip(result, expected).filter { !(abs($0 - $1) <= 1e-5 * max(1, abs($1))) }.count
            #expect(mismatches == 0, "\(threads) threads")
            let bits: [UInt32] = result.map { $0.bitPattern }
            if let first {
                #expect(bits == first, "\(threads) threads")
            } else {
                first = bits
            }
        }
    }

    /// One depthwise case: channels and multiplier, batch, plane, kernel, stride, padding
    /// (top/left; bottom/right follow from the output size), dilation and the fused activation.
    struct DepthwiseCase: Sendable, CustomTestStringConvertible {
        var channels: Int, multiplier: Int, batch: Int
        var height: Int, width: Int, kernelHeight: Int, kernelWidth: Int
        var stride: Int, padTop: Int, padLeft: Int, padBottom: Int, padRight: Int, dilation: Int
        var activation: Activation
        var testDescription: String {
            "\(channels)×\(multiplier) ch, \(batch)×\(height)×\(width), \(kernelHeight)×\(kernelWidth) s\(stride) d\(dilation) pad \(padTop),\(padLeft),\(padBottom),\(padRight), \(activation)"
        }
        var outputHeight: Int { (height + padTop + padBottom - (kernelHeight - 1) * dilation - 1) / stride + 1 }
        var outputWidth: Int { (width + padLeft + padRight - (kernelWidth - 1) * dilation - 1) / stride + 1 }
    }

    /// Runs one depthwise convolution step with `threads` threads and the given activation.
    static func runDepthwise(_ c: DepthwiseCase, input: [Float], weights: [Float], bias: [Float], activation: Activation,
                             threads: Int, kernels: GEMMKernels = .avx2) -> [Float] {
        let outputChannels = c.channels * c.multiplier
        let count = c.batch * outputChannels * c.outputHeight * c.outputWidth
        let convolution = PreparedConvolution(
            transposed: false, weights: .depthwise(FloatStorage(weights)), bias: FloatStorage(bias), inputChannels: c.channels,
            outputChannels: outputChannels, groups: c.channels, kernelHeight: c.kernelHeight, kernelWidth: c.kernelWidth,
            activation: activation)
        let step = ConvolutionStep(convolution: convolution, input: .storage(0), output: .storage(1), batch: c.batch,
                                   inputHeight: c.height, inputWidth: c.width, outputHeight: c.outputHeight, outputWidth: c.outputWidth,
                                   strideHeight: c.stride, strideWidth: c.stride, padTop: c.padTop, padLeft: c.padLeft,
                                   dilationHeight: c.dilation, dilationWidth: c.dilation)
        var arena = input + [Float](repeating: .nan, count: count)
        arena.withUnsafeMutableBufferPointer { memory in
            var executor = StepExecutor(arena: memory.baseAddress!, storageOffsets: [0, input.count], constants: [], threads: threads)
            executor.depthwiseKernels = kernels
            executor.run(.convolution(step))
        }
        return Array(arena[input.count...])
    }

    @Test("The depthwise kernel with its activation (in registers or over the plane) matches a direct convolution, gives the bits of the convolution followed by the activation over the plane, and the same bits for 1, 2 and 3 threads and for the AVX2 and AVX-512 kernels",
          arguments: [
            DepthwiseCase(channels: 3, multiplier: 1, batch: 2, height: 7, width: 7, kernelHeight: 5, kernelWidth: 5, stride: 1,
                          padTop: 2, padLeft: 2, padBottom: 2, padRight: 2, dilation: 1, activation: .silu),
            DepthwiseCase(channels: 4, multiplier: 1, batch: 1, height: 14, width: 14, kernelHeight: 3, kernelWidth: 3, stride: 1,
                          padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, dilation: 1, activation: .silu),
            DepthwiseCase(channels: 2, multiplier: 1, batch: 1, height: 29, width: 57, kernelHeight: 5, kernelWidth: 5, stride: 2,
                          padTop: 1, padLeft: 2, padBottom: 2, padRight: 1, dilation: 1, activation: .sigmoid),
            DepthwiseCase(channels: 2, multiplier: 2, batch: 1, height: 19, width: 41, kernelHeight: 3, kernelWidth: 5, stride: 3,
                          padTop: 0, padLeft: 2, padBottom: 1, padRight: 0, dilation: 1, activation: .relu),
            DepthwiseCase(channels: 3, multiplier: 1, batch: 1, height: 23, width: 35, kernelHeight: 3, kernelWidth: 3, stride: 1,
                          padTop: 2, padLeft: 2, padBottom: 2, padRight: 2, dilation: 2, activation: .clip(min: 0, max: 0.6)),
            DepthwiseCase(channels: 2, multiplier: 1, batch: 1, height: 9, width: 113, kernelHeight: 3, kernelWidth: 3, stride: 2,
                          padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, dilation: 1, activation: .tanh),
            DepthwiseCase(channels: 1, multiplier: 1, batch: 1, height: 1, width: 3, kernelHeight: 1, kernelWidth: 3, stride: 1,
                          padTop: 0, padLeft: 0, padBottom: 0, padRight: 0, dilation: 1, activation: .silu),
            DepthwiseCase(channels: 2, multiplier: 1, batch: 1, height: 56, width: 56, kernelHeight: 3, kernelWidth: 3, stride: 2,
                          padTop: 0, padLeft: 0, padBottom: 1, padRight: 1, dilation: 1, activation: .silu),
            DepthwiseCase(channels: 2, multiplier: 1, batch: 1, height: 12, width: 37, kernelHeight: 5, kernelWidth: 5, stride: 1,
                          padTop: 2, padLeft: 2, padBottom: 2, padRight: 2, dilation: 1, activation: .identity),
            // Stride 2 read from rows split into even and odd columns: rows of 17, 18 and 34
            // inputs (a vector of sixteen, then one more alone or an overlapping last vector),
            // odd and even left padding, a 3×5 kernel.
            DepthwiseCase(channels: 2, multiplier: 1, batch: 1, height: 9, width: 17, kernelHeight: 3, kernelWidth: 3, stride: 2,
                          padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, dilation: 1, activation: .silu),
            DepthwiseCase(channels: 3, multiplier: 1, batch: 1, height: 6, width: 18, kernelHeight: 3, kernelWidth: 3, stride: 2,
                          padTop: 0, padLeft: 0, padBottom: 1, padRight: 1, dilation: 1, activation: .identity),
            DepthwiseCase(channels: 2, multiplier: 2, batch: 2, height: 11, width: 34, kernelHeight: 3, kernelWidth: 5, stride: 2,
                          padTop: 1, padLeft: 2, padBottom: 1, padRight: 1, dilation: 1, activation: .relu),
          ])
    func depthwiseFusedActivationMatchesReference(_ c: DepthwiseCase) {
        let outputChannels = c.channels * c.multiplier
        let taps = c.kernelHeight * c.kernelWidth
        // Centred values, so the activations see both signs.
        let input = Self.values(c.batch * c.channels * c.height * c.width, seed: 41).map { 4 * $0 - 2 }
        let weights = Self.values(outputChannels * taps, seed: 42).map { $0 - 0.5 }
        let bias = Self.values(outputChannels, seed: 43).map { $0 - 0.5 }
        var expected = [Float](repeating: 0, count: c.batch * outputChannels * c.outputHeight * c.outputWidth)
        for image in 0..<c.batch {
            for channel in 0..<outputChannels {
                let source = (image * c.channels + channel / c.multiplier) * c.height * c.width
                for oy in 0..<c.outputHeight {
                    for ox in 0..<c.outputWidth {
                        var sum = Double(bias[channel])
                        for ky in 0..<c.kernelHeight {
                            for kx in 0..<c.kernelWidth {
                                let iy = oy * c.stride + ky * c.dilation - c.padTop, ix = ox * c.stride + kx * c.dilation - c.padLeft
                                if iy < 0 || iy >= c.height || ix < 0 || ix >= c.width { continue }
                                sum += Double(weights[channel * taps + ky * c.kernelWidth + kx]) * Double(input[source + iy * c.width + ix])
                            }
                        }
                        let index = ((image * outputChannels + channel) * c.outputHeight + oy) * c.outputWidth + ox
                        let value = Float(sum)
                        let activated: Double
                        switch c.activation {
                        case .silu: activated = Double(value) / (1 + Foundation.exp(-Double(value)))
                        case .sigmoid: activated = 1 / (1 + Foundation.exp(-Double(value)))
                        case .relu: activated = max(0, Double(value))
                        case .clip(let low, let high): activated = min(max(Double(value), Double(low)), Double(high))
                        case .tanh: activated = Foundation.tanh(Double(value))
                        default: activated = Double(value)
                        }
                        expected[index] = Float(activated)
                    }
                }
            }
        }
        // The convolution alone, then the activation over the whole output (the unfused path).
        var unfused = Self.runDepthwise(c, input: input, weights: weights, bias: bias, activation: .identity, threads: 1)
        unfused.withUnsafeMutableBufferPointer { c.activation.apply($0.baseAddress!, count: $0.count) }
        let unfusedBits: [UInt32] = unfused.map { $0.bitPattern }
        var first: [UInt32]?
        let kernels: [GEMMKernels] = GEMMKernels.avx512.isAvailable ? [.avx2, .avx512] : [.avx2]
        for (threads, kernel) in [1, 2, 3].flatMap({ t in kernels.map { (t, $0) } }) {
            let result = Self.runDepthwise(c, input: input, weights: weights, bias: bias, activation: c.activation, threads: threads,
                                           kernels: kernel)
            // NaN (an output never written) counts as a mismatch.
            let mismatches = zip(result, expected).filter { !(abs($0 - $1) <= 1e-5 * max(1, abs($1))) }.count
            #expect(mismatches == 0, "\(threads) threads, \(kernel)")
            let bits: [UInt32] = result.map { $0.bitPattern }
            #expect(bits == unfusedBits, "\(threads) threads, \(kernel): fused and unfused activation differ")
            if let first {
                #expect(bits == first, "\(threads) threads, \(kernel)")
            } else {
                first = bits
            }
        }
    }

    @Test("A MatMul's left operand read in place gives the bits of the packed one, for 1 and 2 threads and the AVX2 and AVX-512 tiles, and matches Double",
          arguments: [(13, 300, 40, 3), (256, 24, 256, 0), (5, 7, 16, 1), (256, 256, 24, 0), (41, 130, 45, 2)])
    func rowMajorLeftOperandMatchesPacked(_ c: (Int, Int, Int, Int)) {
        let (rows, depth, columns, slack) = c
        let rowStride = depth + slack
        let a = Self.values(rows * rowStride, seed: 31)
        let b = Self.values(depth * columns, seed: 32)
        var expected = [Float](repeating: 0, count: rows * columns)
        for i in 0..<rows {
            for j in 0..<columns {
                var sum: Double = 0
                for p in 0..<depth { sum += Double(a[i * rowStride + p]) * Double(b[p * columns + j]) }
                expected[i * columns + j] = Float(sum)
            }
        }
        let geometry = Im2ColGeometry.matrix(rows: depth, columns: columns)
        var results: [[Float]] = []
        let kernels: [GEMMKernels] = GEMMKernels.avx512.isAvailable ? [.avx2, .avx512] : [.avx2]
        for (threads, kernel) in [1, 2].flatMap({ t in kernels.map { (t, $0) } }) {
            var inPlace = [Float](repeating: .nan, count: rows * columns)
            var packed = inPlace
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    inPlace.withUnsafeMutableBufferPointer { y in
                        GEMM.multiply(rows: rows, depth: depth, a: a.baseAddress!, rowStride: rowStride, input: b.baseAddress!,
                                      geometry: geometry, output: y.baseAddress!, threads: threads, kernels: kernel)
                    }
                    let matrix = PackedMatrix(rows: rows, depth: depth, source: a.baseAddress!, rowStride: rowStride, depthStride: 1)
                    packed.withUnsafeMutableBufferPointer { y in
                        GEMM.multiply(matrix, input: b.baseAddress!, geometry: geometry, output: y.baseAddress!, bias: nil,
                                      activation: .identity, threads: threads)
                    }
                }
            }
            let mismatches = zip(inPlace, expected).filter { !(abs($0 - $1) <= 1e-4 * max(1, abs($1))) }.count
            #expect(mismatches == 0, "\(threads) threads, \(kernel)")
            #expect(inPlace.map(\.bitPattern) == packed.map(\.bitPattern), "\(threads) threads, \(kernel)")
            results.append(inPlace)
        }
        #expect(results.allSatisfy { $0.map(\.bitPattern) == results[0].map(\.bitPattern) })
    }
    @Test("A BatchNormalization step with a fused ReLU applies the affine map, then the ReLU, per channel")
    func channelAffineAppliesItsActivation() {
        let (batch, channels, spatial) = (2, 3, 37)
        let input = Self.values(batch * channels * spatial, seed: 41)
        let scale: [Float] = [0.5, -2, 1.25], shift: [Float] = [0.1, 0.3, -0.2]
        let step = ChannelAffineStep(input: .storage(0), output: .storage(1), batch: batch, channels: channels, spatial: spatial,
                                     scale: scale, shift: shift, activation: .relu)
        for threads in [1, 2] {
            var arena = input + [Float](repeating: .nan, count: input.count)
            arena.withUnsafeMutableBufferPointer { memory in
                StepExecutor(arena: memory.baseAddress!, storageOffsets: [0, input.count], constants: [], threads: threads)
                    .run(.channelAffine(step))
            }
            let expected = input.indices.map { i -> Float in
                let channel = (i / spatial) % channels
                return max(0, input[i] * scale[channel] + shift[channel])
            }
            #expect(Array(arena[input.count...]).map(\.bitPattern) == expected.map(\.bitPattern), "\(threads) threads")
        }
    }

    @Test("A BatchNormalization and ReLU folded into a 1x1 convolution's packing give the bits of the separate step followed by the plain product, for 1, 2 and 3 threads and the AVX2 and AVX-512 tiles, and match Double",
          arguments: [(300, 20, 13, 11, true), (96, 48, 8, 8, false), (40, 7, 3, 5, true)])
    func foldedInputAffineMatchesSeparateStep(_ c: (Int, Int, Int, Int, Bool)) {
        let (channels, outputs, height, width, relu) = c
        let plane = height * width
        let input = Self.values(channels * plane, seed: 61).map { 2 * $0 - 1 }
        let weights = Self.values(outputs * channels, seed: 62).map { $0 - 0.5 }
        let bias = Self.values(outputs, seed: 63)
        let scale = Self.values(channels, seed: 64).map { 1.5 * $0 - 0.5 }
        let shift = Self.values(channels, seed: 65).map { $0 - 0.4 }
        let packed = PackedMatrix(rows: outputs, depth: channels) { row, k in weights[row * channels + k] }
        let geometry = Im2ColGeometry.matrix(rows: channels, columns: plane)
        // The normalised input as the separate step writes it (one plane per channel).
        let step = ChannelAffineStep(input: .storage(0), output: .storage(1), batch: 1, channels: channels, spatial: plane,
                                     scale: scale, shift: shift, activation: relu ? .relu : .identity)
        var arena = input + [Float](repeating: .nan, count: input.count)
        arena.withUnsafeMutableBufferPointer { memory in
            StepExecutor(arena: memory.baseAddress!, storageOffsets: [0, input.count], constants: [], threads: 1)
                .run(.channelAffine(step))
        }
        let normalised = Array(arena[input.count...])
        var expected = [Float](repeating: 0, count: outputs * plane)
        for o in 0..<outputs {
            for p in 0..<plane {
                var sum = Double(bias[o])
                for k in 0..<channels {
                    let y = input[k * plane + p] * scale[k] + shift[k]
                    sum += Double(weights[o * channels + k]) * Double(relu ? max(0, y) : y)
                }
                expected[o * plane + p] = Float(max(0, sum))
            }
        }
        let kernels: [GEMMKernels] = GEMMKernels.avx512.isAvailable ? [.avx2, .avx512] : [.avx2]
        var results: [[Float]] = []
        for (threads, kernel) in [1, 2, 3].flatMap({ t in kernels.map { (t, $0) } }) {
            var folded = [Float](repeating: .nan, count: outputs * plane)
            var separate = folded
            input.withUnsafeBufferPointer { x in
                bias.withUnsafeBufferPointer { b in
                    scale.withUnsafeBufferPointer { s in
                        shift.withUnsafeBufferPointer { t in
                            folded.withUnsafeMutableBufferPointer { y in
                                GEMM.multiply(packed, input: x.baseAddress!, geometry: geometry, output: y.baseAddress!,
                                              bias: b.baseAddress, activation: .relu, threads: threads, kernels: kernel,
                                              inputAffine: PackAffine(scale: s.baseAddress!, shift: t.baseAddress!, relu: relu))
                            }
                        }
                    }
                    normalised.withUnsafeBufferPointer { n in
                        separate.withUnsafeMutableBufferPointer { y in
                            GEMM.multiply(packed, input: n.baseAddress!, geometry: geometry, output: y.baseAddress!,
                                          bias: b.baseAddress, activation: .relu, threads: threads, kernels: kernel)
                        }
                    }
                }
            }
            let mismatches = zip(folded, expected).filter { !(abs($0 - $1) <= 1e-4 * max(1, abs($1))) }.count
            #expect(mismatches == 0, "\(threads) threads, \(kernel)")
            #expect(folded.map(\.bitPattern) == separate.map(\.bitPattern), "\(threads) threads, \(kernel)")
            results.append(folded)
        }
        #expect(results.allSatisfy { $0.map(\.bitPattern) == results[0].map(\.bitPattern) })
    }

    @Test("Max pooling 3x3 stride 2 (eight outputs per vector inside the row) and average pooling 2x2 stride 2 give the bits of the window loop in (ky, kx) order, for 1 and 2 threads",
          arguments: [(PoolStep.Kind.max, 3, 1, 40, 37), (PoolStep.Kind.max, 3, 1, 128, 9), (PoolStep.Kind.max, 3, 0, 35, 6),
                      (PoolStep.Kind.average, 2, 0, 18, 12), (PoolStep.Kind.average, 2, 0, 17, 13)])
    func stridedPoolingMatchesWindowLoop(_ c: (PoolStep.Kind, Int, Int, Int, Int)) {
        let (kind, kernel, pad, width, height) = c
        let planes = 3
        let outputHeight = (height + 2 * pad - kernel) / 2 + 1, outputWidth = (width + 2 * pad - kernel) / 2 + 1
        let input = Self.values(planes * height * width, seed: 81).map { 2 * $0 - 1 }
        var expected = [Float](repeating: 0, count: planes * outputHeight * outputWidth)
        for plane in 0..<planes {
            for oy in 0..<outputHeight {
                for ox in 0..<outputWidth {
                    var largest = -Float.infinity, sum: Float = 0, count = 0
                    for ky in 0..<kernel {
                        for kx in 0..<kernel {
                            let iy = oy * 2 - pad + ky, ix = ox * 2 - pad + kx
                            if iy < 0 || iy >= height || ix < 0 || ix >= width { continue }
                            let value = input[(plane * height + iy) * width + ix]
                            largest = max(largest, value)
                            sum += value
                            count += 1
                        }
                    }
                    expected[(plane * outputHeight + oy) * outputWidth + ox] = kind == .max ? largest : sum / Float(count)
                }
            }
        }
        let step = PoolStep(kind: kind, input: .storage(0), output: .storage(1), planes: planes, inputHeight: height,
                            inputWidth: width, outputHeight: outputHeight, outputWidth: outputWidth, kernelHeight: kernel,
                            kernelWidth: kernel, strideHeight: 2, strideWidth: 2, padTop: pad, padLeft: pad, padBottom: pad,
                            padRight: pad, dilationHeight: 1, dilationWidth: 1, countIncludePad: false)
        for threads in [1, 2] {
            var arena = input + [Float](repeating: .nan, count: expected.count)
            arena.withUnsafeMutableBufferPointer { memory in
                StepExecutor(arena: memory.baseAddress!, storageOffsets: [0, input.count], constants: [], threads: threads)
                    .run(.pool(step))
            }
            #expect(Array(arena[input.count...]).map(\.bitPattern) == expected.map(\.bitPattern), "\(threads) threads")
        }
    }
}
