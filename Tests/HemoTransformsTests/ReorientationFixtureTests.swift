import Foundation
import HemoCore
import Testing
@testable import HemoTransforms

/// `reorientation.json` written by scripts/fixtures/make-reorientation-fixtures.py (nibabel as_closest_canonical).
private struct ReorientationManifest: Decodable {
    struct Case: Decodable, CustomTestStringConvertible {
        let name: String
        let shape, canonical_shape: [Int]
        let affine, canonical_affine: [Double]
        let ornt: [[Double]]
        let canonical_voxels: [Int32]
        var testDescription: String { name }
    }
    let cases: [Case]
}

private let manifest: ReorientationManifest = {
    do { return try Fixtures.json("reorientation/reorientation.json") } catch { fatalError("\(error)") }
}()

@Test("reorientation equals nibabel as_closest_canonical", arguments: manifest.cases)
private func reorientationMatchesNibabel(_ c: ReorientationManifest.Case) throws {
    let size = GridSize(c.shape[0], c.shape[1], c.shape[2])
    let affine = Affine(rowMajor: c.affine)
    let volume = Volume(geometry: Geometry(size: size, spacing: affine.columnNorms, affine: affine),
                        voxels: (0..<size.count).map { Int32($0) })
    let (canonical, r) = try Reorientation.toCanonical(volume)
    for (inAxis, row) in c.ornt.enumerated() {
        let outAxis = Int(row[0])
        #expect(r.sourceAxis[outAxis] == inAxis)
        #expect(r.flipped[outAxis] == (row[1] < 0))
    }
    #expect(canonical.geometry.size == GridSize(c.canonical_shape[0], c.canonical_shape[1], c.canonical_shape[2]))
    #expect(canonical.geometry.affine.maxAbsoluteDifference(to: Affine(rowMajor: c.canonical_affine)) < 1e-12)
    #expect(canonical.voxels == c.canonical_voxels)
    let back = try r.inverse(canonical)
    #expect(back == volume)
    #expect(back.geometry.affine.rowMajor == volume.geometry.affine.rowMajor)
}
