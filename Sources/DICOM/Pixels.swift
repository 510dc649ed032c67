import JPEG2000
import JPEGLS
import TurboJPEG

/// The image-pixel description of one grey-scale image (one or more frames), validated.
public struct PixelFormat: Sendable, Hashable {
    /// Rows (j extent) and columns (i extent).
    public var rows: Int, columns: Int
    /// Bits Allocated (8 or 16; 32 for uncompressed data).
    public var bitsAllocated: Int
    /// Bits Stored (1...bitsAllocated).
    public var bitsStored: Int
    /// Pixel Representation 1: two's complement.
    public var signed: Bool
    /// Number of Frames (1 when absent).
    public var frames: Int

    /// Reads and checks the pixel module of `ds`.
    /// - Throws: ``DICOMError`` naming the file for colour images, missing or absurd attributes.
    public init(_ ds: DICOMDataSet) throws(DICOMError) {
        func need(_ tag: DICOMTag, _ name: String) throws(DICOMError) -> Int {
            guard let v = ds.int(tag) else { throw DICOMError(path: ds.path, reason: "\(name) \(tag) is missing or not a number") }
            return v
        }
        rows = try need(.rows, "Rows")
        columns = try need(.columns, "Columns")
        guard (1...65535).contains(rows), (1...65535).contains(columns) else {
            throw DICOMError(path: ds.path, reason: "image size \(columns)×\(rows) is not valid")
        }
        guard rows * columns <= PixelFormat.maximumPixels else {
            throw DICOMError(path: ds.path, reason: "image size \(columns)×\(rows) exceeds \(PixelFormat.maximumPixels) pixels per image")
        }
        bitsAllocated = try need(.bitsAllocated, "Bits Allocated")
        guard [8, 16, 32].contains(bitsAllocated) else {
            throw DICOMError(path: ds.path, reason: "Bits Allocated \(bitsAllocated) is not supported (8, 16 or 32)")
        }
        bitsStored = ds.int(.bitsStored) ?? bitsAllocated
        if bitsStored < 1 || bitsStored > bitsAllocated { bitsStored = bitsAllocated }
        signed = (ds.int(.pixelRepresentation) ?? 0) == 1
        let samples = ds.int(.samplesPerPixel) ?? 1
        guard samples == 1 else {
            throw DICOMError(path: ds.path, reason: "Samples per Pixel is \(samples); only grey-scale (1) CT images are supported")
        }
        if let p = ds.string(.photometricInterpretation), p != "MONOCHROME2", p != "MONOCHROME1" {
            throw DICOMError(path: ds.path, reason: "Photometric Interpretation \(p) is not grey-scale (MONOCHROME1/2)")
        }
        frames = ds.int(.numberOfFrames) ?? 1
        guard (1...65536).contains(frames) else {
            throw DICOMError(path: ds.path, reason: "Number of Frames \(frames) is not valid")
        }
    }

    /// Pixels per frame.
    public var count: Int { rows * columns }
    /// Largest image accepted (pixels), so a hostile header cannot make a decoder allocate gigabytes.
    public static let maximumPixels = 1 << 24
}

/// Decodes the pixel data of a single-frame image into stored values (before rescaling).
public enum PixelDecoder {
    /// The stored values of frame `frame` (from 0) of `ds`, row by row (DICOM order: columns
    /// fastest, first row first), masked to Bits Stored and sign-extended when Pixel
    /// Representation is 1. Encapsulated multi-frame data needs one fragment per frame.
    /// - Throws: ``DICOMError`` naming the file when pixel data is missing, short, or cannot be decoded.
    public static func storedValues(_ ds: DICOMDataSet, format f: PixelFormat, frame: Int = 0) throws(DICOMError) -> [Int32] {
        guard (0..<f.frames).contains(frame) else {
            throw DICOMError(path: ds.path, reason: "frame \(frame + 1) requested of an image of \(f.frames) frame(s)")
        }
        guard let e = ds.elements[.pixelData] else {
            throw DICOMError(path: ds.path, reason: "has no Pixel Data (7FE0,0010)")
        }
        var raw: [UInt8]
        var bigEndian = ds.transferSyntax.isBigEndian
        switch ds.transferSyntax {
        case .implicitLittle, .explicitLittle, .explicitBig, .deflatedExplicitLittle:
            guard e.fragments == nil else {
                throw DICOMError(path: ds.path, reason: "holds encapsulated Pixel Data in an uncompressed transfer syntax")
            }
            let need = f.count * f.bitsAllocated / 8
            guard e.range.count >= need * f.frames else {
                throw DICOMError(path: ds.path, reason: "Pixel Data holds \(e.range.count) bytes; \(f.frames > 1 ? "\(f.frames) frames of " : "")\(f.columns)×\(f.rows) at \(f.bitsAllocated) bits needs \(need * f.frames)")
            }
            return unpack(ds.bytes, from: e.range.lowerBound + frame * need, format: f, bigEndian: bigEndian)
        case .encapsulated(let c):
            guard let all = e.fragments, !all.isEmpty else {
                throw DICOMError(path: ds.path, reason: "\(c.rawValue) transfer syntax but the Pixel Data is not encapsulated (no fragments)")
            }
            guard f.frames == 1 || all.count == f.frames else {
                throw DICOMError(path: ds.path, reason: "\(c.rawValue) Pixel Data of \(f.frames) frames is split into \(all.count) fragments; one fragment per frame is supported")
            }
            let fragments = f.frames == 1 ? all : [all[frame]]
            bigEndian = false
            var stream: [UInt8] = []
            for r in fragments { stream.append(contentsOf: ds.bytes[r]) }
            switch c {
            case .rle:
                raw = try RLEDecoder.decode(fragments.map { Array(ds.bytes[$0]) }, format: f, path: ds.path)
                return unpack(raw, from: 0, format: f, bigEndian: false)
            case .jpeg2000:
                let img: JPEG2000Image
                do { img = try JPEG2000.decode(stream) } catch {
                    throw DICOMError(path: ds.path, reason: "JPEG 2000 pixel data cannot be decoded: \(error.reason)")
                }
                guard img.width == f.columns, img.height == f.rows else {
                    throw DICOMError(path: ds.path, reason: "JPEG 2000 image is \(img.width)×\(img.height), the header says \(f.columns)×\(f.rows)")
                }
                return reconcileJPEG2000(img, format: f)
            case .jpegLossless:
                do {
                    return finish(try LosslessJPEG.decode(stream, format: f), format: f)
                } catch let e as LosslessJPEG.Failure {
                    throw DICOMError(path: ds.path, reason: "JPEG lossless pixel data cannot be decoded: \(e.reason)")
                } catch { throw DICOMError(path: ds.path, reason: "JPEG lossless pixel data cannot be decoded: \(error)") }
            case .jpegLS:
                let img: JPEGLSImage
                do { img = try JPEGLS.decode(stream) } catch {
                    throw DICOMError(path: ds.path, reason: "JPEG-LS pixel data cannot be decoded: \(error.reason)")
                }
                guard img.width == f.columns, img.height == f.rows else {
                    throw DICOMError(path: ds.path, reason: "JPEG-LS image is \(img.width)×\(img.height), the header says \(f.columns)×\(f.rows)")
                }
                guard img.bitsPerSample <= f.bitsAllocated else {
                    throw DICOMError(path: ds.path, reason: "JPEG-LS image has \(img.bitsPerSample) bits per sample, more than Bits Allocated \(f.bitsAllocated)")
                }
                return finish(img.samples, format: f)
            case .jpegLossy:
                let img: TurboJPEGImage
                do { img = try TurboJPEG.decode(stream) } catch {
                    throw DICOMError(path: ds.path, reason: "JPEG (lossy) pixel data cannot be decoded: \(error.reason)")
                }
                guard img.width == f.columns, img.height == f.rows else {
                    throw DICOMError(path: ds.path, reason: "JPEG image is \(img.width)×\(img.height), the header says \(f.columns)×\(f.rows)")
                }
                return finish(img.samples.map { Int32($0) }, format: f)
            }
        }
    }

    /// Pixel Representation wins over the JPEG 2000 codestream's signedness (pydicom's
    /// `APPLY_J2K_CORRECTIONS` rule). Some encoders write a signed CT (Pixel Representation 1) as an
    /// unsigned codestream (or the reverse); the decoded samples are then the two's-complement bit
    /// patterns read with the wrong sign, so their low `precision` bits (the codestream's precision,
    /// which is Bits Stored in a consistent file) are reinterpreted with the header's sign. When the
    /// signs agree the samples are kept as decoded.
    static func reconcileJPEG2000(_ img: JPEG2000Image, format f: PixelFormat) -> [Int32] {
        guard img.signed != f.signed else { return img.samples }
        let bits = (1...31).contains(img.precision) ? img.precision : min(f.bitsStored, 31)
        let mask = Int32(truncatingIfNeeded: (UInt32(1) << UInt32(bits)) &- 1)
        let shift = Int32(32 - bits)
        return img.samples.map { v in
            let m = v & mask
            return f.signed ? (m << shift) >> shift : m
        }
    }

    /// Masks and sign-extends already-decoded values to Bits Stored.
    static func finish(_ values: [Int32], format f: PixelFormat) -> [Int32] {
        guard f.bitsStored < 32 else { return values }
        let mask = Int32(truncatingIfNeeded: (UInt32(1) << UInt32(f.bitsStored)) &- 1)
        let shift = Int32(32 - f.bitsStored)
        return values.map { v in
            let m = v & mask
            return f.signed ? (m << shift) >> shift : m
        }
    }

    static func unpack(_ bytes: [UInt8], from start: Int, format f: PixelFormat, bigEndian: Bool) -> [Int32] {
        let n = f.count
        var out = [Int32](repeating: 0, count: n)
        let bits = f.bitsStored
        let shift = Int32(32 - bits)
        let mask: UInt32 = bits >= 32 ? .max : (UInt32(1) << UInt32(bits)) - 1
        bytes.withUnsafeBufferPointer { b in
            out.withUnsafeMutableBufferPointer { o in
                switch f.bitsAllocated {
                case 8:
                    for i in 0..<n {
                        let v = UInt32(b[start + i]) & mask
                        o[i] = f.signed ? (Int32(bitPattern: v) << shift) >> shift : Int32(bitPattern: v)
                    }
                case 16:
                    for i in 0..<n {
                        let p = start + 2 * i
                        let u = bigEndian ? UInt32(b[p]) << 8 | UInt32(b[p + 1]) : UInt32(b[p]) | UInt32(b[p + 1]) << 8
                        let v = u & mask
                        o[i] = f.signed ? (Int32(bitPattern: v) << shift) >> shift : Int32(bitPattern: v)
                    }
                default:
                    for i in 0..<n {
                        let p = start + 4 * i
                        let u = bigEndian
                            ? UInt32(b[p]) << 24 | UInt32(b[p + 1]) << 16 | UInt32(b[p + 2]) << 8 | UInt32(b[p + 3])
                            : UInt32(b[p]) | UInt32(b[p + 1]) << 8 | UInt32(b[p + 2]) << 16 | UInt32(b[p + 3]) << 24
                        let v = u & mask
                        // Unsigned 32-bit values above Int32.max are clamped; CT never stores them.
                        o[i] = f.signed ? (bits < 32 ? (Int32(bitPattern: v) << shift) >> shift : Int32(bitPattern: v))
                                        : Int32(clamping: Int64(v))
                    }
                }
            }
        }
        return out
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// DICOM RLE Lossless (PS3.5 Annex G): a 64-byte header of segment offsets, then one PackBits
/// segment per byte plane (most significant first).
enum RLEDecoder {
    static func decode(_ fragments: [[UInt8]], format f: PixelFormat, path: String) throws(DICOMError) -> [UInt8] {
        var frame: [UInt8] = []
        for x in fragments { frame.append(contentsOf: x) }
        guard frame.count >= 64 else { throw DICOMError(path: path, reason: "RLE frame of \(frame.count) bytes has no 64-byte header") }
        func u32(_ o: Int) -> Int { Int(UInt32(frame[o]) | UInt32(frame[o + 1]) << 8 | UInt32(frame[o + 2]) << 16 | UInt32(frame[o + 3]) << 24) }
        let segments = u32(0)
        let planes = f.bitsAllocated / 8
        // PackBits expands at most 128 pixels per 2 bytes: refuse a frame that cannot hold the image.
        guard frame.count * 64 >= f.count else {
            throw DICOMError(path: path, reason: "RLE frame of \(frame.count) bytes cannot hold \(f.columns)×\(f.rows) pixels")
        }
        guard segments == planes else {
            throw DICOMError(path: path, reason: "RLE header announces \(segments) segments; \(f.bitsAllocated)-bit grey-scale needs \(planes)")
        }
        let n = f.count
        var out = [UInt8](repeating: 0, count: n * planes)
        for s in 0..<segments {
            let start = u32(4 + 4 * s)
            let end = s + 1 < segments ? u32(8 + 4 * s) : frame.count
            guard start >= 64, start <= end, end <= frame.count else {
                throw DICOMError(path: path, reason: "RLE segment \(s + 1) has offsets \(start)..<\(end) outside the \(frame.count)-byte frame")
            }
            // Segment s holds byte plane s, most significant first; little-endian output order.
            let byteIndex = planes - 1 - s
            var p = start, produced = 0
            while p < end && produced < n {
                let c = Int8(bitPattern: frame[p]); p += 1
                if c >= 0 {
                    let run = Int(c) + 1
                    guard p + run <= end, produced + run <= n else {
                        throw DICOMError(path: path, reason: "RLE segment \(s + 1) literal run overflows its segment or the frame")
                    }
                    for r in 0..<run { out[(produced + r) * planes + byteIndex] = frame[p + r] }
                    p += run; produced += run
                } else if c != -128 {
                    let run = 1 - Int(c)
                    guard p < end, produced + run <= n else {
                        throw DICOMError(path: path, reason: "RLE segment \(s + 1) replicate run overflows its segment or the frame")
                    }
                    let v = frame[p]; p += 1
                    for r in 0..<run { out[(produced + r) * planes + byteIndex] = v }
                    produced += run
                }
            }
            guard produced == n else {
                throw DICOMError(path: path, reason: "RLE segment \(s + 1) decodes to \(produced) pixels, \(n) expected")
            }
        }
        return out
    }
}
