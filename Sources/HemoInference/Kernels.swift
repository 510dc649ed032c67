import HemoInferenceAVX512

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Resolves operands to memory for one run and executes steps.
struct StepExecutor {
    let arena: UnsafeMutablePointer<Float>
    let storageOffsets: [Int]
    let constants: [FloatStorage]
    let threads: Int
    /// Storages outside the arena (graph inputs and outputs) and where they are.
    var external: [Int: UnsafeMutablePointer<Float>] = [:]
    /// The depthwise kernel's vectors: sixteen columns on AVX-512 CPUs for maps wider than
    /// eight, else eight (the same bits either way; tests pick each).
    var depthwiseKernels: GEMMKernels = .best

    func pointer(_ operand: Operand) -> UnsafeMutablePointer<Float> {
        switch operand {
        case .storage(let id): return external[id] ?? arena + storageOffsets[id]
        case .constant(let index): return constants[index].pointer
        }
    }

    func run(_ step: Step) {
        switch step {
        case .convolution(let s): convolution(s)
        case .binary(let s): binary(s)
        case .activation(let activation, let input, let output, let count):
            let source = pointer(input), destination = pointer(output)
            let chunk = 1 << 14
            parallelFor((count + chunk - 1) / chunk, threads: threads) { index in
                let start = index * chunk
                activation.map(source + start, destination + start, count: min(chunk, count - start))
            }
        case .stridedCopy(let s): stridedCopy(s)
        case .gather(let input, let output, let sources):
            let source = pointer(input), destination = pointer(output)
            for (i, index) in sources.enumerated() { destination[i] = source[index] }
        case .concat(let s):
            let destination = pointer(s.output)
            let sources = s.inputs.map { UnsafePointer(pointer($0)) }
            let row = s.chunkSizes.reduce(0, +)
            parallelFor(s.outer, threads: threads) { o in
                var offset = o * row
                for (index, (source, size)) in zip(sources, s.chunkSizes).enumerated() {
                    if !s.inPlace[index] { (destination + offset).update(from: source + o * size, count: size) }
                    offset += size
                }
            }
        case .pool(let s): pool(s)
        case .resize(let s): resize(s)
        case .matmul(let s): matmul(s)
        case .softmax(let s): softmax(s)
        case .channelAffine(let s):
            let source = pointer(s.input), destination = pointer(s.output)
            let activation = s.activation, spatial = s.spatial, channels = s.channels
            s.scale.withUnsafeBufferPointer { scales in
                s.shift.withUnsafeBufferPointer { shifts in
                    parallelFor(s.batch * channels, threads: threads) { plane in
                        let channel = plane % channels
                        let base = plane * spatial
                        Self.affinePlane(source + base, destination + base, count: spatial, scale: scales[channel],
                                         shift: shifts[channel], activation: activation)
                    }
                }
            }
        case .copy(let input, let output, let count):
            pointer(output).update(from: pointer(input), count: count)
        case .convolution3D(let s): convolution3D(s)
        case .poolND(let s): poolND(s)
        case .unary(let s): unary(s)
        case .reduce(let s): reduce(s)
        case .normalize(let s): normalize(s)
        case .pad(let s): pad(s)
        case .resample(let s): resample(s)
        case .einsum(let s): einsum(s)
        }
    }

    /// `y = activation(x·scale + shift)` over one plane. Identity and ReLU in one pass of eight
    /// lanes (the transitions' unfolded BatchNorm + ReLU ran at 0.5 G elements/s in two scalar
    /// passes), with the bits of the two passes: the product rounded before the sum, then
    /// ``Activation/apply(_:count:)``'s `y < 0 ? 0 : y` on whole vectors and `y > 0 ? y : 0` on
    /// the tail.
    @inline(__always)
    static func affinePlane(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int, scale: Float, shift: Float,
                            activation: Activation) {
        guard activation == .identity || activation == .relu else {
            for i in 0..<count { y[i] = x[i] * scale + shift }
            activation.apply(y, count: count)
            return
        }
        let relu = activation == .relu
        let scale8 = SIMD8<Float>(repeating: scale), shift8 = SIMD8<Float>(repeating: shift), zero = SIMD8<Float>()
        var i = 0
        while i + 8 <= count {
            var v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) * scale8 + shift8
            if relu { v = v.replacing(with: zero, where: v .< zero) }
            UnsafeMutableRawPointer(y + i).storeBytes(of: v, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count {
            let value = x[i] * scale + shift
            y[i] = relu ? (value > 0 ? value : 0) : value
            i += 1
        }
    }

    // MARK: Convolution

    /// Runs `body` with `affine`'s factors and offsets as pointers (nil when there is none).
    func withPackAffine<Result>(_ affine: InputAffine?, _ body: (PackAffine?) -> Result) -> Result {
        guard let affine else { return body(nil) }
        return affine.scale.withUnsafeBufferPointer { scale in
            affine.shift.withUnsafeBufferPointer { shift in
                body(PackAffine(scale: scale.baseAddress!, shift: shift.baseAddress!, relu: affine.relu))
            }
        }
    }

    func convolution(_ s: ConvolutionStep) {
        let conv = s.convolution
        let input = UnsafePointer(pointer(s.input)), output = pointer(s.output)
        let inputPerGroup = conv.inputChannels / conv.groups
        let outputPerGroup = conv.outputChannels / conv.groups
        let inPlane = s.inputHeight * s.inputWidth, outPlane = s.outputHeight * s.outputWidth
        let bias = conv.bias.map { UnsafePointer($0.pointer) }
        switch conv.weights {
        case .depthwise(let weights):
            depthwise(s, input: input, output: output, weights: UnsafePointer(weights.pointer), bias: bias)
        case .winograd(let matrices):
            for image in 0..<s.batch {
                Winograd.convolve(
                    matrices, input: input + image * conv.inputChannels * inPlane, inputChannels: conv.inputChannels,
                    inputHeight: s.inputHeight, inputWidth: s.inputWidth,
                    output: output + image * conv.outputChannels * outPlane, outputChannels: conv.outputChannels,
                    outputHeight: s.outputHeight, outputWidth: s.outputWidth, padTop: s.padTop, padLeft: s.padLeft,
                    bias: bias, activation: conv.activation, threads: threads)
            }
        case .gemm(let matrices) where !conv.transposed && conv.groups == 1 && (s.strideWidth == 1 || (s.strideWidth == 2 && s.outputWidth >= 32))
                && (s.padTop > 0 || s.padLeft > 0) && conv.kernelHeight * conv.kernelWidth > 1:
            // Padded stride-1 convolutions read a zero-bordered copy of the input: every 16-pixel
            // strip inside an output row then reads B in place, none is packed element by element
            // at the image's left and right edges (perf, default model at 256×256: 26% of the
            // time in packB with 4- and 8-channel layers whose weights are one row strip).
            // Bands of output rows, each with a padded copy of the input rows it reads (about
            // 256 Ki floats), so the copy stays a small scratch, not a second input image.
            // Stride 2 with output rows of at least one 32-pixel strip (ResNet's 7×7 stem): the
            // packer reads each window row as 2·16 floats and keeps the even ones, so one column
            // of slack follows the last window; inside the zero border every full strip takes
            // that path.
            let paddedWidth = (s.outputWidth - 1) * s.strideWidth + (conv.kernelWidth - 1) * s.dilationWidth + s.strideWidth
            let reach = (conv.kernelHeight - 1) * s.dilationHeight + 1
            let bandRows = max(1, min(s.outputHeight, (262_144 / max(1, conv.inputChannels * paddedWidth) - reach) / s.strideHeight + 1))
            let maxBandHeight = (bandRows - 1) * s.strideHeight + reach
            ScratchPool.shared.with(count: conv.inputChannels * maxBandHeight * paddedWidth) { padded in
                for image in 0..<s.batch {
                    let source = input + image * conv.inputChannels * inPlane
                    var oy0 = 0
                    while oy0 < s.outputHeight {
                        let rows = min(bandRows, s.outputHeight - oy0)
                        let bandHeight = (rows - 1) * s.strideHeight + reach
                        let bandPlane = bandHeight * paddedWidth
                        let firstInputRow = oy0 * s.strideHeight - s.padTop
                        parallelFor(conv.inputChannels, threads: threads) { channel in
                            let plane = padded + channel * bandPlane
                            for y in 0..<bandHeight {
                                let row = plane + y * paddedWidth
                                let iy = firstInputRow + y
                                row.update(repeating: 0, count: paddedWidth)
                                if iy < 0 || iy >= s.inputHeight { continue }
                                let first = max(0, s.padLeft), sourceStart = max(0, -s.padLeft)
                                let count = min(s.inputWidth - sourceStart, paddedWidth - first)
                                if count > 0 {
                                    (row + first).update(from: source + channel * inPlane + iy * s.inputWidth + sourceStart, count: count)
                                }
                            }
                        }
                        let geometry = Im2ColGeometry(
                            channels: conv.inputChannels, inputHeight: bandHeight, inputWidth: paddedWidth,
                            kernelHeight: conv.kernelHeight, kernelWidth: conv.kernelWidth,
                            strideHeight: s.strideHeight, strideWidth: s.strideWidth, padTop: 0, padLeft: 0,
                            dilationHeight: s.dilationHeight, dilationWidth: s.dilationWidth,
                            outputHeight: rows, outputWidth: s.outputWidth)
                        GEMM.multiply(matrices[0], input: padded, geometry: geometry,
                                      output: output + image * conv.outputChannels * outPlane + oy0 * s.outputWidth,
                                      outputRowStride: outPlane, bias: bias, activation: conv.activation, threads: threads)
                        oy0 += rows
                    }
                }
            }
        case .gemm(let matrices) where !conv.transposed:
            for image in 0..<s.batch {
                for group in 0..<conv.groups {
                    let geometry = Im2ColGeometry(
                        channels: inputPerGroup, inputHeight: s.inputHeight, inputWidth: s.inputWidth,
                        kernelHeight: conv.kernelHeight, kernelWidth: conv.kernelWidth,
                        strideHeight: s.strideHeight, strideWidth: s.strideWidth, padTop: s.padTop, padLeft: s.padLeft,
                        dilationHeight: s.dilationHeight, dilationWidth: s.dilationWidth,
                        outputHeight: s.outputHeight, outputWidth: s.outputWidth)
                    withPackAffine(s.inputAffine) { affine in
                        GEMM.multiply(
                            matrices[group],
                            input: input + (image * conv.inputChannels + group * inputPerGroup) * inPlane,
                            geometry: geometry,
                            output: output + (image * conv.outputChannels + group * outputPerGroup) * outPlane,
                            bias: bias.map { $0 + group * outputPerGroup }, activation: conv.activation, threads: threads,
                            inputAffine: affine)
                    }
                }
            }
        case .gemm(let matrices):
            // ConvTranspose: columns[(co, ky, kx), pixel] = Wᵀ·X, then scatter-add (col2im).
            let area = conv.kernelHeight * conv.kernelWidth
            ScratchPool.shared.with(count: outputPerGroup * area * inPlane) { columns in
                for image in 0..<s.batch {
                    for group in 0..<conv.groups {
                        GEMM.multiply(
                            matrices[group],
                            input: input + (image * conv.inputChannels + group * inputPerGroup) * inPlane,
                            geometry: .matrix(rows: inputPerGroup, columns: inPlane),
                            output: columns, bias: nil, activation: .identity, threads: threads)
                        let outBase = output + (image * conv.outputChannels + group * outputPerGroup) * outPlane
                        parallelFor(outputPerGroup, threads: threads) { channel in
                            let plane = outBase + channel * outPlane
                            let initial = bias.map { $0[group * outputPerGroup + channel] } ?? 0
                            plane.update(repeating: initial, count: outPlane)
                            for ky in 0..<conv.kernelHeight {
                                for kx in 0..<conv.kernelWidth {
                                    let source = columns + ((channel * conv.kernelHeight + ky) * conv.kernelWidth + kx) * inPlane
                                    for iy in 0..<s.inputHeight {
                                        let oy = iy * s.strideHeight - s.padTop + ky * s.dilationHeight
                                        if oy < 0 || oy >= s.outputHeight { continue }
                                        let row = plane + oy * s.outputWidth
                                        let sourceRow = source + iy * s.inputWidth
                                        let xOffset = kx * s.dilationWidth - s.padLeft
                                        for ix in 0..<s.inputWidth {
                                            let ox = ix * s.strideWidth + xOffset
                                            if ox >= 0 && ox < s.outputWidth { row[ox] += sourceRow[ix] }
                                        }
                                    }
                                }
                            }
                            conv.activation.apply(plane, count: outPlane)
                        }
                    }
                }
            }
        }
    }

    /// Direct depthwise kernel: one input channel per group. Each plane is copied once into a
    /// scratch plane zero-padded on all four sides, so every tap of every output reads inside
    /// it (a tap in the padding adds w·0) and the loops need no bounds. The outputs are cut into
    /// vectors of eight columns (sixteen on AVX-512 CPUs when the map is wider than eight:
    /// `avx512DepthwisePlane`, the same operations lane for lane, so the same bits), the last
    /// one of a row partly outside it, and the vectors of the
    /// whole plane, row after row, are taken eight at a time: eight independent sums — enough
    /// to hide the fused multiply-add latency even for EfficientNet's 7×7 and 14×14 maps, where
    /// a row holds one or two vectors — each starting from the bias, then one fused
    /// multiply-add per tap in kernel order (ky, then kx). SiLU, sigmoid and ReLU are applied
    /// to the sums in registers before the store, so the output plane is written once and not
    /// read again (any other activation runs over the plane after).
    func depthwise(_ s: ConvolutionStep, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                   weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?) {
        let conv = s.convolution
        let multiplier = conv.outputChannels / conv.groups
        let inPlane = s.inputHeight * s.inputWidth, outPlane = s.outputHeight * s.outputWidth
        let kh = conv.kernelHeight, kw = conv.kernelWidth, taps = kh * kw
        let sh = s.strideHeight, sw = s.strideWidth
        let wide = depthwiseKernels == .avx512 && s.outputWidth > 8
        let lanes = wide ? 16 : 8
        let vectorsPerRow = (s.outputWidth + lanes - 1) / lanes
        let positions = s.outputHeight * vectorsPerRow
        // Stride 2 along the rows (dilation 1): each padded row is stored as its even columns,
        // then its odd ones, so a tap reads sixteen (eight) consecutive floats of one half
        // instead of twice as many and keeping the even ones (a permutation per tap and
        // vector); the kernels then run with column stride 1 and tap offsets into the halves.
        // The same products in the same order, so the same bits.
        let split = sw == 2 && s.dilationWidth == 1
        let kernelStride = split ? 1 : sw
        // Every output column rounded up to the vector reads inside a row (a stride-2 tap loads
        // twice the vector's floats); every output row's taps read inside the plane.
        let reach = (kw - 1) * s.dilationWidth
        let half = vectorsPerRow * lanes + (kw - 1) / 2
        let paddedWidth = split
            ? 2 * max(half, (s.padLeft + s.inputWidth + 1) / 2)
            : max(s.padLeft + s.inputWidth, sw == 2 ? vectorsPerRow * lanes * 2 + reach : (vectorsPerRow * lanes - 1) * sw + reach + 1)
        let halfWidth = paddedWidth / 2
        let paddedHeight = max(s.padTop + s.inputHeight, (s.outputHeight - 1) * sh + (kh - 1) * s.dilationHeight + 1)
        let tapOffsets = (0..<taps).map { t in
            let ky = t / kw, kx = t % kw
            return ky * s.dilationHeight * paddedWidth + (split ? (kx & 1) * halfWidth + (kx >> 1) : kx * s.dilationWidth)
        }
        let activation = conv.activation
        let epilogue = DepthwiseEpilogue(activation, kernels: depthwiseKernels)
        // Sixteen-lane planes gate SiLU and sigmoid in registers before the store (`avx512Gate`,
        // lane for lane `avx512Sigmoid`'s operations, so the same bits), not in a second pass.
        let gatedWide = wide && (activation == .silu || activation == .sigmoid)
        let wideCode = gatedWide ? (activation == .silu ? 1 : 2) : epilogue.code
        let padTop = s.padTop, padLeft = s.padLeft, inputHeight = s.inputHeight, inputWidth = s.inputWidth
        let outputWidth = s.outputWidth
        tapOffsets.withUnsafeBufferPointer { offsetsBuffer in
            let offsets = offsetsBuffer.baseAddress!
            parallelFor(s.batch * conv.outputChannels, threads: threads) { plane in
                let image = plane / conv.outputChannels, channel = plane % conv.outputChannels
                let source = input + (image * conv.inputChannels + channel / multiplier) * inPlane
                let destination = output + plane * outPlane
                let kernel = weights + channel * taps
                let biasValue = bias?[channel] ?? 0
                withUnsafeTemporaryAllocation(of: Float.self, capacity: paddedHeight * paddedWidth) { buffer in
                    let padded = buffer.baseAddress!
                    // The zero rows above and below, then each input row with its zero borders,
                    // copied in vectors (library calls per row cost more than the convolution
                    // itself on EfficientNet's 7×7 maps).
                    if split {
                        let firstRow = min(padTop, paddedHeight), endRow = min(padTop + inputHeight, paddedHeight)
                        padded.initialize(repeating: 0, count: firstRow * paddedWidth)
                        (padded + endRow * paddedWidth).initialize(repeating: 0, count: (paddedHeight - endRow) * paddedWidth)
                        for y in firstRow..<endRow {
                            Self.splitRow(source + (y - padTop) * inputWidth, count: inputWidth, padLeft: padLeft,
                                          into: padded + y * paddedWidth, half: halfWidth)
                        }
                    } else {
                        padded.initialize(repeating: 0, count: paddedHeight * paddedWidth)
                        for iy in 0..<inputHeight {
                            (padded + (padTop + iy) * paddedWidth + padLeft).update(from: source + iy * inputWidth, count: inputWidth)
                        }
                    }
                    if wide {
                        avx512DepthwisePlane(padded: padded, paddedWidth: paddedWidth, kernel: kernel, offsets: offsets, taps: taps,
                                             bias: biasValue, outputHeight: s.outputHeight, outputWidth: outputWidth,
                                             strideHeight: sh, strideWidth: kernelStride, output: destination, epilogue: wideCode)
                        return
                    }
                    switch kernelStride {
                    case 1:
                        Self.depthwisePlane8(padded, kernel: kernel, offsets: offsets, taps: taps, bias: biasValue, positions: positions,
                                             vectorsPerRow: vectorsPerRow, strideHeight: sh, stride: 1, paddedWidth: paddedWidth,
                                             destination: destination, outputWidth: outputWidth, epilogue: epilogue, as: ColumnStrideOne.self)
                    case 2:
                        Self.depthwisePlane8(padded, kernel: kernel, offsets: offsets, taps: taps, bias: biasValue, positions: positions,
                                             vectorsPerRow: vectorsPerRow, strideHeight: sh, stride: 2, paddedWidth: paddedWidth,
                                             destination: destination, outputWidth: outputWidth, epilogue: epilogue, as: ColumnStrideTwo.self)
                    default:
                        Self.depthwisePlane8(padded, kernel: kernel, offsets: offsets, taps: taps, bias: biasValue, positions: positions,
                                             vectorsPerRow: vectorsPerRow, strideHeight: sh, stride: kernelStride, paddedWidth: paddedWidth,
                                             destination: destination, outputWidth: outputWidth, epilogue: epilogue, as: ColumnStrideAny.self)
                    }
                }
                if epilogue == .afterwards && !gatedWide { activation.apply(destination, count: outPlane) }
            }
        }
    }

    /// Writes one row of a zero-bordered plane split into its even columns (`row[0..<half]`)
    /// and its odd ones (`row[half..<2·half]`): padded column `c` (input column `c − padLeft`,
    /// zero outside the input; `padLeft + count ≤ 2·half`) goes to `row[c / 2]` or
    /// `row[half + c / 2]`. The row is zeroed, then the input is split sixteen floats at a
    /// time (the last sixteen overlapping the ones before), an odd one out alone.
    @inline(__always)
    static func splitRow(_ source: UnsafePointer<Float>, count: Int, padLeft: Int, into row: UnsafeMutablePointer<Float>, half: Int) {
        typealias V = SIMD8<Float>
        var i = 0
        while i + 8 <= 2 * half { UnsafeMutableRawPointer(row + i).storeBytes(of: V(), as: V.self); i += 8 }
        while i < 2 * half { row[i] = 0; i += 1 }
        @inline(__always) func put(_ x: Int) {
            let c = x + padLeft
            row[(c & 1) * half + (c >> 1)] = source[x]
        }
        if count < 17 {
            for x in 0..<count { put(x) }
            return
        }
        // Vectors start at input columns x with x + padLeft even: even lanes are even columns.
        let x0 = padLeft & 1
        if x0 == 1 { put(0) }
        let even = UnsafeMutableRawPointer(row), odd = UnsafeMutableRawPointer(row + half)
        @inline(__always) func split(_ x: Int) {
            let pair = UnsafeRawPointer(source + x).loadUnaligned(as: SIMD16<Float>.self)
            let j = (x + padLeft) >> 1
            even.storeBytes(of: pair.evenHalf, toByteOffset: j &* 4, as: V.self)
            odd.storeBytes(of: pair.oddHalf, toByteOffset: j &* 4, as: V.self)
        }
        var x = x0
        while x + 16 <= count { split(x); x += 16 }
        if x < count {
            let last = count - 16 - ((count - 16 - x0) & 1)
            split(last)
            for rest in (last + 16)..<count { put(rest) }
        }
    }

    /// What the depthwise kernel does to its sums before storing them: ReLU, and on AVX2 CPUs
    /// SiLU and sigmoid, in registers (the same operations as ``Activation/apply(_:count:)``,
    /// so the same bits); any other activation over the output plane afterwards, while it is
    /// still in cache. On AVX-512 CPUs, planes of eight-lane vectors (maps at most eight wide)
    /// run SiLU and sigmoid that way too, `avx512Sigmoid`'s sixteen lanes taking half the
    /// instructions of eight-lane sums; sixteen-lane planes gate their sums in registers
    /// (`avx512DepthwisePlane`'s epilogues 1 and 2). The same bits either way.
    enum DepthwiseEpilogue: Equatable {
        case none, silu, sigmoid, relu, afterwards

        init(_ activation: Activation, kernels: GEMMKernels) {
            switch activation {
            case .identity: self = .none
            case .silu: self = kernels == .avx512 ? .afterwards : .silu
            case .sigmoid: self = kernels == .avx512 ? .afterwards : .sigmoid
            case .relu: self = .relu
            default: self = .afterwards
            }
        }

        /// `avx512DepthwisePlane`'s epilogue: 3 ReLU, 0 none (SiLU and sigmoid: 1 and 2, chosen by
        /// the caller for sixteen-lane planes).
        var code: Int { self == .relu ? 3 : 0 }
    }

    /// Every output vector of a depthwise plane, eight at a time (``depthwiseBlock``),
    /// specialised per column stride (``ColumnStride``).
    @inline(never)
    static func depthwisePlane8<S: ColumnStride>(
        _ padded: UnsafePointer<Float>, kernel: UnsafePointer<Float>, offsets: UnsafePointer<Int>, taps: Int, bias: Float,
        positions: Int, vectorsPerRow: Int, strideHeight: Int, stride runtimeStride: Int, paddedWidth: Int,
        destination: UnsafeMutablePointer<Float>, outputWidth: Int, epilogue: DepthwiseEpilogue, as _: S.Type
    ) {
        let stride = S.fixed == 0 ? runtimeStride : S.fixed
        var first = 0, row = 0, column = 0
        while first < positions {
            depthwiseBlock(padded, kernel: kernel, offsets: offsets, taps: taps, bias: bias, first: first, row: row, column: column,
                           positions: positions, vectorsPerRow: vectorsPerRow, strideHeight: strideHeight, stride: stride,
                           paddedWidth: paddedWidth, destination: destination, outputWidth: outputWidth, epilogue: epilogue)
            first += 8
            column += 8
            while column >= vectorsPerRow { column -= vectorsPerRow; row += 1 }
        }
    }

    /// A column stride known when the eight-column depthwise loop is compiled (1, 2), or 0:
    /// given at run time. (HemoInferenceAVX512 has its own, `DepthwiseStride`: nothing of that
    /// module may run on a CPU without AVX-512.)
    protocol ColumnStride {
        /// The stride, or 0 when it is the run-time `stride` argument.
        static var fixed: Int { get }
    }
    /// Stride 1.
    enum ColumnStrideOne: ColumnStride { static var fixed: Int { 1 } }
    /// Stride 2.
    enum ColumnStrideTwo: ColumnStride { static var fixed: Int { 2 } }
    /// Any other stride, given at run time.
    enum ColumnStrideAny: ColumnStride { static var fixed: Int { 0 } }

    /// Eight output vectors of a depthwise plane, from vector `first` of the plane's
    /// `positions` (row-major, `vectorsPerRow` a row; `first` is vector `column` of output row
    /// `row`, the following ones stepped to, not divided out); past the last one, the last is
    /// computed again and not stored. `padded` is the plane zero-padded on every side,
    /// `offsets` each tap's offset in it.
    @inline(__always)
    static func depthwiseBlock(_ padded: UnsafePointer<Float>, kernel: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
                               taps: Int, bias: Float, first: Int, row firstRow: Int, column firstColumn: Int, positions: Int,
                               vectorsPerRow: Int, strideHeight: Int,
                               stride: Int, paddedWidth: Int, destination: UnsafeMutablePointer<Float>, outputWidth: Int,
                               epilogue: DepthwiseEpilogue) {
        typealias V = SIMD8<Float>
        var row = firstRow, column = firstColumn
        let rowStep = strideHeight * paddedWidth
        @inline(__always) func next(_ i: Int) -> UnsafeRawPointer {
            let p = UnsafeRawPointer(padded + row * rowStep + column * 8 * stride)
            if first + i + 1 < positions {
                column += 1
                if column == vectorsPerRow { column = 0; row += 1 }
            }
            return p
        }
        let p0 = next(0), p1 = next(1), p2 = next(2), p3 = next(3)
        let p4 = next(4), p5 = next(5), p6 = next(6), p7 = next(7)
        var a0 = V(repeating: bias), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0
        for t in 0..<taps {
            let w = V(repeating: kernel[t])
            let o = offsets[t] &* 4
            a0 = a0.addingProduct(w, depthwiseLoad(p0 + o, stride: stride))
            a1 = a1.addingProduct(w, depthwiseLoad(p1 + o, stride: stride))
            a2 = a2.addingProduct(w, depthwiseLoad(p2 + o, stride: stride))
            a3 = a3.addingProduct(w, depthwiseLoad(p3 + o, stride: stride))
            a4 = a4.addingProduct(w, depthwiseLoad(p4 + o, stride: stride))
            a5 = a5.addingProduct(w, depthwiseLoad(p5 + o, stride: stride))
            a6 = a6.addingProduct(w, depthwiseLoad(p6 + o, stride: stride))
            a7 = a7.addingProduct(w, depthwiseLoad(p7 + o, stride: stride))
        }
        switch epilogue {
        case .silu, .sigmoid:
            let silu = epilogue == .silu
            a0 = Activation.gate(a0, silu: silu); a1 = Activation.gate(a1, silu: silu)
            a2 = Activation.gate(a2, silu: silu); a3 = Activation.gate(a3, silu: silu)
            a4 = Activation.gate(a4, silu: silu); a5 = Activation.gate(a5, silu: silu)
            a6 = Activation.gate(a6, silu: silu); a7 = Activation.gate(a7, silu: silu)
        case .relu:
            let zero = V()
            a0.replace(with: zero, where: a0 .< zero); a1.replace(with: zero, where: a1 .< zero)
            a2.replace(with: zero, where: a2 .< zero); a3.replace(with: zero, where: a3 .< zero)
            a4.replace(with: zero, where: a4 .< zero); a5.replace(with: zero, where: a5 .< zero)
            a6.replace(with: zero, where: a6 .< zero); a7.replace(with: zero, where: a7 .< zero)
        case .none, .afterwards:
            break
        }
        // A vector reaching past its row is stored whole when the plane continues: the next
        // row's vectors, stored later, overwrite what it wrote there.
        let planeEnd = (positions / vectorsPerRow) * outputWidth
        row = firstRow
        column = firstColumn
        @inline(__always) func store(_ sum: V, _ i: Int) {
            if first + i >= positions { return }
            let index = row * outputWidth + column * 8
            if index + 8 <= planeEnd {
                UnsafeMutableRawPointer(destination + index).storeBytes(of: sum, as: V.self)
            } else {
                for lane in 0..<Swift.min(8, outputWidth - column * 8) { destination[index + lane] = sum[lane] }
            }
            column += 1
            if column == vectorsPerRow { column = 0; row += 1 }
        }
        store(a0, 0); store(a1, 1); store(a2, 2); store(a3, 3)
        store(a4, 4); store(a5, 5); store(a6, 6); store(a7, 7)
    }

    /// Eight inputs of a depthwise tap, `stride` floats apart.
    @inline(__always)
    static func depthwiseLoad(_ tap: UnsafeRawPointer, stride: Int) -> SIMD8<Float> {
        if stride == 1 { return tap.loadUnaligned(as: SIMD8<Float>.self) }
        if stride == 2 { return tap.loadUnaligned(as: SIMD16<Float>.self).evenHalf }
        let p = tap.assumingMemoryBound(to: Float.self)
        return SIMD8(p[0], p[stride], p[2 * stride], p[3 * stride], p[4 * stride], p[5 * stride], p[6 * stride], p[7 * stride])
    }

    // MARK: Element-wise

    func binary(_ s: BinaryStep) {
        if let condition = s.condition { return select(s, condition: condition) }
        let a = UnsafePointer(pointer(s.a)), b = UnsafePointer(pointer(s.b)), out = pointer(s.output)
        let rank = s.shape.count
        let inner = s.shape[rank - 1]
        let outer = s.shape.dropLast().reduce(1, *)
        let sa = s.aStrides[rank - 1], sb = s.bStrides[rank - 1]
        let rowsPerTask = max(1, (1 << 14) / max(inner, 1))
        parallelFor((outer + rowsPerTask - 1) / rowsPerTask, threads: threads) { task in
            for row in (task * rowsPerTask)..<min(outer, (task + 1) * rowsPerTask) {
                var rest = row, offsetA = 0, offsetB = 0
                for axis in stride(from: rank - 2, through: 0, by: -1) {
                    let index = rest % s.shape[axis]
                    rest /= s.shape[axis]
                    offsetA += index * s.aStrides[axis]
                    offsetB += index * s.bStrides[axis]
                }
                let x = a + offsetA, y = b + offsetB, z = out + row * inner
                switch s.kind {
                case .add: Self.elementwise(x, sa, y, sb, z, inner) { $0 + $1 }
                case .sub: Self.elementwise(x, sa, y, sb, z, inner) { $0 - $1 }
                case .mul: Self.elementwise(x, sa, y, sb, z, inner) { $0 * $1 }
                case .div: Self.elementwise(x, sa, y, sb, z, inner) { $0 / $1 }
                case .pow:
                    Self.elementwise(x, sa, y, sb, z, inner) { u, v in v == 2 ? u * u : (v == 1 ? u : powf(u, v)) }
                case .min: Self.elementwise(x, sa, y, sb, z, inner) { Swift.min($0, $1) }
                case .max: Self.elementwise(x, sa, y, sb, z, inner) { Swift.max($0, $1) }
                case .equal: Self.elementwise(x, sa, y, sb, z, inner) { $0 == $1 ? 1 : 0 }
                case .less: Self.elementwise(x, sa, y, sb, z, inner) { $0 < $1 ? 1 : 0 }
                case .greater: Self.elementwise(x, sa, y, sb, z, inner) { $0 > $1 ? 1 : 0 }
                case .lessOrEqual: Self.elementwise(x, sa, y, sb, z, inner) { $0 <= $1 ? 1 : 0 }
                case .greaterOrEqual: Self.elementwise(x, sa, y, sb, z, inner) { $0 >= $1 ? 1 : 0 }
                case .and: Self.elementwise(x, sa, y, sb, z, inner) { $0 != 0 && $1 != 0 ? 1 : 0 }
                case .or: Self.elementwise(x, sa, y, sb, z, inner) { $0 != 0 || $1 != 0 ? 1 : 0 }
                case .xor: Self.elementwise(x, sa, y, sb, z, inner) { ($0 != 0) != ($1 != 0) ? 1 : 0 }
                case .prelu: Self.elementwise(x, sa, y, sb, z, inner) { $0 < 0 ? $0 * $1 : $0 }
                case .fmod: Self.elementwise(x, sa, y, sb, z, inner) { fmodf($0, $1) }
                case .mod:
                    Self.elementwise(x, sa, y, sb, z, inner) { u, v in
                        let r = fmodf(u, v)
                        return r == 0 || (r < 0) == (v < 0) ? r : r + v
                    }
                }
            }
        }
    }

    @inline(__always)
    static func elementwise(_ x: UnsafePointer<Float>, _ sx: Int, _ y: UnsafePointer<Float>, _ sy: Int,
                            _ z: UnsafeMutablePointer<Float>, _ count: Int, _ f: (Float, Float) -> Float) {
        if sx == 1 && sy == 1 {
            for i in 0..<count { z[i] = f(x[i], y[i]) }
        } else if sx == 1 {
            let v = y[0]
            for i in 0..<count { z[i] = f(x[i], v) }
        } else if sy == 1 {
            let u = x[0]
            for i in 0..<count { z[i] = f(u, y[i]) }
        } else {
            let value = f(x[0], y[0])
            for i in 0..<count { z[i] = value }
        }
    }

    func stridedCopy(_ s: StridedCopyStep) {
        let source = UnsafePointer(pointer(s.input)) + s.base, destination = pointer(s.output)
        let rank = s.shape.count
        if rank == 0 { destination[0] = source[0]; return }
        let inner = s.shape[rank - 1], innerStride = s.strides[rank - 1]
        let outer = s.shape.dropLast().reduce(1, *)
        // Rows in chunks: each chunk finds its first row's source offset by division, then steps
        // an odometer over the outer axes (MobileViT's unfold copies rows of two floats, where
        // the divisions per row cost more than the copy).
        let chunkRows = max(1, min(outer, max(64, 4096 / max(1, inner))))
        let chunks = (outer + chunkRows - 1) / chunkRows
        let outerRank = rank - 1
        let shape = s.shape, strides = s.strides
        parallelFor(chunks, threads: outer >= 64 ? threads : 1) { chunk in
            let first = chunk * chunkRows, end = min(outer, first + chunkRows)
            withUnsafeTemporaryAllocation(of: Int.self, capacity: max(1, outerRank)) { index in
                var rest = first, offset = 0
                for axis in stride(from: outerRank - 1, through: 0, by: -1) {
                    index[axis] = rest % shape[axis]
                    offset += index[axis] * strides[axis]
                    rest /= shape[axis]
                }
                for row in first..<end {
                    let from = source + offset, to = destination + row * inner
                    if innerStride == 1 {
                        to.update(from: from, count: inner)
                    } else {
                        for i in 0..<inner { to[i] = from[i * innerStride] }
                    }
                    // Next row: increment the last outer axis, carrying into earlier ones.
                    var axis = outerRank - 1
                    while axis >= 0 {
                        index[axis] += 1
                        offset += strides[axis]
                        if index[axis] < shape[axis] { break }
                        offset -= index[axis] * strides[axis]
                        index[axis] = 0
                        axis -= 1
                    }
                }
            }
        }
    }

    func softmax(_ s: SoftmaxStep) {
        let source = UnsafePointer(pointer(s.input)), destination = pointer(s.output)
        parallelFor(s.outer, threads: threads) { o in
            if s.inner == 1 {
                // Contiguous rows (attention): the vector exp, eight at a time (sixteen on
                // AVX-512 CPUs). Sums in eight lanes, then across them: a fixed order for a given
                // extent, the same on every CPU.
                let row = source + o * s.extent, target = destination + o * s.extent
                let vectorEnd = s.extent / 8 * 8
                var largestLanes = SIMD8<Float>(repeating: -.infinity)
                var e = 0
                while e < vectorEnd {
                    let values = UnsafeRawPointer(row + e).loadUnaligned(as: SIMD8<Float>.self)
                    largestLanes.replace(with: values, where: values .> largestLanes)
                    e += 8
                }
                var largest = largestLanes.max()
                while e < s.extent { largest = max(largest, row[e]); e += 1 }
                var sumLanes = SIMD8<Float>()
                e = 0
                if GEMMKernels.best == .avx512 {
                    // The exponentials sixteen at a time (the same bits), summed in the same
                    // eight lanes in the same order.
                    avx512ExpShifted(row, target, count: vectorEnd, shift: largest)
                    while e < vectorEnd {
                        sumLanes += UnsafeRawPointer(target + e).loadUnaligned(as: SIMD8<Float>.self)
                        e += 8
                    }
                }
                while e < vectorEnd {
                    let values = Activation.exp(UnsafeRawPointer(row + e).loadUnaligned(as: SIMD8<Float>.self) - largest)
                    UnsafeMutableRawPointer(target + e).storeBytes(of: values, as: SIMD8<Float>.self)
                    sumLanes += values
                    e += 8
                }
                var sum = sumLanes.sum()
                if e < s.extent {
                    let lanes = s.extent - e
                    var v = SIMD8<Float>(repeating: largest)
                    for lane in 0..<lanes { v[lane] = row[e + lane] }
                    let values = Activation.exp(v - largest)
                    for lane in 0..<lanes { target[e + lane] = values[lane]; sum += values[lane] }
                }
                let inverse = 1 / sum
                e = 0
                while e < vectorEnd {
                    let pointer = UnsafeMutableRawPointer(target + e)
                    pointer.storeBytes(of: pointer.loadUnaligned(as: SIMD8<Float>.self) * inverse, as: SIMD8<Float>.self)
                    e += 8
                }
                while e < s.extent { target[e] *= inverse; e += 1 }
                return
            }
            for i in 0..<s.inner {
                let base = o * s.extent * s.inner + i
                var largest = -Float.infinity
                for e in 0..<s.extent { largest = max(largest, source[base + e * s.inner]) }
                var sum: Float = 0
                for e in 0..<s.extent {
                    let value = expf(source[base + e * s.inner] - largest)
                    destination[base + e * s.inner] = value
                    sum += value
                }
                for e in 0..<s.extent { destination[base + e * s.inner] /= sum }
            }
        }
    }

    // MARK: Pooling and resizing

    func pool(_ s: PoolStep) {
        let source = UnsafePointer(pointer(s.input)), destination = pointer(s.output)
        let inPlane = s.inputHeight * s.inputWidth, outPlane = s.outputHeight * s.outputWidth
        if s.kind == .max && s.kernelHeight == 2 && s.kernelWidth == 2 && s.strideHeight == 2 && s.strideWidth == 2
            && s.padTop == 0 && s.padLeft == 0 && s.dilationHeight == 1 && s.dilationWidth == 1
            && 2 * s.outputHeight <= s.inputHeight && 2 * s.outputWidth <= s.inputWidth {
            // The U-Net downsampling case: every window is inside the image.
            parallelFor(s.planes, threads: threads) { plane in
                let input = source + plane * inPlane, output = destination + plane * outPlane
                for oy in 0..<s.outputHeight {
                    let top = input + 2 * oy * s.inputWidth, bottom = top + s.inputWidth
                    let row = output + oy * s.outputWidth
                    for ox in 0..<s.outputWidth {
                        row[ox] = max(max(top[2 * ox], top[2 * ox + 1]), max(bottom[2 * ox], bottom[2 * ox + 1]))
                    }
                }
            }
            return
        }
        if s.kind == .average && s.kernelHeight == 2 && s.kernelWidth == 2 && s.strideHeight == 2 && s.strideWidth == 2
            && s.padTop == 0 && s.padLeft == 0 && s.dilationHeight == 1 && s.dilationWidth == 1
            && 2 * s.outputHeight <= s.inputHeight && 2 * s.outputWidth <= s.inputWidth {
            // DenseNet's transitions: every window inside the image, four taps summed from zero
            // in the general loop's (ky, kx) order and divided by 4 (same bits, no bounds per tap).
            parallelFor(s.planes, threads: threads) { plane in
                let input = source + plane * inPlane, output = destination + plane * outPlane
                for oy in 0..<s.outputHeight {
                    let top = input + 2 * oy * s.inputWidth, bottom = top + s.inputWidth
                    let row = output + oy * s.outputWidth
                    for ox in 0..<s.outputWidth {
                        var sum: Float = 0
                        sum += top[2 * ox]
                        sum += top[2 * ox + 1]
                        sum += bottom[2 * ox]
                        sum += bottom[2 * ox + 1]
                        row[ox] = sum / 4
                    }
                }
            }
            return
        }
        if s.kind == .max {
            // Any other max pooling (ResNet's 3×3 stride-2 padded stem pool): each output row is
            // folded over the window's taps in the same (ky, kx) order as the general loop below,
            // one tap across the row at a time, with the image bounds worked out once per tap
            // instead of per element (same bits).
            let (inH, inW, outH, outW) = (s.inputHeight, s.inputWidth, s.outputHeight, s.outputWidth)
            let (kh, kw, sh, sw) = (s.kernelHeight, s.kernelWidth, s.strideHeight, s.strideWidth)
            let (padTop, padLeft, dh, dw) = (s.padTop, s.padLeft, s.dilationHeight, s.dilationWidth)
            parallelFor(s.planes, threads: threads) { plane in
                let input = source + plane * inPlane, output = destination + plane * outPlane
                for oy in 0..<outH {
                    let row = output + oy * outW
                    row.update(repeating: -Float.infinity, count: outW)
                    let y0 = oy * sh - padTop
                    for ky in 0..<kh {
                        let iy = y0 + ky * dh
                        if iy < 0 || iy >= inH { continue }
                        let inputRow = input + iy * inW
                        for kx in 0..<kw {
                            let shift = kx * dw - padLeft
                            // ox with 0 <= ox·sw + shift < inW.
                            let first = shift >= 0 ? 0 : (-shift + sw - 1) / sw
                            let end = min(outW, inW - shift <= 0 ? 0 : (inW - shift - 1) / sw + 1)
                            if first >= end { continue }
                            var ox = first
                            var ix = ox * sw + shift
                            if sw == 2 {
                                // Eight outputs at a time: the even lanes of 16 floats from ix
                                // (DenseNet's and ResNet's 3×3 stride-2 stem pool; the same
                                // `v >= m ? v : m` as Swift.max, so the same bits).
                                while ox + 8 <= end && ix + 16 <= inW {
                                    let taps = UnsafeRawPointer(inputRow + ix).loadUnaligned(as: SIMD16<Float>.self).evenHalf
                                    let raw = UnsafeMutableRawPointer(row + ox)
                                    let m = raw.loadUnaligned(as: SIMD8<Float>.self)
                                    raw.storeBytes(of: m.replacing(with: taps, where: taps .>= m), as: SIMD8<Float>.self)
                                    ox += 8
                                    ix += 16
                                }
                            }
                            while ox < end {
                                row[ox] = max(row[ox], inputRow[ix])
                                ox += 1
                                ix += sw
                            }
                        }
                    }
                }
            }
            return
        }
        parallelFor(s.planes, threads: threads) { plane in
            let input = source + plane * inPlane, output = destination + plane * outPlane
            for oy in 0..<s.outputHeight {
                for ox in 0..<s.outputWidth {
                    var largest = -Float.infinity, sum: Float = 0, count = 0
                    let y0 = oy * s.strideHeight - s.padTop, x0 = ox * s.strideWidth - s.padLeft
                    for ky in 0..<s.kernelHeight {
                        let iy = y0 + ky * s.dilationHeight
                        if iy < 0 || iy >= s.inputHeight { continue }
                        for kx in 0..<s.kernelWidth {
                            let ix = x0 + kx * s.dilationWidth
                            if ix < 0 || ix >= s.inputWidth { continue }
                            let value = input[iy * s.inputWidth + ix]
                            largest = max(largest, value)
                            sum += value
                            count += 1
                        }
                    }
                    switch s.kind {
                    case .max:
                        output[oy * s.outputWidth + ox] = largest
                    case .average:
                        var divisor = count
                        if s.countIncludePad {
                            let yEnd = min(y0 + (s.kernelHeight - 1) * s.dilationHeight + 1, s.inputHeight + s.padBottom)
                            let xEnd = min(x0 + (s.kernelWidth - 1) * s.dilationWidth + 1, s.inputWidth + s.padRight)
                            divisor = (yEnd - y0) * (xEnd - x0)
                        }
                        output[oy * s.outputWidth + ox] = sum / Float(max(divisor, 1))
                    }
                }
            }
        }
    }

    func resize(_ s: ResizeStep) {
        let source = UnsafePointer(pointer(s.input)), destination = pointer(s.output)
        let inPlane = s.inputHeight * s.inputWidth, outPlane = s.outputHeight * s.outputWidth
        parallelFor(s.planes, threads: threads) { plane in
            let input = source + plane * inPlane, output = destination + plane * outPlane
            for oy in 0..<s.outputHeight {
                let row = output + oy * s.outputWidth
                if !s.linear {
                    let sourceRow = input + s.rows0[oy] * s.inputWidth
                    for ox in 0..<s.outputWidth { row[ox] = sourceRow[s.columns0[ox]] }
                    continue
                }
                let upper = input + s.rows0[oy] * s.inputWidth, lower = input + s.rows1[oy] * s.inputWidth
                let wy = s.rowWeights[oy]
                for ox in 0..<s.outputWidth {
                    let x0 = s.columns0[ox], x1 = s.columns1[ox], wx = s.columnWeights[ox]
                    let top = upper[x0] + (upper[x1] - upper[x0]) * wx
                    let bottom = lower[x0] + (lower[x1] - lower[x0]) * wx
                    row[ox] = top + (bottom - top) * wy
                }
            }
        }
    }

    // MARK: Matrix products

    /// `Y = A·B` per batch through the packed ``GEMM`` (attention and linear layers). A with
    /// contiguous rows is read in place (``GEMM/multiply(rows:depth:a:rowStride:input:geometry:output:threads:)``),
    /// otherwise packed into row strips per batch; B is read in place when its rows are
    /// contiguous, else copied into a `k × n` matrix first. Batches that share B and whose A rows
    /// follow each other (a linear layer over `[batch, tokens, features]`) run as one product of
    /// `batch·m` rows; several batches run one per thread. Each element sums its k products in
    /// order, one fused multiply-add each, whatever the thread count or the grouping of rows.
    func packedMatmul(_ s: MatMulStep, a: UnsafePointer<Float>, b: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let contiguousB = s.bColumnStride == 1 && s.bDepthStride == s.n
        let rowMajorA = s.aDepthStride == 1
        var batches = s.batch, m = s.m
        if rowMajorA && s.aOffsets == nil && s.bOffsets == nil && s.bBatchStride == 0 && s.aBatchStride == s.m * s.aRowStride {
            batches = 1
            m = s.batch * s.m
        }
        func product(_ batch: Int, bBase: UnsafePointer<Float>, threads: Int) {
            let aBase = a + (s.aOffsets?[batch] ?? batch * s.aBatchStride)
            let geometry = Im2ColGeometry.matrix(rows: s.k, columns: s.n)
            if rowMajorA {
                GEMM.multiply(rows: m, depth: s.k, a: aBase, rowStride: s.aRowStride, input: bBase, geometry: geometry,
                              output: output + batch * m * s.n, threads: threads)
            } else {
                let packed = PackedMatrix(rows: m, depth: s.k, source: aBase, rowStride: s.aRowStride, depthStride: s.aDepthStride)
                GEMM.multiply(packed, input: bBase, geometry: geometry, output: output + batch * m * s.n,
                              bias: nil, activation: .identity, threads: threads)
            }
        }
        func bBase(_ batch: Int) -> UnsafePointer<Float> { b + (s.bOffsets?[batch] ?? batch * s.bBatchStride) }
        if contiguousB {
            if batches >= 2 && threads > 1 {
                parallelFor(batches, threads: threads) { batch in product(batch, bBase: bBase(batch), threads: 1) }
            } else {
                for batch in 0..<batches { product(batch, bBase: bBase(batch), threads: threads) }
            }
            return
        }
        let copy = UnsafeMutablePointer<Float>.allocate(capacity: s.k * s.n)
        defer { copy.deallocate() }
        for batch in 0..<batches {
            let source = bBase(batch)
            for p in 0..<s.k {
                for j in 0..<s.n { copy[p * s.n + j] = source[p * s.bDepthStride + j * s.bColumnStride] }
            }
            product(batch, bBase: UnsafePointer(copy), threads: threads)
        }
    }

    func matmul(_ s: MatMulStep) {
        let a = UnsafePointer(pointer(s.a)), b = UnsafePointer(pointer(s.b)), out = pointer(s.output)
        let c = s.c.map { UnsafePointer(pointer($0)) }
        if c == nil && s.alpha == 1 && s.k > 0 && s.m > 0 && s.n > 0 {
            packedMatmul(s, a: a, b: b, output: out)
            return
        }
        parallelFor(s.batch * s.m, threads: threads) { task in
            let batch = task / s.m, i = task % s.m
            let aRow = a + (s.aOffsets?[batch] ?? batch * s.aBatchStride) + i * s.aRowStride
            let bBase = b + (s.bOffsets?[batch] ?? batch * s.bBatchStride)
            let outRow = out + (batch * s.m + i) * s.n
            if s.bColumnStride == 1 && c == nil && s.alpha == 1 {
                // Row of A times B by rows of B (contiguous, vectorised); each element still sums
                // its k products in order.
                outRow.update(repeating: 0, count: s.n)
                let vectorEnd = s.n / 8 * 8
                for p in 0..<s.k {
                    let factor = aRow[p * s.aDepthStride]
                    let bRow = bBase + p * s.bDepthStride
                    var j = 0
                    while j < vectorEnd {
                        let target = UnsafeMutableRawPointer(outRow + j)
                        let sum = target.loadUnaligned(as: SIMD8<Float>.self)
                            + factor * UnsafeRawPointer(bRow + j).loadUnaligned(as: SIMD8<Float>.self)
                        target.storeBytes(of: sum, as: SIMD8<Float>.self)
                        j += 8
                    }
                    while j < s.n { outRow[j] = outRow[j] + factor * bRow[j]; j += 1 }
                }
                return
            }
            for j in 0..<s.n {
                var sum: Float = 0
                let bColumn = bBase + j * s.bColumnStride
                for p in 0..<s.k { sum += aRow[p * s.aDepthStride] * bColumn[p * s.bDepthStride] }
                var value = s.alpha * sum
                if let c { value += s.beta * c[i * s.cRowStride + j * s.cColumnStride] }
                outRow[j] = value
            }
        }
    }
}
