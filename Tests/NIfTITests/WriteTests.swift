import Foundation
import HemoCore
import Testing
@testable import NIfTI

struct WriteFormat: Sendable, CustomTestStringConvertible {
    var suffix: String
    var version: NIfTIVersion
    var testDescription: String { "NIfTI-\(version.rawValue) \(suffix)" }
    static let all = [WriteFormat(suffix: ".nii", version: .nifti1), WriteFormat(suffix: ".nii.gz", version: .nifti1),
                      WriteFormat(suffix: ".nii", version: .nifti2), WriteFormat(suffix: ".nii.gz", version: .nifti2)]
}

func bytes(_ path: String) -> [UInt8] { [UInt8](FileManager.default.contents(atPath: path) ?? Data()) }

@Suite struct WriteTests {
    @Test(arguments: WriteFormat.all, VoxelType.allCases)
    func writeThenReadGivesSameVoxelsGeometryAndCodes(_ format: WriteFormat, _ type: VoxelType) throws {
        let scratch = ScratchDirectory()
        defer { scratch.cleanup() }
        let source = syntheticCT(frames: 2, qformCode: 1, sformCode: 2)
        let volume: AnyVolume = switch type {
        case .uint8: .uint8(source.converted())
        case .int16: .int16(source)
        case .uint16: .uint16(source.converted())
        case .int32: .int32(source.converted())
        case .float32: .float32(source.converted())
        case .float64: .float64(source.converted())
        }
        let path = scratch.file("out" + format.suffix)
        try NIfTIFile.write(volume, to: path, options: NIfTIWriteOptions(version: format.version))
        let image = try NIfTIFile.read(path)
        #expect(image.header.version == format.version)
        #expect(image.header.isCompressed == format.suffix.hasSuffix(".gz"))
        #expect(image.volume.voxelType == type)
        #expect(image.volume.frames == 2)
        #expect(image.volume.doubles == volume.doubles)
        #expect(image.header.qformCode == 1 && image.header.sformCode == 2)
        let tolerance = format.version == .nifti1 ? 1e-5 : 1e-12
        #expect(image.header.affine.maxAbsoluteDifference(to: source.geometry.affine) <= tolerance)
        // The qform is written too and describes the same (shear-free) affine.
        let qform = try #require(image.header.qform)
        #expect(qform.maxAbsoluteDifference(to: source.geometry.affine) <= 1e-4)
        #expect(image.volume.geometry.spacing.x > 0)
        #expect(scratch.contents() == ["out" + format.suffix])
    }

    @Test(arguments: Fixtures.all)
    func fixtureReadWriteReadKeepsGeometryValuesAndScaling(_ expected: FixtureExpectation) throws {
        let scratch = ScratchDirectory()
        defer { scratch.cleanup() }
        let original = try NIfTIFile.read(expected.path)
        let options = NIfTIWriteOptions(version: original.header.version,
                                        sclSlope: original.header.scaling?.slope ?? 1,
                                        sclInter: original.header.scaling?.intercept ?? 0)
        let first = scratch.file("first.nii.gz"), second = scratch.file("second.nii.gz")
        try NIfTIFile.write(original.volume, to: first, options: options)
        let again = try NIfTIFile.read(first)
        #expect(again.volume.voxelType == original.volume.voxelType)
        #expect(again.volume.frames == original.volume.frames)
        #expect(again.volume.geometry.size == original.volume.geometry.size)
        #expect(again.volume.doubles.elementsEqual(original.volume.doubles) { sameValue($0, $1) })
        let identity = NIfTIScaling(slope: 1, intercept: 0)
        #expect((again.header.scaling ?? identity) == (original.header.scaling ?? identity))
        let hadCodes = original.header.qformCode != 0 || original.header.sformCode != 0
        #expect(again.header.qformCode == (hadCodes ? original.header.qformCode : 1))
        #expect(again.header.sformCode == (hadCodes ? original.header.sformCode : 1))
        #expect(again.header.affine.maxAbsoluteDifference(to: original.header.affine) <= 1e-5)
        let scaledBefore = try NIfTIFile.readScaled(expected.path, as: Double.self).voxels
        let scaledAfter = try NIfTIFile.readScaled(first, as: Double.self).voxels
        #expect(scaledBefore.elementsEqual(scaledAfter) { sameValue($0, $1) })
        // A second generation is byte-identical: geometry has reached a fixed point.
        try NIfTIFile.write(again.volume, to: second, options: options)
        #expect(bytes(first) == bytes(second))
    }

    @Test(arguments: WriteFormat.all)
    func encodingInMemoryGivesTheBytesOfTheWrittenFile(_ format: WriteFormat) throws {
        let scratch = ScratchDirectory()
        defer { scratch.cleanup() }
        // Over 1 MiB of voxels, so the gzip stream has several independently deflated chunks.
        let small = syntheticCT()
        let big = Volume<Int16>(geometry: Geometry(size: GridSize(160, 160, 24), spacing: small.geometry.spacing,
                                                   affine: small.geometry.affine, qformCode: 1, sformCode: 1),
                                voxels: (0..<(160 * 160 * 24)).map { Int16(truncatingIfNeeded: ($0 &* 2654435761) >> 20) })
        for level in [1, 6] {
            let options = NIfTIWriteOptions(gzipLevel: level, version: format.version)
            let path = scratch.file("out-\(level)" + format.suffix)
            try NIfTIFile.write(big, to: path, options: options)
            #expect(try NIfTIFile.encode(big, name: "any/name" + format.suffix, options: options) == bytes(path))
            try NIfTIFile.write(small, to: path + "-small" + format.suffix, options: options)
            #expect(try NIfTIFile.encode(small, name: "x" + format.suffix, options: options) == bytes(path + "-small" + format.suffix))
        }
        #expect(throws: NIfTIError.self) { try NIfTIFile.encode(small, name: "no-suffix.img") }
    }

    @Test func bytesAreReproducibleAndGzipHeaderHasNoTime() throws {
        let scratch = ScratchDirectory()
        defer { scratch.cleanup() }
        let volume = syntheticCT()
        try NIfTIFile.write(volume, to: scratch.file("a.nii.gz"))
        try NIfTIFile.write(volume, to: scratch.file("b.nii.gz"))
        let a = bytes(scratch.file("a.nii.gz")), b = bytes(scratch.file("b.nii.gz"))
        #expect(a == b)
        #expect(a[0] == 0x1F && a[1] == 0x8B)          // gzip
        #expect(a[3] == 0)                              // no name, comment or extra field
        #expect(Array(a[4..<8]) == [0, 0, 0, 0])        // MTIME 0
        // Levels change the compression, not the content.
        try NIfTIFile.write(volume, to: scratch.file("fast.nii.gz"), options: NIfTIWriteOptions(gzipLevel: 1))
        try NIfTIFile.write(volume, to: scratch.file("plain.nii"))
        #expect(bytes(scratch.file("fast.nii.gz")) != a)
        #expect(try NIfTIFile.read(scratch.file("fast.nii.gz")).volume.doubles == AnyVolume(volume).doubles)
        #expect(try NIfTIFile.read(scratch.file("plain.nii")).volume.doubles == AnyVolume(volume).doubles)
        #expect(bytes(scratch.file("plain.nii")).count == 352 + volume.voxels.count * 2)
    }

    @Test func headerFieldsAreWhatNibabelExpects() throws {
        let scratch = ScratchDirectory()
        defer { scratch.cleanup() }
        let volume = syntheticCT()
        let path = scratch.file("h.nii")
        try NIfTIFile.write(volume, to: path, options: NIfTIWriteOptions(sclSlope: 0.5, sclInter: -1024, description: "test volume"))
        let header = try NIfTIFile.readHeader(path)
        #expect(header.descrip == "test volume")
        #expect(header.voxOffset == 352)
        #expect(header.scaling == NIfTIScaling(slope: 0.5, intercept: -1024))
        #expect(header.bitsPerVoxel == 16)
        let norms = volume.geometry.affine.columnNorms
        for axis in 0..<3 { #expect(abs(header.pixdim[axis + 1] - norms[axis]) < 1e-5) }
        #expect(header.pixdim[0] == 1 || header.pixdim[0] == -1)
        #expect(header.xyztUnits == 2) // millimetres
    }

    @Test func volumeWithoutCodesIsWrittenAsScanner() throws {
        let scratch = ScratchDirectory()
        defer { scratch.cleanup() }
        try NIfTIFile.write(syntheticCT(qformCode: 0, sformCode: 0), to: scratch.file("c.nii"))
        let header = try NIfTIFile.readHeader(scratch.file("c.nii"))
        #expect(header.qformCode == 1 && header.sformCode == 1)
    }

    @Test func writeReplacesExistingFileAtomically() throws {
        let scratch = ScratchDirectory()
        defer { scratch.cleanup() }
        let path = scratch.file("scan.nii.gz")
        FileManager.default.createFile(atPath: path, contents: Data("old".utf8))
        try NIfTIFile.write(syntheticCT(), to: path, options: NIfTIWriteOptions(synchronize: true))
        #expect(try NIfTIFile.readHeader(path).dimensions == [9, 8, 4])
        #expect(scratch.contents() == ["scan.nii.gz"])
    }

    @Test func failedWriteLeavesNoTemporaryFile() throws {
        let scratch = ScratchDirectory()
        defer { scratch.cleanup() }
        // The target is a non-empty directory: everything succeeds except the final rename.
        let target = scratch.file("taken.nii.gz")
        try FileManager.default.createDirectory(atPath: target + "/inner", withIntermediateDirectories: true)
        #expect { try NIfTIFile.write(syntheticCT(), to: target) } throws: { error in
            let e = error as? NIfTIError
            return e?.code == .writeFailed && e?.path == target
        }
        #expect(scratch.contents() == ["taken.nii.gz"])
        // A folder that does not exist.
        #expect { try NIfTIFile.write(syntheticCT(), to: scratch.file("missing/dir/x.nii")) } throws: {
            ($0 as? NIfTIError)?.code == .writeFailed
        }
        #expect(scratch.contents() == ["taken.nii.gz"])
    }

    @Test func invalidRequestsAreRefusedBeforeWriting() throws {
        let scratch = ScratchDirectory()
        defer { scratch.cleanup() }
        let cases: [(String, NIfTIWriteOptions, Volume<Int16>, NIfTIError.Code)] = [
            ("x.nrrd", .init(), syntheticCT(), .badFileName),
            ("x.nii.gz", .init(gzipLevel: 11), syntheticCT(), .invalidOption),
            ("x.nii", .init(sclSlope: .nan), syntheticCT(), .invalidOption),
            ("x.nii", .init(), {
                var v = syntheticCT()
                v.geometry.affine[0, 3] = .nan
                return v
            }(), .nonFiniteAffine),
        ]
        for (name, options, volume, code) in cases {
            #expect { try NIfTIFile.write(volume, to: scratch.file(name), options: options) } throws: {
                ($0 as? NIfTIError)?.code == code
            }
        }
        #expect(scratch.contents().isEmpty)
    }

    @Test func extentsAbove32767NeedNIfTI2() throws {
        let scratch = ScratchDirectory()
        defer { scratch.cleanup() }
        let line = Volume<UInt8>(geometry: Geometry(size: GridSize(40_000, 1, 1), spacing: SIMD3(1, 1, 1)), repeating: 7)
        #expect { try NIfTIFile.write(line, to: scratch.file("l.nii")) } throws: { ($0 as? NIfTIError)?.code == .unrepresentable }
        try NIfTIFile.write(line, to: scratch.file("l.nii"), options: NIfTIWriteOptions(version: .nifti2))
        let back = try NIfTIFile.read(scratch.file("l.nii"))
        #expect(back.header.dimensions == [40_000, 1, 1])
        #expect(back.volume.doubles == AnyVolume(line).doubles)
    }

    @Test func multiChunkParallelGzipRoundTripsAndIsReproducible() throws {
        let scratch = ScratchDirectory()
        defer { scratch.cleanup() }
        // 2.9 MB of voxels: three 1 MiB gzip members, the first holding the header too.
        let size = GridSize(601, 599, 4)
        var state: UInt32 = 12345
        let voxels = (0..<size.count).map { n -> Int16 in
            state = state &* 1_664_525 &+ 1_013_904_223
            return Int16(truncatingIfNeeded: (n % 700) + Int(state >> 28))
        }
        let volume = Volume(geometry: Geometry(size: size, spacing: SIMD3(0.5, 0.5, 3)), voxels: voxels)
        for level in [0, 1] {
            let a = scratch.file("a\(level).nii.gz"), b = scratch.file("b\(level).nii.gz")
            try NIfTIFile.write(volume, to: a, options: NIfTIWriteOptions(gzipLevel: level))
            try NIfTIFile.write(volume, to: b, options: NIfTIWriteOptions(gzipLevel: level))
            #expect(bytes(a) == bytes(b))
            // Our reader checks the CRC-32 and length trailer at the end of the stream.
            let back = try NIfTIFile.read(a)
            guard case .int16(let read) = back.volume else {
                Issue.record("expected int16")
                continue
            }
            #expect(read.voxels == voxels)
        }
        #expect(bytes(scratch.file("a1.nii.gz")).count < bytes(scratch.file("a0.nii.gz")).count)
        #expect(bytes(scratch.file("a0.nii.gz")).count > voxels.count * 2)
    }

    @Test func gzipBytesDoNotDependOnTheNumberOfThreads() throws {
        let scratch = ScratchDirectory()
        defer { scratch.cleanup() }
        let content = (0..<(3 * ParallelGzip.chunkSize + 12345)).map { UInt8(truncatingIfNeeded: ($0 * 7) ^ ($0 >> 9)) }
        var outputs: [[UInt8]] = []
        for workers in [1, 2, 5] {
            let path = scratch.file("w\(workers).gz")
            let sink = try FileSink(creating: path)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: content.count, alignment: 8)
            defer { buffer.deallocate() }
            buffer.copyBytes(from: content)
            // Split as the writer does: a small header segment, then the rest.
            try ParallelGzip.compress([UnsafeRawBufferPointer(rebasing: buffer[0..<352]), UnsafeRawBufferPointer(rebasing: buffer[352...])],
                                      level: 1, into: sink, workers: workers)
            try sink.finish(synchronize: false)
            outputs.append(bytes(path))
        }
        #expect(outputs[0] == outputs[1] && outputs[1] == outputs[2])
        // And it is valid gzip holding the content (our reader checks each member's CRC).
        let stream = try GzipReadStream(path: scratch.file("w2.gz"))
        let back = UnsafeMutableRawBufferPointer.allocate(byteCount: content.count, alignment: 8)
        defer { back.deallocate() }
        try stream.readExactly(into: back)
        try stream.checkEnd()
        #expect(Array(back) == content)
    }

    /// GNU gzip, which did not write them, reads our multi-member files back to the exact bytes
    /// of the uncompressed encoding, at every level the writer accepts.
    @Test(arguments: [0, 1, 6, 9])
    func gnuGzipReadsWhatWeWrite(level: Int) throws {
        let gzipTool = "/bin/gzip"
        try #require(FileManager.default.isExecutableFile(atPath: gzipTool), "GNU gzip is part of every Debian system")
        let scratch = ScratchDirectory()
        defer { scratch.cleanup() }
        let size = GridSize(300, 211, 41) // 5.2 MB of int16: six members
        let voxels = (0..<size.count).map { n -> Int16 in Int16(truncatingIfNeeded: (n % 523) * 3 - 800 + (n >> 14)) }
        let volume = Volume(geometry: Geometry(size: size, spacing: SIMD3(0.45, 0.45, 5)), voxels: voxels)
        let path = scratch.file("ct.nii.gz")
        try NIfTIFile.write(volume, to: path, options: NIfTIWriteOptions(gzipLevel: level))
        let plain = try NIfTIFile.encode(volume, name: "ct.nii")

        let process = Process()
        process.executableURL = URL(fileURLWithPath: gzipTool)
        process.arguments = ["-dc", path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let decompressed = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(decompressed.count == plain.count)
        #expect(Array(decompressed) == plain)
    }
}
