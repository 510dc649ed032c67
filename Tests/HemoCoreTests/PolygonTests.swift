import Foundation
import Testing
import HemoCore

@Suite struct PolygonTests {
    /// A deterministic pseudo-random slice with blobs, holes and diagonal-only contacts.
    func blobSlice(width: Int, height: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        func next() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53)
        }
        var s = [UInt8](repeating: 0, count: width * height)
        for _ in 0..<6 {
            let cx = next() * Double(width), cy = next() * Double(height)
            let r = 2 + next() * Double(min(width, height)) / 4
            let hole = next() < 0.5 ? r * 0.4 : 0
            for j in 0..<height {
                for i in 0..<width {
                    let d = ((Double(i) - cx) * (Double(i) - cx) + (Double(j) - cy) * (Double(j) - cy)).squareRoot()
                    if d < r && d >= hole { s[j * width + i] = 1 }
                }
            }
        }
        // Sprinkle single pixels, some touching others only at corners.
        for _ in 0..<40 { s[Int(next() * Double(width * height))] = 1 }
        s[0] = 1; s[width + 1] = 1 // a diagonal pair at the border
        return s
    }

    @Test(arguments: [UInt64(1), 2, 3, 4, 5])
    func tracedPolygonsRasteriseBackExactly(seed: UInt64) {
        let width = 61, height = 47
        let slice = blobSlice(width: width, height: height, seed: seed)
        var union = [UInt8](repeating: 0, count: width * height)
        for rings in PolygonTracer.components(of: slice, width: width, height: height) {
            PolygonAnnotation(slice: 0, subtype: .iph, rings: rings).rasterize(into: &union, width: width, height: height)
        }
        #expect(union == slice)
    }

    @Test func aRingInsideARingIsAHole() {
        let outer = [PolygonPoint(x: -0.5, y: -0.5), PolygonPoint(x: 4.5, y: -0.5), PolygonPoint(x: 4.5, y: 4.5), PolygonPoint(x: -0.5, y: 4.5)]
        let hole = [PolygonPoint(x: 0.5, y: 0.5), PolygonPoint(x: 3.5, y: 0.5), PolygonPoint(x: 3.5, y: 3.5), PolygonPoint(x: 0.5, y: 3.5)]
        let raster = PolygonAnnotation(slice: 0, subtype: .sdh, rings: [outer, hole]).rasterize(width: 5, height: 5)
        let expected: [UInt8] = [1, 1, 1, 1, 1,
                                 1, 0, 0, 0, 1,
                                 1, 0, 0, 0, 1,
                                 1, 0, 0, 0, 1,
                                 1, 1, 1, 1, 1]
        #expect(raster == expected)
    }

    @Test func centresOnLeftAndTopEdgesAreInsideOnRightAndBottomOutside() {
        // Square with corners exactly on pixel centres (1,1)-(3,3).
        let ring = [PolygonPoint(x: 1, y: 1), PolygonPoint(x: 3, y: 1), PolygonPoint(x: 3, y: 3), PolygonPoint(x: 1, y: 3)]
        let raster = PolygonAnnotation(slice: 0, subtype: .eph, rings: [ring]).rasterize(width: 5, height: 5)
        var expected = [UInt8](repeating: 0, count: 25)
        for j in 1...2 { for i in 1...2 { expected[j * 5 + i] = 1 } }
        #expect(raster == expected)
    }

    @Test func documentRoundTripsThroughJSONAndMasks() throws {
        let geometry = Geometry(size: GridSize(20, 16, 3), spacing: SIMD3(1, 1, 5))
        var masks = SubtypeMasks(geometry: geometry)
        var sdh = Mask(geometry: geometry), sah = Mask(geometry: geometry)
        for j in 2..<9 { for i in 3..<(6 + j) { sdh[i, j, 1] = true } }
        sdh[10, 12, 2] = true
        for i in 0..<20 { sah[i, 15, 0] = true }
        masks[.sdh] = sdh
        masks[.sah] = sah
        let document = PolygonDocument(tracing: masks, caseID: "case_007")
        let decoded = try JSONDecoder().decode(PolygonDocument.self, from: Data(document.jsonText().utf8))
        #expect(decoded == document)
        #expect(try decoded.masks(geometry: geometry) == masks)
    }

    @Test func mismatchedGridsAndSlicesAreRejectedWithAReason() throws {
        let geometry = Geometry(size: GridSize(8, 8, 2), spacing: SIMD3(1, 1, 1))
        let square = [[PolygonPoint(x: 0, y: 0), PolygonPoint(x: 2, y: 0), PolygonPoint(x: 2, y: 2)]]
        let wrongGrid = PolygonDocument(caseID: "c1", width: 9, height: 8, slices: 2, annotations: [])
        #expect(throws: PolygonError.self) { try wrongGrid.masks(geometry: geometry) }
        let wrongSlice = PolygonDocument(caseID: "c1", width: 8, height: 8, slices: 2,
                                         annotations: [PolygonAnnotation(slice: 2, subtype: .ivh, rings: square)])
        do {
            _ = try wrongSlice.masks(geometry: geometry)
            Issue.record("slice 2 of 2 should be rejected")
        } catch {
            #expect(error.reason.contains("slice 2"))
        }
        let badJSON = #"{"format":"hemocluster-polygons","version":1,"case":"c","width":8,"height":8,"slices":2,"annotations":[{"slice":0,"subtype":"XYZ","rings":[]}]}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(PolygonDocument.self, from: Data(badJSON.utf8)) }
    }
}
