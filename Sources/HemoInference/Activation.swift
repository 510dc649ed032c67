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

    /// The activation of one value.
    @inline(__always)
    func callAsFunction(_ x: Float) -> Float {
        switch self {
        case .identity: return x
        case .relu: return x > 0 ? x : 0
        case .leakyRelu(let alpha): return x >= 0 ? x : alpha * x
        case .clip(let low, let high): return Swift.min(Swift.max(x, low), high)
        case .sigmoid: return 1 / (1 + expf(-x))
        case .tanh: return tanhf(x)
        case .hardSigmoid(let alpha, let beta): return Swift.max(0, Swift.min(1, alpha * x + beta))
        case .hardSwish: return x * Swift.max(0, Swift.min(1, x / 6 + 0.5))
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

    /// Applies the activation in place to a `rows × columns` tile with row stride `ldc`.
    @inline(__always)
    func apply(tile: UnsafeMutablePointer<Float>, rows: Int, columns: Int, ldc: Int) {
        if self == .identity { return }
        for r in 0..<rows { apply(tile + r * ldc, count: columns) }
    }

    /// Copies `count` values from `source` to `destination` through the activation.
    func map(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, count: Int) {
        destination.update(from: source, count: count)
        apply(destination, count: count)
    }
}
