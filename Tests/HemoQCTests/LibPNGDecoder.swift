import CLibPNG

/// A PNG decoded by Debian's libpng (the simplified read API), independent of the project's encoder.
struct LibPNGImage {
    var width: Int
    var height: Int
    /// Row-major pixels in the requested format (3 bytes per pixel for RGB, 1 for grayscale).
    var pixels: [UInt8]
}

/// libpng refused the bytes; `message` is libpng's own.
struct LibPNGFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { "libpng: \(message)" }
}

/// Decodes `bytes` with libpng into 8-bit RGB (`rgb`) or 8-bit grayscale.
///
/// Ownership: `bytes` stay borrowed for the whole decode (libpng reads from them until
/// `png_image_finish_read` returns); whatever libpng allocates in `image.opaque` is released by
/// `png_image_free` on every path; the pixel buffer is a Swift array libpng only writes into.
func decodeWithLibPNG(_ bytes: [UInt8], rgb: Bool = true) throws -> LibPNGImage {
    try bytes.withUnsafeBytes { memory throws -> LibPNGImage in
        var image = png_image()
        image.version = clibpng_image_version
        defer { png_image_free(&image) }
        guard png_image_begin_read_from_memory(&image, memory.baseAddress, memory.count) != 0 else {
            throw LibPNGFailure(message: message(of: image))
        }
        image.format = rgb ? clibpng_format_rgb : clibpng_format_gray
        let width = Int(image.width), height = Int(image.height), channels = rgb ? 3 : 1
        var pixels = [UInt8](repeating: 0, count: width * height * channels)
        let finished = pixels.withUnsafeMutableBytes { buffer in
            png_image_finish_read(&image, nil, buffer.baseAddress, Int32(width * channels), nil)
        }
        guard finished != 0 else { throw LibPNGFailure(message: message(of: image)) }
        return LibPNGImage(width: width, height: height, pixels: pixels)
    }
}

/// The NUL-terminated `message` field of a png_image.
private func message(of image: png_image) -> String {
    withUnsafeBytes(of: image.message) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
}
