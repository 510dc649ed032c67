import Foundation
import Testing
import DICOM

/// Series selection with lossy-compressed archives: DCMTK's dcmcjpeg marks the images it
/// lossy-compresses DERIVED (Image Type value 1), sets Lossy Image Compression to "01" and writes
/// "Lossy compression with JPEG baseline, …" as Derivation Description. Such a series is still the
/// original acquisition and is selected; other DERIVED series are not. The fixture "jpeg_baseline"
/// is dcmcjpeg's output with its Image Type set back to ORIGINAL; these tests make it DERIVED again.
@Suite struct DICOMLossyDerivedSelection {
    /// A copy of `study` with `edit` applied to every file's bytes.
    func copy(_ study: String, _ edit: (inout [UInt8]) -> Void) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lossy-\(UUID().uuidString)").path
        try FileManager.default.copyItem(atPath: Fixtures.study(study), toPath: folder)
        for f in try DICOMStudy.files(in: folder) {
            var b = Array(FileManager.default.contents(atPath: f)!)
            edit(&b)
            try Data(b).write(to: URL(fileURLWithPath: f))
        }
        return folder
    }

    /// Replaces the first occurrence of `old` in the value of `tag` by `new` (same length).
    func replace(_ b: inout [UInt8], in tag: DICOMTag, _ old: String, _ new: String) {
        let at = offset(of: tag, in: b)
        precondition(at > 0 && old.utf8.count == new.utf8.count)
        let len = Int(b[at + 6]) | Int(b[at + 7]) << 8
        let o = Array(old.utf8)
        for i in (at + 8)..<(at + 8 + len - o.count + 1) where Array(b[i..<(i + o.count)]) == o {
            b.replaceSubrange(i..<(i + o.count), with: Array(new.utf8))
            return
        }
        preconditionFailure("\(old) not in \(tag)")
    }

    @Test func aLossyCompressedSeriesMarkedDerivedIsSelectedWithTheSameVoxels() throws {
        let folder = try copy("jpeg_baseline") { replace(&$0, in: .imageType, "ORIGINAL", "DERIVED ") }
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let v = try DICOMStudy.read(folder)
        #expect(v.selected.imageType == "DERIVED\\PRIMARY\\AXIAL")
        // The voxels are those dcm2niix gives after DCMTK's decoder (as for the ORIGINAL copy).
        let original = try DICOMStudy.read(Fixtures.study("jpeg_baseline"))
        #expect(v.volume.voxels == original.volume.voxels && v.volume.geometry == original.volume.geometry)
        try compareWithDcm2niix("jpeg_baseline")
    }

    @Test func derivedWithoutLossyCompressionIsStillSkipped() throws {
        let folder = try copy("axial") { replace(&$0, in: .imageType, "ORIGINAL", "DERIVED ") }
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect { try DICOMStudy.read(folder) } throws: { e in
            (e as! DICOMError).reason.contains("not ORIGINAL\\PRIMARY (DERIVED\\PRIMARY\\AXIAL)")
        }
    }

    @Test func lossyDerivedSeriesThatAreNotOnlyCompressedAreSkipped() throws {
        // A reformat that was also lossy-compressed: its derivation is not compression alone.
        let reformat = try copy("jpeg_baseline") {
            replace(&$0, in: .imageType, "ORIGINAL", "DERIVED ")
            replace(&$0, in: .derivationDescription, "compression", "reformatted")
        }
        // A secondary image (value 2 not PRIMARY).
        let secondary = try copy("jpeg_baseline") { replace(&$0, in: .imageType, "ORIGINAL\\PRIMARY", "DERIVED \\OTHER  ") }
        defer { for f in [reformat, secondary] { try? FileManager.default.removeItem(atPath: f) } }
        for folder in [reformat, secondary] {
            #expect { try DICOMStudy.read(folder) } throws: { e in
                (e as! DICOMError).reason.contains("not only lossy-compressed")
            }
        }
    }
}
