import Foundation
import HemoCore
@testable import NIfTI
import Testing

/// What `hemo convert` keeps besides voxels and affine, on a file nibabel wrote
/// (scripts/fixtures/make-nifti-fidelity-fixture.py): extents as written with a trailing singleton axis,
/// pixdim[4], units, a stored qform that differs from the sform, and header extensions.
/// scripts/system-tests/36-nifti-fidelity.sh checks the same on nibabel's own test files.
@Suite struct NIfTIFidelityTests {
    static let fixture = "singleton_4d_extensions.nii.gz"

    @Test func readerKeepsExtentsUnitsAndExtensionsAsNibabelReportsThem() throws {
        let image = try NIfTIFile.read(Fixtures.path(Self.fixture))
        let h = image.header
        #expect(h.dimensions == [6, 5, 4, 1])              // nibabel: shape (6, 5, 4, 1)
        #expect(h.pixdim[4] == 2.5)                         // nibabel: zooms[3] 2.5
        #expect(h.xyztUnits == 3 | 16)                      // micron, msec
        #expect(h.qformCode == 2 && h.sformCode == 4)
        #expect(h.extensions.map(\.code) == [6, 4])
        #expect(Array(h.extensions[0].content.prefix(20)) == Array("kept by hemo convert".utf8))
        #expect(h.extensions[0].content.dropFirst(20).allSatisfy { $0 == 0 })
    }

    @Test(arguments: [nil, VoxelType.float64, .float32])
    func convertKeepsThemAll(_ type: VoxelType?) throws {
        let scratch = ScratchDirectory()
        defer { scratch.cleanup() }
        let input = Fixtures.path(Self.fixture)
        let output = scratch.file("out.nii")
        _ = try NIfTIConversion.convert(input: input, output: output, datatype: type, gzipLevel: 1)
        let a = try NIfTIFile.read(input).header, b = try NIfTIFile.read(output).header
        #expect(b.dimensions == a.dimensions)
        #expect(b.pixdim == a.pixdim)
        #expect(b.xyztUnits == a.xyztUnits)
        #expect(b.extensions == a.extensions)
        #expect(b.qformCode == a.qformCode && b.sformCode == a.sformCode)
        #expect(b.quaternion == a.quaternion && b.quaternionOffset == a.quaternionOffset)
        #expect(b.affine.maxAbsoluteDifference(to: a.affine) <= 1e-6)
        #expect(b.voxOffset == 352 + 32 + 32)
        let before = try NIfTIFile.readScaled(input, as: Double.self), after = try NIfTIFile.readScaled(output, as: Double.self)
        #expect(before.voxels == after.voxels)
    }

    @Test func writerRefusesDimensionsThatDoNotFitTheVolume() throws {
        let scratch = ScratchDirectory()
        defer { scratch.cleanup() }
        let volume = try NIfTIFile.readScaled(Fixtures.path(Self.fixture), as: Float.self)
        var options = NIfTIWriteOptions()
        options.dimensions = [6, 5, 4, 2]
        #expect { try NIfTIFile.write(volume, to: scratch.file("x.nii"), options: options) } throws: {
            ($0 as? NIfTIError)?.code == .badDimensions
        }
        options.dimensions = [6, 5, 4, 1, 1]
        try NIfTIFile.write(volume, to: scratch.file("y.nii"), options: options)
        #expect(try NIfTIFile.readHeader(scratch.file("y.nii")).dimensions == [6, 5, 4, 1, 1])
    }
}
