import CTurboJPEG

/// A lossy JPEG stream that cannot be decoded, with libjpeg-turbo's reason.
public struct TurboJPEGError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What failed, as a sentence.
    public var reason: String
    /// An error.
    public init(_ reason: String) { self.reason = reason }
    /// The reason.
    public var description: String { "JPEG: \(reason)" }
}

/// A decoded 8-bit grey-scale JPEG image.
public struct TurboJPEGImage: Sendable {
    /// Width and height in pixels.
    public var width: Int, height: Int
    /// Samples, row by row.
    public var samples: [UInt8]
}

/// Decoding of baseline and extended (8-bit, Huffman) lossy JPEG through libjpeg-turbo's
/// TurboJPEG API (`libturbojpeg`), from memory.
///
/// Each call owns one handle (`tjInitDecompress`, released by `tjDestroy` on every path); errors
/// come back as return codes with `tjGetErrorStr2`'s message (TurboJPEG catches libjpeg's
/// `longjmp` internally). The accurate integer IDCT (`TJFLAG_ACCURATEDCT`, libjpeg's `JDCT_ISLOW`)
/// is used, so samples equal IJG libjpeg's and DCMTK's. Debian's libjpeg-turbo 2.1 is built for
/// 8-bit samples only: 12-bit extended JPEG (process 4) is refused with that reason.
public enum TurboJPEG {
    /// Largest image decoded, in pixels.
    public static let maximumPixels = 1 << 26

    /// Decodes a JPEG stream holding one grey-scale component.
    public static func decode(_ bytes: [UInt8]) throws(TurboJPEGError) -> TurboJPEGImage {
        guard bytes.count >= 4 else { throw TurboJPEGError("\(bytes.count) bytes are too few for a JPEG stream") }
        guard let handle = tjInitDecompress() else { throw TurboJPEGError("tjInitDecompress failed") }
        defer { tjDestroy(handle) }
        func message() -> String { tjGetErrorStr2(handle).map { String(cString: $0) } ?? "unknown error" }
        return try bytes.withUnsafeBufferPointer { (src: UnsafeBufferPointer<UInt8>) throws(TurboJPEGError) -> TurboJPEGImage in
            var w: Int32 = 0, h: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
            guard tjDecompressHeader3(handle, src.baseAddress, UInt(src.count), &w, &h, &subsampling, &colorspace) == 0 else {
                throw TurboJPEGError("the header cannot be read (\(message()))")
            }
            guard colorspace == Int32(TJCS_GRAY.rawValue) else {
                throw TurboJPEGError("the image is in colour (TurboJPEG colour space \(colorspace)); only grey-scale is supported")
            }
            let width = Int(w), height = Int(h)
            guard width > 0, height > 0, width * height <= maximumPixels else { throw TurboJPEGError("image size \(width)×\(height) is not acceptable") }
            var out = [UInt8](repeating: 0, count: width * height)
            let flags = TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING
            let rc = out.withUnsafeMutableBufferPointer { o in
                tjDecompress2(handle, src.baseAddress, UInt(src.count), o.baseAddress, w, 0, h, Int32(TJPF_GRAY.rawValue), Int32(flags))
            }
            guard rc == 0 else { throw TurboJPEGError("the image cannot be decoded (\(message()))") }
            return TurboJPEGImage(width: width, height: height, samples: out)
        }
    }
}
