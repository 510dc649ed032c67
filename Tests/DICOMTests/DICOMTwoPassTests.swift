import Foundation
import Testing
import DICOM

/// The two-pass study read: headers first (a prefix of each file, up to Pixel Data), then each
/// file read whole, hashed and decoded. The fixtures are small, so they are read whole in the
/// first pass by default; a 2 KiB prefix makes their headers fit while their pixels do not.
@Suite struct DICOMTwoPassRead {
    static func prefixOptions() -> DICOMReadOptions {
        var o = DICOMReadOptions()
        o.headerBytes = 2048
        return o
    }

    @Test(arguments: ["axial", "oblique", "flipped", "implicit", "bigendian", "deflated", "rle", "jpeg2000", "jpeg_lossless",
                      "jpeg_ls", "jpeg_baseline", "unsigned_slope", "multiseries", "padded", "quirk12", "tilted", "uneven",
                      "enhanced", "enhanced_perframe", "enhanced_j2k"])
    func headerOnlyFirstPassGivesTheSameVolumeAndDigests(_ name: String) throws {
        let whole = try DICOMStudy.read(Fixtures.study(name))
        let twoPass = try DICOMStudy.read(Fixtures.study(name), options: Self.prefixOptions())
        #expect(whole.volume.voxels == twoPass.volume.voxels && whole.volume.geometry == twoPass.volume.geometry, "\(name)")
        #expect(whole.fileDigests.map(\.sha256) == twoPass.fileDigests.map(\.sha256), "\(name)")
        #expect(whole.sliceSources == twoPass.sliceSources && whole.notes == twoPass.notes && whole.series == twoPass.series)
        #expect(!twoPass.fileDigests.contains { $0.sha256.count != 64 }, "\(name): a file was not hashed")
    }

    @Test func theFirstPassKeepsOnlyHeadersWhenTheyFit() throws {
        let slices = try DICOMStudy.scan(Fixtures.study("axial"), headerBytes: 2048)
        #expect(!slices.isEmpty && slices.allSatisfy { $0.dataSet.isHeaderOnly && $0.sha256.isEmpty })
        #expect(slices.allSatisfy { $0.dataSet.contains(.pixelData) && $0.rows > 0 })
        // A header longer than the prefix gets one more try with a 16 times longer prefix: the
        // enhanced fixture's 2 KiB header (functional groups) in a 17 KiB file.
        let enhanced = try DICOMStudy.scan(Fixtures.study("enhanced"), headerBytes: 256)
        #expect(enhanced.count == 6 && enhanced.allSatisfy { $0.dataSet.isHeaderOnly && $0.sha256.isEmpty })
        var o = DICOMReadOptions(); o.headerBytes = 256
        let a = try DICOMStudy.read(Fixtures.study("enhanced"), options: o), b = try DICOMStudy.read(Fixtures.study("enhanced"))
        #expect(a.volume.voxels == b.volume.voxels && a.fileDigests.map(\.sha256) == b.fileDigests.map(\.sha256))
        // Deflated files cannot be parsed from a prefix: read whole (and hashed) in the first pass.
        let deflated = try DICOMStudy.scan(Fixtures.study("deflated"), headerBytes: 2048)
        #expect(deflated.allSatisfy { !$0.dataSet.isHeaderOnly && $0.sha256.count == 64 })
    }

    /// A file whose header is intact but whose pixel data is cut short fails the study in the
    /// second pass, naming the file, as when it is read whole.
    @Test func pixelDataCutShortAfterAnIntactHeaderFailsNamingTheFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("twopass-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.copyItem(atPath: Fixtures.study("axial"), toPath: folder)
        let files = try DICOMStudy.files(in: folder)
        let b = Array(FileManager.default.contents(atPath: files[4])!)
        try Data(b.prefix(b.count - 700)).write(to: URL(fileURLWithPath: files[4]))
        for options in [DICOMReadOptions(), Self.prefixOptions()] {
            #expect { try DICOMStudy.read(folder, options: options) } throws: { e in
                let e = e as! DICOMError
                return e.path == files[4] && e.reason.contains("remain")
            }
        }
    }

    /// A broken file outside the selected series still fails the study, and wins over a reason
    /// found in the headers (as when every file is read whole first).
    @Test func aBrokenFileWinsOverAHeaderReasonInBothModes() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("twopass-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.copyItem(atPath: Fixtures.study("multiseries"), toPath: folder)
        let files = try DICOMStudy.files(in: folder)
        let b = Array(FileManager.default.contents(atPath: files[0])!)
        try Data(b.prefix(b.count - 100)).write(to: URL(fileURLWithPath: files[0]))
        var strictThin = Self.prefixOptions()
        strictThin.rules = SeriesSelectionRules(thickness: 100...200) // no series qualifies
        for var options in [DICOMReadOptions(), Self.prefixOptions(), strictThin] {
            options.threads = 2
            #expect { try DICOMStudy.read(folder, options: options) } throws: { e in
                (e as! DICOMError).path == files[0]
            }
        }
    }
}
