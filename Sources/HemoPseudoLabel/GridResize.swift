import Foundation

/// Resizing of C-order `z × y × x` arrays to another shape on the same field of view, as nnU-Net's
/// `resample_data_or_seg_to_shape` does it with scikit-image's `resize(order, mode="edge",
/// anti_aliasing=False)` (SciPy `zoom` with `grid_mode=True`): destination voxel `d` reads source
/// position `(d + 0.5) · n_in / n_out − 0.5`, clamped to the edge voxels.
///
/// Per axis the rule is ``AxisRule/linear`` (order 1), ``AxisRule/cubic`` (order 3: SciPy's cubic
/// B-spline with its prefilter, the input padded by 12 edge voxels first as `zoom(mode="nearest")`
/// does) or ``AxisRule/nearest`` (order 0, SciPy's rounding `floor(position + 0.5)`). nnU-Net's
/// separate-z rule (``rules(from:to:order:)``) uses the nearest rule along the coarse axis when the
/// spacing is anisotropic (largest / smallest > 3).
///
/// With a cubic axis the result is clipped to the input's range, as scikit-image's `resize(clip=True)`
/// does: per channel, and under the separate-z rule (one nearest axis) per channel and slice along
/// it, since nnU-Net resizes each such slice on its own. Cubic arithmetic is in `Double`, as
/// nnU-Net resamples in float64.
public enum GridResize {
    /// Interpolation along one axis.
    public enum AxisRule: String, Sendable, Equatable {
        /// Linear interpolation between the two nearest source voxels (order 1).
        case linear
        /// The nearest source voxel (order 0).
        case nearest
        /// Cubic B-spline interpolation (order 3, with SciPy's prefilter).
        case cubic
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
                case .cubic:
                    preconditionFailure("cubic axes are resampled by CubicAxis")
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
        // scikit-image's clip of an order-3 resize: the input's range per channel (and per slice of
        // the single nearest axis under the separate-z rule).
        let cubic = rules.contains(.cubic)
        let nearestAxes = (0..<3).filter { rules[$0] == .nearest }
        let clipAxis = cubic && nearestAxes.count == 1 ? nearestAxes[0] : nil
        let ranges = cubic ? Self.ranges(data, channels: channels, shape: shape, along: clipAxis) : []
        for axis in 0..<3 where currentShape[axis] != target[axis] {
            if rules[axis] == .cubic {
                current = CubicAxis.resize(current, outer: channels * currentShape[..<axis].reduce(1, *), length: currentShape[axis],
                                           inner: currentShape[(axis + 1)...].reduce(1, *), to: target[axis])
                currentShape[axis] = target[axis]
                continue
            }
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
        if cubic { clip(&current, channels: channels, source: shape, shape: currentShape, along: clipAxis, ranges: ranges) }
        return current
    }

    /// Minimum and maximum per channel, or per channel and index along `axis`.
    static func ranges(_ data: [Float], channels: Int, shape: [Int], along axis: Int?) -> [(Float, Float)] {
        let groups = axis.map { shape[$0] } ?? 1
        var result = [(Float, Float)](repeating: (.infinity, -.infinity), count: channels * groups)
        let count = shape.reduce(1, *)
        let inner = axis.map { shape[($0 + 1)...].reduce(1, *) } ?? count
        data.withUnsafeBufferPointer { v in
            for c in 0..<channels {
                for n in 0..<count {
                    let g = c * groups + (axis == nil ? 0 : (n / inner) % groups)
                    let x = v[c * count + n]
                    if x < result[g].0 { result[g].0 = x }
                    if x > result[g].1 { result[g].1 = x }
                }
            }
        }
        return result
    }

    /// Clips every value of the resized arrays to the range of its group (see ``ranges(_:channels:shape:along:)``);
    /// along a resized nearest axis, output index `d` belongs to the source slice it copies.
    static func clip(_ data: inout [Float], channels: Int, source: [Int], shape: [Int], along axis: Int?, ranges: [(Float, Float)]) {
        let groups = axis.map { source[$0] } ?? 1
        let count = shape.reduce(1, *)
        let inner = axis.map { shape[($0 + 1)...].reduce(1, *) } ?? count
        let sourceIndex: [Int] = axis.map { a in
            source[a] == shape[a] ? Array(0..<shape[a]) : Taps(input: source[a], output: shape[a], rule: .nearest).i0
        } ?? [0]
        data.withUnsafeMutableBufferPointer { v in
            for c in 0..<channels {
                for n in 0..<count {
                    let d = axis == nil ? 0 : (n / inner) % shape[axis!]
                    let (lo, hi) = ranges[c * groups + sourceIndex[d]]
                    let x = v[c * count + n]
                    v[c * count + n] = x < lo ? lo : (x > hi ? hi : x)
                }
            }
        }
    }
}

/// One axis of SciPy's order-3 `zoom(..., mode="nearest", grid_mode=True)`: each line is padded by
/// 12 edge values (`_prepad_for_spline_filter`), turned into cubic B-spline coefficients (gain 6,
/// pole √3 − 2, the causal and anticausal passes with SciPy's half-sample symmetric initialisation),
/// then sampled at `(d + 0.5) · n_in / n_out − 0.5` with the four cubic B-spline weights.
enum CubicAxis {
    static let pad = 12
    static let pole = 3.0.squareRoot() - 2

    /// Resizes `outer` blocks of `length × inner` values (the axis in the middle) to `length′ = output`.
    static func resize(_ data: [Float], outer: Int, length: Int, inner: Int, to output: Int) -> [Float] {
        let n = length + 2 * pad
        let scale = Double(length) / Double(output)
        var first = [Int](repeating: 0, count: output)
        var weights = [Double](repeating: 0, count: 4 * output)
        for d in 0..<output {
            let x = (Double(d) + 0.5) * scale - 0.5 + Double(pad)
            let f = x.rounded(.down)
            let y = x - f, z = 1 - y
            first[d] = Int(f) - 1
            weights[4 * d] = z * z * z / 6
            weights[4 * d + 1] = (y * y * (y - 2) * 3 + 4) / 6
            weights[4 * d + 2] = (z * z * (z - 2) * 3 + 4) / 6
            weights[4 * d + 3] = y * y * y / 6
        }
        var out = [Float](repeating: 0, count: outer * output * inner)
        // Columns of a block are filtered together (the recursion runs along the axis, vectorised across columns).
        let block = max(1, min(inner, 2048))
        var c = [Double](repeating: 0, count: n * block)
        data.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                c.withUnsafeMutableBufferPointer { coef in
                    for o in 0..<outer {
                        for start in stride(from: 0, to: inner, by: block) {
                            let b = min(block, inner - start)
                            let s = src.baseAddress! + o * length * inner + start
                            for i in 0..<n {
                                let row = s + min(max(i - pad, 0), length - 1) * inner
                                let line = coef.baseAddress! + i * block
                                for col in 0..<b { line[col] = Double(row[col]) * 6 }
                            }
                            filter(coef.baseAddress!, n: n, stride: block, columns: b)
                            let t = dst.baseAddress! + o * output * inner + start
                            for d in 0..<output {
                                let r = coef.baseAddress! + first[d] * block
                                let w0 = weights[4 * d], w1 = weights[4 * d + 1], w2 = weights[4 * d + 2], w3 = weights[4 * d + 3]
                                let line = t + d * inner
                                for col in 0..<b {
                                    line[col] = Float(w0 * r[col] + w1 * r[block + col] + w2 * r[2 * block + col] + w3 * r[3 * block + col])
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// SciPy's `apply_filter` for one pole with `_init_causal_reflect` / `_init_anticausal_reflect`,
    /// on `columns` lines of `n` values (line element `i` of column `col` at `c[i * stride + col]`),
    /// the gain already applied.
    static func filter(_ c: UnsafeMutablePointer<Double>, n: Int, stride: Int, columns: Int) {
        let z = pole
        let zn = pow(z, Double(n))
        for col in 0..<columns {
            // Causal initialisation.
            let c0 = c[col]
            var sum = c[col] + zn * c[(n - 1) * stride + col]
            var zi = z
            for i in 1..<n {
                sum += zi * (c[i * stride + col] + zn * c[(n - 1 - i) * stride + col])
                zi *= z
                if zi == 0 && zn == 0 { break }
            }
            c[col] = sum * (z / (1 - zn * zn)) + c0
        }
        for i in 1..<n {
            let row = c + i * stride, previous = c + (i - 1) * stride
            for col in 0..<columns { row[col] += z * previous[col] }
        }
        let last = c + (n - 1) * stride
        for col in 0..<columns { last[col] *= z / (z - 1) }
        for i in Swift.stride(from: n - 2, through: 0, by: -1) {
            let row = c + i * stride, next = c + (i + 1) * stride
            for col in 0..<columns { row[col] = z * (next[col] - row[col]) }
        }
    }
}
