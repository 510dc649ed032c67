/// A 4×4 homogeneous transform from voxel indices (i, j, k) to world millimetres,
/// as NIfTI's qform/sform and nibabel's `affine` define it.
///
/// Stored row-major; the last row is always `0 0 0 1` for a valid affine.
public struct Affine: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Row-major entries: `rows[r][c]`.
    public var rows: [SIMD4<Double>]

    /// Builds an affine from four rows.
    public init(rows: [SIMD4<Double>]) {
        precondition(rows.count == 4, "an affine has four rows")
        self.rows = rows
    }

    /// Builds an affine from a row-major list of 16 numbers.
    public init(rowMajor m: [Double]) {
        precondition(m.count == 16, "an affine has sixteen entries")
        rows = (0..<4).map { r in SIMD4(m[4 * r], m[4 * r + 1], m[4 * r + 2], m[4 * r + 3]) }
    }

    /// The identity transform.
    public static let identity = Affine(rowMajor: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1])

    /// A diagonal scaling by `spacing` with `origin` as the world position of voxel (0, 0, 0).
    public static func scaling(_ spacing: SIMD3<Double>, origin: SIMD3<Double> = .zero) -> Affine {
        Affine(rowMajor: [spacing.x, 0, 0, origin.x,
                          0, spacing.y, 0, origin.y,
                          0, 0, spacing.z, origin.z,
                          0, 0, 0, 1])
    }

    /// Entry at row `r`, column `c`.
    public subscript(r: Int, c: Int) -> Double {
        get { rows[r][c] }
        set { rows[r][c] = newValue }
    }

    /// The entries row by row.
    public var rowMajor: [Double] { rows.flatMap { [$0.x, $0.y, $0.z, $0.w] } }

    /// The upper-left 3×3 block (rotation, zoom and shear), as columns.
    public var linearColumns: [SIMD3<Double>] {
        (0..<3).map { c in SIMD3(rows[0][c], rows[1][c], rows[2][c]) }
    }

    /// The translation: world position of voxel (0, 0, 0).
    public var translation: SIMD3<Double> {
        get { SIMD3(rows[0].w, rows[1].w, rows[2].w) }
        set { rows[0].w = newValue.x; rows[1].w = newValue.y; rows[2].w = newValue.z }
    }

    /// Voxel sizes implied by the affine: the length of each column of the 3×3 block
    /// (what nibabel's `header.get_zooms()` agrees with for a consistent header).
    public var columnNorms: SIMD3<Double> {
        let c = linearColumns
        return SIMD3(c[0].norm, c[1].norm, c[2].norm)
    }

    /// Whether every entry is finite.
    public var isFinite: Bool { rowMajor.allSatisfy { $0.isFinite } }

    /// Maps a (possibly fractional) voxel index to world coordinates.
    public func apply(_ p: SIMD3<Double>) -> SIMD3<Double> {
        let v = SIMD4(p.x, p.y, p.z, 1)
        return SIMD3((rows[0] * v).sum(), (rows[1] * v).sum(), (rows[2] * v).sum())
    }

    /// Matrix product `self · other` (apply `other` first).
    public func concatenating(_ other: Affine) -> Affine {
        var out = [Double](repeating: 0, count: 16)
        for r in 0..<4 {
            for c in 0..<4 {
                var s = 0.0
                for k in 0..<4 { s += self[r, k] * other[k, c] }
                out[4 * r + c] = s
            }
        }
        return Affine(rowMajor: out)
    }

    /// The inverse transform, or `nil` when the 3×3 block is singular.
    public var inverse: Affine? {
        let a = rows
        let m00 = a[0].x, m01 = a[0].y, m02 = a[0].z
        let m10 = a[1].x, m11 = a[1].y, m12 = a[1].z
        let m20 = a[2].x, m21 = a[2].y, m22 = a[2].z
        let c00 = m11 * m22 - m12 * m21
        let c01 = m12 * m20 - m10 * m22
        let c02 = m10 * m21 - m11 * m20
        let det = m00 * c00 + m01 * c01 + m02 * c02
        guard det != 0, det.isFinite else { return nil }
        let inv = 1 / det
        let i00 = c00 * inv
        let i01 = (m02 * m21 - m01 * m22) * inv
        let i02 = (m01 * m12 - m02 * m11) * inv
        let i10 = c01 * inv
        let i11 = (m00 * m22 - m02 * m20) * inv
        let i12 = (m02 * m10 - m00 * m12) * inv
        let i20 = c02 * inv
        let i21 = (m01 * m20 - m00 * m21) * inv
        let i22 = (m00 * m11 - m01 * m10) * inv
        let t = translation
        let tx = -(i00 * t.x + i01 * t.y + i02 * t.z)
        let ty = -(i10 * t.x + i11 * t.y + i12 * t.z)
        let tz = -(i20 * t.x + i21 * t.y + i22 * t.z)
        return Affine(rowMajor: [i00, i01, i02, tx, i10, i11, i12, ty, i20, i21, i22, tz, 0, 0, 0, 1])
    }

    /// Largest absolute difference between corresponding entries.
    public func maxAbsoluteDifference(to other: Affine) -> Double {
        zip(rowMajor, other.rowMajor).map { abs($0 - $1) }.max() ?? 0
    }

    /// A readable four-line rendering.
    public var description: String {
        rows.map { "[\($0.x), \($0.y), \($0.z), \($0.w)]" }.joined(separator: "\n")
    }
}

extension SIMD3 where Scalar == Double {
    /// Euclidean length.
    public var norm: Double { (self * self).sum().squareRoot() }
}
