import Foundation

/// Resizing of C-order `z × y × x` arrays to another shape on the same field of view, as nnU-Net's
/// `resample_data_or_seg_to_shape` does it with scikit-image's `resize(order, mode="edge",
/// anti_aliasing=False)` (SciPy `zoom` with `grid_mode=True`): destination voxel `d` reads source
/// position `(d + 0.5) · n_in / n_out − 0.5`, clamped to the edge voxels.
///
/// Per axis the rule is ``AxisRule/linear`` (order 1) or ``AxisRule/nearest`` (order 0, SciPy's
/// rounding `floor(position + 0.5)`). nnU-Net's separate-z rule (``rules(from:to:order:)``) uses the
/// nearest rule along the coarse axis when the spacing is anisotropic (largest / smallest > 3).
public enum GridResize {
    /// Interpolation along one axis.
    public enum AxisRule: String, Sendable, Equatable {
        /// Linear interpolation between the two nearest source voxels (order 1).
        case linear
        /// The nearest source voxel (order 0).
        case nearest
    }

    /// The target shape nnU-Net computes (`compute_new_shape`): `round(n · s / s′)` per axis.
    public static func shape(_ shape: [Int], from spacing: [Double], to target: [Double]) -> [Int] {
        zip(zip(shape, spacing), target).map { max(1, Int((Double($0.0) * $0.1 / $1).rounded(.toNearestOrEven))) }
    }

    /// The per-axis rules for resampling from `spacing` to `target`: `order` everywhere, except the
    /// anisotropic axis under nnU-Net's separate-z rule (`get_do_separate_z` with threshold 3 on the
    /// source spacing, else on the target spacing; the axis of the single largest spacing), which is
    /// ``AxisRule/nearest``.
    public static func rules(from spacing: [Double], to target: [Double], order: AxisRule = .linear) -> [AxisRule] {
        func lowResAxis(_ s: [Double]) -> Int? {
            guard let high = s.max(), let low = s.min(), low > 0, high / low > 3 else { return nil }
            let axes = s.indices.filter { s[$0] == high }
            return axes.count == 1 ? axes[0] : nil
        }
        let axis = lowResAxis(spacing) ?? lowResAxis(target)
        return spacing.indices.map { $0 == axis ? .nearest : order }
    }

    /// Source taps of one axis: `out[d] = w0[d]·in[i0[d]] + w1[d]·in[i1[d]]`.
    struct Taps {
        var i0: [Int], i1: [Int], w0: [Float], w1: [Float]

        init(input: Int, output: Int, rule: AxisRule) {
            i0 = []; i1 = []; w0 = []; w1 = []
            let scale = Double(input) / Double(output)
            for d in 0..<output {
                let position = (Double(d) + 0.5) * scale - 0.5
                switch rule {
                case .nearest:
                    let i = min(max(Int((position + 0.5).rounded(.down)), 0), input - 1)
                    i0.append(i); i1.append(i); w0.append(1); w1.append(0)
                case .linear:
                    let clamped = min(max(position, 0), Double(input - 1))
                    let a = min(Int(clamped.rounded(.down)), input - 1)
                    let lambda = Float(clamped - Double(a))
                    i0.append(a); i1.append(min(a + 1, input - 1)); w0.append(1 - lambda); w1.append(lambda)
                }
            }
        }
    }

    /// Resizes `channels` arrays of `shape` (`[z, y, x]`, stored one after the other) to `target`.
    /// Axes whose size does not change are copied as they are.
    public static func resize(_ data: [Float], channels: Int, shape: [Int], to target: [Int], rules: [AxisRule]) -> [Float] {
        precondition(shape.count == 3 && target.count == 3 && rules.count == 3)
        guard shape != target else { return data }
        var current = data
        var currentShape = shape
        for axis in 0..<3 where currentShape[axis] != target[axis] {
            let taps = Taps(input: currentShape[axis], output: target[axis], rule: rules[axis])
            var nextShape = currentShape
            nextShape[axis] = target[axis]
            let outer = channels * currentShape[..<axis].reduce(1, *)
            let inner = currentShape[(axis + 1)...].reduce(1, *)
            let nIn = currentShape[axis], nOut = target[axis]
            var next = [Float](repeating: 0, count: outer * nOut * inner)
            current.withUnsafeBufferPointer { src in
                next.withUnsafeMutableBufferPointer { dst in
                    for o in 0..<outer {
                        let s = src.baseAddress! + o * nIn * inner, t = dst.baseAddress! + o * nOut * inner
                        for d in 0..<nOut {
                            let a = s + taps.i0[d] * inner, b = s + taps.i1[d] * inner, out = t + d * inner
                            let u = taps.w0[d], v = taps.w1[d]
                            if v == 0 {
                                out.update(from: a, count: inner)
                            } else {
                                for n in 0..<inner { out[n] = a[n] * u + b[n] * v }
                            }
                        }
                    }
                }
            }
            current = next
            currentShape = nextShape
        }
        return current
    }
}
