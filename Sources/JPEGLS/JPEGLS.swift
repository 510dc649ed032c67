import CCharLS

/// A JPEG-LS stream that cannot be decoded, with CharLS's reason.
public struct JPEGLSError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What failed, as a sentence.
    public var reason: String
    /// An error.
    public init(_ reason: String) { self.reason = reason }
    /// The reason.
    public var description: String { "JPEG-LS: \(reason)" }
}

/// A decoded single-component JPEG-LS image.
public struct JPEGLSImage: Sendable {
    /// Width and height in pixels.
    public var width: Int, height: Int
    /// Bits per sample (2...16).
    public var bitsPerSample: Int
    /// Whether the stream was near-lossless (NEAR > 0).
    public var nearLossless: Int
    /// Samples, row by row, unsigned as coded.
    public var samples: [Int32]
}

/// Decoding through CharLS (`libcharls`), from memory.
///
/// Each call owns one decoder (`charls_jpegls_decoder_create`, destroyed on every path) that reads
/// the caller's buffer in place (`charls_jpegls_decoder_set_source_buffer`) and writes into a
/// buffer sized by `charls_jpegls_decoder_get_destination_size`; CharLS reports every problem by
/// an error code, translated here with `charls_get_error_message`. Calls are independent, so any
/// number of threads may decode at once.
public enum JPEGLS {
    /// Largest image decoded, in pixels.
    public static let maximumPixels = 1 << 26

    /// Decodes a JPEG-LS stream holding one grey-scale component.
    public static func decode(_ bytes: [UInt8]) throws(JPEGLSError) -> JPEGLSImage {
        guard bytes.count >= 4 else { throw JPEGLSError("\(bytes.count) bytes are too few for a JPEG-LS stream") }
        guard let decoder = charls_jpegls_decoder_create() else { throw JPEGLSError("charls_jpegls_decoder_create failed") }
        defer { charls_jpegls_decoder_destroy(decoder) }
        func check(_ code: charls_jpegls_errc, _ step: String) throws(JPEGLSError) {
            guard code != CHARLS_JPEGLS_ERRC_SUCCESS else { return }
            let message = charls_get_error_message(code).map { String(cString: $0) } ?? "error \(code.rawValue)"
            throw JPEGLSError("\(step): \(message)")
        }
        return try bytes.withUnsafeBufferPointer { (src: UnsafeBufferPointer<UInt8>) throws(JPEGLSError) -> JPEGLSImage in
            try check(charls_jpegls_decoder_set_source_buffer(decoder, src.baseAddress!, src.count), "the source buffer is refused")
            try check(charls_jpegls_decoder_read_header(decoder), "the header cannot be read")
            var info = charls_frame_info()
            try check(charls_jpegls_decoder_get_frame_info(decoder, &info), "the frame information cannot be read")
            let w = Int(info.width), h = Int(info.height), bits = Int(info.bits_per_sample)
            guard info.component_count == 1 else { throw JPEGLSError("\(info.component_count) components; only grey-scale (1) is supported") }
            guard w > 0, h > 0, w * h <= maximumPixels else { throw JPEGLSError("image size \(w)×\(h) is not acceptable") }
            guard (2...16).contains(bits) else { throw JPEGLSError("\(bits) bits per sample is not supported (2...16)") }
            var near: Int32 = 0
            try check(charls_jpegls_decoder_get_near_lossless(decoder, 0, &near), "the NEAR parameter cannot be read")
            var size = 0
            try check(charls_jpegls_decoder_get_destination_size(decoder, 0, &size), "the image size cannot be computed")
            let bytesPerSample = bits <= 8 ? 1 : 2
            guard size == w * h * bytesPerSample else { throw JPEGLSError("CharLS needs \(size) bytes for \(w)×\(h) at \(bits) bits") }
            var samples = [Int32](repeating: 0, count: w * h)
            var raw = [UInt8](repeating: 0, count: size)
            try raw.withUnsafeMutableBufferPointer { (dst: inout UnsafeMutableBufferPointer<UInt8>) throws(JPEGLSError) in
                try check(charls_jpegls_decoder_decode_to_buffer(decoder, dst.baseAddress!, dst.count, 0), "the image cannot be decoded")
            }
            raw.withUnsafeBytes { r in
                samples.withUnsafeMutableBufferPointer { o in
                    if bytesPerSample == 1 {
                        for i in 0..<(w * h) { o[i] = Int32(r[i]) }
                    } else {
                        // CharLS writes 16-bit samples in the machine's byte order.
                        for i in 0..<(w * h) { o[i] = Int32(r.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
                    }
                }
            }
            return JPEGLSImage(width: w, height: h, bitsPerSample: bits, nearLossless: Int(near), samples: samples)
        }
    }
}
