import COpenJPEG

/// A JPEG 2000 codestream that cannot be decoded, with the reason.
public struct JPEG2000Error: Error, Sendable, Equatable, CustomStringConvertible {
    /// What failed, as a sentence.
    public var reason: String
    /// An error.
    public init(_ reason: String) { self.reason = reason }
    /// The reason.
    public var description: String { "JPEG 2000: \(reason)" }
}

/// A decoded single-component image.
public struct JPEG2000Image: Sendable {
    /// Width and height in pixels.
    public var width: Int, height: Int
    /// Bits per sample and whether samples are signed.
    public var precision: Int, signed: Bool
    /// Samples, row by row.
    public var samples: [Int32]
}

/// Decoding through OpenJPEG (`libopenjp2`), from memory.
///
/// Each call owns its codec, stream and image (`opj_create_decompress`, `opj_stream_create`,
/// `opj_read_header`/`opj_decode`, destroyed on every path); the bytes are read through a
/// memory stream whose callbacks never leave the given buffer.
public enum JPEG2000 {
    /// Largest image decoded, in pixels.
    public static let maximumPixels = 1 << 26

    /// Decodes a J2K codestream or JP2 file holding one grey-scale component.
    public static func decode(_ bytes: [UInt8]) throws(JPEG2000Error) -> JPEG2000Image {
        guard bytes.count >= 4 else { throw JPEG2000Error("\(bytes.count) bytes are too few for a codestream") }
        let isJP2 = bytes.count >= 12 && bytes[4] == 0x6A && bytes[5] == 0x50 && bytes[6] == 0x20 && bytes[7] == 0x20
        guard let codec = opj_create_decompress(isJP2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K) else {
            throw JPEG2000Error("opj_create_decompress failed")
        }
        defer { opj_destroy_codec(codec) }
        // Silence OpenJPEG's default stderr messages; errors are reported by return codes.
        let quiet: opj_msg_callback = { _, _ in }
        opj_set_error_handler(codec, quiet, nil)
        opj_set_warning_handler(codec, quiet, nil)
        opj_set_info_handler(codec, quiet, nil)
        var params = opj_dparameters_t()
        opj_set_default_decoder_parameters(&params)
        guard opj_setup_decoder(codec, &params) != 0 else { throw JPEG2000Error("opj_setup_decoder failed") }
        let source = MemorySource(bytes)
        guard let stream = opj_stream_create(1 << 16, 1) else { throw JPEG2000Error("opj_stream_create failed") }
        defer { opj_stream_destroy(stream) }
        let box = Unmanaged.passRetained(source)
        opj_stream_set_user_data(stream, box.toOpaque(), { p in Unmanaged<MemorySource>.fromOpaque(p!).release() })
        opj_stream_set_user_data_length(stream, UInt64(bytes.count))
        opj_stream_set_read_function(stream) { buffer, n, user in
            let s = Unmanaged<MemorySource>.fromOpaque(user!).takeUnretainedValue()
            let k = min(n, s.bytes.count - s.offset)
            if k <= 0 { return OPJ_SIZE_T.max } // (OPJ_SIZE_T)-1: end of stream
            s.bytes.withUnsafeBytes { src in buffer!.copyMemory(from: src.baseAddress! + s.offset, byteCount: k) }
            s.offset += k
            return k
        }
        opj_stream_set_skip_function(stream) { n, user in
            let s = Unmanaged<MemorySource>.fromOpaque(user!).takeUnretainedValue()
            let target = max(0, min(Int64(s.bytes.count), Int64(s.offset) + n))
            let moved = target - Int64(s.offset)
            s.offset = Int(target)
            return moved
        }
        opj_stream_set_seek_function(stream) { n, user in
            let s = Unmanaged<MemorySource>.fromOpaque(user!).takeUnretainedValue()
            guard n >= 0, n <= Int64(s.bytes.count) else { return 0 }
            s.offset = Int(n)
            return 1
        }
        var imagePointer: UnsafeMutablePointer<opj_image_t>? = nil
        guard opj_read_header(stream, codec, &imagePointer) != 0, let image = imagePointer else {
            if let p = imagePointer { opj_image_destroy(p) }
            throw JPEG2000Error("the codestream header cannot be read")
        }
        defer { opj_image_destroy(image) }
        let components = Int(image.pointee.numcomps)
        guard components == 1 else { throw JPEG2000Error("\(components) components; only grey-scale (1) is supported") }
        let w0 = Int(image.pointee.x1) - Int(image.pointee.x0), h0 = Int(image.pointee.y1) - Int(image.pointee.y0)
        guard w0 > 0, h0 > 0, w0 * h0 <= maximumPixels else { throw JPEG2000Error("image size \(w0)×\(h0) is not acceptable") }
        guard opj_decode(codec, stream, image) != 0, opj_end_decompress(codec, stream) != 0 else {
            throw JPEG2000Error("the codestream cannot be decoded (corrupt or truncated)")
        }
        let c = image.pointee.comps[0]
        let w = Int(c.w), h = Int(c.h)
        guard w * h == w0 * h0, let data = c.data else { throw JPEG2000Error("decoded component is \(w)×\(h), not \(w0)×\(h0)") }
        let samples = Array(UnsafeBufferPointer(start: data, count: w * h))
        return JPEG2000Image(width: w, height: h, precision: Int(c.prec), signed: c.sgnd != 0, samples: samples)
    }
}

/// The bytes and read position behind an OpenJPEG memory stream.
final class MemorySource {
    let bytes: [UInt8]
    var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
}
