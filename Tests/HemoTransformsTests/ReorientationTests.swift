import HemoCore
import Testing
@testable import HemoTransforms

/// A small volume whose voxel values are their own linear offsets, on a grid with `affine`.
private func countingVolume(_ size: GridSize, affine: Affine, spacing: SIMD3<Double>) -> Volume<Int16> {
    Volume(geometry: Geometry(size: size, spacing: spacing, affine: affine),
           voxels: (0..<size.count).map { Int16($0) })
}

@Test func lpsVolumeBecomesRASWithExactAffine() throws {
    // i runs to the left (-x), j posterior (-y), k superior: LPS.
    let affine = Affine(rowMajor: [-0.5, 0, 0, 10, 0, -0.5, 0, 20, 0, 0, 5, -30, 0, 0, 0, 1])
    let v = countingVolume(GridSize(4, 3, 2), affine: affine, spacing: SIMD3(0.5, 0.5, 5))
    let (canonical, r) = try Reorientation.toCanonical(v)
    #expect(r.sourceAxis == SIMD3(0, 1, 2))
    #expect(r.flipped == [true, true, false])
    #expect(canonical.geometry.affine == Affine(rowMajor: [0.5, 0, 0, 8.5, 0, 0.5, 0, 19, 0, 0, 5, -30, 0, 0, 0, 1]))
    // Canonical voxel (0, 0, 0) is original voxel (3, 2, 0).
    #expect(canonical[0, 0, 0] == v[3, 2, 0])
    #expect(canonical[1, 2, 1] == v[2, 0, 1])
    // World positions agree voxel by voxel.
    for (i, j, k) in [(0, 0, 0), (3, 1, 1), (2, 2, 0)] {
        let w = canonical.geometry.world(atIndex: SIMD3(Double(i), Double(j), Double(k)))
        let back = v.geometry.index(atWorld: w)!
        let o = SIMD3<Int>(Int(back.x.rounded()), Int(back.y.rounded()), Int(back.z.rounded()))
        #expect(canonical[i, j, k] == v[o.x, o.y, o.z])
    }
}

@Test func permutedObliqueVolumeRoundTripsBitForBit() throws {
    // i along S, j along -R, k along A, slightly oblique.
    let affine = Affine(rowMajor: [0.02, -0.9, 0.01, 100,
                                   0.03, 0.01, 2.5, -50,
                                   3.0, 0.02, -0.04, 7,
                                   0, 0, 0, 1])
    let v = countingVolume(GridSize(5, 4, 3), affine: affine, spacing: SIMD3(3, 0.9, 2.5))
    let (canonical, r) = try Reorientation.toCanonical(v)
    #expect(r.sourceAxis == SIMD3(1, 2, 0))
    #expect(r.flipped == [true, false, false])
    #expect(canonical.geometry.size == GridSize(4, 3, 5))
    #expect(canonical.geometry.spacing == SIMD3(0.9, 2.5, 3))
    let back = try r.inverse(canonical)
    #expect(back == v)
    #expect(back.geometry.affine.rowMajor == v.geometry.affine.rowMajor)
}

@Test func inverseRejectsAVolumeOnAnotherGrid() throws {
    let v = countingVolume(GridSize(2, 3, 4), affine: .scaling(SIMD3(-1, 1, 1)), spacing: SIMD3(1, 1, 1))
    let (_, r) = try Reorientation.toCanonical(v)
    #expect(throws: TransformError.gridMismatch(expected: GridSize(2, 3, 4), found: GridSize(2, 3, 4 + 1))) {
        try r.inverse(countingVolume(GridSize(2, 3, 5), affine: .identity, spacing: SIMD3(1, 1, 1)))
    }
}

@Test func singularAffineIsRejected() {
    let affine = Affine(rowMajor: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1])
    #expect(throws: TransformError.self) {
        try Reorientation(geometry: Geometry(size: GridSize(2, 2, 2), spacing: SIMD3(1, 1, 1), affine: affine))
    }
}
