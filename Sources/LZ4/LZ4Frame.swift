import CLZ4

/// LZ4 frames (the `LZ4F_*` format, `.lz4` files) with a content checksum and the content size
/// in the header, decompressed only up to a caller-given maximum.
///
/// Output is deterministic: the same bytes and level always give the same frame (the block size,
/// block mode and flags are fixed here, nothing depends on the machine or the time).
///
/// ```swift
/// let frame = try LZ4Frame.compress(voxels)
/// let voxelsAgain = try LZ4Frame.decompress(frame, maximumOutputSize: voxels.count)
/// ```
public enum LZ4Frame {
    /// The fast default level (`0`); levels `3...12` use LZ4-HC (slower, smaller).
    public static let defaultLevel = 0
    /// Largest level libLZ4 distinguishes (`LZ4HC_CLEVEL_MAX`).
    public static let maximumLevel = 12

    /// The fixed preferences: 64 KiB independent blocks, content checksum on, block checksums off
    /// (the content checksum covers them), the content size recorded, no auto-flush.
    static func preferences(contentSize: Int, level: Int) -> LZ4F_preferences_t {
        var preferences = LZ4F_preferences_t()
        preferences.frameInfo.blockSizeID = LZ4F_max64KB
        preferences.frameInfo.blockMode = LZ4F_blockIndependent
        preferences.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled
        preferences.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum
        preferences.frameInfo.frameType = LZ4F_frame
        preferences.frameInfo.contentSize = UInt64(contentSize)
        preferences.compressionLevel = Int32(min(max(level, 0), maximumLevel))
        preferences.autoFlush = 0
        preferences.favorDecSpeed = 0
        return preferences
    }

    /// Compresses `bytes` into one frame (`LZ4F_compressFrame`).
    /// - Parameters:
    ///   - level: `0` (fast) to ``maximumLevel``; out-of-range values are clamped.
    ///   - subject: what the data is, for error messages.
    public static func compress(_ bytes: UnsafeRawBufferPointer, level: Int = defaultLevel,
                                subject: String = "") throws(LZ4Error) -> [UInt8] {
        var preferences = preferences(contentSize: bytes.count, level: level)
        let bound = LZ4F_compressFrameBound(bytes.count, &preferences)
        if LZ4F_isError(bound) != 0 { throw error(bound, subject: subject) }
        var output = [UInt8](repeating: 0, count: bound)
        let placeholder: UInt8 = 0
        let written = withUnsafePointer(to: placeholder) { dummy in
            output.withUnsafeMutableBytes { out in
                LZ4F_compressFrame(out.baseAddress, out.count, bytes.baseAddress ?? UnsafeRawPointer(dummy),
                                   bytes.count, &preferences)
            }
        }
        if LZ4F_isError(written) != 0 { throw error(written, subject: subject) }
        output.removeSubrange(written...)
        return output
    }

    /// Compresses a byte array into one frame. See ``compress(_:level:subject:)-(UnsafeRawBufferPointer,_,_)``.
    public static func compress(_ bytes: [UInt8], level: Int = defaultLevel, subject: String = "") throws(LZ4Error) -> [UInt8] {
        let result: Result<[UInt8], LZ4Error> = bytes.withUnsafeBytes { raw in
            Result { () throws(LZ4Error) -> [UInt8] in try compress(raw, level: level, subject: subject) }
        }
        return try result.get()
    }

    /// The content size a frame's header declares, or `nil` when the header leaves it unknown
    /// (libLZ4 writes no size for empty content).
    public static func declaredContentSize(_ frame: [UInt8], subject: String = "") throws(LZ4Error) -> Int? {
        let context = try DecompressionContext(subject: subject)
        let result: Result<LZ4F_frameInfo_t, LZ4Error> = frame.withUnsafeBytes { raw in
            Result { () throws(LZ4Error) -> LZ4F_frameInfo_t in try context.frameInfo(raw).0 }
        }
        let info = try result.get()
        return info.contentSize == 0 ? nil : Int(exactly: info.contentSize) ?? Int.max
    }

    /// Decompresses one frame, checking every checksum, and rejecting frames that declare or
    /// produce more than `maximumOutputSize` bytes before allocating for them.
    ///
    /// - Throws: ``LZ4Error`` — ``LZ4Error/Kind/tooLarge``, ``LZ4Error/Kind/truncated``,
    ///   ``LZ4Error/Kind/checksumMismatch`` or ``LZ4Error/Kind/corruptFrame`` (also for bytes after
    ///   the frame's end). Never traps on any input.
    public static func decompress(_ frame: [UInt8], maximumOutputSize: Int, subject: String = "") throws(LZ4Error) -> [UInt8] {
        let result: Result<[UInt8], LZ4Error> = frame.withUnsafeBytes { raw in
            Result { () throws(LZ4Error) -> [UInt8] in
                try decompress(raw, maximumOutputSize: maximumOutputSize, subject: subject)
            }
        }
        return try result.get()
    }

    /// Decompresses one frame from raw memory. See ``decompress(_:maximumOutputSize:subject:)-([UInt8],_,_)``.
    public static func decompress(_ frame: UnsafeRawBufferPointer, maximumOutputSize: Int,
                                  subject: String = "") throws(LZ4Error) -> [UInt8] {
        let limit = max(0, maximumOutputSize)
        let context = try DecompressionContext(subject: subject)
        let (info, headerSize) = try context.frameInfo(frame)
        guard info.frameType == LZ4F_frame else {
            throw LZ4Error(kind: .corruptFrame, message: "a skippable frame holds no data", subject: subject)
        }
        let declared = info.contentSize
        if declared > UInt64(limit) {
            throw LZ4Error(kind: .tooLarge, message: "frame declares \(declared) bytes, more than the limit \(limit)",
                           subject: subject)
        }
        guard let base = frame.baseAddress else {
            throw LZ4Error(kind: .truncated, message: "empty input", subject: subject)
        }
        // Known size: allocate exactly that. Unknown: grow geometrically up to the limit.
        var output = [UInt8](repeating: 0, count: declared > 0 ? Int(declared) : min(limit, 64 * 1024))
        var produced = 0
        var consumed = headerSize
        var finished = false
        while !finished {
            var outputSize = output.count - produced
            var inputSize = frame.count - consumed
            let hint = output.withUnsafeMutableBytes { out in
                LZ4F_decompress(context.handle, out.baseAddress.map { $0 + produced }, &outputSize,
                                base + consumed, &inputSize, nil)
            }
            if LZ4F_isError(hint) != 0 { throw error(hint, subject: subject) }
            produced += outputSize
            consumed += inputSize
            if hint == 0 { finished = true; break }
            if outputSize == 0 && inputSize == 0 {
                if consumed == frame.count {
                    throw LZ4Error(kind: .truncated,
                                   message: "frame ends after \(frame.count) bytes, before its end mark and checksum",
                                   subject: subject)
                }
                guard produced == output.count else {
                    throw LZ4Error(kind: .corruptFrame, message: "decoder made no progress", subject: subject)
                }
                if output.count >= limit {
                    throw LZ4Error(kind: .tooLarge, message: "frame produces more than the limit \(limit) bytes",
                                   subject: subject)
                }
                output.append(contentsOf: repeatElement(0, count: min(limit - output.count, max(output.count, 64 * 1024))))
            }
        }
        if consumed != frame.count {
            throw LZ4Error(kind: .corruptFrame, message: "\(frame.count - consumed) bytes after the end of the frame",
                           subject: subject)
        }
        if declared > 0 && UInt64(produced) != declared {
            throw LZ4Error(kind: .corruptFrame, message: "frame declares \(declared) bytes but holds \(produced)",
                           subject: subject)
        }
        output.removeSubrange(produced...)
        return output
    }

    /// Maps a libLZ4 error code to an ``LZ4Error``.
    static func error(_ code: Int, subject: String) -> LZ4Error {
        let name = String(cString: LZ4F_getErrorName(code))
        let kind: LZ4Error.Kind
        if name.contains("Checksum") {
            kind = .checksumMismatch
        } else if name.contains("incomplete") {
            kind = .truncated
        } else if name.contains("allocation") || name.contains("dstMaxSize") || name.contains("GENERIC") {
            kind = .libraryFailure
        } else {
            kind = .corruptFrame
        }
        return LZ4Error(kind: kind, message: name, subject: subject)
    }
}

/// Owns one `LZ4F_dctx` (created and freed here only).
final class DecompressionContext {
    let handle: OpaquePointer
    let subject: String

    init(subject: String) throws(LZ4Error) {
        var pointer: OpaquePointer?
        let code = LZ4F_createDecompressionContext(&pointer, UInt32(LZ4F_VERSION))
        guard LZ4F_isError(code) == 0, let pointer else { throw LZ4Frame.error(code, subject: subject) }
        handle = pointer
        self.subject = subject
    }

    deinit { _ = LZ4F_freeDecompressionContext(handle) }

    /// Reads the frame header (`LZ4F_getFrameInfo`); returns it and the header's size.
    func frameInfo(_ frame: UnsafeRawBufferPointer) throws(LZ4Error) -> (LZ4F_frameInfo_t, Int) {
        // A frame header is at least 7 bytes (magic 4, FLG, BD, HC); the end mark alone adds 4.
        guard frame.count >= 7, let base = frame.baseAddress else {
            throw LZ4Error(kind: .truncated, message: "\(frame.count) bytes are too few for a frame header", subject: subject)
        }
        var info = LZ4F_frameInfo_t()
        var size = frame.count
        let code = LZ4F_getFrameInfo(handle, &info, base, &size)
        if LZ4F_isError(code) != 0 { throw LZ4Frame.error(code, subject: subject) }
        return (info, size)
    }
}
