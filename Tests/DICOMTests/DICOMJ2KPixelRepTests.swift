import Foundation
import Testing
import DICOM

/// JPEG 2000 codestreams whose signedness contradicts Pixel Representation (issue #17): Pixel
/// Representation wins and the decoded samples are reinterpreted over the codestream precision, as
/// pydicom does (`APPLY_J2K_CORRECTIONS`). Fixtures and pydicom's values:
/// scripts/fixtures/make-j2k-pixelrep-fixtures.py.
@Suite struct DICOMJ2KPixelRepresentation {
    static func file(_ name: String) -> String { Fixtures.directory + "/j2k_pixelrep/" + name }

    /// pydicom's pixel_array (int32 little endian, rows then columns).
    static func pydicomValues(_ name: String) throws -> [Int32] {
        let d = try Data(contentsOf: URL(fileURLWithPath: file(name + ".pydicom.i32")))
        let bytes = [UInt8](d)
        return stride(from: 0, to: bytes.count, by: 4).map { (i: Int) -> Int32 in
            var u = UInt32(bytes[i])
            u |= UInt32(bytes[i + 1]) << 8
            u |= UInt32(bytes[i + 2]) << 16
            u |= UInt32(bytes[i + 3]) << 24
            return Int32(bitPattern: u)
        }
    }

    @Test(arguments: [("signed_as_unsigned", Int32(-2000), Int32(1896)), ("unsigned_as_signed", Int32(0), Int32(4095))])
    func storedValuesEqualPydicom(_ name: String, _ low: Int32, _ high: Int32) throws {
        let ds = try DICOMParser.parse(contentsOf: Self.file(name + ".dcm"))
        let ours = try PixelDecoder.storedValues(ds, format: PixelFormat(ds))
        let theirs = try Self.pydicomValues(name)
        #expect(ours.count == theirs.count && ours.count == 40 * 32)
        let differing = zip(ours, theirs).filter { $0 != $1 }.count
        #expect(differing == 0, "\(name): \(differing) values differ from pydicom's")
        #expect(ours.min() == low && ours.max() == high, "\(name): \(ours.min()!)...\(ours.max()!)")
    }
}
