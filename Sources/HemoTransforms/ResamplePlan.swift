import HemoCore

/// How voxel values are computed at the continuous source position of each target voxel.
public enum Interpolation: String, Sendable, CaseIterable, Codable {
    /// Nearest voxel, rounding the continuous index half up (ITK's `NearestNeighborInterpolateImageFunction`,
    /// SimpleITK `sitkNearestNeighbor`). Use for label maps and masks.
    case nearest
    /// Trilinear, clamped to the edge voxel within the half-voxel border (ITK's
    /// `LinearInterpolateImageFunction`, SimpleITK `sitkLinear`). The default for CT.
    case linear
    /// Cubic B-spline on prefiltered coefficients with mirror boundaries (ITK's
    /// `BSplineInterpolateImageFunction` of order 3, SimpleITK `sitkBSpline`). Smoother CT, may overshoot.
    case bspline
}

/// The target grid of a resampling and the map from target to source indices.
///
/// Conventions (see the article <doc:Transforms>):
/// - The target grid keeps the source's origin (world position of the centre of voxel 0) and its direction
///   cosines: each column of the affine is scaled by `s′/s`, the translation is unchanged.
/// - The target size along each axis is `max(1, (n · s / s′).rounded())`, where `rounded()` is Foundation's
///   schoolbook rounding (halves away from zero: 2.5 → 3).
/// - Target voxel index `p′` sits at the continuous source index `p′ · s′ / s` on each axis (the map is
///   separable because the direction is kept).
/// - A target voxel whose continuous source index `c` on some axis lies outside `[-0.5, n - 0.5)` takes the
///   fill value, as ITK's `ImageFunction::IsInsideBuffer` decides.
/// - Exact ties (a centre exactly on a source voxel boundary for `nearest`, or exactly on the outer edge
///   `n - 0.5`) are decided by the same floating-point operations ITK's `ResampleImageFilter` uses: the
///   index goes through the physical point (`origin + D·diag(s′)·p′`, minus the origin, times the inverse of
///   `D·diag(s)`), and along i it is interpolated over the scan line (`start + (p′ / m) · (end − start)`).
///   So ties fall on the same side as in SimpleITK (exactly so for axis-aligned directions, including
///   flips and permutations; an oblique direction can differ by an ulp from ITK's SVD-based inverse).
public struct ResamplePlan: Sendable, Equatable {
    /// The grid being resampled.
    public let source: Geometry
    /// The grid produced.
    public let target: Geometry
    /// `s′ / s` per axis: the step in source index per target voxel.
    public let indexStep: SIMD3<Double>

    /// The largest target grid a plan accepts: 2³¹ voxels (4 GiB of int16), far beyond any head CT.
    public static let maximumVoxels = 1 << 31

    /// Plans the resampling of `source` to voxels of `targetSpacing` millimetres.
    ///
    /// - Throws: ``TransformError/invalidTargetSpacing(_:)`` or ``TransformError/invalidSourceSpacing(_:)``
    ///   when a spacing is not finite and positive, ``TransformError/emptyGrid(_:)`` for an empty grid,
    ///   ``TransformError/targetGridTooLarge(voxels:targetSpacing:)`` when the target would exceed
    ///   ``maximumVoxels``.
    public init(source: Geometry, targetSpacing: SIMD3<Double>) throws(TransformError) {
        let s = source.spacing
        guard (0..<3).allSatisfy({ targetSpacing[$0].isFinite && targetSpacing[$0] > 0 }) else {
            throw .invalidTargetSpacing(targetSpacing)
        }
        guard (0..<3).allSatisfy({ s[$0].isFinite && s[$0] > 0 }) else { throw .invalidSourceSpacing(s) }
        guard source.size.count > 0 else { throw .emptyGrid(source.size) }
        let n = source.size.vector
        var exact = SIMD3<Double>(repeating: 1)
        for a in 0..<3 { exact[a] = max(1, (Double(n[a]) * s[a] / targetSpacing[a]).rounded()) }
        let voxels = exact.x * exact.y * exact.z
        guard voxels <= Double(ResamplePlan.maximumVoxels) else {
            throw .targetGridTooLarge(voxels: voxels, targetSpacing: targetSpacing)
        }
        var newCounts = SIMD3<Int>(repeating: 1)
        var step = SIMD3<Double>(repeating: 1)
        for a in 0..<3 {
            newCounts[a] = Int(exact[a])
            step[a] = targetSpacing[a] / s[a]
        }
        // ITK's m_IndexToPhysicalPoint for the target: direction · diag(s′).
        var affine = source.affine
        for a in 0..<3 {
            for r in 0..<3 { affine[r, a] = (source.affine[r, a] / s[a]) * targetSpacing[a] }
        }
        self.source = source
        self.indexStep = step
        self.target = Geometry(size: GridSize(newCounts.x, newCounts.y, newCounts.z), spacing: targetSpacing,
                               affine: affine, qformCode: source.qformCode, sformCode: source.sformCode)
    }

    /// The continuous source index of target voxel `index`: `index · s′ / s` per axis (up to rounding; the
    /// kernels use ITK's arithmetic, see the type's documentation).
    public func sourceIndex(ofTargetIndex index: SIMD3<Int>) -> SIMD3<Double> {
        SIMD3(Double(index.x) * indexStep.x, Double(index.y) * indexStep.y, Double(index.z) * indexStep.z)
    }

    /// Continuous source indices of every target voxel along axis `axis` (0 = i, 1 = j, 2 = k), computed
    /// with ITK's operations (see the type's documentation).
    func continuousIndices(axis: Int) -> [Double] {
        let m = target.size.vector[axis]
        let toIndex = physicalToIndex
        let origin = source.affine.translation
        // ITK: TransformIndexToPhysicalPoint, then TransformPhysicalPointToContinuousIndex.
        func viaPhysicalPoint(_ t: Int) -> Double {
            var centred = SIMD3<Double>.zero
            for r in 0..<3 {
                let point = target.affine[r, axis] * Double(t) + origin[r]
                centred[r] = point - origin[r]
            }
            var sum = 0.0
            for r in 0..<3 { sum += toIndex[axis][r] * centred[r] }
            return sum
        }
        if axis == 0 {
            // ITK's scan-line path: start + (t / m) · (end − start).
            let start = viaPhysicalPoint(0), end = viaPhysicalPoint(m)
            return (0..<m).map { start + (Double($0) / Double(m)) * (end - start) }
        }
        return (0..<m).map(viaPhysicalPoint)
    }

    /// The inverse of the source's `D·diag(s)` block, as rows: exact reciprocals when every column has a
    /// single non-zero entry (axis-aligned, flipped or permuted grids), the cofactor inverse otherwise.
    private var physicalToIndex: [SIMD3<Double>] {
        let a = source.affine
        var rows = [SIMD3<Double>](repeating: .zero, count: 3)
        var permutation = true
        for c in 0..<3 {
            let nonZero = (0..<3).filter { a[$0, c] != 0 }
            guard nonZero.count == 1 else { permutation = false; break }
            rows[c][nonZero[0]] = 1 / a[nonZero[0], c]
        }
        if permutation { return rows }
        guard let inverse = a.inverse else { return rows }
        return (0..<3).map { r in SIMD3(inverse[r, 0], inverse[r, 1], inverse[r, 2]) }
    }
}

/// Whether continuous index `c` lies in ITK's buffer region `[-0.5, n - 0.5)` (NaN is outside).
@inline(__always)
func isInsideBuffer(_ c: Double, count n: Int) -> Bool {
    c >= -0.5 && c < Double(n) - 0.5
}
