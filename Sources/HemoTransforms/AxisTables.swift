import HemoCore

/// Per-axis lookup tables of a separable resampling: for every target index along one axis, whether it
/// falls inside the source buffer and which source samples (and weights) it uses.
struct NearestAxis {
    /// Source index per target index, or -1 when outside the buffer.
    var source: [Int]

    init(continuous: [Double], count n: Int) {
        source = continuous.map { c in
            guard isInsideBuffer(c, count: n) else { return -1 }
            // ITK rounds half up (Math::RoundHalfIntegerUp); inside the buffer the result is in 0..<n.
            return min(n - 1, max(0, Int((c + 0.5).rounded(.down))))
        }
    }
}

/// Linear weights per target index: `value = v[lower] + (v[upper] - v[lower]) * weight`.
struct LinearAxis {
    var lower: [Int]
    var upper: [Int]
    var weight: [Double]
    var inside: [Bool]

    /// The target indices inside the buffer: contiguous, since source positions grow with the target index.
    var insideRange: Range<Int> { contiguousRange(inside) }

    init(continuous: [Double], count n: Int) {
        let m = continuous.count
        lower = [Int](repeating: 0, count: m)
        upper = [Int](repeating: 0, count: m)
        weight = [Double](repeating: 0, count: m)
        inside = continuous.map { isInsideBuffer($0, count: n) }
        // Source positions grow with the target index, so the inside entries are contiguous; should
        // rounding noise of a sheared affine ever break that at an edge, the hull counts as inside.
        inside = contiguousHull(inside)
        for (t, c) in continuous.enumerated() where inside[t] {
            // ITK: base = max(floor(c), 0); distance <= 0 or a missing upper neighbour use the base value.
            let base = min(max(Int(c.rounded(.down)), 0), n - 1)
            let distance = c - Double(base)
            if distance <= 0 || base + 1 > n - 1 {
                lower[t] = base; upper[t] = base; weight[t] = 0
            } else {
                lower[t] = base; upper[t] = base + 1; weight[t] = distance
            }
        }
    }
}

/// Cubic B-spline taps per target index: four mirrored source indices and their weights.
struct CubicAxis {
    var taps: [SIMD4<Int>]
    var weights: [SIMD4<Double>]
    var inside: [Bool]

    init(continuous: [Double], count n: Int) {
        let m = continuous.count
        taps = [SIMD4<Int>](repeating: .zero, count: m)
        weights = [SIMD4<Double>](repeating: .zero, count: m)
        inside = [Bool](repeating: false, count: m)
        for (t, c) in continuous.enumerated() {
            guard isInsideBuffer(c, count: n) else { continue }
            inside[t] = true
            // ITK's DetermineRegionOfSupport floors the index after a conversion to Float.
            let first = Int(Float(c).rounded(.down)) - 1
            let w = c - Double(first + 1)
            let w3 = (1.0 / 6.0) * w * w * w
            let w0 = (1.0 / 6.0) + 0.5 * w * (w - 1.0) - w3
            let w2 = w + w0 - 2.0 * w3
            let w1 = 1.0 - w0 - w2 - w3
            weights[t] = SIMD4(w0, w1, w2, w3)
            var tap = SIMD4<Int>.zero
            for q in 0..<4 { tap[q] = CubicAxis.mirror(first + q, count: n) }
            taps[t] = tap
        }
    }

    /// ITK's mirror boundary: reflect about index 0 and index n - 1 (without repeating the edge).
    static func mirror(_ index: Int, count n: Int) -> Int {
        guard n > 1 else { return 0 }
        var i = index
        if i < 0 { i = -i }
        if i >= n - 1 { i = (n - 1) - (i - (n - 1)) }
        return min(n - 1, max(0, i))
    }
}

/// The range of `true` entries of `flags`, which are contiguous (see ``contiguousHull(_:)``).
func contiguousRange(_ flags: [Bool]) -> Range<Int> {
    guard let first = flags.firstIndex(of: true), let last = flags.lastIndex(of: true) else { return 0..<0 }
    return first..<(last + 1)
}

/// `flags` with every entry between the first and the last `true` set to `true`.
func contiguousHull(_ flags: [Bool]) -> [Bool] {
    let range = contiguousRange(flags)
    return flags.indices.map { range.contains($0) }
}
