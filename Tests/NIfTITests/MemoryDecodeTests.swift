import Foundation
import HemoCore
import Testing
@testable import NIfTI

/// The voxels of a volume as raw bytes, so NaN voxels compare equal to themselves.
func voxelBytes(_ volume: AnyVolume) -> [UInt8] {
    switch volume {
    case .uint8(let v): v.voxels.withUnsafeBytes { Array($0) }
    case .int16(let v): v.voxels.withUnsafeBytes { Array($0) }
    case .uint16(let v): v.voxels.withUnsafeBytes { Array($0) }
    case .int32(let v): v.voxels.withUnsafeBytes { Array($0) }
    case .float32(let v): v.voxels.withUnsafeBytes { Array($0) }
    case .float64(let v): v.voxels.withUnsafeBytes { Array($0) }
    }
}

/// Whether two images are the same bit for bit (headers compared as text, so NaN fields match).
func sameImage(_ a: NIfTIImage, _ b: NIfTIImage) -> Bool {
    "\(a.header)" == "\(b.header)" && a.volume.geometry == b.volume.geometry
        && a.volume.voxelType == b.volume.voxelType && voxelBytes(a.volume) == voxelBytes(b.volume)
}

func fileBytes(_ path: String) -> [UInt8] { [UInt8](FileManager.default.contents(atPath: path)!) }

/// Compresses `segments` as one gzip member each, concatenated (a multi-member gzip file when
/// there are several), with the writer's own gzip code.
func gzipMembers(_ segments: [[UInt8]], scratch: ScratchDirectory) throws -> [UInt8] {
    var out: [UInt8] = []
    for (n, segment) in segments.enumerated() {
        let path = scratch.file("member\(n).gz")
        let sink = try FileSink(creating: path)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(segment.count, 1), alignment: 8)
        defer { buffer.deallocate() }
        buffer.copyBytes(from: segment)
        try ParallelGzip.compress([UnsafeRawBufferPointer(rebasing: buffer[0..<segment.count])], level: 6, into: sink)
        try sink.finish(synchronize: false)
        out += fileBytes(path)
    }
    return out
}

/// A CT big enough (about 0.7 MB raw) that reading it takes several 256 KiB input buffers.
func largerCT() -> Volume<Int16> {
    let size = GridSize(96, 96, 40)
    let affine = Affine(rowMajor: [0.5, 0, 0, -24, 0, 0.5, 0, -24, 0, 0, 2.5, -50, 0, 0, 0, 1])
    let geometry = Geometry(size: size, spacing: affine.columnNorms, affine: affine, qformCode: 1, sformCode: 1)
    var state: UInt32 = 12345
    let voxels = (0..<size.count).map { _ -> Int16 in
        state = state &* 1_664_525 &+ 1_013_904_223
        return Int16(truncatingIfNeeded: Int(state >> 20) - 1024)
    }
    return Volume(geometry: geometry, voxels: voxels)
}

@Suite struct MemoryDecodeTests {
    /// The committed fixtures cover .nii and .nii.gz, NIfTI-1 and NIfTI-2, both byte orders.
    @Test func fixturesCoverBothVersionsAndCompressions() {
        let names = Fixtures.all.map(\.file)
        #expect(names.contains { $0.hasSuffix(".nii.gz") && $0.hasPrefix("nifti2") })
        #expect(names.contains { !$0.hasSuffix(".gz") && $0.hasPrefix("nifti2") })
        #expect(names.contains { $0.hasSuffix(".nii.gz") && !$0.hasPrefix("nifti2") })
        #expect(names.contains { !$0.hasSuffix(".gz") && !$0.hasPrefix("nifti2") })
    }

    @Test(arguments: Fixtures.all)
    func memoryDecodeEqualsFileDecode(_ fixture: FixtureExpectation) throws {
        let bytes = fileBytes(fixture.path)
        for scaling in [false, true] {
            let options = NIfTIReadOptions(applyScaling: scaling)
            let fromFile = try NIfTIFile.read(fixture.path, options: options)
            let fromMemory = try NIfTIFile.read(bytes: bytes, name: fixture.file, options: options)
            #expect(sameImage(fromFile, fromMemory), "applyScaling \(scaling)")
            #expect(fromMemory.header.isCompressed == fixture.file.hasSuffix(".gz"))
            #expect(fromMemory.header.version.rawValue == fixture.version)
        }
        let header = try NIfTIFile.readHeader(bytes: bytes, name: fixture.file)
        #expect("\(header)" == "\(try NIfTIFile.readHeader(fixture.path))")

        let scaledFile = try NIfTIFile.readScaledImage(fixture.path, as: Float.self)
        let scaledMemory = try NIfTIFile.readScaledImage(bytes: bytes, name: fixture.file, as: Float.self)
        #expect(voxelBytes(.float32(scaledFile.volume)) == voxelBytes(.float32(scaledMemory.volume)))
        #expect(SHA256.hex(of: voxelBytes(.float32(scaledMemory.volume))) == fixture.fdataFloat32SHA256)
        let scaled64File = try NIfTIFile.readScaled(fixture.path, as: Double.self)
        let scaled64Memory = try NIfTIFile.readScaledImage(bytes: bytes, name: fixture.file, as: Double.self).volume
        #expect(voxelBytes(.float64(scaled64File)) == voxelBytes(.float64(scaled64Memory)))
    }

    @Test(arguments: Fixtures.all)
    func hashedReadGivesTheFileHashAndTheSameImage(_ fixture: FixtureExpectation) throws {
        let expected = SHA256.hex(of: fileBytes(fixture.path))
        let (image, sha256) = try NIfTIFile.readHashed(fixture.path)
        #expect(sha256 == expected)
        #expect(sameImage(image, try NIfTIFile.read(fixture.path)))
        let scaled = try NIfTIFile.readScaledImageHashed(fixture.path, as: Float.self)
        #expect(scaled.sha256 == expected)
        #expect(voxelBytes(.float32(scaled.volume)) == voxelBytes(.float32(try NIfTIFile.readScaled(fixture.path, as: Float.self))))
    }

    /// Files larger than the input buffer, with bytes after the image and several gzip members:
    /// the hash covers every byte of the file, the image is the same from disk and from memory.
    @Test func largeFilesTrailingBytesAndMultipleMembers() throws {
        let scratch = ScratchDirectory()
        defer { scratch.cleanup() }
        let volume = largerCT()
        let plain = try NIfTIFile.encode(volume, name: "ct.nii")
        let gzip = try NIfTIFile.encode(volume, name: "ct.nii.gz")
        #expect(plain.count > 2 * GzipReadStream.inputBufferSize)
        let variants: [(String, [UInt8])] = [
            ("ct.nii", plain),
            ("ct.nii.gz", gzip),
            ("trailing.nii", plain + [UInt8](repeating: 7, count: 300_001)),
            ("trailing.nii.gz", gzip + Array("not a gzip member".utf8)),
            ("members.nii.gz", try gzipMembers([Array(plain[0..<1000]), Array(plain[1000..<400_000]), Array(plain[400_000...])],
                                               scratch: scratch)),
        ]
        for (name, bytes) in variants {
            let path = scratch.file(name)
            FileManager.default.createFile(atPath: path, contents: Data(bytes))
            let (image, sha256) = try NIfTIFile.readHashed(path)
            #expect(sha256 == SHA256.hex(of: bytes), "\(name)")
            guard case .int16(let v) = image.volume else { Issue.record("\(name): not int16"); continue }
            #expect(v == volume, "\(name)")
            #expect(sameImage(image, try NIfTIFile.read(path)), "\(name)")
            #expect(sameImage(image, try NIfTIFile.read(bytes: bytes, name: name)), "\(name)")
            let scaled = try NIfTIFile.readScaledImageHashed(path, as: Float.self)
            #expect(scaled.sha256 == sha256, "\(name)")
            #expect(scaled.volume.voxels == volume.voxels.map(Float.init), "\(name)")
        }
    }

    /// Content over 1 MiB is inflated in one step by libdeflate; damaged files fall back to the
    /// streaming path and fail exactly as it does, from disk and from memory.
    @Test func largeGzipIsInflatedAtOnceAndDamageIsReportedAsBefore() throws {
        let scratch = ScratchDirectory()
        defer { scratch.cleanup() }
        let size = GridSize(160, 150, 30) // 1.44 MB of int16: two members from our writer
        var state: UInt32 = 99
        let voxels = (0..<size.count).map { n -> Int16 in
            state = state &* 1_664_525 &+ 1_013_904_223
            return Int16(truncatingIfNeeded: (n % 311) + Int(state >> 27) - 1000)
        }
        let volume = Volume(geometry: Geometry(size: size, spacing: SIMD3(0.5, 0.5, 5)), voxels: voxels)
        let gzip = try NIfTIFile.encode(volume, name: "ct.nii.gz")
        let plain = try NIfTIFile.encode(volume, name: "ct.nii")

        // Good files: inflated at once, same image and hash as the plain file's content.
        let oneMember = try gzipMembers([plain], scratch: scratch)
        for (name, bytes) in [("members.nii.gz", gzip), ("trailing.nii.gz", gzip + Array("junk".utf8)), ("one.nii.gz", oneMember)] {
            let path = scratch.file(name)
            FileManager.default.createFile(atPath: path, contents: Data(bytes))
            let stream = try GzipReadStream(path: path, computeDigest: true)
            var header = try NIfTIReader.open(stream, path: path, options: .init())
            try NIfTIReader.skipToVoxels(stream, header: &header, path: path)
            #expect(stream.decodedAtOnce, "\(name)")
            let read = try NIfTIReader.readStored(stream, header: header, path: path, as: Int16.self)
            try NIfTIReader.finish(stream, header: header, path: path)
            #expect(read == voxels, "\(name)")
            #expect(try stream.finishDigest() == SHA256.hex(of: bytes), "\(name)")
            let (image, sha) = try NIfTIFile.readHashed(path)
            #expect(sha == SHA256.hex(of: bytes))
            guard case .int16(let v) = image.volume else { Issue.record("\(name): not int16"); continue }
            #expect(v == volume)
            #expect(try NIfTIFile.readScaled(path, as: Float.self).voxels == voxels.map(Float.init))
            #expect(sameImage(image, try NIfTIFile.read(bytes: bytes, name: name)))
        }

        // Damaged files: the errors of the streaming reader.
        var crc = oneMember
        crc[crc.count - 6] ^= 0x5A
        var scrambled = gzip
        for n in stride(from: scrambled.count - 4000, to: scrambled.count - 3000, by: 3) { scrambled[n] ^= 0xA5 }
        let cases: [(String, [UInt8], NIfTIError.Code)] = [
            ("cut.nii.gz", Array(gzip.prefix(gzip.count - 50_000)), .truncatedData),
            ("crc.nii.gz", crc, .corruptCompression),
            ("scrambled.nii.gz", scrambled, .corruptCompression),
        ]
        for (name, bytes, code) in cases {
            let path = scratch.file(name)
            FileManager.default.createFile(atPath: path, contents: Data(bytes))
            #expect(throws: NIfTIError.self, "\(name)") { try NIfTIFile.readHashed(path) }
            #expect { try NIfTIFile.read(path) } throws: { ($0 as? NIfTIError)?.code == code && ($0 as? NIfTIError)?.path == path }
            #expect { try NIfTIFile.read(bytes: bytes, name: name) } throws: { ($0 as? NIfTIError)?.code == code }
        }
    }

    /// A gzip file whose CRC/length trailer is cut off is truncated, not silently accepted.
    @Test func gzipWithoutItsTrailerIsTruncated() throws {
        let scratch = ScratchDirectory()
        defer { scratch.cleanup() }
        let gzip = try NIfTIFile.encode(syntheticCT(), name: "ct.nii.gz")
        for cut in [4, 8] {
            let bytes = Array(gzip.dropLast(cut))
            let path = scratch.file("cut\(cut).nii.gz")
            FileManager.default.createFile(atPath: path, contents: Data(bytes))
            #expect { try NIfTIFile.readHashed(path) } throws: { ($0 as? NIfTIError)?.code == .truncatedData && ($0 as? NIfTIError)?.path == path }
            #expect { try NIfTIFile.read(bytes: bytes, name: "cut.nii.gz") } throws: {
                ($0 as? NIfTIError)?.code == .truncatedData && ($0 as? NIfTIError)?.path == "cut.nii.gz"
            }
        }
    }

    /// A hostile header declaring far more voxels than the bytes can hold is refused before the
    /// voxels are allocated, in memory as on disk.
    @Test func hostileSizesAreCheckedAgainstTheByteCount() throws {
        var bytes = try NIfTIFile.encode(syntheticCT(), name: "ct.nii")
        // dim[1...3] = 1000 × 1000 × 500: 1 GB of int16 in a file of a few hundred bytes.
        for (offset, value) in [(N1.dim + 2, Int16(1000)), (N1.dim + 4, Int16(1000)), (N1.dim + 6, Int16(500))] {
            bytes = patched(bytes, offset, value)
        }
        #expect { try NIfTIFile.read(bytes: bytes, name: "hostile.nii") } throws: {
            ($0 as? NIfTIError)?.code == .truncatedData && ($0 as? NIfTIError)?.path == "hostile.nii"
        }
        let scratch = ScratchDirectory()
        defer { scratch.cleanup() }
        let gzipped = try gzipMembers([bytes], scratch: scratch)
        #expect { try NIfTIFile.readScaledImage(bytes: gzipped, name: "hostile.nii.gz", as: Float.self) } throws: {
            ($0 as? NIfTIError)?.code == .truncatedData && ($0 as? NIfTIError)?.path == "hostile.nii.gz"
        }
    }

    @Test func emptyAndTinyInputsAreTruncatedHeaders() {
        let cases: [([UInt8], String)] = [([], "empty"), ([0x1F], "only 1 bytes"), ([0x1F, 0x8B], "gzip stream ends")]
        for (bytes, reason) in cases {
            #expect { try NIfTIFile.read(bytes: bytes, name: "tiny.nii") } throws: {
                guard let error = $0 as? NIfTIError else { return false }
                return error.code == .truncatedHeader && error.path == "tiny.nii" && error.reason.contains(reason)
            }
        }
    }
}
