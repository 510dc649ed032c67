import HemoCore
import LZ4

/// One encoded release file: its release-relative path and its bytes.
public struct EncodedFile: Equatable, Sendable {
    /// The release-relative path, e.g. `labelsTr/case_000.nii.gz`.
    public var path: String
    /// The file's bytes, exactly as the release stores them.
    public var bytes: [UInt8]

    /// A file.
    public init(path: String, bytes: [UInt8]) {
        self.path = path
        self.bytes = bytes
    }
}

/// Cuts an attempt's encoded release files into FILE messages (worker side).
///
/// Each file travels in ``WireProtocol/filePartCount(size:)`` parts of at most
/// ``WireProtocol/filePartBytes`` bytes, each an LZ4 frame with a content checksum, and every
/// part names the whole file's SHA-256. The output depends only on the files, the exam and the
/// attempt.
public struct FileChunker: Sendable {
    /// LZ4 level for payloads (see ``LZ4Frame``).
    public var compressionLevel: Int

    /// A chunker.
    public init(compressionLevel: Int = LZ4Frame.defaultLevel) { self.compressionLevel = compressionLevel }

    /// The FILE parts of `files`, file by file, part by part.
    /// - Throws: ``ChunkError`` for no files or too many, a path that is not plain and relative,
    ///   a path given twice, or a file over ``WireProtocol/maxResultFileBytes``.
    public func parts(of files: [EncodedFile], exam: CaseID, attempt: UInt32) throws(ChunkError) -> [FilePart] {
        func fail(_ reason: String) -> ChunkError { ChunkError(exam: exam, attempt: attempt, chunkIndex: nil, reason: reason) }
        guard (1...WireProtocol.maxResultFiles).contains(files.count) else {
            throw fail("a result has 1...\(WireProtocol.maxResultFiles) files, this one \(files.count)")
        }
        var seen = Set<String>()
        var out: [FilePart] = []
        for (index, file) in files.enumerated() {
            do { try FilePart.checkPath(file.path, field: "FILE.path") } catch { throw fail(error.description) }
            guard seen.insert(file.path).inserted else { throw fail("file \(file.path) is given twice") }
            guard file.bytes.count <= WireProtocol.maxResultFileBytes else {
                throw fail("file \(file.path) has \(file.bytes.count) bytes, over the limit \(WireProtocol.maxResultFileBytes)")
            }
            let digest: [UInt8] = {
                var h = SHA256()
                h.update(file.bytes)
                return h.finalize()
            }()
            let count = WireProtocol.filePartCount(size: file.bytes.count)
            for part in 0..<count {
                let start = part * WireProtocol.filePartBytes
                let slice = file.bytes[start..<min(file.bytes.count, start + WireProtocol.filePartBytes)]
                let payload: [UInt8]
                do {
                    payload = try slice.withUnsafeBytes { raw throws(LZ4Error) in
                        try LZ4Frame.compress(raw, level: compressionLevel, subject: "\(file.path) part \(part)")
                    }
                } catch {
                    throw fail("\(error)")
                }
                out.append(FilePart(exam: exam, attempt: attempt, fileIndex: index, fileCount: files.count, path: file.path,
                                    size: file.bytes.count, sha256: digest, partIndex: part, partCount: count, payload: payload))
            }
        }
        return out
    }
}

/// What ``FileAssembler/accept(_:)`` did with a part.
public enum FilePartOutcome: Equatable, Sendable {
    /// Stored; the file is not complete yet.
    case accepted
    /// The part completed its file, whose SHA-256 matched.
    case fileComplete(path: String)
    /// A part already received (or of a file already complete): ignored.
    case duplicate
    /// A part of an attempt other than the current one (expired or failed): ignored.
    case ignoredAttempt(UInt32)
}

/// Rebuilds one attempt's encoded release files from FILE messages (coordinator side).
///
/// Each part is checked: exam, file index below the attempt's file count (constant across parts),
/// path, size and digest identical in every part of a file, no path used by two files, an LZ4
/// frame with a content checksum that decompresses to exactly the part's byte range. A completed
/// file's SHA-256 must equal the one its parts declared. A failing check throws ``ChunkError``;
/// the attempt is then failed and its later parts ignored.
///
/// Memory grows only with the parts received, never with a size a peer declares.
public struct FileAssembler: Sendable {
    private struct Partial: Sendable {
        var path: String
        var size: Int
        var sha256: [UInt8]
        var parts: [[UInt8]?]
        var received = 0
        var bytes: [UInt8]?
    }

    /// The exam being assembled.
    public let exam: CaseID
    /// The attempt accepted.
    public let attempt: UInt32
    private var failed = false
    private var fileCount: Int?
    private var partial: [Int: Partial] = [:]
    private var pathOwner: [String: Int] = [:]
    private var completed = 0
    /// Compressed payload bytes of the parts accepted so far.
    public private(set) var payloadBytes = 0
    /// Uncompressed bytes of the parts accepted so far.
    public private(set) var rawBytes = 0

    /// An assembler for `attempt` of `exam`.
    public init(exam: CaseID, attempt: UInt32) {
        self.exam = exam
        self.attempt = attempt
    }

    /// Whether every file of the attempt arrived complete and verified.
    public var isComplete: Bool { fileCount.map { completed == $0 } ?? false }

    /// Each complete file's SHA-256 (verified against its bytes), by path.
    public var verifiedDigests: [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        for p in partial.values where p.bytes != nil { out[p.path] = p.sha256 }
        return out
    }

    /// The files, by file index, once ``isComplete``; `nil` before.
    public var files: [EncodedFile]? {
        guard isComplete, let fileCount else { return nil }
        var out: [EncodedFile] = []
        for index in 0..<fileCount {
            guard let p = partial[index], let bytes = p.bytes else { return nil }
            out.append(EncodedFile(path: p.path, bytes: bytes))
        }
        return out
    }

    /// Checks and stores one part.
    /// - Throws: ``ChunkError`` for a corrupt or inconsistent part; the attempt is failed.
    public mutating func accept(_ part: FilePart) throws(ChunkError) -> FilePartOutcome {
        guard part.exam == exam else {
            throw ChunkError(exam: exam, attempt: part.attempt, chunkIndex: part.partIndex,
                             reason: "file part for exam \(part.exam) was routed to the assembler of \(exam)")
        }
        guard part.attempt == attempt, !failed else { return .ignoredAttempt(part.attempt) }
        do throws(ChunkError) {
            return try store(part)
        } catch {
            failed = true
            partial = [:]
            throw error
        }
    }

    private mutating func store(_ part: FilePart) throws(ChunkError) -> FilePartOutcome {
        func fail(_ reason: String) -> ChunkError {
            ChunkError(exam: exam, attempt: attempt, chunkIndex: part.partIndex, reason: "file \(part.path): \(reason)")
        }
        // Decoded parts are already bounded; check again for parts built in memory.
        do { try part.check() } catch { throw fail(error.description) }
        if let fileCount {
            guard part.fileCount == fileCount else { throw fail("file count \(part.fileCount) differs from the first part's \(fileCount)") }
        } else {
            fileCount = part.fileCount
        }
        if var file = partial[part.fileIndex] {
            guard file.path == part.path, file.size == part.size, file.sha256 == part.sha256 else {
                throw fail("path, size or digest differ from the file's first part (\(file.path))")
            }
            if file.bytes != nil || file.parts[part.partIndex] != nil { return .duplicate }
            let bytes = try decompress(part, fail)
            file.parts[part.partIndex] = bytes
            file.received += 1
            partial[part.fileIndex] = file
        } else {
            if let owner = pathOwner[part.path] { throw fail("the path is also file \(owner)'s") }
            let bytes = try decompress(part, fail)
            var parts = [[UInt8]?](repeating: nil, count: part.partCount)
            parts[part.partIndex] = bytes
            partial[part.fileIndex] = Partial(path: part.path, size: part.size, sha256: part.sha256, parts: parts, received: 1)
            pathOwner[part.path] = part.fileIndex
        }
        payloadBytes += part.payload.count
        rawBytes += part.byteRange.count
        guard var file = partial[part.fileIndex], file.received == file.parts.count else { return .accepted }
        var whole: [UInt8]
        if file.parts.count == 1 {
            whole = file.parts[0] ?? [] // most files fit one part: no copy
        } else {
            whole = []
            whole.reserveCapacity(file.size)
            for p in file.parts { whole.append(contentsOf: p ?? []) }
        }
        var hash = SHA256()
        hash.update(whole)
        guard hash.finalize() == file.sha256 else { throw fail("SHA-256 of the assembled bytes differs from the declared one") }
        file.bytes = whole
        file.parts = []
        partial[part.fileIndex] = file
        completed += 1
        return .fileComplete(path: file.path)
    }

    private func decompress(_ part: FilePart, _ fail: (String) -> ChunkError) throws(ChunkError) -> [UInt8] {
        guard part.payload.count >= 5, part.payload[4] & 0b0000_0100 != 0 else {
            throw fail("part \(part.partIndex) is not an LZ4 frame with a content checksum")
        }
        let expected = part.byteRange.count
        let bytes: [UInt8]
        do {
            bytes = try LZ4Frame.decompress(part.payload, maximumOutputSize: expected,
                                            subject: "exam \(exam) attempt \(attempt) \(part.path) part \(part.partIndex)")
        } catch {
            throw fail("part \(part.partIndex): \(error.kind.rawValue): \(error.message)")
        }
        guard bytes.count == expected else {
            throw fail("part \(part.partIndex) holds \(bytes.count) bytes, \(expected) expected")
        }
        return bytes
    }
}
