#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Kernels of the N-D steps (see PlannerOps.swift). Each output element is computed by one task
/// in a fixed order, so results do not depend on the thread count.
extension StepExecutor {
    /// Splits `count` items into tasks of about `grain` work units (`cost` per item).
    @inline(__always)
    func chunked(_ count: Int, cost: Int, grain: Int = 1 << 14, _ body: (Range<Int>) -> Void) {
        let perTask = max(1, grain / max(cost, 1))
        let tasks = (count + perTask - 1) / perTask
        parallelFor(tasks, threads: tasks >= 2 ? threads : 1) { task in
            body((task * perTask)..<min(count, (task + 1) * perTask))
        }
    }

    // MARK: 3-D convolution

    func convolution3D(_ s: Convolution3DStep) {
        let conv = s.convolution
        if case .winograd(let matrices) = conv.weights { return winograd3D(s, matrices) }
        guard case .gemm(let matrices) = conv.weights else { return }
        let input = UnsafePointer(pointer(s.input)), output = pointer(s.output)
        let inPlane = s.inputExtents.reduce(1, *), outPlane = s.outputExtents.reduce(1, *)
        let inputPerGroup = conv.inputChannels / conv.groups, outputPerGroup = conv.outputChannels / conv.groups
        let kd = conv.kernelDepth, kh = conv.kernelHeight, kw = conv.kernelWidth
        let area = kd * kh * kw
        let bias = conv.bias.map { UnsafePointer($0.pointer) }
        let (id, ih, iw) = (s.inputExtents[0], s.inputExtents[1], s.inputExtents[2])
        let (od, oh, ow) = (s.outputExtents[0], s.outputExtents[1], s.outputExtents[2])
        if conv.transposed {
            ScratchPool.shared.with(count: outputPerGroup * area * inPlane) { columns in
                for image in 0..<s.batch {
                    for group in 0..<conv.groups {
                        GEMM.multiply(matrices[group], input: input + (image * conv.inputChannels + group * inputPerGroup) * inPlane,
                                      geometry: .matrix(rows: inputPerGroup, columns: inPlane), output: columns, bias: nil,
                                      activation: .identity, threads: threads)
                        let outBase = output + (image * conv.outputChannels + group * outputPerGroup) * outPlane
                        parallelFor(outputPerGroup, threads: threads) { channel in
                            let plane = outBase + channel * outPlane
                            plane.update(repeating: bias.map { $0[group * outputPerGroup + channel] } ?? 0, count: outPlane)
                            for dz in 0..<kd { for dy in 0..<kh { for dx in 0..<kw {
                                let source = columns + (channel * area + (dz * kh + dy) * kw + dx) * inPlane
                                for iz in 0..<id {
                                    let oz = iz * s.strides[0] - s.pads[0] + dz * s.dilations[0]
                                    if oz < 0 || oz >= od { continue }
                                    for iy in 0..<ih {
                                        let oy = iy * s.strides[1] - s.pads[1] + dy * s.dilations[1]
                                        if oy < 0 || oy >= oh { continue }
                                        let row = plane + (oz * oh + oy) * ow
                                        let sourceRow = source + (iz * ih + iy) * iw
                                        let xOffset = dx * s.dilations[2] - s.pads[2]
                                        for ix in 0..<iw {
                                            let ox = ix * s.strides[2] + xOffset
                                            if ox >= 0 && ox < ow { row[ox] += sourceRow[ix] }
                                        }
                                    }
                                }
                            } } }
                            conv.activation.apply(plane, count: outPlane)
                        }
                    }
                }
            }
            return
        }
        let pointwise = area == 1 && s.strides == [1, 1, 1] && s.pads == [0, 0, 0] && s.inputExtents == s.outputExtents
        if pointwise {
            for image in 0..<s.batch {
                for group in 0..<conv.groups {
                    GEMM.multiply(matrices[group], input: input + (image * conv.inputChannels + group * inputPerGroup) * inPlane,
                                  geometry: .matrix(rows: inputPerGroup, columns: inPlane),
                                  output: output + (image * conv.outputChannels + group * outputPerGroup) * outPlane,
                                  bias: bias.map { $0 + group * outputPerGroup }, activation: conv.activation, threads: threads)
                }
            }
            return
        }
        // Each output depth slice is a 2-D convolution over a slab holding, for every input
        // channel, the kd input slices it reads (channel-major, then depth tap: the weights'
        // own K order), zero-padded in height and width.
        let slabHeight = (oh - 1) * s.strides[1] + (kh - 1) * s.dilations[1] + 1
        let slabWidth = (ow - 1) * s.strides[2] + (kw - 1) * s.dilations[2] + 1
        let slabPlane = slabHeight * slabWidth
        let slabChannels = inputPerGroup * kd
        let slabCount = slabChannels * slabPlane
        // Stride 1 in-plane ("flat"): output pixel (y, x) is computed at column y·slabWidth + x
        // of a wider output (slabWidth − ow columns per row are computed and dropped), so every
        // B row of the GEMM is the slab shifted by its tap's offset and no strip is packed,
        // whatever the width; the columns are padded to whole register tiles, and `slack` zeros
        // after the slab cover the reads of the last one. Strided slices: the im2col geometry.
        let flat = s.strides[1] == 1 && s.strides[2] == 1
        let tile = GEMMKernels.best.columns
        let flatColumns = (oh * slabWidth + tile - 1) / tile * tile
        let slack = (kw - 1) * s.dilations[2] + tile
        let geometry = flat
            ? Im2ColGeometry(
                channels: slabChannels, inputHeight: slabHeight, inputWidth: slabWidth, kernelHeight: kh, kernelWidth: kw,
                strideHeight: 1, strideWidth: 1, padTop: 0, padLeft: 0, dilationHeight: s.dilations[1],
                dilationWidth: s.dilations[2], outputHeight: 1, outputWidth: flatColumns, flat: true)
            : Im2ColGeometry(
                channels: slabChannels, inputHeight: slabHeight, inputWidth: slabWidth, kernelHeight: kh, kernelWidth: kw,
                strideHeight: s.strides[1], strideWidth: s.strides[2], padTop: 0, padLeft: 0,
                dilationHeight: s.dilations[1], dilationWidth: s.dilations[2], outputHeight: oh, outputWidth: ow)
        let scratchCount = flat ? slabCount + slack + outputPerGroup * flatColumns : slabCount
        /// One output depth slice (`task`: image, group, slice), its GEMM on `threads` threads.
        func slice(_ task: Int, threads: Int) {
            let oz = task % od, group = (task / od) % conv.groups, image = task / (od * conv.groups)
            let source = input + (image * conv.inputChannels + group * inputPerGroup) * inPlane
            let destination = output + (image * conv.outputChannels + group * outputPerGroup) * outPlane + oz * oh * ow
            let groupBias = bias.map { $0 + group * outputPerGroup }
            ScratchPool.shared.with(count: scratchCount) { slab in
                for index in 0..<slabChannels {
                    let channel = index / kd, dz = index % kd
                    let iz = oz * s.strides[0] - s.pads[0] + dz * s.dilations[0]
                    let plane = slab + index * slabPlane
                    guard iz >= 0 && iz < id else {
                        plane.update(repeating: 0, count: slabPlane)
                        continue
                    }
                    let sourcePlane = source + channel * inPlane + iz * ih * iw
                    let first = max(0, s.pads[2]), sourceStart = max(0, -s.pads[2])
                    let count = min(iw - sourceStart, slabWidth - first)
                    for y in 0..<slabHeight {
                        let row = plane + y * slabWidth
                        let iy = y - s.pads[1]
                        if iy < 0 || iy >= ih || count <= 0 {
                            row.update(repeating: 0, count: slabWidth)
                            continue
                        }
                        if first > 0 { row.update(repeating: 0, count: first) }
                        (row + first).update(from: sourcePlane + iy * iw + sourceStart, count: count)
                        if first + count < slabWidth { (row + first + count).update(repeating: 0, count: slabWidth - first - count) }
                    }
                }
                guard flat else {
                    GEMM.multiply(matrices[group], input: slab, geometry: geometry, output: destination, outputRowStride: outPlane,
                                  bias: groupBias, activation: conv.activation, threads: threads)
                    return
                }
                (slab + slabCount).update(repeating: 0, count: slack)
                let wide = slab + slabCount + slack
                GEMM.multiply(matrices[group], input: slab, geometry: geometry, output: wide, bias: groupBias,
                              activation: conv.activation, threads: threads)
                for channel in 0..<outputPerGroup {
                    for y in 0..<oh {
                        (destination + channel * outPlane + y * ow).update(from: wide + channel * flatColumns + y * slabWidth, count: ow)
                    }
                }
            }
        }
        // With enough slices for every thread, one task per slice (its own slab, a one-thread
        // GEMM): the threads meet once per layer. Else the slices in order, each GEMM on every
        // thread. The GEMM's K order does not depend on how N is cut: the same bits either way.
        let slices = s.batch * conv.groups * od
        if threads <= 1 || slices >= 2 * threads {
            parallelFor(slices, threads: threads) { slice($0, threads: 1) }
        } else {
            for task in 0..<slices { slice(task, threads: threads) }
        }
    }

    /// 3×3 in-plane, stride 1 in height and width, one group: per output depth slice, Winograd
    /// over a slab of the kd input slices of every channel (zero where outside the volume).
    /// With enough slices for every thread, each slice is one task (a one-thread Winograd);
    /// else the slices run in order, each on every thread. The same bits either way.
    func winograd3D(_ s: Convolution3DStep, _ matrices: [PackedMatrix]) {
        let conv = s.convolution
        let input = UnsafePointer(pointer(s.input)), output = pointer(s.output)
        let inPlane = s.inputExtents.reduce(1, *), outPlane = s.outputExtents.reduce(1, *)
        let kd = conv.kernelDepth
        let (id, ih, iw) = (s.inputExtents[0], s.inputExtents[1], s.inputExtents[2])
        let (od, oh, ow) = (s.outputExtents[0], s.outputExtents[1], s.outputExtents[2])
        let slice = ih * iw
        let bias = conv.bias.map { UnsafePointer($0.pointer) }
        // The kd input slices of every channel, read in place; a zero plane outside the volume.
        let zeros = [Float](repeating: 0, count: slice)
        let slices = s.batch * od
        let perSlice = threads <= 1 || slices >= 2 * threads
        zeros.withUnsafeBufferPointer { zero in
            func run(_ task: Int, threads: Int) {
                let oz = task % od, image = task / od
                let source = input + image * conv.inputChannels * inPlane
                let destination = output + image * conv.outputChannels * outPlane
                withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: conv.inputChannels * kd) { table in
                    for index in 0..<(conv.inputChannels * kd) {
                        let channel = index / kd, dz = index % kd
                        let iz = oz * s.strides[0] - s.pads[0] + dz * s.dilations[0]
                        table[index] = iz < 0 || iz >= id ? zero.baseAddress! : source + channel * inPlane + iz * slice
                    }
                    Winograd.convolve(
                        matrices, input: source, inputChannels: conv.inputChannels * kd, inputHeight: ih, inputWidth: iw,
                        output: destination + oz * oh * ow, outputChannels: conv.outputChannels, outputHeight: oh,
                        outputWidth: ow, padTop: s.pads[1], padLeft: s.pads[2], bias: bias, activation: conv.activation,
                        threads: threads, outputChannelStride: outPlane, inputPlanes: UnsafePointer(table.baseAddress!))
                }
            }
            if perSlice {
                parallelFor(slices, threads: threads) { run($0, threads: 1) }
            } else {
                for task in 0..<slices { run(task, threads: threads) }
            }
        }
    }

    // MARK: Pooling

    func poolND(_ s: PoolNDStep) {
        let source = UnsafePointer(pointer(s.input)), destination = pointer(s.output)
        let inPlane = s.inputExtents.reduce(1, *), outPlane = s.outputExtents.reduce(1, *)
        let (id, ih, iw) = (s.inputExtents[0], s.inputExtents[1], s.inputExtents[2])
        let (od, oh, ow) = (s.outputExtents[0], s.outputExtents[1], s.outputExtents[2])
        parallelFor(s.planes, threads: threads) { plane in
            let input = source + plane * inPlane, output = destination + plane * outPlane
            for oz in 0..<od { for oy in 0..<oh { for ox in 0..<ow {
                let z0 = oz * s.strides[0] - s.padBegin[0], y0 = oy * s.strides[1] - s.padBegin[1], x0 = ox * s.strides[2] - s.padBegin[2]
                var largest = -Float.infinity, sum: Float = 0, count = 0
                for kz in 0..<s.kernel[0] {
                    let iz = z0 + kz * s.dilations[0]
                    if iz < 0 || iz >= id { continue }
                    for ky in 0..<s.kernel[1] {
                        let iy = y0 + ky * s.dilations[1]
                        if iy < 0 || iy >= ih { continue }
                        for kx in 0..<s.kernel[2] {
                            let ix = x0 + kx * s.dilations[2]
                            if ix < 0 || ix >= iw { continue }
                            let value = input[(iz * ih + iy) * iw + ix]
                            largest = max(largest, value)
                            sum += value
                            count += 1
                        }
                    }
                }
                let index = (oz * oh + oy) * ow + ox
                if s.kind == .max {
                    output[index] = largest
                } else {
                    var divisor = count
                    if s.countIncludePad {
                        divisor = 1
                        for (axis, start) in [z0, y0, x0].enumerated() {
                            let end = min(start + (s.kernel[axis] - 1) * s.dilations[axis] + 1, s.inputExtents[axis] + s.padEnd[axis])
                            divisor *= end - start
                        }
                    }
                    output[index] = sum / Float(max(divisor, 1))
                }
            } } }
        }
    }

    // MARK: Unary

    func unary(_ s: UnaryStep) {
        let source = UnsafePointer(pointer(s.input)), destination = pointer(s.output)
        chunked(s.count, cost: 1) { range in
            switch s.kind {
            case .exp: for i in range { destination[i] = expf(source[i]) }
            case .log: for i in range { destination[i] = logf(source[i]) }
            case .sqrt: for i in range { destination[i] = source[i].squareRoot() }
            case .reciprocal: for i in range { destination[i] = 1 / source[i] }
            case .neg: for i in range { destination[i] = -source[i] }
            case .abs: for i in range { destination[i] = Swift.abs(source[i]) }
            case .erf: for i in range { destination[i] = erff(source[i]) }
            case .gelu: for i in range { let x = source[i]; destination[i] = 0.5 * x * (1 + erff(x * 0.70710678118654752)) }
            case .geluTanh:
                for i in range {
                    let x = source[i]
                    destination[i] = 0.5 * x * (1 + tanhf(0.79788456080286536 * (x + 0.044715 * x * x * x)))
                }
            case .softplus: for i in range { destination[i] = Self.softplus(source[i]) }
            case .mish: for i in range { let x = source[i]; destination[i] = x * tanhf(Self.softplus(x)) }
            case .not: for i in range { destination[i] = source[i] == 0 ? 1 : 0 }
            case .floor: for i in range { destination[i] = source[i].rounded(.down) }
            case .ceil: for i in range { destination[i] = source[i].rounded(.up) }
            case .round: for i in range { destination[i] = source[i].rounded(.toNearestOrEven) }
            case .sign: for i in range { let x = source[i]; destination[i] = x > 0 ? 1 : (x < 0 ? -1 : 0) }
            case .elu(let alpha): for i in range { let x = source[i]; destination[i] = x >= 0 ? x : alpha * (expf(x) - 1) }
            case .selu(let alpha, let gamma):
                for i in range { let x = source[i]; destination[i] = gamma * (x > 0 ? x : alpha * (expf(x) - 1)) }
            case .softsign: for i in range { let x = source[i]; destination[i] = x / (1 + Swift.abs(x)) }
            case .sin: for i in range { destination[i] = sinf(source[i]) }
            case .cos: for i in range { destination[i] = cosf(source[i]) }
            case .truncate: for i in range { destination[i] = source[i].rounded(.towardZero) }
            case .isNonZero: for i in range { destination[i] = source[i] != 0 ? 1 : 0 }
            }
        }
    }

    @inline(__always)
    static func softplus(_ x: Float) -> Float { x > 0 ? x + log1pf(expf(-x)) : log1pf(expf(x)) }

    // MARK: Where

    func select(_ s: BinaryStep, condition: Operand) {
        let c = UnsafePointer(pointer(condition)), a = UnsafePointer(pointer(s.a)), b = UnsafePointer(pointer(s.b))
        let out = pointer(s.output)
        let rank = s.shape.count
        let inner = s.shape[rank - 1], outer = s.shape.dropLast().reduce(1, *)
        chunked(outer, cost: inner) { rows in
            for row in rows {
                var rest = row, oc = 0, oa = 0, ob = 0
                for axis in stride(from: rank - 2, through: 0, by: -1) {
                    let index = rest % s.shape[axis]
                    rest /= s.shape[axis]
                    oc += index * s.conditionStrides[axis]
                    oa += index * s.aStrides[axis]
                    ob += index * s.bStrides[axis]
                }
                let (sc, sa, sb) = (s.conditionStrides[rank - 1], s.aStrides[rank - 1], s.bStrides[rank - 1])
                for i in 0..<inner {
                    out[row * inner + i] = c[oc + i * sc] != 0 ? a[oa + i * sa] : b[ob + i * sb]
                }
            }
        }
    }

    // MARK: Reductions and normalisation

    func reduce(_ s: ReduceStep) {
        let source = UnsafePointer(pointer(s.input)), destination = pointer(s.output)
        let count = s.keptShape.reduce(1, *)
        let offsets = s.reducedOffsets
        let reduced = offsets.count
        // Reductions over a contiguous run (global average pooling of squeeze-excitation
        // blocks, ReduceMean over the last axes) sum sixteen lanes in Double, as `moments` does.
        let contiguous = (s.kind == .mean || s.kind == .sum) && offsets.enumerated().allSatisfy { $0.offset == $0.element }
        chunked(count, cost: reduced) { range in
            offsets.withUnsafeBufferPointer { offsets in
                for index in range {
                    var rest = index, base = 0
                    for axis in stride(from: s.keptShape.count - 1, through: 0, by: -1) {
                        base += (rest % s.keptShape[axis]) * s.keptStrides[axis]
                        rest /= s.keptShape[axis]
                    }
                    let x = source + base
                    if contiguous {
                        let sum = Self.sum(x, count: reduced)
                        destination[index] = Float(s.kind == .mean ? sum / Double(Swift.max(reduced, 1)) : sum)
                        continue
                    }
                    var result: Float
                    switch s.kind {
                    case .max:
                        result = -.infinity
                        for o in offsets { result = Swift.max(result, x[o]) }
                    case .min:
                        result = .infinity
                        for o in offsets { result = Swift.min(result, x[o]) }
                    case .prod:
                        var p: Double = 1
                        for o in offsets { p *= Double(x[o]) }
                        result = Float(p)
                    case .logSumExp:
                        var largest = -Float.infinity
                        for o in offsets { largest = Swift.max(largest, x[o]) }
                        var sum: Double = 0
                        for o in offsets { sum += Double(expf(x[o] - largest)) }
                        result = largest + Float(naturalLog(sum))
                    default:
                        var sum: Double = 0
                        switch s.kind {
                        case .l1: for o in offsets { sum += Double(Swift.abs(x[o])) }
                        case .l2, .sumSquare: for o in offsets { let v = Double(x[o]); sum += v * v }
                        default: for o in offsets { sum += Double(x[o]) }
                        }
                        switch s.kind {
                        case .mean: result = Float(sum / Double(Swift.max(reduced, 1)))
                        case .l2: result = Float(sum.squareRoot())
                        default: result = Float(sum)
                        }
                    }
                    destination[index] = result
                }
            }
        }
    }

    func normalize(_ s: NormalizeStep) {
        let source = UnsafePointer(pointer(s.input)), destination = pointer(s.output)
        chunked(s.rows, cost: s.extent) { rows in
            s.scale.withUnsafeBufferPointer { scale in
                s.bias.withUnsafeBufferPointer { bias in
                    for row in rows {
                        let x = source + row * s.extent, y = destination + row * s.extent
                        let (mean, variance) = Self.moments(x, count: s.extent)
                        let inverse = Float(1 / (variance + Double(s.epsilon)).squareRoot())
                        let m = Float(mean)
                        let first = (row % s.rowPeriod) * s.extent
                        if s.block == s.extent {
                            let index = first / s.block
                            let factor = inverse * scale[index], shift = bias[index] - m * factor
                            Self.scaleShift(x, y, count: s.extent, factor: factor, shift: shift, activation: s.activation)
                        } else if s.block == 1 && first == 0 {
                            // LayerNormalization over the last axis: scale and bias per element,
                            // eight at a time (the same operations as the general loop below).
                            Self.scaleShiftElements(x, y, count: s.extent, mean: m, inverse: inverse,
                                                    scale: scale.baseAddress!, bias: bias.baseAddress!)
                            s.activation.apply(y, count: s.extent)
                        } else {
                            for e in 0..<s.extent {
                                let index = (first + e) / s.block
                                y[e] = (x[e] - m) * inverse * scale[index] + bias[index]
                            }
                            s.activation.apply(y, count: s.extent)
                        }
                    }
                }
            }
        }
    }

    /// The sum of `count` floats in Double over sixteen lanes, the lanes then added in lane
    /// order (the first pass of ``moments(_:count:)``).
    @inline(__always)
    static func sum(_ x: UnsafePointer<Float>, count: Int) -> Double {
        typealias D = SIMD8<Double>
        let raw = UnsafeRawPointer(x)
        let whole = count / 16 * 16
        var s0 = D(), s1 = D()
        var i = 0
        while i < whole {
            s0 += D(raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self))
            s1 += D(raw.loadUnaligned(fromByteOffset: i &* 4 &+ 32, as: SIMD8<Float>.self))
            i &+= 16
        }
        let both = s0 + s1
        var total: Double = 0
        for lane in 0..<8 { total += both[lane] }
        for e in whole..<count { total += Double(x[e]) }
        return total
    }

    /// The mean and the (population) variance of `count` floats, both summed in Double over
    /// sixteen lanes, the lanes then added in lane order: a fixed order that depends on `count`
    /// alone. Two passes (the squares are of `x − mean`), as ONNX Runtime computes them.
    @inline(__always)
    static func moments(_ x: UnsafePointer<Float>, count: Int) -> (mean: Double, variance: Double) {
        typealias D = SIMD8<Double>
        let raw = UnsafeRawPointer(x)
        let whole = count / 16 * 16
        @inline(__always) func lanes(_ a: D, _ b: D) -> Double {
            let both = a + b
            var total: Double = 0
            for lane in 0..<8 { total += both[lane] }
            return total
        }
        let mean = sum(x, count: count) / Double(Swift.max(count, 1))
        let m = D(repeating: mean)
        var q0 = D(), q1 = D()
        var i = 0
        while i < whole {
            let a = D(raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)) - m
            let b = D(raw.loadUnaligned(fromByteOffset: i &* 4 &+ 32, as: SIMD8<Float>.self)) - m
            q0 += a * a
            q1 += b * b
            i &+= 16
        }
        var squares = lanes(q0, q1)
        for e in whole..<count { let d = Double(x[e]) - mean; squares += d * d }
        return (mean, squares / Double(Swift.max(count, 1)))
    }

    /// `y[e] = (x[e] − mean) · inverse · scale[e] + bias[e]` for `count` floats, eight at a time:
    /// per element the same products and sums, in the same order, as the scalar tail.
    @inline(__always)
    static func scaleShiftElements(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int, mean: Float,
                                   inverse: Float, scale: UnsafePointer<Float>, bias: UnsafePointer<Float>) {
        typealias V = SIMD8<Float>
        let whole = count / 8 * 8
        let m = V(repeating: mean), f = V(repeating: inverse)
        let source = UnsafeRawPointer(x), target = UnsafeMutableRawPointer(y)
        let scales = UnsafeRawPointer(scale), biases = UnsafeRawPointer(bias)
        var i = 0
        while i < whole {
            let v = source.loadUnaligned(fromByteOffset: i &* 4, as: V.self)
            let w = scales.loadUnaligned(fromByteOffset: i &* 4, as: V.self)
            let b = biases.loadUnaligned(fromByteOffset: i &* 4, as: V.self)
            target.storeBytes(of: (v - m) * f * w + b, toByteOffset: i &* 4, as: V.self)
            i &+= 8
        }
        while i < count {
            y[i] = (x[i] - mean) * inverse * scale[i] + bias[i]
            i += 1
        }
    }

    /// `y = activation(x · factor + shift)` for `count` floats, eight at a time, the activation
    /// applied in the same pass when it is the identity, ReLU or LeakyReLU (else after).
    @inline(__always)
    static func scaleShift(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int, factor: Float, shift: Float,
                           activation: Activation) {
        typealias V = SIMD8<Float>
        let whole = count / 8 * 8
        let f = V(repeating: factor), b = V(repeating: shift), zero = V()
        let source = UnsafeRawPointer(x), target = UnsafeMutableRawPointer(y)
        var i = 0
        switch activation {
        case .leakyRelu(let alpha):
            while i < whole {
                let v = source.loadUnaligned(fromByteOffset: i &* 4, as: V.self) * f + b
                target.storeBytes(of: v.replacing(with: v * alpha, where: v .< zero), toByteOffset: i &* 4, as: V.self)
                i &+= 8
            }
            for e in whole..<count { let v = x[e] * factor + shift; y[e] = v >= 0 ? v : alpha * v }
        case .relu:
            while i < whole {
                let v = source.loadUnaligned(fromByteOffset: i &* 4, as: V.self) * f + b
                target.storeBytes(of: v.replacing(with: zero, where: v .< zero), toByteOffset: i &* 4, as: V.self)
                i &+= 8
            }
            for e in whole..<count { let v = x[e] * factor + shift; y[e] = v > 0 ? v : 0 }
        default:
            while i < whole {
                target.storeBytes(of: source.loadUnaligned(fromByteOffset: i &* 4, as: V.self) * f + b, toByteOffset: i &* 4, as: V.self)
                i &+= 8
            }
            for e in whole..<count { y[e] = x[e] * factor + shift }
            activation.apply(y, count: count)
        }
    }

    // MARK: Pad, resample, Einsum

    func pad(_ s: PadStep) {
        let source = UnsafePointer(pointer(s.input)), destination = pointer(s.output)
        let rank = s.outputShape.count
        if rank == 0 { destination[0] = source[0]; return }
        let inner = s.outputShape[rank - 1], outer = s.outputShape.dropLast().reduce(1, *)
        let innerSources = s.sources[rank - 1], innerStride = s.inputStrides[rank - 1]
        chunked(outer, cost: inner) { rows in
            for row in rows {
                var rest = row, base = 0, outside = false
                for axis in stride(from: rank - 2, through: 0, by: -1) {
                    let index = rest % s.outputShape[axis]
                    rest /= s.outputShape[axis]
                    let from = s.sources[axis][index]
                    if from < 0 { outside = true } else { base += from * s.inputStrides[axis] }
                }
                let target = destination + row * inner
                if outside {
                    target.update(repeating: s.value, count: inner)
                    continue
                }
                for i in 0..<inner {
                    let from = innerSources[i]
                    target[i] = from < 0 ? s.value : source[base + from * innerStride]
                }
            }
        }
    }

    func resample(_ s: ResampleStep) {
        let source = UnsafePointer(pointer(s.input)), destination = pointer(s.output)
        chunked(s.outer * s.outExtent, cost: s.inner * s.taps) { range in
            for task in range {
                let o = task / s.outExtent, index = task % s.outExtent
                let target = destination + task * s.inner
                let base = source + o * s.inExtent * s.inner
                let first = index * s.taps
                let row0 = base + s.indices[first] * s.inner, w0 = s.weights[first]
                for i in 0..<s.inner { target[i] = w0 * row0[i] }
                for t in 1..<max(s.taps, 1) {
                    let row = base + s.indices[first + t] * s.inner, w = s.weights[first + t]
                    for i in 0..<s.inner { target[i] += w * row[i] }
                }
            }
        }
    }

    func einsum(_ s: EinsumStep) {
        let inputs = s.inputs.map { UnsafePointer(pointer($0)) }
        let destination = pointer(s.output)
        let count = s.outputShape.reduce(1, *), contracted = s.contractedShape.reduce(1, *)
        func offset(_ flat: Int, _ shape: [Int], _ strides: [Int]) -> Int {
            var rest = flat, result = 0
            for axis in stride(from: shape.count - 1, through: 0, by: -1) {
                result += (rest % shape[axis]) * strides[axis]
                rest /= shape[axis]
            }
            return result
        }
        chunked(count, cost: contracted * inputs.count) { range in
            for index in range {
                let bases = inputs.indices.map { offset(index, s.outputShape, s.outputStrides[$0]) }
                var sum: Float = 0
                for c in 0..<contracted {
                    var product: Float = 1
                    for i in inputs.indices { product *= inputs[i][bases[i] + offset(c, s.contractedShape, s.contractedStrides[i])] }
                    sum += product
                }
                destination[index] = sum
            }
        }
    }
}

/// The natural logarithm of a Double.
@inline(__always)
func naturalLog(_ x: Double) -> Double { log(x) }
