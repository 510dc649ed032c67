import HemoInferenceAVX512

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An element-wise activation, run on its own or fused into the store of a convolution.
enum Activation: Sendable, Equatable {
    case identity
    case relu
    case leakyRelu(alpha: Float)
    case clip(min: Float, max: Float)
    case sigmoid
    case tanh
    case hardSigmoid(alpha: Float, beta: Float)
    case hardSwish
    /// SiLU (Swish): `x·sigmoid(x)`, from `Sigmoid(x)` then `Mul(x, ·)` in the graph.
    case silu

    /// The activation of one value.
    @inline(__always)
    func callAsFunction(_ x: Float) -> Float {
        switch self {
        case .identity: return x
        case .relu: return x > 0 ? x : 0
        case .leakyRelu(let alpha): return x >= 0 ? x : alpha * x
        case .clip(let low, let high): return Swift.min(Swift.max(x, low), high)
        case .sigmoid: return Self.gate(SIMD8(repeating: x), silu: false)[0]
        case .tanh: return tanhf(x)
        case .hardSigmoid(let alpha, let beta): return Swift.max(0, Swift.min(1, alpha * x + beta))
        case .hardSwish: return x * Swift.max(0, Swift.min(1, x / 6 + 0.5))
        case .silu: return Self.gate(SIMD8(repeating: x), silu: true)[0]
        }
    }

    /// Applies the activation in place to `count` contiguous values.
    func apply(_ values: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .identity:
            return
        case .relu:
            var i = 0
            let zero = SIMD8<Float>()
            while i + 8 <= count {
                let raw = UnsafeMutableRawPointer(values + i)
                let v = raw.loadUnaligned(as: SIMD8<Float>.self)
                raw.storeBytes(of: v.replacing(with: zero, where: v .< zero), as: SIMD8<Float>.self)
                i += 8
            }
            while i < count { values[i] = values[i] > 0 ? values[i] : 0; i += 1 }
        case .sigmoid, .silu:
            if GEMMKernels.best == .avx512 {
                avx512Sigmoid(values, count: count, silu: self == .silu)
            } else {
                Self.sigmoid(values, count: count, silu: self == .silu)
            }
        case .leakyRelu(let alpha):
            // Same values as the scalar form: x ≥ 0 ? x : α·x (nnU-Net's Conv → Norm → LeakyReLU).
            var i = 0
            let zero = SIMD8<Float>()
            while i + 8 <= count {
                let raw = UnsafeMutableRawPointer(values + i)
                let v = raw.loadUnaligned(as: SIMD8<Float>.self)
                raw.storeBytes(of: v.replacing(with: v * alpha, where: v .< zero), as: SIMD8<Float>.self)
                i += 8
            }
            while i < count { values[i] = values[i] >= 0 ? values[i] : alpha * values[i]; i += 1 }
        default:
            for i in 0..<count { values[i] = self(values[i]) }
        }
    }

    /// Sigmoid (or SiLU when `silu`) of `count` floats in place, sixteen at a time (two
    /// independent vectors, so one's exp overlaps the other's division), then eight, the tail
    /// through the same function (the AVX2 path; AVX-512 CPUs run `avx512Sigmoid`, which gives
    /// the same bits).
    static func sigmoid(_ values: UnsafeMutablePointer<Float>, count: Int, silu: Bool) {
        sigmoid(values, rows: 1, columns: count, rowStride: count, silu: silu)
    }

    /// ``sigmoid(_:count:silu:)`` over `rows` rows of `columns` floats, `rowStride` apart.
    static func sigmoid(_ tile: UnsafeMutablePointer<Float>, rows: Int, columns: Int, rowStride: Int, silu: Bool) {
        for r in 0..<rows { sigmoidRow(tile + r * rowStride, count: columns, silu: silu) }
    }

    @inline(__always)
    static func sigmoidRow(_ values: UnsafeMutablePointer<Float>, count: Int, silu: Bool) {
        typealias V = SIMD8<Float>
        let raw = UnsafeMutableRawPointer(values)
        var i = 0
        while i + 16 <= count {
            let v0 = raw.loadUnaligned(fromByteOffset: i &* 4, as: V.self)
            let v1 = raw.loadUnaligned(fromByteOffset: i &* 4 &+ 32, as: V.self)
            let g0 = gate(v0, silu: silu), g1 = gate(v1, silu: silu)
            raw.storeBytes(of: g0, toByteOffset: i &* 4, as: V.self)
            raw.storeBytes(of: g1, toByteOffset: i &* 4 &+ 32, as: V.self)
            i &+= 16
        }
        while i < count {
            let lanes = Swift.min(8, count - i)
            var v = V()
            if lanes == 8 {
                v = raw.loadUnaligned(fromByteOffset: i &* 4, as: V.self)
            } else {
                for lane in 0..<lanes { v[lane] = values[i + lane] }
            }
            let result = gate(v, silu: silu)
            if lanes == 8 {
                raw.storeBytes(of: result, toByteOffset: i &* 4, as: V.self)
            } else {
                for lane in 0..<lanes { values[i + lane] = result[lane] }
            }
            i += 8
        }
    }

    /// `e^x` of eight floats (Cephes' expf: `x = n·ln 2 + r`, a degree-5 polynomial for `e^r`,
    /// `2^n` through the exponent bits; about 1 ulp), arguments clamped to [−87.3, 88.3]. The
    /// reduction and the polynomial run as fused multiply-adds (half the dependent latency of
    /// separate products and sums; `avx512Exp` does the same operations lane for lane).
    @inline(__always)
    static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        typealias V = SIMD8<Float>
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
        // n is integral and small: n + 1.5·2^23 holds it in its low mantissa bits.
        let shifted = unsafeBitCast(n + 12_582_912, to: SIMD8<Int32>.self)
        let exponent = (shifted &- 0x4B40_0000 &+ 127) &<< 23
        return y * unsafeBitCast(exponent, to: V.self)
    }

    /// Sigmoid `1 / (1 + e^−v)`, or SiLU `v / (1 + e^−v)` when `silu`, of eight floats.
    /// `e^−v` as in ``exp(_:)`` (Cephes' reduction and degree-5 polynomial, `v` clamped to
    /// [−88.3, 87.3]) in three fewer operations: the negation folded into the constants
    /// (the reduced argument is carried as `s = −r`, the polynomial's odd steps with negated
    /// coefficients), `n = round(−v·log₂e)` and its exponent bits both from one fused
    /// multiply-add onto 1.5·2²³ (no separate rounding), and `1 + y·2ⁿ` as one fused
    /// multiply-add. `avx512Sigmoid` runs the same operations lane for lane (the same bits).
    @inline(__always)
    static func gate(_ v: SIMD8<Float>, silu: Bool) -> SIMD8<Float> {
        typealias V = SIMD8<Float>
        let low = V(repeating: -88.3), high = V(repeating: 87.3)
        let c = v.replacing(with: low, where: v .< low).replacing(with: high, where: v .> high)
        // t = 1.5·2²³ − c·log₂e: rounded to an integer, n = t − 1.5·2²³ in its low mantissa bits.
        let t = V(repeating: 12_582_912).addingProduct(c, V(repeating: -1.44269504088896341))
        let n = t - 12_582_912
        // s = c + n·ln 2 (in two parts) = −r, r = −c − n·ln 2 the reduced argument.
        var s = c.addingProduct(n, V(repeating: 0.693359375))
        s = s.addingProduct(n, V(repeating: -2.12194440e-4))
        // Horner's steps of exp's polynomial in r = −s, every other one negated.
        var q = V(repeating: -1.3981999507e-3).addingProduct(V(repeating: 1.9875691500e-4), s)
        q = V(repeating: 8.3334519073e-3).addingProduct(q, s)
        q = V(repeating: -4.1665795894e-2).addingProduct(q, s)
        q = V(repeating: 1.6666665459e-1).addingProduct(q, s)
        q = V(repeating: -5.0000001201e-1).addingProduct(q, s)
        // e^r ≈ 1 + r + p·r² = 1 − (s + q·s²) with q = −p.
        let y = 1 - s.addingProduct(q, s * s)
        let exponent = (unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23
        let denominator = V(repeating: 1).addingProduct(y, unsafeBitCast(exponent, to: V.self))
        return (silu ? v : V(repeating: 1)) / denominator
    }

    /// Applies the activation in place to a `rows × columns` tile with row stride `ldc`.
    @inline(__always)
    func apply(tile: UnsafeMutablePointer<Float>, rows: Int, columns: Int, ldc: Int) {
        if self == .identity { return }
        if (self == .sigmoid || self == .silu) && GEMMKernels.best == .avx2 {
            // One call per GEMM tile (6 rows of 16), not per row: the exp's constants are set
            // up once for the tile (the same function, so the same bits).
            Self.sigmoid(tile, rows: rows, columns: columns, rowStride: ldc, silu: self == .silu)
            return
        }
        for r in 0..<rows { apply(tile + r * ldc, count: columns) }
    }

    /// Copies `count` values from `source` to `destination` through the activation.
    func map(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, count: Int) {
        destination.update(from: source, count: count)
        apply(destination, count: count)
    }
}
