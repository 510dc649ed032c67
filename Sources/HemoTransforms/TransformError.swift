import HemoCore

/// Why a geometry transform refused its input.
public enum TransformError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The requested target spacing has an entry that is not a finite positive number.
    case invalidTargetSpacing(SIMD3<Double>)
    /// The input grid's spacing has an entry that is not a finite positive number.
    case invalidSourceSpacing(SIMD3<Double>)
    /// The target grid would exceed ``ResamplePlan/maximumVoxels`` voxels (a spacing far too small).
    case targetGridTooLarge(voxels: Double, targetSpacing: SIMD3<Double>)
    /// The input grid is empty along some axis.
    case emptyGrid(GridSize)
    /// The affine cannot be inverted or reoriented (singular or non-finite 3×3 block).
    case degenerateAffine(Affine)
    /// A volume handed to `Reorientation.inverse(_:)` is not on the canonical grid this
    /// reorientation produced.
    case gridMismatch(expected: GridSize, found: GridSize)

    /// A sentence naming the reason.
    public var description: String {
        switch self {
        case .invalidTargetSpacing(let s):
            "target spacing \(s.x)×\(s.y)×\(s.z) mm is invalid: every entry must be a finite number > 0"
        case .invalidSourceSpacing(let s):
            "volume spacing \(s.x)×\(s.y)×\(s.z) mm is invalid: every entry must be a finite number > 0"
        case .targetGridTooLarge(let voxels, let s):
            "target spacing \(s.x)×\(s.y)×\(s.z) mm would make \(voxels) voxels, more than the limit of \(ResamplePlan.maximumVoxels)"
        case .emptyGrid(let size):
            "volume grid \(size) is empty"
        case .degenerateAffine(let a):
            "voxel-to-world affine is singular or not finite:\n\(a)"
        case .gridMismatch(let expected, let found):
            "volume grid \(found) is not the canonical grid \(expected) of this reorientation"
        }
    }
}
