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
public struct ResamplePlan: Sendable, Equatable {
    /// The grid being resampled.
    public let source: Geometry
    /// The grid produced.
    public let target: Geometry
    /// `s′ / s` per axis: the step in source index per target voxel.
    public let indexStep: SIMD3<Double>

    /// Plans the resampling of `source` to voxels of `targetSpacing` millimetres.
    ///
    /// - Throws: ``TransformError/invalidTargetSpacing(_:)`` or ``TransformError/invalidSourceSpacing(_:)``
    ///   when a spacing is not finite and positive, ``TransformError/emptyGrid(_:)`` for an empty grid.
    public init(source: Geometry, targetSpacing: SIMD3<Double>) throws(TransformError) {
        let s = source.spacing
        guard (0..<3).allSatisfy({ targetSpacing[$0].isFinite && targetSpacing[$0] > 0 }) else {
            throw .invalidTargetSpacing(targetSpacing)
        }
        guard (0..<3).allSatisfy({ s[$0].isFinite && s[$0] > 0 }) else { throw .invalidSourceSpacing(s) }
        guard source.size.count > 0 else { throw .emptyGrid(source.size) }
        let n = source.size.vector
        var newCounts = SIMD3<Int>(repeating: 1)
        var step = SIMD3<Double>(repeating: 1)
        for a in 0..<3 {
            let exact = Double(n[a]) * s[a] / targetSpacing[a]
            newCounts[a] = max(1, Int(exact.rounded()))
            step[a] = targetSpacing[a] / s[a]
        }
        var affine = source.affine
        for a in 0..<3 {
            for r in 0..<3 { affine[r, a] = source.affine[r, a] * step[a] }
        }
        self.source = source
        self.indexStep = step
        self.target = Geometry(size: GridSize(newCounts.x, newCounts.y, newCounts.z), spacing: targetSpacing,
                               affine: affine, qformCode: source.qformCode, sformCode: source.sformCode)
    }

    /// The continuous source index of target voxel `index`: `index · s′ / s` per axis.
    public func sourceIndex(ofTargetIndex index: SIMD3<Int>) -> SIMD3<Double> {
        SIMD3(Double(index.x) * indexStep.x, Double(index.y) * indexStep.y, Double(index.z) * indexStep.z)
    }

    /// Continuous source indices of every target voxel along axis `axis` (0 = i, 1 = j, 2 = k).
    func continuousIndices(axis: Int) -> [Double] {
        let m = target.size.vector[axis]
        let step = indexStep[axis]
        return (0..<m).map { Double($0) * step }
    }
}

/// Whether continuous index `c` lies in ITK's buffer region `[-0.5, n - 0.5)` (NaN is outside).
@inline(__always)
func isInsideBuffer(_ c: Double, count n: Int) -> Bool {
    c >= -0.5 && c < Double(n) - 0.5
}
