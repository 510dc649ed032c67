import Foundation
import HemoCore
import Testing
@testable import NIfTI

/// Our reading of nibabel-checked fixtures agrees with nibabel's (expected.json).
@Suite struct FixtureAgreementTests {
    @Test(arguments: Fixtures.all)
    func headerMatchesNibabel(_ expected: FixtureExpectation) throws {
        let header = try NIfTIFile.readHeader(expected.path)
        #expect(header.dimensions == expected.shape)
        #expect(header.voxelType.rawValue == expected.dtype)
        #expect(header.version.rawValue == expected.version)
        #expect(header.byteOrder == (expected.bigEndian ? .bigEndian : .littleEndian))
        #expect(header.qformCode == expected.qformCode)
        #expect(header.sformCode == expected.sformCode)
        #expect(header.scaling?.slope == expected.sclSlope)
        #expect(header.scaling?.intercept == expected.sclInter)
        let nibabel = Affine(rowMajor: expected.affine.flatMap { $0 })
        #expect(header.affine.maxAbsoluteDifference(to: nibabel) <= 1e-5,
                "ours:\n\(header.affine)\nnibabel:\n\(nibabel)")
        #expect(header.isCompressed == expected.file.hasSuffix(".gz"))
    }

    @Test(arguments: Fixtures.all)
    func storedValuesMatchNibabel(_ expected: FixtureExpectation) throws {
        let image = try NIfTIFile.read(expected.path)
        #expect(image.volume.voxelType.rawValue == expected.dtype)
        #expect(image.volume.frames == (expected.shape.count > 3 ? expected.shape[3] : 1))
        let ours = image.volume.doubles
        #expect(ours.count == expected.stored.count)
        let mismatches = zip(ours, expected.stored).filter { !sameValue($0, $1) }.count
        #expect(mismatches == 0)
    }

    @Test(arguments: Fixtures.all)
    func scaledFloat64MatchesNibabelGetFdata(_ expected: FixtureExpectation) throws {
        let volume = try NIfTIFile.readScaled(expected.path, as: Double.self)
        #expect(volume.voxels.count == expected.fdata.count)
        let mismatches = zip(volume.voxels, expected.fdata).filter { !sameValue($0, $1, relative: 1e-12) }.count
        #expect(mismatches == 0)
    }

    @Test(arguments: Fixtures.all)
    func scaledFloat32IsBitIdenticalToNibabel(_ expected: FixtureExpectation) throws {
        let volume = try NIfTIFile.readScaled(expected.path, as: Float.self)
        let bytes = volume.voxels.withUnsafeBytes { Array($0) }
        #expect(SHA256.hex(of: bytes) == expected.fdataFloat32SHA256)
    }

    @Test func readWithApplyScalingGivesFloat32RealValues() throws {
        let expected = Fixtures.named("ct_int16_scaled.nii.gz")
        let image = try NIfTIFile.read(expected.path, options: NIfTIReadOptions(applyScaling: true))
        guard case .float32(let volume) = image.volume else {
            Issue.record("expected float32, got \(image.volume.voxelType)")
            return
        }
        #expect(zip(volume.voxels.map(Double.init), expected.fdata).allSatisfy { sameValue($0, $1, relative: 1e-6) })
        // Unscaled files stay in their stored type.
        let mask = try NIfTIFile.read(Fixtures.path("mask_uint8.nii.gz"), options: NIfTIReadOptions(applyScaling: true))
        #expect(mask.volume.voxelType == .uint8)
    }

    @Test func nonFiniteFloatsSurviveUnlikeLibniftisReader() throws {
        let volume = try NIfTIFile.readScaled(Fixtures.path("float32_nan.nii.gz"), as: Float.self)
        #expect(volume.voxels.filter(\.isNaN).count == 2)
        #expect(volume.voxels.contains(.infinity))
        #expect(volume.voxels.contains(-.infinity))
    }

    @Test func geometryCarriesCodesAndSpacing() throws {
        let header = try NIfTIFile.readHeader(Fixtures.path("no_codes.nii"))
        #expect(header.geometry.qformCode == 0 && header.geometry.sformCode == 0)
        #expect(abs(header.spacing.x - 0.8) < 1e-6 && abs(header.spacing.z - 2.5) < 1e-6)
        // nibabel's fallback flips x and centres the grid.
        #expect(header.affine[0, 0] < 0)
        #expect(header.qform == nil && header.sform == nil)
    }
}
