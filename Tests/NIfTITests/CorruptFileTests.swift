import Foundation
import HemoCore
import Testing
@testable import NIfTI

/// One hostile or damaged file, built by the test from a valid one.
struct CorruptCase: Sendable, CustomTestStringConvertible {
    var name: String
    var expected: NIfTIError.Code
    var compressed = false
    var options = NIfTIReadOptions()
    /// Produces the file's (uncompressed) bytes from valid NIfTI-1 and NIfTI-2 files.
    var make: @Sendable (_ nifti1: [UInt8], _ nifti2: [UInt8]) -> [UInt8]
    /// Alters the gzip-compressed bytes (after compression), for stream damage.
    var damageCompressed: (@Sendable ([UInt8]) -> [UInt8])? = nil

    var testDescription: String { name }
}

/// Stores `value` (native = little-endian) at `offset`.
func patched<T>(_ bytes: [UInt8], _ offset: Int, _ value: T) -> [UInt8] {
    var out = bytes
    out.withUnsafeMutableBytes { $0.storeBytes(of: value, toByteOffset: offset, as: T.self) }
    return out
}

/// NIfTI-1 field offsets (nifti1.h) and NIfTI-2 ones (nifti2.h).
enum N1 {
    static let dim = 40, datatype = 70, pixdim = 76, voxOffset = 108, sclSlope = 112, sclInter = 116
    static let qformCode = 252, sformCode = 254, quaternB = 256, qoffsetX = 268, srowX = 280, srowZ = 312, magic = 344
}
enum N2 {
    static let magic = 4, datatype = 12, dim = 16, voxOffset = 168
}

let corruptCases: [CorruptCase] = [
    CorruptCase(name: "empty file", expected: .truncatedHeader) { _, _ in [] },
    CorruptCase(name: "three bytes", expected: .truncatedHeader) { n1, _ in Array(n1[0..<3]) },
    CorruptCase(name: "header cut at 100 bytes", expected: .truncatedHeader) { n1, _ in Array(n1[0..<100]) },
    CorruptCase(name: "header cut at 347 bytes", expected: .truncatedHeader) { n1, _ in Array(n1[0..<347]) },
    CorruptCase(name: "NIfTI-2 header cut at 400 bytes", expected: .truncatedHeader) { _, n2 in Array(n2[0..<400]) },
    CorruptCase(name: "sizeof_hdr 0", expected: .badMagic) { n1, _ in patched(n1, 0, Int32(0)) },
    CorruptCase(name: "sizeof_hdr 349", expected: .badMagic) { n1, _ in patched(n1, 0, Int32(349)) },
    CorruptCase(name: "a text file", expected: .badMagic) { _, _ in Array("hello, this is not an image\n".utf8) },
    CorruptCase(name: "magic xyz", expected: .badMagic) { n1, _ in patched(n1, N1.magic, UInt32(0x007A_7978)) },
    CorruptCase(name: "Analyze 7.5 (no magic)", expected: .badMagic) { n1, _ in patched(n1, N1.magic, UInt32(0)) },
    CorruptCase(name: "NIfTI-1 pair header ni1", expected: .unsupportedFormat) { n1, _ in patched(n1, N1.magic, UInt32(0x0031_696E)) },
    CorruptCase(name: "NIfTI-2 magic damaged by text transfer", expected: .badMagic) { _, n2 in patched(n2, N2.magic + 4, UInt8(0x0A)) },
    CorruptCase(name: "dim[0] 0", expected: .badDimensions) { n1, _ in patched(n1, N1.dim, Int16(0)) },
    CorruptCase(name: "dim[0] 8", expected: .badDimensions) { n1, _ in patched(n1, N1.dim, Int16(8)) },
    CorruptCase(name: "dim[0] -1", expected: .badDimensions) { n1, _ in patched(n1, N1.dim, Int16(-1)) },
    CorruptCase(name: "dim[1] 0", expected: .badDimensions) { n1, _ in patched(n1, N1.dim + 2, Int16(0)) },
    CorruptCase(name: "dim[2] -5", expected: .badDimensions) { n1, _ in patched(n1, N1.dim + 4, Int16(-5)) },
    CorruptCase(name: "5-D with dim[5] 2", expected: .badDimensions) { n1, _ in
        patched(patched(n1, N1.dim, Int16(5)), N1.dim + 10, Int16(2)) },
    CorruptCase(name: "byte-swapped header with dim[3] -3", expected: .badDimensions) { n1, _ in
        // Big-endian file: swap the whole header's fields we touch, then break dim[3].
        var be = patched(n1, 0, Int32(348).byteSwapped)
        for d in 0..<8 { be = patched(be, N1.dim + 2 * d, Int16(n1[N1.dim + 2 * d]) .byteSwapped) }
        return patched(be, N1.dim + 6, Int16(-3).byteSwapped) },
    CorruptCase(name: "32767³ voxels", expected: .tooManyVoxels) { n1, _ in
        patched(patched(patched(n1, N1.dim + 2, Int16.max), N1.dim + 4, Int16.max), N1.dim + 6, Int16.max) },
    CorruptCase(name: "more voxels than maxVoxels", expected: .tooManyVoxels,
                options: NIfTIReadOptions(maxVoxels: 100)) { n1, _ in n1 },
    CorruptCase(name: "NIfTI-2 voxel count overflows Int", expected: .tooManyVoxels) { _, n2 in
        patched(patched(patched(n2, N2.dim + 8, Int64(1) << 40), N2.dim + 16, Int64(1) << 40), N2.dim + 24, Int64(1) << 40) },
    CorruptCase(name: "datatype 0", expected: .unsupportedDatatype) { n1, _ in patched(n1, N1.datatype, Int16(0)) },
    CorruptCase(name: "datatype complex64", expected: .unsupportedDatatype) { n1, _ in patched(n1, N1.datatype, Int16(32)) },
    CorruptCase(name: "datatype RGB24", expected: .unsupportedDatatype) { n1, _ in patched(n1, N1.datatype, Int16(128)) },
    CorruptCase(name: "datatype 12345", expected: .unsupportedDatatype) { n1, _ in patched(n1, N1.datatype, Int16(12345)) },
    CorruptCase(name: "NIfTI-2 datatype int64", expected: .unsupportedDatatype) { _, n2 in patched(n2, N2.datatype, Int16(1024)) },
    CorruptCase(name: "vox_offset -1", expected: .badVoxOffset) { n1, _ in patched(n1, N1.voxOffset, Float(-1)) },
    CorruptCase(name: "vox_offset NaN", expected: .badVoxOffset) { n1, _ in patched(n1, N1.voxOffset, Float.nan) },
    CorruptCase(name: "vox_offset inside the header", expected: .badVoxOffset) { n1, _ in patched(n1, N1.voxOffset, Float(100)) },
    CorruptCase(name: "vox_offset past the end", expected: .voxOffsetPastEnd) { n1, _ in patched(n1, N1.voxOffset, Float(1e9)) },
    CorruptCase(name: "NIfTI-2 vox_offset past the end", expected: .voxOffsetPastEnd) { _, n2 in patched(n2, N2.voxOffset, Int64(1 << 40)) },
    CorruptCase(name: "last voxel byte missing", expected: .truncatedData) { n1, _ in Array(n1.dropLast()) },
    CorruptCase(name: "header only, no voxels", expected: .truncatedData) { n1, _ in Array(n1[0..<352]) },
    CorruptCase(name: "srow_x[0] NaN with sform_code 1", expected: .nonFiniteAffine) { n1, _ in patched(n1, N1.srowX, Float.nan) },
    CorruptCase(name: "srow_z[3] infinite", expected: .nonFiniteAffine) { n1, _ in patched(n1, N1.srowZ + 12, Float.infinity) },
    CorruptCase(name: "qform-only with NaN quatern_b", expected: .nonFiniteAffine) { n1, _ in
        patched(patched(n1, N1.sformCode, Int16(0)), N1.quaternB, Float.nan) },
    CorruptCase(name: "qform-only with infinite qoffset_x", expected: .nonFiniteAffine) { n1, _ in
        patched(patched(n1, N1.sformCode, Int16(0)), N1.qoffsetX, -Float.infinity) },
    CorruptCase(name: "pixdim[1] NaN", expected: .nonFiniteAffine) { n1, _ in patched(n1, N1.pixdim + 4, Float.nan) },
    CorruptCase(name: "quaternion norm above 1", expected: .badQuaternion) { n1, _ in
        patched(patched(patched(patched(n1, N1.sformCode, Int16(0)), N1.quaternB, Float(0.9)), N1.quaternB + 4, Float(0.9)),
                N1.quaternB + 8, Float(0.9)) },
    CorruptCase(name: "scl_slope 2 with NaN scl_inter", expected: .badScaling) { n1, _ in
        patched(patched(n1, N1.sclSlope, Float(2)), N1.sclInter, Float.nan) },
    CorruptCase(name: "gzip: header cut", expected: .truncatedHeader, compressed: true) { n1, _ in Array(n1[0..<200]) },
    CorruptCase(name: "gzip: stream cut in the voxels", expected: .truncatedData, compressed: true,
                make: { n1, _ in n1 }, damageCompressed: { Array($0[0..<($0.count * 2 / 3)]) }),
    CorruptCase(name: "gzip: CRC trailer wrong", expected: .corruptCompression, compressed: true,
                make: { n1, _ in n1 }, damageCompressed: { var b = $0; b[b.count - 8] ^= 0xFF; return b }),
    CorruptCase(name: "gzip: deflate data scrambled", expected: .corruptCompression, compressed: true,
                make: { n1, _ in n1 }, damageCompressed: { var b = $0; for n in 12..<min(b.count - 8, 60) { b[n] = 0xFF }; return b }),
    CorruptCase(name: "gzip: vox_offset past the decompressed end", expected: .voxOffsetPastEnd, compressed: true) { n1, _ in
        patched(n1, N1.voxOffset, Float(1_000_000)) },
    CorruptCase(name: "gzip: declares a gigabyte in a tiny file", expected: .truncatedData, compressed: true) { n1, _ in
        patched(patched(patched(n1, N1.dim + 2, Int16(1000)), N1.dim + 4, Int16(1000)), N1.dim + 6, Int16(500)) },
]

@Suite struct CorruptFileTests {
    /// Valid NIfTI-1 and NIfTI-2 `.nii` bytes of a small volume, written by our writer.
    static func validFiles(in scratch: ScratchDirectory) throws -> ([UInt8], [UInt8]) {
        let volume = syntheticCT()
        try NIfTIFile.write(volume, to: scratch.file("v1.nii"))
        try NIfTIFile.write(volume, to: scratch.file("v2.nii"), options: NIfTIWriteOptions(version: .nifti2))
        return ([UInt8](FileManager.default.contents(atPath: scratch.file("v1.nii"))!),
                [UInt8](FileManager.default.contents(atPath: scratch.file("v2.nii"))!))
    }

    @Test func thereAreAtLeastThirtyCases() {
        #expect(corruptCases.count >= 30)
    }

    @Test(arguments: corruptCases)
    func corruptFileGivesTypedError(_ corrupt: CorruptCase) throws {
        let scratch = ScratchDirectory()
        defer { scratch.cleanup() }
        let (n1, n2) = try Self.validFiles(in: scratch)
        let bytes = corrupt.make(n1, n2)
        let path = scratch.file("corrupt" + (corrupt.compressed ? ".nii.gz" : ".nii"))
        if corrupt.compressed {
            let staging = scratch.file("staging.nii.gz")
            let sink = try FileSink(creating: staging)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 8)
            defer { buffer.deallocate() }
            buffer.copyBytes(from: bytes)
            try ParallelGzip.compress([UnsafeRawBufferPointer(buffer)], level: 6, into: sink)
            try sink.finish(synchronize: false)
            var compressed = [UInt8](FileManager.default.contents(atPath: staging)!)
            if let damage = corrupt.damageCompressed { compressed = damage(compressed) }
            FileManager.default.createFile(atPath: path, contents: Data(compressed))
        } else {
            FileManager.default.createFile(atPath: path, contents: Data(bytes))
        }

        do {
            let image = try NIfTIFile.read(path, options: corrupt.options)
            Issue.record("read succeeded with \(image.header.dimensions); expected \(corrupt.expected)")
        } catch {
            #expect(error.code == corrupt.expected, "\(error)")
            #expect(error.path == path)
            #expect(error.description.hasPrefix(path + ": "))
            #expect(!error.reason.isEmpty)
        }
        // The scaled reader validates the same way.
        #expect(throws: NIfTIError.self) { try NIfTIFile.readScaled(path, as: Float.self, options: corrupt.options) }
        // So do the hashing reader and the in-memory decoder, which names the bytes as told.
        #expect { try NIfTIFile.readHashed(path, options: corrupt.options) } throws: {
            ($0 as? NIfTIError)?.code == corrupt.expected && ($0 as? NIfTIError)?.path == path
        }
        let onDisk = [UInt8](FileManager.default.contents(atPath: path)!)
        for scaled in [false, true] {
            do {
                if scaled {
                    _ = try NIfTIFile.readScaledImage(bytes: onDisk, name: "exam-7/ct.nii", as: Float.self, options: corrupt.options)
                } else {
                    _ = try NIfTIFile.read(bytes: onDisk, name: "exam-7/ct.nii", options: corrupt.options)
                }
                Issue.record("decoding from memory succeeded; expected \(corrupt.expected)")
            } catch {
                #expect(error.code == corrupt.expected, "\(error)")
                #expect(error.description.hasPrefix("exam-7/ct.nii: "))
            }
        }
    }

    @Test func missingFileIsNotFound() {
        #expect { try NIfTIFile.read("/nonexistent/dir/scan.nii.gz") } throws: { error in
            (error as? NIfTIError)?.code == .notFound && (error as? NIfTIError)?.path == "/nonexistent/dir/scan.nii.gz"
        }
    }

    @Test func directoryIsUnreadable() {
        let scratch = ScratchDirectory()
        defer { scratch.cleanup() }
        #expect { try NIfTIFile.readHeader(scratch.path) } throws: { ($0 as? NIfTIError)?.code == .unreadable }
    }
}
