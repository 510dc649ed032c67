// HemoInference's GEMM micro-kernels for AVX-512 CPUs. This module alone is compiled with
// -target-cpu skylake-avx512 (Package.swift); HemoInference calls it only after checking the CPU
// at run time (``avx512Available``), so the binary still runs on AVX2-only machines.
// Kept to the innermost loops: nothing else here may run on a CPU without AVX-512.

/// The 6×32 register tile: `C = (accumulate ? C : bias) + A_panel · B` over `depth`, where
/// row k of B is the 32 floats at `b + offsets[k]` and the A panel holds `depth` groups of
/// 6 floats (k-major). Only the first `rows` rows of C are read and written (A is
/// zero-padded beyond them). Each element sums its products in k order with one fused
/// multiply-add per k, exactly as the AVX2 16-column tile does, so both give the same bits.
///
/// - Precondition: the CPU has AVX-512F (callers check it at run time first).
@inline(never)
package func avx512MicroKernel6x32(
    depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
    c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, accumulate: Bool, bias: UnsafePointer<Float>?
) {
    typealias V = SIMD16<Float>
    let cRaw = UnsafeMutableRawPointer(c)
    let stride = ldc * 4
    var c00 = V(), c01 = V()
    var c10 = V(), c11 = V()
    var c20 = V(), c21 = V()
    var c30 = V(), c31 = V()
    var c40 = V(), c41 = V()
    var c50 = V(), c51 = V()
    if accumulate {
        c00 = cRaw.loadUnaligned(fromByteOffset: 0 * stride, as: V.self); c01 = cRaw.loadUnaligned(fromByteOffset: 0 * stride + 64, as: V.self)
        if rows > 1 { c10 = cRaw.loadUnaligned(fromByteOffset: 1 * stride, as: V.self); c11 = cRaw.loadUnaligned(fromByteOffset: 1 * stride + 64, as: V.self) }
        if rows > 2 { c20 = cRaw.loadUnaligned(fromByteOffset: 2 * stride, as: V.self); c21 = cRaw.loadUnaligned(fromByteOffset: 2 * stride + 64, as: V.self) }
        if rows > 3 { c30 = cRaw.loadUnaligned(fromByteOffset: 3 * stride, as: V.self); c31 = cRaw.loadUnaligned(fromByteOffset: 3 * stride + 64, as: V.self) }
        if rows > 4 { c40 = cRaw.loadUnaligned(fromByteOffset: 4 * stride, as: V.self); c41 = cRaw.loadUnaligned(fromByteOffset: 4 * stride + 64, as: V.self) }
        if rows > 5 { c50 = cRaw.loadUnaligned(fromByteOffset: 5 * stride, as: V.self); c51 = cRaw.loadUnaligned(fromByteOffset: 5 * stride + 64, as: V.self) }
    } else if let bias {
        c00 = V(repeating: bias[0]); c01 = c00
        if rows > 1 { c10 = V(repeating: bias[1]); c11 = c10 }
        if rows > 2 { c20 = V(repeating: bias[2]); c21 = c20 }
        if rows > 3 { c30 = V(repeating: bias[3]); c31 = c30 }
        if rows > 4 { c40 = V(repeating: bias[4]); c41 = c40 }
        if rows > 5 { c50 = V(repeating: bias[5]); c51 = c50 }
    }
    let bRaw = UnsafeRawPointer(b)
    var ap = a
    for p in 0..<depth {
        let offset = offsets[p] &* 4
        let b0 = bRaw.loadUnaligned(fromByteOffset: offset, as: V.self)
        let b1 = bRaw.loadUnaligned(fromByteOffset: offset &+ 64, as: V.self)
        var av = V(repeating: ap[0])
        c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
        av = V(repeating: ap[1])
        c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
        av = V(repeating: ap[2])
        c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
        av = V(repeating: ap[3])
        c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
        av = V(repeating: ap[4])
        c40 = c40.addingProduct(av, b0); c41 = c41.addingProduct(av, b1)
        av = V(repeating: ap[5])
        c50 = c50.addingProduct(av, b0); c51 = c51.addingProduct(av, b1)
        ap += 6
    }
    cRaw.storeBytes(of: c00, toByteOffset: 0 * stride, as: V.self); cRaw.storeBytes(of: c01, toByteOffset: 0 * stride + 64, as: V.self)
    if rows > 1 { cRaw.storeBytes(of: c10, toByteOffset: 1 * stride, as: V.self); cRaw.storeBytes(of: c11, toByteOffset: 1 * stride + 64, as: V.self) }
    if rows > 2 { cRaw.storeBytes(of: c20, toByteOffset: 2 * stride, as: V.self); cRaw.storeBytes(of: c21, toByteOffset: 2 * stride + 64, as: V.self) }
    if rows > 3 { cRaw.storeBytes(of: c30, toByteOffset: 3 * stride, as: V.self); cRaw.storeBytes(of: c31, toByteOffset: 3 * stride + 64, as: V.self) }
    if rows > 4 { cRaw.storeBytes(of: c40, toByteOffset: 4 * stride, as: V.self); cRaw.storeBytes(of: c41, toByteOffset: 4 * stride + 64, as: V.self) }
    if rows > 5 { cRaw.storeBytes(of: c50, toByteOffset: 5 * stride, as: V.self); cRaw.storeBytes(of: c51, toByteOffset: 5 * stride + 64, as: V.self) }
}

/// The 4×32 register tile: `C = (accumulate ? C : bias) + A_panel · B` over `depth`, where
/// row k of B is the 32 floats at `b + offsets[k]` and the A panel holds `depth` groups of
/// 4 floats (k-major). Only the first `rows` rows of C are read and written (A is
/// zero-padded beyond them). Each element sums its products in k order with one fused
/// multiply-add per k, exactly as the AVX2 16-column tile does, so both give the same bits.
///
/// - Precondition: the CPU has AVX-512F (callers check it at run time first).
@inline(never)
package func avx512MicroKernel4x32(
    depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
    c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, accumulate: Bool, bias: UnsafePointer<Float>?
) {
    typealias V = SIMD16<Float>
    let cRaw = UnsafeMutableRawPointer(c)
    let stride = ldc * 4
    var c00 = V(), c01 = V()
    var c10 = V(), c11 = V()
    var c20 = V(), c21 = V()
    var c30 = V(), c31 = V()
    if accumulate {
        c00 = cRaw.loadUnaligned(fromByteOffset: 0 * stride, as: V.self); c01 = cRaw.loadUnaligned(fromByteOffset: 0 * stride + 64, as: V.self)
        if rows > 1 { c10 = cRaw.loadUnaligned(fromByteOffset: 1 * stride, as: V.self); c11 = cRaw.loadUnaligned(fromByteOffset: 1 * stride + 64, as: V.self) }
        if rows > 2 { c20 = cRaw.loadUnaligned(fromByteOffset: 2 * stride, as: V.self); c21 = cRaw.loadUnaligned(fromByteOffset: 2 * stride + 64, as: V.self) }
        if rows > 3 { c30 = cRaw.loadUnaligned(fromByteOffset: 3 * stride, as: V.self); c31 = cRaw.loadUnaligned(fromByteOffset: 3 * stride + 64, as: V.self) }
    } else if let bias {
        c00 = V(repeating: bias[0]); c01 = c00
        if rows > 1 { c10 = V(repeating: bias[1]); c11 = c10 }
        if rows > 2 { c20 = V(repeating: bias[2]); c21 = c20 }
        if rows > 3 { c30 = V(repeating: bias[3]); c31 = c30 }
    }
    let bRaw = UnsafeRawPointer(b)
    var ap = a
    for p in 0..<depth {
        let offset = offsets[p] &* 4
        let b0 = bRaw.loadUnaligned(fromByteOffset: offset, as: V.self)
        let b1 = bRaw.loadUnaligned(fromByteOffset: offset &+ 64, as: V.self)
        var av = V(repeating: ap[0])
        c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
        av = V(repeating: ap[1])
        c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
        av = V(repeating: ap[2])
        c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
        av = V(repeating: ap[3])
        c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
        ap += 4
    }
    cRaw.storeBytes(of: c00, toByteOffset: 0 * stride, as: V.self); cRaw.storeBytes(of: c01, toByteOffset: 0 * stride + 64, as: V.self)
    if rows > 1 { cRaw.storeBytes(of: c10, toByteOffset: 1 * stride, as: V.self); cRaw.storeBytes(of: c11, toByteOffset: 1 * stride + 64, as: V.self) }
    if rows > 2 { cRaw.storeBytes(of: c20, toByteOffset: 2 * stride, as: V.self); cRaw.storeBytes(of: c21, toByteOffset: 2 * stride + 64, as: V.self) }
    if rows > 3 { cRaw.storeBytes(of: c30, toByteOffset: 3 * stride, as: V.self); cRaw.storeBytes(of: c31, toByteOffset: 3 * stride + 64, as: V.self) }
}

/// Sigmoid (or SiLU, `x·sigmoid(x)`, when `silu`) of `count` floats in place, sixteen at a time
/// (two independent vectors per step, the tail lane by lane): lane for lane the same operations
/// as HemoInference's eight-lane `Activation.gate` (``avx512Gate``), so both give the same bits.
///
/// - Precondition: the CPU has AVX-512F (callers check it at run time first).
@inline(never)
package func avx512Sigmoid(_ values: UnsafeMutablePointer<Float>, count: Int, silu: Bool) {
    typealias V = SIMD16<Float>
    let raw = UnsafeMutableRawPointer(values)
    var i = 0
    while i + 32 <= count {
        let v0 = raw.loadUnaligned(fromByteOffset: i &* 4, as: V.self)
        let v1 = raw.loadUnaligned(fromByteOffset: i &* 4 &+ 64, as: V.self)
        let g0 = avx512Gate(v0, silu: silu), g1 = avx512Gate(v1, silu: silu)
        raw.storeBytes(of: g0, toByteOffset: i &* 4, as: V.self)
        raw.storeBytes(of: g1, toByteOffset: i &* 4 &+ 64, as: V.self)
        i &+= 32
    }
    if i + 16 <= count {
        raw.storeBytes(of: avx512Gate(raw.loadUnaligned(fromByteOffset: i &* 4, as: V.self), silu: silu), toByteOffset: i &* 4, as: V.self)
        i &+= 16
    }
    if i < count {
        var v = V()
        for lane in 0..<(count - i) { v[lane] = values[i + lane] }
        let result = avx512Gate(v, silu: silu)
        for lane in 0..<(count - i) { values[i + lane] = result[lane] }
    }
}

/// Sigmoid `1 / (1 + e^−v)`, or SiLU `v / (1 + e^−v)` when `silu`, of sixteen floats:
/// HemoInference's `Activation.gate`, lane for lane (`e^−v` with the negation folded into the
/// constants, the rounding by a shift onto 1.5·2²³, `1 + y·2ⁿ` as one fused multiply-add).
@inline(__always)
func avx512Gate(_ v: SIMD16<Float>, silu: Bool) -> SIMD16<Float> {
    typealias V = SIMD16<Float>
    let low = V(repeating: -88.3), high = V(repeating: 87.3)
    let c = v.replacing(with: low, where: v .< low).replacing(with: high, where: v .> high)
    let t = V(repeating: 12_582_912).addingProduct(c, V(repeating: -1.44269504088896341))
    let n = t - 12_582_912
    var s = c.addingProduct(n, V(repeating: 0.693359375))
    s = s.addingProduct(n, V(repeating: -2.12194440e-4))
    var q = V(repeating: -1.3981999507e-3).addingProduct(V(repeating: 1.9875691500e-4), s)
    q = V(repeating: 8.3334519073e-3).addingProduct(q, s)
    q = V(repeating: -4.1665795894e-2).addingProduct(q, s)
    q = V(repeating: 1.6666665459e-1).addingProduct(q, s)
    q = V(repeating: -5.0000001201e-1).addingProduct(q, s)
    let y = 1 - s.addingProduct(q, s * s)
    let exponent = (unsafeBitCast(t, to: SIMD16<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23
    let denominator = V(repeating: 1).addingProduct(y, unsafeBitCast(exponent, to: V.self))
    return (silu ? v : V(repeating: 1)) / denominator
}

/// `e^x` of sixteen floats: HemoInference's `Activation.exp`, lane for lane.
@inline(__always)
func avx512Exp(_ x: SIMD16<Float>) -> SIMD16<Float> {
    typealias V = SIMD16<Float>
    let low = V(repeating: -87.3), high = V(repeating: 88.3)
    let clamped = x.replacing(with: low, where: x .< low).replacing(with: high, where: x .> high)
    let n = V(repeating: 0.5).addingProduct(clamped, V(repeating: 1.44269504088896341)).rounded(.down)
    var r = clamped.addingProduct(n, V(repeating: -0.693359375))
    r = r.addingProduct(n, V(repeating: 2.12194440e-4))
    var p = V(repeating: 1.9875691500e-4)
    p = V(repeating: 1.3981999507e-3).addingProduct(p, r)
    p = V(repeating: 8.3334519073e-3).addingProduct(p, r)
    p = V(repeating: 4.1665795894e-2).addingProduct(p, r)
    p = V(repeating: 1.6666665459e-1).addingProduct(p, r)
    p = V(repeating: 5.0000001201e-1).addingProduct(p, r)
    let y = r.addingProduct(p, r * r) + 1
    let shifted = unsafeBitCast(n + 12_582_912, to: SIMD16<Int32>.self)
    let exponent = (shifted &- 0x4B40_0000 &+ 127) &<< 23
    return y * unsafeBitCast(exponent, to: V.self)
}

/// Depthwise convolution of one plane in vectors of sixteen output columns: HemoInference's
/// eight-column depthwise kernel (`StepExecutor.depthwiseBlock`) at twice the width. The
/// vectors of the plane, row after row, are taken eight at a time (eight independent sums);
/// each sum starts from `bias` and adds one fused multiply-add per tap in kernel order (lane
/// for lane the same operations, so both kernels give the same bits); `epilogue` 3 is ReLU,
/// 1 SiLU and 2 sigmoid (``avx512Gate``, lane for lane ``avx512Sigmoid``'s operations), applied
/// before the store (any other value: none; the caller runs other activations over the plane).
///
/// - Parameters:
///   - padded: the input plane zero-padded on every side, rows `paddedWidth` apart; every tap
///     of every vector (the last of a row reaching past the row) must read inside it, and a
///     stride-2 tap reads 32 floats.
///   - offsets: each tap's offset in `padded` from the window's top-left input.
///   - output: the output plane, `outputHeight × outputWidth`; a vector reaching past its row
///     is stored whole when the plane continues (the next row's vectors, stored later,
///     overwrite what it wrote there), the plane's last one lane by lane.
/// - Precondition: the CPU has AVX-512F (callers check it at run time first).
@inline(never)
package func avx512DepthwisePlane(
    padded: UnsafePointer<Float>, paddedWidth: Int, kernel: UnsafePointer<Float>, offsets: UnsafePointer<Int>, taps: Int,
    bias: Float, outputHeight: Int, outputWidth: Int, strideHeight: Int, strideWidth: Int,
    output: UnsafeMutablePointer<Float>, epilogue: Int
) {
    switch strideWidth {
    case 1:
        depthwisePlane16(padded: padded, paddedWidth: paddedWidth, kernel: kernel, offsets: offsets, taps: taps, bias: bias,
                         outputHeight: outputHeight, outputWidth: outputWidth, strideHeight: strideHeight, stride: 1,
                         output: output, epilogue: epilogue, as: StrideOne.self)
    case 2:
        depthwisePlane16(padded: padded, paddedWidth: paddedWidth, kernel: kernel, offsets: offsets, taps: taps, bias: bias,
                         outputHeight: outputHeight, outputWidth: outputWidth, strideHeight: strideHeight, stride: 2,
                         output: output, epilogue: epilogue, as: StrideTwo.self)
    default:
        depthwisePlane16(padded: padded, paddedWidth: paddedWidth, kernel: kernel, offsets: offsets, taps: taps, bias: bias,
                         outputHeight: outputHeight, outputWidth: outputWidth, strideHeight: strideHeight, stride: strideWidth,
                         output: output, epilogue: epilogue, as: StrideAny.self)
    }
}

/// A column stride known when the kernel is compiled (1, 2), or 0: given at run time.
/// The depthwise loops are specialised per stride type, so their loads need no branch.
package protocol DepthwiseStride {
    /// The stride, or 0 when it is the run-time `stride` argument.
    static var fixed: Int { get }
}
/// Stride 1.
package enum StrideOne: DepthwiseStride { package static var fixed: Int { 1 } }
/// Stride 2.
package enum StrideTwo: DepthwiseStride { package static var fixed: Int { 2 } }
/// Any other stride, given at run time.
package enum StrideAny: DepthwiseStride { package static var fixed: Int { 0 } }

/// Sixteen inputs of a depthwise tap, `stride` floats apart.
@inline(__always)
func depthwiseLoad16(_ tap: UnsafeRawPointer, stride: Int) -> SIMD16<Float> {
    if stride == 1 { return tap.loadUnaligned(as: SIMD16<Float>.self) }
    if stride == 2 { return tap.loadUnaligned(as: SIMD32<Float>.self).evenHalf }
    let p = tap.assumingMemoryBound(to: Float.self)
    var v = SIMD16<Float>()
    for lane in 0..<16 { v[lane] = p[lane * stride] }
    return v
}

@inline(never)
func depthwisePlane16<S: DepthwiseStride>(
    padded: UnsafePointer<Float>, paddedWidth: Int, kernel: UnsafePointer<Float>, offsets: UnsafePointer<Int>, taps: Int,
    bias: Float, outputHeight: Int, outputWidth: Int, strideHeight: Int, stride runtimeStride: Int,
    output: UnsafeMutablePointer<Float>, epilogue: Int, as _: S.Type
) {
    typealias V = SIMD16<Float>
    let stride = S.fixed == 0 ? runtimeStride : S.fixed
    let vectorsPerRow = (outputWidth + 15) / 16
    let positions = outputHeight * vectorsPerRow
    let planeEnd = outputHeight * outputWidth
    let zero = V()
    var first = 0
    // The row and vector column of `first`, stepped along (no division per vector).
    var firstRow = 0, firstColumn = 0
    let rowStep = strideHeight * paddedWidth
    while first < positions {
        // The block's eight vectors; past the plane's last one, the last one again.
        var row = firstRow, column = firstColumn
        @inline(__always) func next(_ i: Int) -> UnsafeRawPointer {
            let p = UnsafeRawPointer(padded + row * rowStep + column * 16 * stride)
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
            a0 = a0.addingProduct(w, depthwiseLoad16(p0 + o, stride: stride))
            a1 = a1.addingProduct(w, depthwiseLoad16(p1 + o, stride: stride))
            a2 = a2.addingProduct(w, depthwiseLoad16(p2 + o, stride: stride))
            a3 = a3.addingProduct(w, depthwiseLoad16(p3 + o, stride: stride))
            a4 = a4.addingProduct(w, depthwiseLoad16(p4 + o, stride: stride))
            a5 = a5.addingProduct(w, depthwiseLoad16(p5 + o, stride: stride))
            a6 = a6.addingProduct(w, depthwiseLoad16(p6 + o, stride: stride))
            a7 = a7.addingProduct(w, depthwiseLoad16(p7 + o, stride: stride))
        }
        switch epilogue {
        case 1, 2:
            let silu = epilogue == 1
            a0 = avx512Gate(a0, silu: silu); a1 = avx512Gate(a1, silu: silu)
            a2 = avx512Gate(a2, silu: silu); a3 = avx512Gate(a3, silu: silu)
            a4 = avx512Gate(a4, silu: silu); a5 = avx512Gate(a5, silu: silu)
            a6 = avx512Gate(a6, silu: silu); a7 = avx512Gate(a7, silu: silu)
        case 3:
            a0.replace(with: zero, where: a0 .< zero); a1.replace(with: zero, where: a1 .< zero)
            a2.replace(with: zero, where: a2 .< zero); a3.replace(with: zero, where: a3 .< zero)
            a4.replace(with: zero, where: a4 .< zero); a5.replace(with: zero, where: a5 .< zero)
            a6.replace(with: zero, where: a6 .< zero); a7.replace(with: zero, where: a7 .< zero)
        default:
            break
        }
        row = firstRow
        column = firstColumn
        @inline(__always) func store(_ sum: V, _ i: Int) {
            if first + i >= positions { return }
            let index = row * outputWidth + column * 16
            if index + 16 <= planeEnd {
                UnsafeMutableRawPointer(output + index).storeBytes(of: sum, as: V.self)
            } else {
                for lane in 0..<min(16, outputWidth - column * 16) { output[index + lane] = sum[lane] }
            }
            column += 1
            if column == vectorsPerRow { column = 0; row += 1 }
        }
        store(a0, 0); store(a1, 1); store(a2, 2); store(a3, 3)
        store(a4, 4); store(a5, 5); store(a6, 6); store(a7, 7)
        first += 8
        firstColumn += 8
        while firstColumn >= vectorsPerRow { firstColumn -= vectorsPerRow; firstRow += 1 }
    }
}

/// ``avx512MicroKernel6x32`` with A read in place from a row-major matrix (attention's and
/// linear layers' activations): row `r` of the tile at `a + r·lda` (rows at or beyond `rows`
/// re-read the last one and are not stored), no bias. Each element sums its products in k
/// order with one fused multiply-add per k, as HemoInference's AVX2 `rowMajorMicroKernel6`
/// does, so both give the same bits.
///
/// - Precondition: the CPU has AVX-512F (callers check it at run time first).
@inline(never)
package func avx512RowMajorMicroKernel6x32(
    depth: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
    c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, accumulate: Bool
) {
    typealias V = SIMD16<Float>
    let cRaw = UnsafeMutableRawPointer(c)
    let stride = ldc * 4
    var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
    var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
    if accumulate {
        c00 = cRaw.loadUnaligned(fromByteOffset: 0 * stride, as: V.self); c01 = cRaw.loadUnaligned(fromByteOffset: 0 * stride + 64, as: V.self)
        if rows > 1 { c10 = cRaw.loadUnaligned(fromByteOffset: 1 * stride, as: V.self); c11 = cRaw.loadUnaligned(fromByteOffset: 1 * stride + 64, as: V.self) }
        if rows > 2 { c20 = cRaw.loadUnaligned(fromByteOffset: 2 * stride, as: V.self); c21 = cRaw.loadUnaligned(fromByteOffset: 2 * stride + 64, as: V.self) }
        if rows > 3 { c30 = cRaw.loadUnaligned(fromByteOffset: 3 * stride, as: V.self); c31 = cRaw.loadUnaligned(fromByteOffset: 3 * stride + 64, as: V.self) }
        if rows > 4 { c40 = cRaw.loadUnaligned(fromByteOffset: 4 * stride, as: V.self); c41 = cRaw.loadUnaligned(fromByteOffset: 4 * stride + 64, as: V.self) }
        if rows > 5 { c50 = cRaw.loadUnaligned(fromByteOffset: 5 * stride, as: V.self); c51 = cRaw.loadUnaligned(fromByteOffset: 5 * stride + 64, as: V.self) }
    }
    let a0 = a, a1 = a + min(1, rows - 1) * lda, a2 = a + min(2, rows - 1) * lda
    let a3 = a + min(3, rows - 1) * lda, a4 = a + min(4, rows - 1) * lda, a5 = a + min(5, rows - 1) * lda
    let bRaw = UnsafeRawPointer(b)
    for p in 0..<depth {
        let offset = offsets[p] &* 4
        let b0 = bRaw.loadUnaligned(fromByteOffset: offset, as: V.self)
        let b1 = bRaw.loadUnaligned(fromByteOffset: offset &+ 64, as: V.self)
        var av = V(repeating: a0[p])
        c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
        av = V(repeating: a1[p])
        c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
        av = V(repeating: a2[p])
        c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
        av = V(repeating: a3[p])
        c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
        av = V(repeating: a4[p])
        c40 = c40.addingProduct(av, b0); c41 = c41.addingProduct(av, b1)
        av = V(repeating: a5[p])
        c50 = c50.addingProduct(av, b0); c51 = c51.addingProduct(av, b1)
    }
    cRaw.storeBytes(of: c00, toByteOffset: 0 * stride, as: V.self); cRaw.storeBytes(of: c01, toByteOffset: 0 * stride + 64, as: V.self)
    if rows > 1 { cRaw.storeBytes(of: c10, toByteOffset: 1 * stride, as: V.self); cRaw.storeBytes(of: c11, toByteOffset: 1 * stride + 64, as: V.self) }
    if rows > 2 { cRaw.storeBytes(of: c20, toByteOffset: 2 * stride, as: V.self); cRaw.storeBytes(of: c21, toByteOffset: 2 * stride + 64, as: V.self) }
    if rows > 3 { cRaw.storeBytes(of: c30, toByteOffset: 3 * stride, as: V.self); cRaw.storeBytes(of: c31, toByteOffset: 3 * stride + 64, as: V.self) }
    if rows > 4 { cRaw.storeBytes(of: c40, toByteOffset: 4 * stride, as: V.self); cRaw.storeBytes(of: c41, toByteOffset: 4 * stride + 64, as: V.self) }
    if rows > 5 { cRaw.storeBytes(of: c50, toByteOffset: 5 * stride, as: V.self); cRaw.storeBytes(of: c51, toByteOffset: 5 * stride + 64, as: V.self) }
}

/// ``avx512MicroKernel4x32`` with A read in place, as ``avx512RowMajorMicroKernel6x32``.
///
/// - Precondition: the CPU has AVX-512F (callers check it at run time first).
@inline(never)
package func avx512RowMajorMicroKernel4x32(
    depth: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
    c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, accumulate: Bool
) {
    typealias V = SIMD16<Float>
    let cRaw = UnsafeMutableRawPointer(c)
    let stride = ldc * 4
    var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V(), c30 = V(), c31 = V()
    if accumulate {
        c00 = cRaw.loadUnaligned(fromByteOffset: 0 * stride, as: V.self); c01 = cRaw.loadUnaligned(fromByteOffset: 0 * stride + 64, as: V.self)
        if rows > 1 { c10 = cRaw.loadUnaligned(fromByteOffset: 1 * stride, as: V.self); c11 = cRaw.loadUnaligned(fromByteOffset: 1 * stride + 64, as: V.self) }
        if rows > 2 { c20 = cRaw.loadUnaligned(fromByteOffset: 2 * stride, as: V.self); c21 = cRaw.loadUnaligned(fromByteOffset: 2 * stride + 64, as: V.self) }
        if rows > 3 { c30 = cRaw.loadUnaligned(fromByteOffset: 3 * stride, as: V.self); c31 = cRaw.loadUnaligned(fromByteOffset: 3 * stride + 64, as: V.self) }
    }
    let a0 = a, a1 = a + min(1, rows - 1) * lda, a2 = a + min(2, rows - 1) * lda, a3 = a + min(3, rows - 1) * lda
    let bRaw = UnsafeRawPointer(b)
    for p in 0..<depth {
        let offset = offsets[p] &* 4
        let b0 = bRaw.loadUnaligned(fromByteOffset: offset, as: V.self)
        let b1 = bRaw.loadUnaligned(fromByteOffset: offset &+ 64, as: V.self)
        var av = V(repeating: a0[p])
        c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
        av = V(repeating: a1[p])
        c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
        av = V(repeating: a2[p])
        c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
        av = V(repeating: a3[p])
        c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
    }
    cRaw.storeBytes(of: c00, toByteOffset: 0 * stride, as: V.self); cRaw.storeBytes(of: c01, toByteOffset: 0 * stride + 64, as: V.self)
    if rows > 1 { cRaw.storeBytes(of: c10, toByteOffset: 1 * stride, as: V.self); cRaw.storeBytes(of: c11, toByteOffset: 1 * stride + 64, as: V.self) }
    if rows > 2 { cRaw.storeBytes(of: c20, toByteOffset: 2 * stride, as: V.self); cRaw.storeBytes(of: c21, toByteOffset: 2 * stride + 64, as: V.self) }
    if rows > 3 { cRaw.storeBytes(of: c30, toByteOffset: 3 * stride, as: V.self); cRaw.storeBytes(of: c31, toByteOffset: 3 * stride + 64, as: V.self) }
}

/// `target[i] = e^(source[i] − shift)` for `i < count` (softmax's exponentials), sixteen at a
/// time through ``avx512Exp``: lane for lane HemoInference's `Activation.exp`, so the same bits.
///
/// - Precondition: the CPU has AVX-512F (callers check it at run time first).
@inline(never)
package func avx512ExpShifted(_ source: UnsafePointer<Float>, _ target: UnsafeMutablePointer<Float>, count: Int, shift: Float) {
    typealias V = SIMD16<Float>
    let offset = V(repeating: shift)
    var i = 0
    while i + 16 <= count {
        let values = avx512Exp(UnsafeRawPointer(source + i).loadUnaligned(as: V.self) - offset)
        UnsafeMutableRawPointer(target + i).storeBytes(of: values, as: V.self)
        i += 16
    }
    if i < count {
        var v = offset
        for lane in 0..<(count - i) { v[lane] = source[i + lane] }
        let values = avx512Exp(v - offset)
        for lane in 0..<(count - i) { target[i + lane] = values[lane] }
    }
}
