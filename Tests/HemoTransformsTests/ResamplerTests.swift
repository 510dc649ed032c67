import HemoCore
import Testing
@testable import HemoTransforms

/// A deterministic pseudo-random CT-like volume (xorshift), flipped in-plane like a typical DICOM-derived NIfTI.
private func randomCT(_ size: GridSize, spacing: SIMD3<Double>, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> Volume<Int16> {
    var state = seed
    let voxels = (0..<size.count).map { _ -> Int16 in
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        return Int16(truncatingIfNeeded: Int(state % 2400) - 1024)
    }
    let affine = Affine(rowMajor: [-spacing.x, 0, 0, 90, 0, -spacing.y, 0, 110, 0, 0, spacing.z, -40, 0, 0, 0, 1])
    return Volume(geometry: Geometry(size: size, spacing: spacing, affine: affine), voxels: voxels)
}

@Test("results are bit-identical for any thread count", arguments: Interpolation.allCases)
func resamplingIgnoresThreadCount(_ interpolation: Interpolation) throws {
    let v = randomCT(GridSize(37, 29, 11), spacing: SIMD3(0.45, 0.45, 5))
    let target = SIMD3(0.8, 1.1, 1.7)
    let one = try Resampler.resample(v, toSpacing: target, interpolation: interpolation, threads: 1)
    let oneFloat = try Resampler.resampleToFloat(v, toSpacing: target, interpolation: interpolation, threads: 1)
    for threads in [2, 3, 8] {
        #expect(try Resampler.resample(v, toSpacing: target, interpolation: interpolation, threads: threads) == one)
        let f = try Resampler.resampleToFloat(v, toSpacing: target, interpolation: interpolation, threads: threads)
        #expect(f.voxels.map(\.bitPattern) == oneFloat.voxels.map(\.bitPattern))
    }
}

@Test("resampling to the same spacing reproduces the input", arguments: Interpolation.allCases)
func identityResamplingKeepsVoxels(_ interpolation: Interpolation) throws {
    let v = randomCT(GridSize(13, 9, 6), spacing: SIMD3(0.7, 0.7, 3))
    let f = try Resampler.resampleToFloat(v, toSpacing: v.geometry.spacing, interpolation: interpolation)
    #expect(f.geometry.size == v.geometry.size)
    #expect(f.geometry.affine.maxAbsoluteDifference(to: v.geometry.affine) < 1e-12)
    // The cubic B-spline interpolates its samples (after the prefilter) up to the filter's 1e-10 tolerance.
    let worst = zip(f.voxels, v.voxels).map { abs(Double($0) - Double($1)) }.max() ?? 0
    #expect(interpolation == .bspline ? worst < 1e-3 : worst == 0)
}

@Test func targetGridUsesSchoolbookRoundingAndKeepsOrigin() throws {
    // 23 · 0.45 / 0.9 = 11.5 → 12; 7 · 5 / 3 = 11.67 → 12; 19 · 0.45 / 1 = 8.55 → 9.
    let g = Geometry(size: GridSize(23, 19, 7), spacing: SIMD3(0.45, 0.45, 5),
                     affine: Affine(rowMajor: [-0.45, 0, 0, 12, 0, -0.45, 0, -7, 0, 0, 5, 31, 0, 0, 0, 1]))
    let plan = try ResamplePlan(source: g, targetSpacing: SIMD3(0.9, 1, 3))
    #expect(plan.target.size == GridSize(12, 9, 12))
    #expect(plan.target.affine == Affine(rowMajor: [-0.9, 0, 0, 12, 0, -1, 0, -7, 0, 0, 3, 31, 0, 0, 0, 1]))
    #expect(plan.target.spacing == SIMD3(0.9, 1, 3))
}

@Test func invalidSpacingsAreRejected() {
    let v = randomCT(GridSize(4, 4, 2), spacing: SIMD3(1, 1, 1))
    #expect(throws: TransformError.invalidTargetSpacing(SIMD3(1, 0, 1))) {
        try Resampler.resample(v, toSpacing: SIMD3(1, 0, 1))
    }
    #expect(throws: TransformError.self) { try Resampler.resample(v, toSpacing: SIMD3(1, .nan, 1)) }
    let tooLarge = #expect(throws: TransformError.self) { try Resampler.resample(v, toSpacing: SIMD3(1e-30, 1e-30, 1)) }
    guard case .targetGridTooLarge(let voxels, _) = tooLarge else {
        Issue.record("expected targetGridTooLarge, got \(String(describing: tooLarge))")
        return
    }
    #expect(voxels > 1e60)
    var bad = v
    bad.geometry.spacing = SIMD3(1, -1, 1)
    #expect(throws: TransformError.invalidSourceSpacing(SIMD3(1, -1, 1))) {
        try Resampler.resample(bad, toSpacing: SIMD3(1, 1, 1))
    }
}

@Test func int16OutputTruncatesTowardZeroAndFillsOutside() throws {
    // Two voxels along i: -3 and 10; halfway along i at spacing 0.5 gives 3.5 → 3; the last target voxel
    // sits at source index 1.5, outside [-0.5, 1.5), so it takes the fill.
    let g = Geometry(size: GridSize(2, 1, 1), spacing: SIMD3(1, 1, 1))
    let v = Volume<Int16>(geometry: g, voxels: [-3, 10])
    let r = try Resampler.resample(v, toSpacing: SIMD3(0.5, 1, 1), interpolation: .linear, fill: -1024)
    #expect(r.voxels == [-3, 3, 10, -1024])
    let f = try Resampler.resampleToFloat(v, toSpacing: SIMD3(0.5, 1, 1), interpolation: .linear, fill: -1024)
    #expect(f.voxels == [-3, 3.5, 10, -1024])
    let negative = Volume<Int16>(geometry: g, voxels: [-10, 3])
    #expect(try Resampler.resample(negative, toSpacing: SIMD3(0.5, 1, 1)).voxels[1] == -3)  // -3.5 → -3
}

@Test func framesAreResampledAlike() throws {
    let v = randomCT(GridSize(6, 5, 4), spacing: SIMD3(1, 1, 2))
    let twoFrames = Volume(geometry: v.geometry, frames: 2, voxels: v.voxels + v.voxels.map { $0 / 2 })
    let r = try Resampler.resample(twoFrames, toSpacing: SIMD3(0.7, 1.3, 1))
    let first = try Resampler.resample(v, toSpacing: SIMD3(0.7, 1.3, 1))
    let second = try Resampler.resample(Volume(geometry: v.geometry, voxels: v.voxels.map { $0 / 2 }), toSpacing: SIMD3(0.7, 1.3, 1))
    #expect(r.frames == 2)
    #expect(r.voxels == first.voxels + second.voxels)
}

@Test("a single-slice volume resamples in plane", arguments: Interpolation.allCases)
func singleSliceVolumeResamples(_ interpolation: Interpolation) throws {
    let v = randomCT(GridSize(9, 7, 1), spacing: SIMD3(0.5, 0.5, 5))
    let r = try Resampler.resampleToFloat(v, toSpacing: SIMD3(1, 1, 5), interpolation: interpolation)
    #expect(r.geometry.size == GridSize(5, 4, 1))
    // Target (1, 1, 0) sits exactly on source (2, 2, 0).
    #expect(abs(Double(r[1, 1, 0]) - Double(v[2, 2, 0])) < (interpolation == .bspline ? 1e-3 : 1e-12))
}
