import Foundation

/// Where the patches of a sliding-window prediction go, by nnU-Net v2's rules
/// (`compute_steps_for_sliding_window` and `pad_nd_image`).
///
/// Rules, per axis with image size `n`, patch `p` and step fraction `f` (0 < f ≤ 1):
/// 1. An image smaller than the patch is padded with zeros to the patch: `(p - n) / 2` (rounded down)
///    before, the rest after.
/// 2. With the padded size `n′`, the number of patches is `ceil((n′ - p) / (p · f)) + 1`.
/// 3. Patch `t` of `N` starts at `round(t · (n′ - p) / (N - 1))`, rounding half to even as NumPy does
///    (`0` when `N` is 1).
/// 4. Patches are visited with the first axis outermost.
public struct SlidingWindowPlan: Sendable, Equatable {
    /// The image size before padding, per axis.
    public var imageSize: [Int]
    /// The patch size, per axis.
    public var patch: [Int]
    /// Zeros added before the image, per axis.
    public var padBefore: [Int]
    /// The padded size, per axis (at least the patch).
    public var paddedSize: [Int]
    /// Patch starts along each axis, in the padded image.
    public var starts: [[Int]]

    /// The plan for an image of `imageSize` with `patch` and step fraction `step`.
    /// - Precondition: equal ranks, positive sizes, `0 < step ≤ 1`.
    public init(imageSize: [Int], patch: [Int], step: Double) {
        precondition(imageSize.count == patch.count && step > 0 && step <= 1)
        self.imageSize = imageSize
        self.patch = patch
        paddedSize = zip(imageSize, patch).map { max($0, $1) }
        padBefore = zip(imageSize, patch).map { max(0, $1 - $0) / 2 }
        starts = Self.steps(imageSize: paddedSize, patch: patch, step: step)
    }

    /// nnU-Net's `compute_steps_for_sliding_window` for an image at least as large as the patch.
    public static func steps(imageSize: [Int], patch: [Int], step: Double) -> [[Int]] {
        zip(imageSize, patch).map { n, p in
            let target = Double(p) * step
            let count = Int((Double(n - p) / target).rounded(.up)) + 1
            guard count > 1 else { return [0] }
            let actual = Double(n - p) / Double(count - 1)
            return (0..<count).map { Int((actual * Double($0)).rounded(.toNearestOrEven)) }
        }
    }

    /// Every patch origin, first axis outermost.
    public var origins: [[Int]] {
        var result: [[Int]] = [[]]
        for axisStarts in starts {
            result = result.flatMap { prefix in axisStarts.map { prefix + [$0] } }
        }
        return result
    }
}

/// nnU-Net's Gaussian importance map (`compute_gaussian`): a unit impulse at the patch centre
/// (`size / 2`, rounded down) blurred by SciPy's `gaussian_filter` with σ = `sigmaScale` × size per
/// axis (kernel truncated at `int(4σ + 0.5)` voxels and normalised to sum 1), scaled so that its
/// maximum is `valueScaling`; zeros (beyond the kernel's reach) become the smallest non-zero value.
public enum GaussianImportance {
    /// The normalised, truncated 1-D kernel of SciPy's `gaussian_filter1d` for `sigma`, centred at `radius`.
    public static func kernel(sigma: Double) -> [Double] {
        let radius = Int(4.0 * sigma + 0.5)
        var weights = (-radius...radius).map { Foundation.exp(-0.5 * Double($0 * $0) / (sigma * sigma)) }
        let sum = weights.reduce(0, +)
        for n in weights.indices { weights[n] /= sum }
        return weights
    }

    /// The map for `patch` (C order, last axis fastest) as Float; with `half`, each value rounded to
    /// IEEE half precision before the zeros are replaced (nnU-Net's `dtype=torch.float16`).
    public static func map(patch: [Int], sigmaScale: Double = 1.0 / 8, valueScaling: Double = 10, half: Bool = false) -> [Float] {
        let profiles: [[Double]] = patch.map { size in
            let sigma = Double(size) * sigmaScale
            let k = kernel(sigma: sigma), radius = k.count / 2, centre = size / 2
            return (0..<size).map { p in
                let offset = p - centre
                return abs(offset) <= radius ? k[offset + radius] : 0
            }
        }
        var values: [Double] = [1]
        for profile in profiles {
            values = values.flatMap { v in profile.map { v * $0 } }
        }
        let maximum = values.max() ?? 1
        var result = values.map { Float($0 / (maximum / valueScaling)) }
        if half { result = result.map { Float(Float16($0)) } }
        let smallest = result.filter { $0 > 0 }.min() ?? 1
        for n in result.indices where result[n] == 0 { result[n] = smallest }
        return result
    }
}

/// Mirroring test-time augmentation as nnU-Net does it: the prediction of the patch plus one
/// prediction per non-empty subset of the mirror axes (subsets by size, then in lexicographic
/// order, as `itertools.combinations`), each flipped back, averaged as logits.
public enum MirrorAugmentation {
    /// The flips to run besides the plain prediction, for spatial `axes` (0-based).
    public static func combinations(axes: [Int]) -> [[Int]] {
        var result: [[Int]] = []
        func choose(_ start: Int, _ size: Int, _ current: [Int]) {
            if current.count == size { result.append(current); return }
            guard start < axes.count else { return }
            for n in start..<axes.count { choose(n + 1, size, current + [axes[n]]) }
        }
        if !axes.isEmpty { for size in 1...axes.count { choose(0, size, []) } }
        return result
    }

    /// Copies `source` (a C-order array of `shape`, last axis fastest) into `destination`, reversed
    /// along each of `axes` (indices into `shape`). Flipping twice restores the array.
    public static func flip(_ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>, shape: [Int], axes: [Int]) {
        let count = shape.reduce(1, *)
        guard !axes.isEmpty else { destination.update(from: source, count: count); return }
        var strides = [Int](repeating: 1, count: shape.count)
        for d in stride(from: shape.count - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * shape[d + 1] }
        let flipped = Set(axes)
        let last = shape.count - 1
        let rowLength = shape[last]
        let reverseRows = flipped.contains(last)
        var index = [Int](repeating: 0, count: shape.count)
        var offset = 0
        while offset < count {
            // The row's source start, with the outer axes mirrored where asked.
            var sourceStart = 0
            for d in 0..<last {
                let i = flipped.contains(d) ? shape[d] - 1 - index[d] : index[d]
                sourceStart += i * strides[d]
            }
            if reverseRows {
                for x in 0..<rowLength { destination[offset + x] = source[sourceStart + rowLength - 1 - x] }
            } else {
                (destination + offset).update(from: source + sourceStart, count: rowLength)
            }
            offset += rowLength
            var d = last - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
    }
}

/// The intensity step of a format-3 sidecar, applied to HU values.
public enum IntensityNormalization: Sendable, Equatable {
    /// One channel per HU window, `clip((HU - lower) / width, 0, 1)` (as in formats 1 and 2).
    case windows([WindowChannel])
    /// nnU-Net's `CTNormalization`: clip to `[lower, upper]` (the foreground's 0.5 and 99.5
    /// percentiles from the plans), subtract `mean`, divide by `max(std, 1e-8)` (plans' values).
    case nnUNetCT(lower: Float, upper: Float, mean: Float, std: Float)
    /// nnU-Net's `ZScoreNormalization` over the whole case: `(x - mean) / max(std, 1e-8)` with the
    /// case's own mean and (population) standard deviation, computed in double.
    case zScore

    /// Input channels produced.
    public var channelCount: Int {
        if case .windows(let c) = self { return c.count }
        return 1
    }

    /// Normalises `hu` into `channelCount` planes of `hu.count` values each, channel-major.
    public func apply(_ hu: [Float]) -> [Float] {
        switch self {
        case .windows(let channels):
            var out = [Float](repeating: 0, count: hu.count * channels.count)
            for (c, w) in channels.enumerated() {
                let base = c * hu.count
                for n in hu.indices { out[base + n] = min(max((hu[n] - w.lower) / w.width, 0), 1) }
            }
            return out
        case .nnUNetCT(let lower, let upper, let mean, let std):
            let scale = max(std, 1e-8)
            return hu.map { (min(max($0, lower), upper) - mean) / scale }
        case .zScore:
            var sum = 0.0, squares = 0.0
            for v in hu { sum += Double(v) }
            let mean = sum / Double(max(hu.count, 1))
            for v in hu { let d = Double(v) - mean; squares += d * d }
            let std = Float((squares / Double(max(hu.count, 1))).squareRoot())
            let m = Float(mean), scale = max(std, 1e-8)
            return hu.map { ($0 - m) / scale }
        }
    }
}
