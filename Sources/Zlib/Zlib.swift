import CZlib

/// What went wrong inside zlib, with the zlib return code and a sentence naming the operation.
public struct ZlibError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: Sendable, Equatable {
        /// `deflateInit_`/`inflateInit_` failed (bad level, out of memory, version mismatch).
        case initialization
        /// The compressed input is corrupt or truncated (`Z_DATA_ERROR`, premature end).
        case corruptData
        /// zlib ran out of memory (`Z_MEM_ERROR`).
        case outOfMemory
        /// The stream state was inconsistent (`Z_STREAM_ERROR`), or another unexpected code.
        case stream
        /// A compression level outside `0...9` was requested.
        case invalidLevel
    }
    /// The kind of failure.
    public let code: Code
    /// The raw zlib return code (0 when the failure was detected before calling zlib).
    public let zlibCode: Int32
    /// What was being done, e.g. "deflate 1024 bytes".
    public let operation: String

    /// A readable sentence.
    public var description: String { "zlib: \(operation) failed (\(code), zlib code \(zlibCode))" }

    static func from(_ rc: Int32, _ operation: String) -> ZlibError {
        let code: Code = switch rc {
        case Z_DATA_ERROR, Z_NEED_DICT, Z_BUF_ERROR: .corruptData
        case Z_MEM_ERROR: .outOfMemory
        case Z_VERSION_ERROR: .initialization
        default: .stream
        }
        return ZlibError(code: code, zlibCode: rc, operation: operation)
    }
}

/// One owned `z_stream`: allocated once, ended in `deinit` (stands for `deflateEnd`/`inflateEnd`).
private final class OwnedStream {
    enum Kind { case deflate, inflate }
    let stream: UnsafeMutablePointer<z_stream>
    let kind: Kind
    private var initialized = false

    init(kind: Kind, level: Int32, rawInflate: Bool = false, gzipInflate: Bool = false) throws(ZlibError) {
        self.kind = kind
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let size = Int32(MemoryLayout<z_stream>.size)
        let rc = switch kind {
        case .deflate: deflateInit_(stream, level, zlibVersion(), size)
        // 15 + 16: a 32 KiB window, gzip wrapper only (header parsed, CRC-32 and length checked).
        case .inflate where gzipInflate: inflateInit2_(stream, 15 + 16, zlibVersion(), size)
        case .inflate: rawInflate ? inflateInit2_(stream, -15, zlibVersion(), size) : inflateInit_(stream, zlibVersion(), size)
        }
        guard rc == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            throw ZlibError(code: rc == Z_MEM_ERROR ? .outOfMemory : .initialization, zlibCode: rc,
                            operation: kind == .deflate ? "deflateInit(level \(level))" : "inflateInit")
        }
        initialized = true
    }

    deinit {
        if initialized {
            switch kind {
            case .deflate: _ = deflateEnd(stream)
            case .inflate: _ = inflateEnd(stream)
            }
        }
        stream.deinitialize(count: 1)
        stream.deallocate()
    }
}

/// zlib-format (RFC 1950) compression: the payload of PNG `IDAT` chunks.
public enum Deflate {
    /// Compresses `bytes` into one zlib stream (stands for `deflateInit_` + `deflate(Z_FINISH)` + `deflateEnd`).
    ///
    /// The output depends only on the input, the level and the zlib build, so it is deterministic.
    /// - Parameter level: 0 (store) ... 9 (smallest); 6 is zlib's default.
    public static func compress(_ bytes: [UInt8], level: Int = 6) throws(ZlibError) -> [UInt8] {
        guard (0...9).contains(level) else {
            throw ZlibError(code: .invalidLevel, zlibCode: 0, operation: "deflate at level \(level)")
        }
        let owned = try OwnedStream(kind: .deflate, level: Int32(level))
        let s = owned.stream
        let bound = Int(deflateBound(s, uLong(bytes.count)))
        var out = [UInt8](repeating: 0, count: bound + 64)
        var input = bytes
        var produced = 0
        var rc: Int32 = Z_OK
        input.withUnsafeMutableBufferPointer { inp in
            out.withUnsafeMutableBufferPointer { outp in
                s.pointee.next_in = inp.baseAddress
                s.pointee.avail_in = uInt(inp.count)
                s.pointee.next_out = outp.baseAddress
                s.pointee.avail_out = uInt(outp.count)
                rc = deflate(s, Z_FINISH)
                produced = outp.count - Int(s.pointee.avail_out)
                s.pointee.next_in = nil
                s.pointee.next_out = nil
            }
        }
        guard rc == Z_STREAM_END else { throw ZlibError.from(rc, "deflate \(bytes.count) bytes") }
        out.removeSubrange(produced...)
        return out
    }
}

/// zlib-format (RFC 1950) decompression.
public enum Inflate {
    /// Decompresses one complete zlib stream (stands for `inflateInit_` + `inflate` + `inflateEnd`).
    ///
    /// Throws ``ZlibError/Code/corruptData`` when the stream is corrupt, truncated, or followed by
    /// more than `maximumOutput` bytes of output (a guard against decompression bombs).
    public static func decompress(_ bytes: [UInt8], maximumOutput: Int = 1 << 31) throws(ZlibError) -> [UInt8] {
        try decompress(bytes, raw: false, maximumOutput: maximumOutput)
    }

    /// Decompresses one raw DEFLATE stream (RFC 1951, no zlib header or checksum), as DICOM's
    /// Deflated Explicit VR Little Endian transfer syntax stores its data set (stands for
    /// `inflateInit2_(-15)` + `inflate` + `inflateEnd`). Same errors as ``decompress(_:maximumOutput:)``.
    public static func decompressRaw(_ bytes: [UInt8], maximumOutput: Int = 1 << 31) throws(ZlibError) -> [UInt8] {
        try decompress(bytes, raw: true, maximumOutput: maximumOutput)
    }

    private static func decompress(_ bytes: [UInt8], raw: Bool, maximumOutput: Int) throws(ZlibError) -> [UInt8] {
        let owned = try OwnedStream(kind: .inflate, level: 0, rawInflate: raw)
        let s = owned.stream
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: max(1 << 16, min(bytes.count * 4, 1 << 24)))
        var input = bytes
        var rc: Int32 = Z_OK
        var failure: ZlibError?
        input.withUnsafeMutableBufferPointer { inp in
            s.pointee.next_in = inp.baseAddress
            s.pointee.avail_in = uInt(inp.count)
            while true {
                let got: Int = chunk.withUnsafeMutableBufferPointer { outp in
                    s.pointee.next_out = outp.baseAddress
                    s.pointee.avail_out = uInt(outp.count)
                    rc = inflate(s, Z_NO_FLUSH)
                    let n = outp.count - Int(s.pointee.avail_out)
                    s.pointee.next_out = nil
                    return n
                }
                result.append(contentsOf: chunk[0..<got])
                if result.count > maximumOutput {
                    failure = ZlibError(code: .corruptData, zlibCode: 0,
                                        operation: "inflate: output exceeds \(maximumOutput) bytes")
                    break
                }
                if rc == Z_STREAM_END { break }
                if rc == Z_BUF_ERROR && s.pointee.avail_in == 0 {
                    failure = ZlibError(code: .corruptData, zlibCode: rc, operation: "inflate: input truncated")
                    break
                }
                if rc != Z_OK && rc != Z_BUF_ERROR {
                    failure = ZlibError.from(rc, "inflate \(bytes.count) bytes")
                    break
                }
            }
            s.pointee.next_in = nil
        }
        if let failure { throw failure }
        return result
    }
}

/// CRC-32 (ISO-HDLC, as PNG and gzip use it), through zlib's `crc32`.
public enum CRC32 {
    /// The CRC-32 of `bytes`, continuing from `initial` (0 for a fresh checksum).
    public static func checksum<C: Collection>(_ bytes: C, continuing initial: UInt32 = 0) -> UInt32
    where C.Element == UInt8 {
        let run: (UnsafeBufferPointer<UInt8>) -> UInt32 = { p in
            var crc = uLong(initial)
            var offset = 0
            while offset < p.count {
                let n = min(p.count - offset, Int(Int32.max))
                crc = crc32(crc, p.baseAddress! + offset, uInt(n))
                offset += n
            }
            return UInt32(truncatingIfNeeded: crc)
        }
        if let r = bytes.withContiguousStorageIfAvailable(run) { return r }
        return Array(bytes).withUnsafeBufferPointer(run)
    }
}

/// Streaming gzip (RFC 1952) decompression, one member at a time, for readers that inflate a file
/// as they read it (the NIfTI reader's `.nii.gz` stream).
///
/// Owns one `z_stream` (stands for `inflateInit2_`, `inflate`, `inflateReset` and `inflateEnd`);
/// not thread-safe: one inflater per stream.
public final class GzipInflater {
    /// What one ``inflate(from:into:)`` call did.
    public struct Step: Sendable, Equatable {
        /// Bytes of compressed input used.
        public var consumed: Int
        /// Bytes of content written to the output.
        public var produced: Int
        /// Whether the current gzip member ended (its CRC-32 and length were checked); call
        /// ``reset()`` before inflating a following member.
        public var memberEnded: Bool
    }

    private let owned: OwnedStream

    /// Starts an inflater for gzip-wrapped input. Throws ``ZlibError/Code/outOfMemory`` or
    /// ``ZlibError/Code/initialization``.
    public init() throws(ZlibError) {
        owned = try OwnedStream(kind: .inflate, level: 0, gzipInflate: true)
    }

    /// Inflates as much of `input` into `output` as one `inflate(Z_NO_FLUSH)` call does.
    ///
    /// Throws ``ZlibError/Code/corruptData`` (with zlib's own message in the operation) when the
    /// member is corrupt, ``ZlibError/Code/outOfMemory`` when zlib ran out of memory.
    public func inflate(from input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws(ZlibError) -> Step {
        let z = owned.stream
        let inCount = min(input.count, Int(UInt32.max))
        let outCount = min(output.count, Int(UInt32.max))
        z.pointee.next_in = inCount == 0 ? nil : UnsafeMutablePointer(mutating: input.baseAddress!.assumingMemoryBound(to: Bytef.self))
        z.pointee.avail_in = uInt(inCount)
        z.pointee.next_out = outCount == 0 ? nil : output.baseAddress!.assumingMemoryBound(to: Bytef.self)
        z.pointee.avail_out = uInt(outCount)
        let rc = CZlib.inflate(z, Z_NO_FLUSH)
        let step = Step(consumed: inCount - Int(z.pointee.avail_in), produced: outCount - Int(z.pointee.avail_out),
                        memberEnded: rc == Z_STREAM_END)
        z.pointee.next_in = nil
        z.pointee.next_out = nil
        switch rc {
        case Z_OK, Z_BUF_ERROR, Z_STREAM_END:
            return step
        case Z_DATA_ERROR:
            throw ZlibError(code: .corruptData, zlibCode: rc,
                            operation: z.pointee.msg.map { String(cString: $0) } ?? "compressed data error")
        case Z_MEM_ERROR:
            throw ZlibError(code: .outOfMemory, zlibCode: rc, operation: "inflate")
        default:
            throw ZlibError(code: .corruptData, zlibCode: rc, operation: "inflate stream corrupt")
        }
    }

    /// Prepares for the next gzip member of a concatenated stream.
    public func reset() {
        _ = inflateReset(owned.stream)
    }
}
