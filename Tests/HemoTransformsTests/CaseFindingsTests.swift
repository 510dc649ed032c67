import HemoCore
import Testing
@testable import HemoTransforms

/// A 10×8×4 grid at 0.5×0.5×5 mm, origin (-2, 3, 10), with three lesions:
/// - SDH: a 2×2 square in slices 1 and 2 at (1...2, 1...2) (one 3D lesion, two 2D boxes), plus a single
///   voxel at (9, 7, 3) (a second 3D lesion, a third 2D box);
/// - IPH: a diagonal pair (5, 5, 1) & (6, 6, 1) (one 8-connected 2D box) and (5, 5, 2) overlapping nothing;
///   all three touch, so one 3D lesion;
/// - IPH also overlaps SDH at (2, 2, 1): both subtypes report it.
private func sampleMasks() -> SubtypeMasks {
    let geometry = Geometry(size: GridSize(10, 8, 4), spacing: SIMD3(0.5, 0.5, 5), origin: SIMD3(-2, 3, 10))
    var masks = SubtypeMasks(geometry: geometry)
    var sdh = Mask(geometry: geometry)
    for k in 1...2 { for j in 1...2 { for i in 1...2 { sdh[i, j, k] = true } } }
    sdh[9, 7, 3] = true
    var iph = Mask(geometry: geometry)
    iph[5, 5, 1] = true; iph[6, 6, 1] = true; iph[5, 5, 2] = true
    iph[2, 2, 1] = true
    masks[.sdh] = sdh
    masks[.iph] = iph
    return masks
}

@Test func sliceAndPatientLabelsFollowTheMasks() {
    let f = CaseFindings.analyse(sampleMasks())
    #expect(f.slices.map(\.slice) == [0, 1, 2, 3])
    #expect(f.slices.map(\.any) == [false, true, true, true])
    #expect(f.slices[1].subtypes == [.sdh, .iph])
    #expect(f.slices[3].subtypes == [.sdh])
    #expect(f.patient.subtypes == [.sdh, .iph])
    #expect(f.patient.slices == 4 && f.patient.positiveSlices == 3)
    #expect(f.patient.voxels[.sdh] == 9 && f.patient.voxels[.iph] == 4 && f.patient.voxels[.eph] == 0)
    #expect(abs(f.patient.ml[.sdh]! - 9 * 1.25 / 1000) < 1e-15)
}

@Test func boxesAreOrderedBySliceSubtypeAndComponent() {
    let f = CaseFindings.analyse(sampleMasks())
    let rows = f.lesions2D.map { "\($0.slice) \($0.subtype) \($0.box.xMin),\($0.box.yMin),\($0.box.xMax),\($0.box.yMax) \($0.pixels)" }
    #expect(rows == [
        "1 SDH 1,1,3,3 4",
        "1 IPH 2,2,3,3 1",
        "1 IPH 5,5,7,7 2",
        "2 SDH 1,1,3,3 4",
        "2 IPH 5,5,6,6 1",
        "3 SDH 9,7,10,8 1",
    ])
    // Membership offsets are volume offsets of exactly the component's pixels.
    let size = f.geometry.size
    #expect(f.lesions2D[2].offsets == [size.offset(5, 5, 1), size.offset(6, 6, 1)])
    let probabilities = (0..<size.count).map { Float($0 % 7) / 10 }
    let expectedMean = (Double(probabilities[size.offset(5, 5, 1)]) + Double(probabilities[size.offset(6, 6, 1)])) / 2
    #expect(f.lesions2D[2].mean(of: probabilities) == expectedMean)
}

@Test func lesionsAreNumberedBySubtypeWithWorldCentroids() {
    let f = CaseFindings.analyse(sampleMasks())
    #expect(f.lesions3D.map(\.index) == [1, 2, 3, 4])
    #expect(f.lesions3D.map(\.subtype) == [.sdh, .sdh, .iph, .iph])
    #expect(f.lesions3D.map(\.voxels) == [8, 1, 1, 3])
    let square = f.lesions3D[0]
    #expect(square.box == BoundingBox3D(min: SIMD3(1, 1, 1), max: SIMD3(3, 3, 3)))
    #expect(square.centroidIndex == SIMD3(1.5, 1.5, 1.5))
    #expect(square.centroidWorld == SIMD3(-2 + 0.75, 3 + 0.75, 10 + 7.5))
    #expect(abs(square.ml - 8 * 0.00125) < 1e-15)
    // IPH: the isolated overlap voxel (2, 2, 1) comes first in memory order, then the diagonal trio.
    #expect(f.lesions3D[2].box == BoundingBox3D(min: SIMD3(2, 2, 1), max: SIMD3(3, 3, 2)))
    #expect(f.lesions3D[3].box == BoundingBox3D(min: SIMD3(5, 5, 1), max: SIMD3(7, 7, 3)))
}

@Test("findings do not depend on the thread count", arguments: [2, 3, 8])
func findingsIgnoreThreadCount(threads: Int) {
    #expect(CaseFindings.analyse(sampleMasks(), threads: threads) == CaseFindings.analyse(sampleMasks(), threads: 1))
}

@Test func emptyMasksGiveNegativeLabelsOnly() {
    let f = CaseFindings.analyse(SubtypeMasks(geometry: Geometry(size: GridSize(3, 3, 2), spacing: SIMD3(1, 1, 1))))
    #expect(f.slices.count == 2 && f.slices.allSatisfy { !$0.any })
    #expect(f.lesions2D.isEmpty && f.lesions3D.isEmpty)
    #expect(!f.patient.any && f.patient.positiveSlices == 0 && f.patient.ml[.ivh] == 0)
}
