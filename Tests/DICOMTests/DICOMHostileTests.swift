import Foundation
import Testing
import DICOM
import HemoCore
import HemoRelease

/// The first image file of a fixture study (path order).
func firstFile(_ study: String) throws -> (path: String, bytes: [UInt8]) {
    let p = try DICOMStudy.files(in: Fixtures.study(study))[0]
    return (p, Array(FileManager.default.contents(atPath: p)!))
}

/// The byte offset of `tag`'s header in an explicit little-endian file.
func offset(of tag: DICOMTag, in b: [UInt8]) -> Int {
    let g = tag.group, e = tag.element
    let needle: [UInt8] = [UInt8(g & 0xFF), UInt8(g >> 8), UInt8(e & 0xFF), UInt8(e >> 8)]
    for i in 132..<(b.count - 4) where Array(b[i..<(i + 4)]) == needle { return i }
    return -1
}

func expectDICOMError(_ bytes: [UInt8], name: String = "hostile.dcm", containing words: [String]) {
    do {
        let ds = try DICOMParser.parse(bytes, path: name)
        let f = try PixelFormat(ds)
        _ = try PixelDecoder.storedValues(ds, format: f)
        Issue.record("\(words) was accepted")
    } catch {
        #expect(error.path == name)
        for w in words { #expect(error.reason.contains(w), "'\(error.reason)' lacks '\(w)'") }
    }
}

@Suite struct HostileDICOM {
    @Test(arguments: [0, 64, 131, 140, 300, 600, 2000])
    func aTruncatedFileIsRefusedNamingIt(_ keep: Int) throws {
        let (_, b) = try firstFile("axial")
        let cut = Array(b.prefix(keep))
        do {
            let ds = try DICOMParser.parse(cut, path: "cut.dcm")
            let f = try PixelFormat(ds)
            _ = try PixelDecoder.storedValues(ds, format: f)
            Issue.record("a file cut to \(keep) bytes was accepted")
        } catch {
            #expect(error.path == "cut.dcm")
            #expect(!error.reason.isEmpty)
        }
    }

    @Test func anAbsurdElementLengthIsRefused() throws {
        var (_, b) = try firstFile("axial")
        let at = offset(of: .pixelData, in: b) // OW: 2 reserved bytes, then a 32-bit length
        #expect(at > 0)
        for k in 0..<4 { b[at + 8 + k] = 0xF0 }
        expectDICOMError(b, containing: ["claims", "remain"])
    }

    @Test func anInvalidVRIsRefused() throws {
        var (_, b) = try firstFile("axial")
        let at = offset(of: .rows, in: b)
        b[at + 4] = 0x75; b[at + 5] = 0x73 // "us"
        expectDICOMError(b, containing: ["invalid VR"])
    }

    @Test func aNumberWithTheWrongLengthForItsVRIsRefused() throws {
        var (_, b) = try firstFile("axial")
        let at = offset(of: .rows, in: b) // US, length 2
        b[at + 6] = 3
        expectDICOMError(b, containing: ["VR US", "not a multiple of 2"])
    }

    @Test func missingPixelDataIsRefused() throws {
        let (_, b) = try firstFile("axial")
        let at = offset(of: .pixelData, in: b)
        expectDICOMError(Array(b[..<at]), containing: ["no Pixel Data"])
    }

    @Test func shortPixelDataIsRefused() throws {
        var (_, b) = try firstFile("axial")
        let at = offset(of: .pixelData, in: b)
        b = Array(b[..<(at + 12 + 100)])
        for k in 0..<4 { b[at + 8 + k] = k == 0 ? 100 : 0 }
        expectDICOMError(b, containing: ["Pixel Data holds 100 bytes"])
    }

    @Test func aStudyMixingImageSizesOrOrientationsFailsNamingTheFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mixed-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.copyItem(atPath: Fixtures.study("axial"), toPath: folder)
        let files = try DICOMStudy.files(in: folder)
        // Change one file's Columns (40 → 39) and its pixel data length stays: a mixed size.
        var b = Array(FileManager.default.contents(atPath: files[3])!)
        let at = offset(of: .columns, in: b)
        b[at + 8] = 39
        try Data(b).write(to: URL(fileURLWithPath: files[3]))
        #expect { try DICOMStudy.read(folder) } throws: { e in
            let e = e as! DICOMError
            return e.reason.contains("mixed image sizes") && (e.path == files[3] || e.reason.contains(files[3]))
        }
        // Restore it and tilt another file's orientation instead.
        try FileManager.default.removeItem(atPath: folder)
        try FileManager.default.copyItem(atPath: Fixtures.study("axial"), toPath: folder)
        var c = Array(FileManager.default.contents(atPath: files[5])!)
        let o = offset(of: .imageOrientationPatient, in: c)
        let len = Int(c[o + 6]) | Int(c[o + 7]) << 8
        let text = Array("0.99\\0.1\\0\\0\\1\\0".utf8)
        var value = text + [UInt8](repeating: 0x20, count: max(0, len - text.count))
        value = Array(value.prefix(len))
        c.replaceSubrange((o + 8)..<(o + 8 + len), with: value)
        try Data(c).write(to: URL(fileURLWithPath: files[5]))
        #expect { try DICOMStudy.read(folder) } throws: { e in
            let e = e as! DICOMError
            return e.reason.contains("mixed orientations") && (e.path == files[5] || e.reason.contains(files[5]))
        }
    }

    @Test func aHostileExamFailsAloneInABuild() throws {
        let c = try DICOMCohort(["good": "axial", "broken": "implicit"])
        defer { c.remove() }
        let files = try DICOMStudy.files(in: c.cohort + "/broken")
        let b = Array(FileManager.default.contents(atPath: files[2])!)
        try Data(b.prefix(b.count / 2)).write(to: URL(fileURLWithPath: files[2]))
        let out = c.root + "/release"
        let s = try ReleaseBuilder(options: ReleaseOptions(), threads: 2, force: false).build(cohort: try Cohort.open(c.cohort), destination: out)
        #expect(s.cases == 1)
        #expect(s.failures.count == 1)
        let f = s.failures[0]
        #expect(f.caseName == "broken" && f.stage == "read")
        let rel = String(files[2].dropFirst((c.cohort + "/").count))
        #expect(f.reason.contains(rel), "\(f.reason) does not name \(rel)")
        #expect(try ReleaseVerifier().verify(out).ok)
    }

    // (JPEG 2000 is left out: OpenJPEG decodes some damaged or truncated codestreams without an error.)
    @Test(arguments: [("jpeg_ls", "JPEG-LS"), ("jpeg_baseline", "JPEG (lossy)")])
    func corruptCompressedFramesFailNamingTheFileAndTheCodec(_ study: String, _ codec: String) throws {
        let path = try DICOMStudy.files(in: Fixtures.study(study))[0]
        for mode in ["zeros", "markers", "cut"] {
            var ds = try DICOMParser.parse(contentsOf: path)
            let frag = ds.elements[.pixelData]!.fragments![0]
            let mid = frag.lowerBound + frag.count / 2
            switch mode {
            case "zeros": for i in (frag.lowerBound + frag.count / 3)..<(frag.upperBound - 2) { ds.bytes[i] = 0 }
            case "markers": for i in mid..<(mid + 8) { ds.bytes[i] = 0xFF }
            default: ds.elements[.pixelData]!.fragments = [frag.lowerBound..<mid] // the end of the stream lost
            }
            do {
                let f = try PixelFormat(ds)
                _ = try PixelDecoder.storedValues(ds, format: f)
                Issue.record("\(study) (\(mode)): a corrupt \(codec) frame decoded")
            } catch {
                #expect(error.path == path && error.reason.contains(codec), "\(study) (\(mode)): \(error)")
            }
        }
    }

    @Test func fuzzedFilesNeverCrashAndEveryErrorNamesItsFile() throws {
        var seeds: [[UInt8]] = []
        for s in ["implicit", "bigendian", "rle", "deflated", "multiseries", "jpeg_ls", "jpeg_baseline", "jpeg2000", "jpeg_lossless",
                  "enhanced_perframe", "enhanced_j2k"] {
            for p in try DICOMStudy.files(in: Fixtures.study(s)).prefix(3) {
                seeds.append(Array(FileManager.default.contents(atPath: p)!))
            }
        }
        let r = fuzzDICOM(seeds, count: 3000, seed: 20261207)
        #expect(r.files == 3000)
        #expect(r.unnamed == 0)
        #expect(r.rejected > 1000 && r.decoded > 100) // both outcomes are exercised
        #expect(r.seriesReads > 10)
        // Same seed, same outcome.
        let again = fuzzDICOM(seeds, count: 3000, seed: 20261207)
        #expect(again.decoded == r.decoded && again.rejected == r.rejected && again.seriesVolumes == r.seriesVolumes)
    }
}
