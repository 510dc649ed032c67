import HemoCore

/// Reorientation of a grid to the closest canonical RAS+ orientation by axis permutation and flips only,
/// as nibabel's `as_closest_canonical` does; no voxel value is interpolated.
///
/// The canonical grid's axis `a` (0 = i, 1 = j, 2 = k) runs along world axis `a` (R, A, S) in the
/// positive direction. Which source axis becomes which canonical axis follows nibabel's
/// `io_orientation`: the direction cosines (affine columns divided by their lengths) are replaced by the
/// closest orthogonal matrix (the orthogonal factor of the polar decomposition, which is what nibabel's
/// SVD computes), then each source axis in turn takes the world axis where its column has the largest
/// absolute entry among the world axes not yet taken; a negative entry flips the axis.
///
/// The canonical affine is exact: permuted columns, negated for flipped axes, and a translation moved to
/// the world position of the old far corner, `t + Σ (n − 1) · column` over flipped axes.
/// `inverse(_:)` restores the original voxels and geometry bit for bit.
public struct Reorientation: Sendable, Equatable {
    /// The geometry before reorientation.
    public let original: Geometry
    /// The canonical geometry.
    public let canonical: Geometry
    /// For each canonical axis, the original axis it comes from.
    public let sourceAxis: SIMD3<Int>
    /// For each canonical axis, whether it runs backwards along its original axis.
    public let flipped: [Bool]

    /// Whether the original grid already is canonical (nothing moves).
    public var isIdentity: Bool { sourceAxis == SIMD3(0, 1, 2) && flipped == [false, false, false] }

    /// Plans the reorientation of `geometry`.
    ///
    /// - Throws: ``TransformError/degenerateAffine(_:)`` when the 3×3 block is singular or not finite.
    public init(geometry: Geometry) throws(TransformError) {
        let affine = geometry.affine
        guard affine.isFinite, affine.inverse != nil else { throw .degenerateAffine(affine) }
        var columns = affine.linearColumns
        for a in 0..<3 {
            let norm = columns[a].norm
            if norm > 0 { columns[a] /= norm }
        }
        var r = Reorientation.closestOrthogonal(columns)
        // worldAxisOf[source axis], sign
        var worldAxis = SIMD3<Int>(repeating: -1)
        var negative = [false, false, false]
        for source in 0..<3 {
            let col = r[source]
            var best = 0
            for w in 1..<3 where abs(col[w]) > abs(col[best]) { best = w }
            guard col[best] != 0 else { throw .degenerateAffine(affine) }
            worldAxis[source] = best
            negative[source] = col[best] < 0
            for c in 0..<3 { r[c][best] = 0 }
        }
        var sourceAxis = SIMD3<Int>(repeating: 0)
        var flipped = [false, false, false]
        for source in 0..<3 {
            sourceAxis[worldAxis[source]] = source
            flipped[worldAxis[source]] = negative[source]
        }
        self.init(original: geometry, sourceAxis: sourceAxis, flipped: flipped)
    }

    private init(original: Geometry, sourceAxis: SIMD3<Int>, flipped: [Bool]) {
        self.original = original
        self.sourceAxis = sourceAxis
        self.flipped = flipped
        let oldSize = original.size.vector
        let oldColumns = original.affine.linearColumns
        var translation = original.affine.translation
        for a in 0..<3 where flipped[a] {
            translation += Double(oldSize[sourceAxis[a]] - 1) * oldColumns[sourceAxis[a]]
        }
        var affine = Affine.identity
        for a in 0..<3 {
            let column = flipped[a] ? -oldColumns[sourceAxis[a]] : oldColumns[sourceAxis[a]]
            for r in 0..<3 { affine[r, a] = column[r] }
        }
        affine.translation = translation
        let size = GridSize(oldSize[sourceAxis[0]], oldSize[sourceAxis[1]], oldSize[sourceAxis[2]])
        let spacing = SIMD3(original.spacing[sourceAxis[0]], original.spacing[sourceAxis[1]],
                            original.spacing[sourceAxis[2]])
        canonical = Geometry(size: size, spacing: spacing, affine: affine,
                             qformCode: original.qformCode, sformCode: original.sformCode)
    }

    /// Reorients `volume` to canonical RAS+ and returns it with the reorientation (to undo it later).
    public static func toCanonical<T: VoxelScalar>(_ volume: Volume<T>) throws(TransformError) -> (Volume<T>, Reorientation) {
        let r = try Reorientation(geometry: volume.geometry)
        return (r.apply(volume), r)
    }

    /// Reorients `mask` to canonical RAS+ and returns it with the reorientation.
    public static func toCanonical(_ mask: Mask) throws(TransformError) -> (Mask, Reorientation) {
        let r = try Reorientation(geometry: mask.geometry)
        return (r.apply(mask), r)
    }

    /// Moves the voxels of `volume` (on the ``original`` grid) onto the ``canonical`` grid.
    public func apply<T: VoxelScalar>(_ volume: Volume<T>) -> Volume<T> {
        precondition(volume.geometry.size == original.size, "volume is not on this reorientation's grid")
        let voxels = Reorientation.permute(volume.voxels, frames: volume.frames, from: original.size,
                                           to: canonical.size, sourceAxis: sourceAxis, flipped: flipped)
        return Volume(geometry: canonical, frames: volume.frames, voxels: voxels)
    }

    /// Moves the bits of `mask` (on the ``original`` grid) onto the ``canonical`` grid.
    public func apply(_ mask: Mask) -> Mask {
        precondition(mask.geometry.size == original.size, "mask is not on this reorientation's grid")
        let bits = Reorientation.permute(mask.bits, frames: 1, from: original.size, to: canonical.size,
                                         sourceAxis: sourceAxis, flipped: flipped)
        return Mask(geometry: canonical, bits: bits)
    }

    /// Moves a volume on the ``canonical`` grid back onto the ``original`` grid, restoring its geometry exactly.
    ///
    /// - Throws: ``TransformError/gridMismatch(expected:found:)`` when the volume is on another grid size.
    public func inverse<T: VoxelScalar>(_ volume: Volume<T>) throws(TransformError) -> Volume<T> {
        guard volume.geometry.size == canonical.size else {
            throw .gridMismatch(expected: canonical.size, found: volume.geometry.size)
        }
        let voxels = Reorientation.unpermute(volume.voxels, frames: volume.frames, original: original.size,
                                             canonical: canonical.size, sourceAxis: sourceAxis, flipped: flipped)
        return Volume(geometry: original, frames: volume.frames, voxels: voxels)
    }

    /// Moves a mask on the ``canonical`` grid back onto the ``original`` grid.
    public func inverse(_ mask: Mask) throws(TransformError) -> Mask {
        guard mask.geometry.size == canonical.size else {
            throw .gridMismatch(expected: canonical.size, found: mask.geometry.size)
        }
        let bits = Reorientation.unpermute(mask.bits, frames: 1, original: original.size,
                                           canonical: canonical.size, sourceAxis: sourceAxis, flipped: flipped)
        return Mask(geometry: original, bits: bits)
    }

    // MARK: - Implementation

    /// The linear offset in the original grid of each canonical index, as per-axis tables.
    private static func offsetTables(original: GridSize, canonical: GridSize, sourceAxis: SIMD3<Int>,
                                     flipped: [Bool]) -> [[Int]] {
        let oldSize = original.vector
        let oldStride = SIMD3(1, original.i, original.i * original.j)
        let newSize = canonical.vector
        return (0..<3).map { a in
            let s = sourceAxis[a]
            return (0..<newSize[a]).map { idx in (flipped[a] ? oldSize[s] - 1 - idx : idx) * oldStride[s] }
        }
    }

    static func permute<T>(_ voxels: [T], frames: Int, from original: GridSize, to canonical: GridSize,
                           sourceAxis: SIMD3<Int>, flipped: [Bool]) -> [T] {
        let tables = offsetTables(original: original, canonical: canonical, sourceAxis: sourceAxis, flipped: flipped)
        let frameCount = original.count
        var out = [T]()
        out.reserveCapacity(voxels.count)
        for f in 0..<frames {
            let base = f * frameCount
            for k in tables[2] { for j in tables[1] { for i in tables[0] { out.append(voxels[base + k + j + i]) } } }
        }
        return out
    }

    static func unpermute<T>(_ voxels: [T], frames: Int, original: GridSize, canonical: GridSize,
                             sourceAxis: SIMD3<Int>, flipped: [Bool]) -> [T] {
        let tables = offsetTables(original: original, canonical: canonical, sourceAxis: sourceAxis, flipped: flipped)
        let frameCount = original.count
        var out = voxels
        var n = 0
        for f in 0..<frames {
            let base = f * frameCount
            for k in tables[2] {
                for j in tables[1] {
                    for i in tables[0] {
                        out[base + k + j + i] = voxels[n]
                        n += 1
                    }
                }
            }
        }
        return out
    }

    /// The orthogonal factor of the polar decomposition of the matrix with `columns`, by Newton's iteration
    /// `R ← (R + R⁻ᵀ) / 2` (converges quadratically for a non-singular matrix).
    static func closestOrthogonal(_ columns: [SIMD3<Double>]) -> [SIMD3<Double>] {
        var r = columns
        for _ in 0..<100 {
            // Inverse transpose of the matrix with columns r: its columns are the cross products / det.
            let c0 = cross(r[1], r[2]), c1 = cross(r[2], r[0]), c2 = cross(r[0], r[1])
            let det = (r[0] * c0).sum()
            guard det != 0, det.isFinite else { return r }
            let next = [(r[0] + c0 / det) / 2, (r[1] + c1 / det) / 2, (r[2] + c2 / det) / 2]
            let change = zip(next, r).map { ($0 - $1).norm }.max() ?? 0
            r = next
            if change < 1e-15 { break }
        }
        return r
    }

    private static func cross(_ a: SIMD3<Double>, _ b: SIMD3<Double>) -> SIMD3<Double> {
        SIMD3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
    }
}
