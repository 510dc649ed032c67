import Testing
@testable import HemoCore

@Suite struct AffineTests {
    @Test func inverseRoundTripsAnObliqueAffine() throws {
        let a = Affine(rowMajor: [-0.44, 0.02, 0.1, 110, 0.01, 0.45, -0.3, -95, 0.0, 0.05, 4.9, -60, 0, 0, 0, 1])
        let inv = try #require(a.inverse)
        let p = SIMD3<Double>(12.5, 300.25, 17)
        let back = inv.apply(a.apply(p))
        #expect((back - p).norm < 1e-9)
        #expect(a.concatenating(inv).maxAbsoluteDifference(to: .identity) < 1e-12)
    }

    @Test func singularAffineHasNoInverse() {
        #expect(Affine.scaling(SIMD3(1, 0, 1)).inverse == nil)
    }

    @Test func geometryMapsIndexToWorldAndBack() throws {
        let g = Geometry(size: GridSize(4, 5, 6), spacing: SIMD3(0.5, 0.5, 5), origin: SIMD3(-10, 20, 30))
        #expect(g.world(atIndex: SIMD3(2, 1, 3)) == SIMD3(-9, 20.5, 45))
        let idx = try #require(g.index(atWorld: SIMD3(-9, 20.5, 45)))
        #expect((idx - SIMD3(2, 1, 3)).norm < 1e-12)
        #expect(abs(g.voxelVolumeML - 0.00125) < 1e-15)
    }
}

@Suite struct CaseIDTests {
    @Test(arguments: ["a", "CASE_001", "x.y-z", String(repeating: "a", count: 64)])
    func acceptsValidIdentifiers(_ s: String) { #expect(CaseID(s) != nil) }

    @Test(arguments: ["", "_a", "../etc", "a/b", "a b", "é", String(repeating: "a", count: 65), ".hidden"])
    func rejectsInvalidIdentifiers(_ s: String) {
        #expect(CaseID(s) == nil)
        #expect(CaseID.problem(with: s) != nil)
    }
}

@Suite struct MaskTests {
    @Test func labelMapKeepsHigherValueWhereSubtypesOverlap() {
        let g = Geometry(size: GridSize(2, 2, 1), spacing: SIMD3(1, 1, 1))
        var m = SubtypeMasks(geometry: g)
        var sdh = Mask(geometry: g); sdh[0, 0, 0] = true; sdh[1, 0, 0] = true
        var ivh = Mask(geometry: g); ivh[1, 0, 0] = true
        m[.sdh] = sdh
        m[.ivh] = ivh
        #expect(m.labelMap.voxels == [2, 5, 0, 0])
        let back = SubtypeMasks(labelMap: m.labelMap)
        #expect(back[.sdh].count == 1) // the overlap voxel went to IVH in the single-label map
        #expect(m.presentSubtypes == [.sdh, .ivh])
    }
}

@Suite struct SHA256Tests {
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func knownVectors(_ input: String, _ digest: String) {
        #expect(SHA256.hex(of: Array(input.utf8)) == digest)
    }

    @Test func oneMillionAsInUnevenPieces() {
        var h = SHA256()
        let piece = [UInt8](repeating: 0x61, count: 999)
        for _ in 0..<1001 { h.update(piece) }
        h.update([UInt8](repeating: 0x61, count: 1))
        #expect(h.finalizeHex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func incrementalEqualsOneShot() {
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var h = SHA256()
        h.update(data[0..<7]); h.update(data[7..<200]); h.update(data[200...])
        #expect(h.finalizeHex() == SHA256.hex(of: data))
    }
}
