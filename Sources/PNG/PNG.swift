import Zlib

/// Why a PNG could not be encoded or inspected.
public struct PNGError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A sentence naming the reason.
    public let reason: String
    /// A PNG error with `reason`.
    public init(_ reason: String) { self.reason = reason }
    /// A readable sentence.
    public var description: String { "PNG: \(reason)" }
}

/// The pixel layouts the encoder writes, both 8 bits per sample.
public enum PNGColorType: UInt8, Sendable, CaseIterable {
    /// One byte per pixel (PNG colour type 0).
    case grayscale = 0
    /// Three bytes per pixel, red, green, blue (PNG colour type 2).
    case rgb = 2

    /// Bytes per pixel.
    public var samplesPerPixel: Int { self == .grayscale ? 1 : 3 }
}

/// A deterministic PNG encoder for 8-bit grayscale and RGB images.
///
/// Every scanline uses filter type 0 (None); the image data is one zlib stream split into
/// `IDAT` chunks of at most 1 MiB. No time, text or gamma chunks are written, so the same pixels
/// and level always give the same bytes. The release writer uses it for 8-bit mask slices.
public enum PNGEncoder {
    /// The eight signature bytes every PNG starts with.
    public static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Encodes `pixels` (row-major, top row first, `width × height × samplesPerPixel` bytes).
    /// - Parameter compressionLevel: zlib level 0...9.
    public static func encode(width: Int, height: Int, colorType: PNGColorType, pixels: [UInt8],
                              compressionLevel: Int = 6) throws(PNGError) -> [UInt8] {
        guard width > 0, height > 0, width <= Int(Int32.max), height <= Int(Int32.max) else {
            throw PNGError("image size \(width)×\(height) must be positive and below 2^31")
        }
        let rowBytes = width * colorType.samplesPerPixel
        guard pixels.count == rowBytes * height else {
            throw PNGError("\(pixels.count) pixel bytes do not match \(width)×\(height) \(colorType)")
        }
        var raw = [UInt8](repeating: 0, count: (rowBytes + 1) * height)
        pixels.withUnsafeBufferPointer { src in
            raw.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    // dst[y * (rowBytes + 1)] stays 0: filter type None.
                    let d = dst.baseAddress! + y * (rowBytes + 1) + 1
                    d.update(from: src.baseAddress! + y * rowBytes, count: rowBytes)
                }
            }
        }
        let compressed: [UInt8]
        do { compressed = try Deflate.compress(raw, level: compressionLevel) } catch {
            throw PNGError("compressing image data: \(error)")
        }
        var out = signature
        var header: [UInt8] = []
        header.appendBigEndian(UInt32(width))
        header.appendBigEndian(UInt32(height))
        header += [8, colorType.rawValue, 0, 0, 0] // bit depth, colour type, compression, filter, interlace
        appendChunk("IHDR", header, to: &out)
        var offset = 0
        repeat {
            let end = min(compressed.count, offset + (1 << 20))
            appendChunk("IDAT", compressed[offset..<end], to: &out)
            offset = end
        } while offset < compressed.count
        appendChunk("IEND", [], to: &out)
        return out
    }

    static func appendChunk<C: Collection>(_ type: String, _ data: C, to out: inout [UInt8]) where C.Element == UInt8 {
        out.appendBigEndian(UInt32(data.count))
        let typeBytes = Array(type.utf8)
        out += typeBytes
        out += data
        out.appendBigEndian(CRC32.checksum(data, continuing: CRC32.checksum(typeBytes)))
    }
}

/// A structural reading of a PNG: its chunks with verified CRCs and the decoded `IHDR`.
///
/// Not a general decoder: it supports what ``PNGEncoder`` writes (8-bit, filter type 0 only
/// when reconstructing pixels) and exists so tests and tools can check files without a
/// third-party decoder.
public struct PNGStructure: Sendable {
    /// One chunk: its four-letter type and payload.
    public struct Chunk: Sendable {
        /// The chunk type, e.g. `IHDR`.
        public let type: String
        /// The payload bytes.
        public let data: [UInt8]
    }
    /// All chunks in file order.
    public let chunks: [Chunk]
    /// Width from `IHDR`.
    public let width: Int
    /// Height from `IHDR`.
    public let height: Int
    /// Bit depth from `IHDR`.
    public let bitDepth: UInt8
    /// Colour type from `IHDR`.
    public let colorTypeCode: UInt8

    /// Parses `bytes`, checking the signature, every chunk's CRC, that `IHDR` comes first and `IEND` last.
    public init(parsing bytes: [UInt8]) throws(PNGError) {
        guard bytes.count >= 8, Array(bytes[0..<8]) == PNGEncoder.signature else { throw PNGError("bad signature") }
        var chunks: [Chunk] = []
        var p = 8
        while p < bytes.count {
            guard p + 12 <= bytes.count else { throw PNGError("truncated chunk at byte \(p)") }
            let length = Int(bytes.readBigEndian(at: p))
            guard length <= bytes.count - p - 12 else { throw PNGError("chunk at byte \(p) runs past the end") }
            let typeBytes = Array(bytes[(p + 4)..<(p + 8)])
            let data = Array(bytes[(p + 8)..<(p + 8 + length)])
            let stored = bytes.readBigEndian(at: p + 8 + length)
            let computed = CRC32.checksum(data, continuing: CRC32.checksum(typeBytes))
            let type = String(decoding: typeBytes, as: UTF8.self)
            guard stored == computed else { throw PNGError("CRC mismatch in chunk \(type) at byte \(p)") }
            chunks.append(Chunk(type: type, data: data))
            p += 12 + length
        }
        guard let first = chunks.first, first.type == "IHDR", first.data.count == 13 else {
            throw PNGError("first chunk is not a 13-byte IHDR")
        }
        guard chunks.last?.type == "IEND" else { throw PNGError("last chunk is not IEND") }
        self.chunks = chunks
        width = Int(first.data.readBigEndian(at: 0))
        height = Int(first.data.readBigEndian(at: 4))
        bitDepth = first.data[8]
        colorTypeCode = first.data[9]
    }

    /// The pixels of an 8-bit image whose scanlines all use filter type 0, inflated with ``Zlib``.
    public func unfilteredPixels() throws(PNGError) -> [UInt8] {
        guard bitDepth == 8, let color = PNGColorType(rawValue: colorTypeCode) else {
            throw PNGError("only 8-bit grayscale or RGB is supported")
        }
        let idat = chunks.filter { $0.type == "IDAT" }.flatMap(\.data)
        let raw: [UInt8]
        do { raw = try Inflate.decompress(idat) } catch { throw PNGError("image data: \(error)") }
        let rowBytes = width * color.samplesPerPixel
        guard raw.count == (rowBytes + 1) * height else {
            throw PNGError("image data holds \(raw.count) bytes, expected \((rowBytes + 1) * height)")
        }
        var pixels: [UInt8] = []
        pixels.reserveCapacity(rowBytes * height)
        for y in 0..<height {
            let start = y * (rowBytes + 1)
            guard raw[start] == 0 else { throw PNGError("row \(y) uses filter \(raw[start]), not 0") }
            pixels += raw[(start + 1)...(start + rowBytes)]
        }
        return pixels
    }
}

extension Array where Element == UInt8 {
    mutating func appendBigEndian(_ v: UInt32) {
        append(UInt8(v >> 24)); append(UInt8(truncatingIfNeeded: v >> 16))
        append(UInt8(truncatingIfNeeded: v >> 8)); append(UInt8(truncatingIfNeeded: v))
    }
    func readBigEndian(at p: Int) -> UInt32 {
        UInt32(self[p]) << 24 | UInt32(self[p + 1]) << 16 | UInt32(self[p + 2]) << 8 | UInt32(self[p + 3])
    }
}
