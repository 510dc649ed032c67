import Foundation
import Testing
import DICOM

/// Enhanced CT Image Storage (one multi-frame file, geometry and rescaling in functional groups)
/// against Debian's dcm2niix (scripts/fixtures/make-dicom-enhanced-ct.py, 40×32, 6 frames).
@Suite struct DICOMEnhancedCT {
    /// Shared groups, frames stored top-down; every group per frame with slope 0.5, stored bottom-up.
    @Test(arguments: ["enhanced", "enhanced_perframe"])
    func framesSortedAlongTheNormalEqualDcm2niix(_ name: String) throws {
        try compareWithDcm2niix(name)
    }

    /// dcm2niix reads neither shuffled frames nor multi-fragment JPEG 2000; both hold the voxels
    /// and geometry of "enhanced", so dcm2niix's NIfTI of that study is their reference.
    @Test(arguments: ["enhanced_shuffled", "enhanced_j2k"])
    func shuffledAndCompressedFramesEqualDcm2niixOfTheSameImage(_ name: String) throws {
        try compareWithDcm2niix(name, reference: "enhanced")
    }

    @Test func oneFileOneDigestAndFramesMapToNoSingleInstance() throws {
        let v = try DICOMStudy.read(Fixtures.study("enhanced"))
        #expect(v.volume.size.k == 6 && v.files.count == 1 && v.fileDigests.count == 1)
        #expect(v.selected.images == 6)
        #expect(v.sliceSources.count == 6 && v.sliceSources.allSatisfy { $0 == nil })
    }

    @Test func perFrameGroupsThatDoNotMatchTheFrameCountFailNamingTheFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("enhanced-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.copyItem(atPath: Fixtures.study("enhanced"), toPath: folder)
        let file = try DICOMStudy.files(in: folder)[0]
        var b = Array(FileManager.default.contents(atPath: file)!)
        let at = offset(of: .numberOfFrames, in: b) // IS "6 " → "7 "
        #expect(at > 0 && b[at + 8] == UInt8(ascii: "6"))
        b[at + 8] = UInt8(ascii: "7")
        try Data(b).write(to: URL(fileURLWithPath: file))
        #expect { try DICOMStudy.read(folder) } throws: { e in
            let e = e as! DICOMError
            return e.path == file && e.reason.contains("6 items for 7 frames")
        }
    }
}
