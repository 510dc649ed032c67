/// The size of a voxel grid: counts along i (fastest), j and k.
public struct GridSize: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Voxels along i, j and k.
    public var i: Int, j: Int, k: Int

    /// A grid of `i × j × k` voxels.
    public init(_ i: Int, _ j: Int, _ k: Int) {
        self.i = i; self.j = j; self.k = k
    }

    /// Voxels in the grid.
    public var count: Int { i * j * k }
    /// Voxels in one k-slice.
    public var sliceCount: Int { i * j }
    /// The counts as a SIMD vector.
    public var vector: SIMD3<Int> { SIMD3(i, j, k) }
    /// `i×j×k`.
    public var description: String { "\(i)×\(j)×\(k)" }

    /// Linear offset of voxel (i, j, k) in NIfTI order (i fastest).
    @inlinable public func offset(_ i: Int, _ j: Int, _ k: Int) -> Int { (k * self.j + j) * self.i + i }
}

/// Where a grid sits in the world: its size, voxel spacing, the voxel-to-world affine
/// and the NIfTI codes that say what the world is.
///
/// Like ITK's image geometry and nibabel's `(affine, header)`, every transform in the
/// project returns a new `Geometry` that is exact to the half voxel.
public struct Geometry: Hashable, Sendable, Codable {
    /// Voxels along i, j, k.
    public var size: GridSize
    /// Voxel sizes in millimetres along i, j, k (NIfTI `pixdim[1...3]`).
    public var spacing: SIMD3<Double>
    /// Voxel index → world millimetres (RAS+, as NIfTI defines it).
    public var affine: Affine
    /// NIfTI `qform_code` (0 unknown, 1 scanner, 2 aligned, 3 Talairach, 4 MNI, 5 template).
    public var qformCode: Int
    /// NIfTI `sform_code`, same values as ``qformCode``.
    public var sformCode: Int

    /// A geometry with an explicit affine.
    public init(size: GridSize, spacing: SIMD3<Double>, affine: Affine, qformCode: Int = 1, sformCode: Int = 1) {
        self.size = size
        self.spacing = spacing
        self.affine = affine
        self.qformCode = qformCode
        self.sformCode = sformCode
    }

    /// An axis-aligned geometry: spacing on the diagonal, `origin` the centre of voxel (0, 0, 0).
    public init(size: GridSize, spacing: SIMD3<Double>, origin: SIMD3<Double> = .zero) {
        self.init(size: size, spacing: spacing, affine: .scaling(spacing, origin: origin))
    }

    /// World position (mm) of the centre of voxel index `p` (fractional indices allowed).
    public func world(atIndex p: SIMD3<Double>) -> SIMD3<Double> { affine.apply(p) }

    /// Continuous voxel index of world point `x`, or `nil` when the affine is singular.
    public func index(atWorld x: SIMD3<Double>) -> SIMD3<Double>? { affine.inverse?.apply(x) }

    /// Volume of one voxel in millilitres.
    public var voxelVolumeML: Double { spacing.x * spacing.y * spacing.z / 1000 }

    /// Whether `other` describes the same grid: equal sizes and affines within `tolerance` mm.
    public func matches(_ other: Geometry, tolerance: Double = 1e-3) -> Bool {
        size == other.size && affine.maxAbsoluteDifference(to: other.affine) <= tolerance
    }
}
