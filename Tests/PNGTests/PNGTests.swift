import Testing
import PNG
import Zlib

@Suite struct ZlibTests {
    @Test func deflateThenInflateRoundTrips() throws {
        var bytes: [UInt8] = []
        for i in 0..<100_000 { bytes.append(UInt8(truncatingIfNeeded: i &* 7 &+ (i >> 5))) }
        for level in [0, 1, 6, 9] {
            let packed = try Deflate.compress(bytes, level: level)
            #expect(try Inflate.decompress(packed) == bytes)
        }
        #expect(try Inflate.decompress(try Deflate.compress([])) == [])
    }

    @Test func crc32MatchesTheKnownCheckValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        let a = Array("1234".utf8), b = Array("56789".utf8)
        #expect(CRC32.checksum(b, continuing: CRC32.checksum(a)) == 0xCBF4_3926)
    }

    @Test func corruptOrTruncatedStreamsThrow() throws {
        let packed = try Deflate.compress(Array(repeating: 42, count: 5000))
        #expect(throws: ZlibError.self) { try Inflate.decompress(Array(packed.prefix(packed.count / 2))) }
        var broken = packed
        broken[0] = 0x00
        #expect(throws: ZlibError.self) { try Inflate.decompress(broken) }
        #expect(throws: ZlibError.self) { try Deflate.compress([1, 2, 3], level: 11) }
    }
}

@Suite struct PNGEncoderTests {
    @Test(arguments: PNGColorType.allCases)
    func encodedImageHasValidChunksAndInflatesToThePixels(colorType: PNGColorType) throws {
        let width = 37, height = 11
        let pixels = (0..<(width * height * colorType.samplesPerPixel)).map { UInt8(truncatingIfNeeded: $0 * 13) }
        let png = try PNGEncoder.encode(width: width, height: height, colorType: colorType, pixels: pixels)
        let parsed = try PNGStructure(parsing: png)
        #expect(parsed.width == width && parsed.height == height)
        #expect(parsed.bitDepth == 8 && parsed.colorTypeCode == colorType.rawValue)
        #expect(parsed.chunks.map(\.type) == ["IHDR", "IDAT", "IEND"])
        #expect(try parsed.unfilteredPixels() == pixels)
    }

    @Test func encodingIsDeterministic() throws {
        let pixels = (0..<(64 * 64)).map { UInt8($0 % 6) }
        let a = try PNGEncoder.encode(width: 64, height: 64, colorType: .grayscale, pixels: pixels, compressionLevel: 9)
        let b = try PNGEncoder.encode(width: 64, height: 64, colorType: .grayscale, pixels: pixels, compressionLevel: 9)
        #expect(a == b)
    }

    @Test func wrongPixelCountOrSizeIsRejected() {
        #expect(throws: PNGError.self) { try PNGEncoder.encode(width: 4, height: 4, colorType: .rgb, pixels: [0, 1]) }
        #expect(throws: PNGError.self) { try PNGEncoder.encode(width: 0, height: 4, colorType: .grayscale, pixels: []) }
    }

    @Test func aFlippedByteFailsTheCRCCheck() throws {
        var png = try PNGEncoder.encode(width: 8, height: 8, colorType: .grayscale, pixels: Array(repeating: 9, count: 64))
        png[20] ^= 0xFF // inside IHDR data
        #expect(throws: PNGError.self) { try PNGStructure(parsing: png) }
    }
}
