import LZ4

extension InlineFile {
    /// An inline input file: `bytes` compressed as one LZ4 frame (content checksum on).
    /// - Throws: ``WireError`` when the name or size breaks the JOB limits.
    public static func compressing(name: String, bytes: [UInt8], level: Int = LZ4Frame.defaultLevel) throws(WireError) -> InlineFile {
        try JobMessage.checkFileName(name, field: "JOB.inputs.inline.name")
        try checkLength(bytes.count, max: WireProtocol.maxInlineFileBytes, field: "JOB.inputs.inline.size")
        let frame: [UInt8]
        do {
            frame = try LZ4Frame.compress(bytes, level: level, subject: "inline file \(name)")
        } catch {
            throw WireError(field: "JOB.inputs.inline.lz4Frame", reason: .invalidValue(error.description))
        }
        try checkLength(frame.count, max: WireProtocol.maxBlobBytes, field: "JOB.inputs.inline.lz4Frame")
        return InlineFile(name: name, size: bytes.count, lz4Frame: frame)
    }

    /// The file's bytes, decompressed with ``size`` as the limit and checked to be exactly ``size``.
    /// - Throws: ``WireError`` naming the file when the frame is corrupt, truncated or of another size.
    public func decompressed() throws(WireError) -> [UInt8] {
        let bytes: [UInt8]
        do {
            bytes = try LZ4Frame.decompress(lz4Frame, maximumOutputSize: size, subject: "inline file \(name)")
        } catch {
            throw WireError(field: "JOB.inputs.inline.lz4Frame", reason: .invalidValue(error.description))
        }
        guard bytes.count == size else {
            throw WireError(field: "JOB.inputs.inline.size",
                            reason: .invalidValue("inline file \(name) holds \(bytes.count) bytes, \(size) declared"))
        }
        return bytes
    }
}
