import CDeflate

/// What went wrong inside libdeflate, with a sentence naming the operation.
public struct DeflateError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: Sendable, Equatable {
        /// `libdeflate_alloc_compressor`/`libdeflate_alloc_decompressor` returned nothing (a level
        /// outside `0...12`, or out of memory).
        case initialization
        /// The compressed input is not valid gzip/DEFLATE data, or its CRC-32 or length is wrong
        /// (`LIBDEFLATE_BAD_DATA`).
        case corruptData
        /// The output would be larger than the caller allowed (`LIBDEFLATE_INSUFFICIENT_SPACE`).
        case tooLarge
        /// The compressor produced nothing: its output bound was wrong (never expected).
        case compression
    }
    /// The kind of failure.
    public let code: Code
    /// What was being done, e.g. "gzip-compress 1048576 bytes".
    public let operation: String

    /// A readable sentence.
    public var description: String { "libdeflate: \(operation) failed (\(code))" }
}

/// One owned libdeflate compressor at a fixed level, writing whole gzip members.
///
/// libdeflate compresses whole buffers (no streaming) and is several times faster than zlib at
/// the same ratio. A compressor is not thread-safe: give each thread its own. Stands for
/// `libdeflate_alloc_compressor`, `libdeflate_gzip_compress_bound`, `libdeflate_gzip_compress`
/// and `libdeflate_free_compressor`.
///
/// A member's header has no name, MTIME 0 and OS 255 ("unknown"), so equal input at an equal
/// level always gives equal bytes.
public final class GzipMemberCompressor {
    private let compressor: OpaquePointer
    /// The compression level, `0...12` (libdeflate's scale: 1 fastest, 6 default, 12 slowest;
    /// 0 stores).
    public let level: Int

    /// A compressor for `level` (`0...12`).
    public init(level: Int) throws(DeflateError) {
        guard (0...12).contains(level), let made = libdeflate_alloc_compressor(Int32(level)) else {
            throw DeflateError(code: .initialization, operation: "allocate a compressor at level \(level)")
        }
        compressor = made
        self.level = level
    }

    deinit { libdeflate_free_compressor(compressor) }

    /// The most bytes ``compressMember(_:)`` can produce for `count` input bytes.
    public func bound(_ count: Int) -> Int {
        libdeflate_gzip_compress_bound(compressor, count)
    }

    /// `input` as one complete gzip member (header, DEFLATE data, CRC-32 and length).
    public func compressMember(_ input: UnsafeRawBufferPointer) throws(DeflateError) -> [UInt8] {
        let capacity = bound(input.count)
        var produced = 0
        let output = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initialized in
            produced = libdeflate_gzip_compress(compressor, input.baseAddress, input.count, buffer.baseAddress, capacity)
            initialized = produced
        }
        guard produced > 0 else {
            throw DeflateError(code: .compression, operation: "gzip-compress \(input.count) bytes")
        }
        return output
    }
}

/// One owned libdeflate decompressor for gzip data of one or more members.
///
/// Not thread-safe: give each thread its own. Stands for `libdeflate_alloc_decompressor`,
/// `libdeflate_gzip_decompress_ex` and `libdeflate_free_decompressor`.
public final class GzipDecompressor {
    private let decompressor: OpaquePointer

    /// A new decompressor.
    public init() throws(DeflateError) {
        guard let made = libdeflate_alloc_decompressor() else {
            throw DeflateError(code: .initialization, operation: "allocate a decompressor")
        }
        decompressor = made
    }

    deinit { libdeflate_free_decompressor(decompressor) }

    /// The content of every gzip member in `input`, concatenated, as zlib's `gzread` reads it:
    /// bytes after the last member that do not start another member (`1f 8b`) are ignored.
    ///
    /// The output buffer starts at `sizeHint` bytes (for example the uncompressed size the
    /// caller expects) and grows as needed, up to `limit` bytes, past which it throws
    /// ``DeflateError/Code/tooLarge``. Each member's CRC-32 and length are checked.
    public func decompressMembers(_ input: UnsafeRawBufferPointer, sizeHint: Int, limit: Int) throws(DeflateError) -> [UInt8] {
        var output = [UInt8]()
        var capacity = max(64 * 1024, min(sizeHint, limit))
        var offset = 0, filled = 0
        var members = 0
        while offset + 2 <= input.count, input[offset] == 0x1F, input[offset + 1] == 0x8B {
            var consumed = 0, produced = 0
            var result = LIBDEFLATE_SUCCESS
            while true {
                if output.count < capacity {
                    output.append(contentsOf: repeatElement(0, count: capacity - output.count))
                }
                let remaining = UnsafeRawBufferPointer(rebasing: input[offset...])
                result = output.withUnsafeMutableBytes { out in
                    libdeflate_gzip_decompress_ex(decompressor, remaining.baseAddress, remaining.count,
                                                  out.baseAddress! + filled, out.count - filled, &consumed, &produced)
                }
                guard result == LIBDEFLATE_INSUFFICIENT_SPACE else { break }
                guard capacity < limit else {
                    throw DeflateError(code: .tooLarge, operation: "gunzip member \(members + 1) into at most \(limit) bytes")
                }
                capacity = min(limit, max(capacity * 2, filled + 1 << 20))
            }
            switch result {
            case LIBDEFLATE_SUCCESS:
                break
            default:
                // libdeflate reports a member cut short as bad data too.
                throw DeflateError(code: .corruptData, operation: "gunzip member \(members + 1) at byte \(offset)")
            }
            offset += consumed
            filled += produced
            members += 1
        }
        guard members > 0 else {
            throw DeflateError(code: .corruptData, operation: "gunzip: the input does not start with a gzip member")
        }
        output.removeLast(output.count - filled)
        return output
    }
}
