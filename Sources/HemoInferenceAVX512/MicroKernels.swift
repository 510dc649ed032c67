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

/// Sigmoid (or SiLU, `x·sigmoid(x)`, when `silu`) of `count` floats in place, sixteen at a time:
/// lane for lane the same operations as HemoInference's eight-lane `Activation.gate` path
/// (Cephes' expf in fused multiply-adds, then `1 / (1 + e^−x)` or `x / (1 + e^−x)`), so both
/// give the same bits.
///
/// - Precondition: the CPU has AVX-512F (callers check it at run time first).
@inline(never)
package func avx512Sigmoid(_ values: UnsafeMutablePointer<Float>, count: Int, silu: Bool) {
    typealias V = SIMD16<Float>
    let one = V(repeating: 1)
    var i = 0
    while i < count {
        let lanes = min(16, count - i)
        var v = V()
        if lanes == 16 {
            v = UnsafeRawPointer(values + i).loadUnaligned(as: V.self)
        } else {
            for lane in 0..<lanes { v[lane] = values[i + lane] }
        }
        let result = (silu ? v : one) / (one + avx512Exp(-v))
        if lanes == 16 {
            UnsafeMutableRawPointer(values + i).storeBytes(of: result, as: V.self)
        } else {
            for lane in 0..<lanes { values[i + lane] = result[lane] }
        }
        i += 16
    }
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
