import Foundation
import HemoCore
import Testing
@testable import NIfTI

/// The logic behind `hemo inspect` and `hemo convert`.
@Suite struct CommandSupportTests {
    @Test func libniftiHeaderStructsHaveOnDiskSizes() {
        #expect(HeaderParser.headerStructSizes == (348, 540))
    }

    @Test func inspectReportsScaledStatisticsAndJSONKeys() throws {
        let expected = Fixtures.named("ct_int16_scaled.nii.gz")
        let summary = try NIfTISummary.inspect(expected.path)
        #expect(summary.minimum == expected.fdata.min())
        #expect(summary.maximum == expected.fdata.max())
        let mean = expected.fdata.reduce(0, +) / Double(expected.fdata.count)
        #expect(abs(summary.mean! - mean) < 1e-9 * abs(mean) + 1e-9)
        let object = try JSONSerialization.jsonObject(with: Data(summary.json().utf8)) as! [String: Any]
        for key in ["dims", "datatype", "spacing", "affine", "qform_code", "sform_code", "scl_slope", "scl_inter", "min", "max", "mean"] {
            #expect(object[key] != nil, "missing \(key)")
        }
        #expect(object["dims"] as? [Int] == [7, 6, 5])
        #expect(object["datatype"] as? String == "int16")
        #expect((object["affine"] as? [[Double]])?.count == 4)
        #expect(object["scl_slope"] as? Double == 0.5)
        #expect(summary.text.contains("int16"))
    }

    @Test func inspectIgnoresNaNButCountsIt() throws {
        let expected = Fixtures.named("float32_nan.nii")
        let summary = try NIfTISummary.inspect(expected.path)
        #expect(summary.nonFiniteCount == 4)
        #expect(summary.minimum == expected.fdata.filter(\.isFinite).min())
        let object = try JSONSerialization.jsonObject(with: Data(summary.json().utf8)) as! [String: Any]
        #expect(object["scl_slope"] is NSNull)
    }

    @Test(arguments: [VoxelType.float32, .float64, .int16])
    func convertKeepsRealValuesAndGeometry(_ type: VoxelType) throws {
        let scratch = ScratchDirectory()
        defer { scratch.cleanup() }
        let input = Fixtures.named("bigendian_int16.nii")
        let output = scratch.file("out.nii.gz")
        let report = try NIfTIConversion.convert(input: input.path, output: output, datatype: type, gzipLevel: 1)
        #expect(report.outputType == type)
        let back = try NIfTIFile.readScaled(output, as: Double.self)
        #expect(back.voxels.elementsEqual(input.fdata) { sameValue($0, $1) })
        let header = try NIfTIFile.readHeader(output)
        #expect(header.byteOrder == .littleEndian)
        #expect(header.affine.maxAbsoluteDifference(to: Affine(rowMajor: input.affine.flatMap { $0 })) <= 1e-5)
    }

    @Test func convertRefusesLossyIntegerTargets() throws {
        let scratch = ScratchDirectory()
        defer { scratch.cleanup() }
        let cases: [(String, VoxelType)] = [
            ("ct_int16_scaled.nii.gz", .int32),   // slope 0.5 gives fractional values
            ("float32_nan.nii", .int16),          // NaN
            ("uint16.nii", .uint8),               // out of range
        ]
        for (name, type) in cases {
            #expect { try NIfTIConversion.convert(input: Fixtures.path(name), output: scratch.file("o.nii"), datatype: type) } throws: {
                ($0 as? NIfTIError)?.code == .unrepresentable
            }
        }
        #expect(scratch.contents().isEmpty)
    }

    @Test func ourHeaderMatchesTheOneNibabelWritesForTheSameImage() throws {
        let scratch = ScratchDirectory()
        defer { scratch.cleanup() }
        let url = URL(fileURLWithPath: Fixtures.path("expected.json"))
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let entry = (root["fixtures"] as! [[String: Any]]).first { $0["file"] as? String == "nibabel_written.nii" }!
        let nibabel = entry["raw_header"] as! [String: Any]
        let image = try NIfTIFile.read(Fixtures.path("nibabel_written.nii"))
        let ours = scratch.file("ours.nii")
        try NIfTIFile.write(image.volume, to: ours)
        let bytes = [UInt8](FileManager.default.contents(atPath: ours)!)
        let raw = HeaderParser.decode(bytes, version: .nifti1, byteOrder: .littleEndian)

        func close(_ a: [Double], _ b: [Double], _ tolerance: Double) -> Bool {
            a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance }
        }
        // Same float32 sform rows (the tolerance only absorbs JSON number parsing).
        #expect(close(raw.srow, nibabel["srow"] as! [Double], 1e-12))
        #expect(close(raw.quatern.toArray, nibabel["quatern"] as! [Double], 1e-6))
        #expect(close(raw.qoffset.toArray, nibabel["qoffset"] as! [Double], 1e-12))
        #expect(close(Array(raw.pixdim[0...3]), Array((nibabel["pixdim"] as! [Double])[0...3]), 1e-6))
        #expect(raw.voxOffset == nibabel["vox_offset"] as! Double)
        #expect(raw.bitpix == nibabel["bitpix"] as! Int)
        #expect(raw.qformCode == 1 && raw.sformCode == 1)
    }
}

extension SIMD3 where Scalar == Double {
    var toArray: [Double] { [x, y, z] }
}
