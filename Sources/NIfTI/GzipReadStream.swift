import Zlib
import Deflate
import HemoCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a stream read stopped short: the caller turns it into a ``NIfTIError`` that says which
/// part of the file (header, extension, voxels) was cut.
enum StreamReadFailure: Error {
    /// The file ended after `bytesRead` bytes.
    case endOfFile(bytesRead: Int)
    /// zlib reported corrupt compressed data (or a bad checksum) with this message.
    case corrupt(String)
    /// The operating system failed the read with this message.
    case io(String)
}

/// The one owner of the raw input of a NIfTI read and of the ``Zlib/GzipInflater`` that inflates it:
/// every read of a NIfTI file or of NIfTI bytes in memory goes through here.
///
/// The raw bytes come from a file descriptor (read once, front to back, in 256 KiB steps or
/// straight into the caller's buffer) or from a caller's buffer in memory. Content starting
/// with the gzip magic `1f 8b` is inflated (concatenated gzip members are read as one, bytes
/// after the last member are ignored, as zlib's `gzread` does); anything else is passed
/// through unchanged, so `.nii` and `.nii.gz` share one path.
///
/// A file stream can also hash every raw byte it reads (``init(path:computeDigest:)``): with
/// ``finishDigest()`` the SHA-256 of the whole file comes from the same single pass that
/// decodes it.
///
/// Stands for `open(2)`, `read(2)` and `close(2)`; zlib's stream is owned by the `Zlib` wrapper.
final class GzipReadStream {
    private enum Source {
        /// An open file descriptor, closed in `deinit`.
        case file(Int32)
        /// Borrowed memory, valid for the stream's whole life (see ``init(borrowing:)``).
        case memory
    }
    private enum Mode {
        /// Nothing read yet: the first two bytes decide.
        case undecided
        /// Plain content, copied through.
        case direct
        /// Inside a gzip member.
        case gzip
        /// A gzip member ended: another member, or the end.
        case memberEnded
        /// The whole content was inflated at once (``decodeRemainingAtOnce(contentSize:)``) and is
        /// served from `decoded`.
        case decoded
        /// No more content.
        case finished
    }

    /// Bytes read from the file per step, when not read straight into the caller's buffer.
    static let inputBufferSize = 256 * 1024

    private let source: Source
    /// Size of the input in bytes (compressed size for gzip content).
    let fileSize: Int
    /// Bytes of uncompressed content consumed so far.
    private(set) var position: Int = 0
    /// Whether the content is gzip-compressed. Valid after the first read.
    private(set) var isCompressed = false

    private var mode: Mode = .undecided
    /// Owned input buffer of a file stream (empty for memory streams).
    private let inputBuffer: UnsafeMutableRawBufferPointer
    /// Raw bytes read (and hashed) but not consumed yet: inside `inputBuffer`, or inside the
    /// borrowed memory.
    private var pending: UnsafeRawBufferPointer
    /// Whether the source has no more raw bytes.
    private var sourceExhausted = false
    /// The inflate state, allocated at the first gzip member and ended in `deinit`.
    private var inflater: GzipInflater?
    /// The running hash of every raw byte read so far, when asked for.
    private var digest: SHA256?
    /// The whole borrowed input of a memory stream (empty for file streams).
    private let borrowedInput: UnsafeRawBufferPointer
    /// Raw bytes read from the file descriptor so far.
    private var rawBytesRead = 0
    /// The rest of the file's raw bytes, read at once by ``decodeRemainingAtOnce(contentSize:)``;
    /// `pending` may point into it.
    private var ownedInput: UnsafeMutableRawBufferPointer?
    /// The inflated content in `.decoded` mode, and the position in it.
    private var decoded: [UInt8] = []
    private var decodedOffset = 0
    /// Whether ``decodeRemainingAtOnce(contentSize:)`` inflated the content (for tests).
    private(set) var decodedAtOnce = false

    /// Opens `path` for reading. With `computeDigest`, every raw byte read is also hashed.
    init(path: String, computeDigest: Bool = false) throws(NIfTIError) {
        var status = stat()
        if stat(path, &status) != 0 {
            let code = errno
            if code == ENOENT || code == ENOTDIR {
                throw NIfTIError(.notFound, path: path, reason: "no such file; check the path")
            }
            throw NIfTIError(.unreadable, path: path, reason: "cannot stat the file: \(String(cString: strerror(code)))")
        }
        if (status.st_mode & S_IFMT) == S_IFDIR {
            throw NIfTIError(.unreadable, path: path, reason: "is a directory, not a NIfTI file")
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            throw NIfTIError(.unreadable, path: path, reason: "cannot open the file: \(String(cString: strerror(code)))")
        }
        source = .file(fd)
        fileSize = Int(status.st_size)
        inputBuffer = .allocate(byteCount: Self.inputBufferSize, alignment: 16)
        pending = UnsafeRawBufferPointer(rebasing: inputBuffer[0..<0])
        digest = computeDigest ? SHA256() : nil
        borrowedInput = UnsafeRawBufferPointer(start: nil, count: 0)
    }

    /// A stream over `bytes`, which the caller keeps valid and unchanged for the stream's whole
    /// life (create and drop the stream inside a `withUnsafeBytes` scope).
    init(borrowing bytes: UnsafeRawBufferPointer) {
        source = .memory
        fileSize = bytes.count
        inputBuffer = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        pending = bytes
        borrowedInput = bytes
        sourceExhausted = true
    }

    deinit {
        if case .file(let fd) = source { close(fd) }
        if inputBuffer.baseAddress != nil { inputBuffer.deallocate() }
        ownedInput?.deallocate()
    }

    // MARK: Content

    /// Fills `buffer` completely, or throws why it could not.
    func readExactly(into buffer: UnsafeMutableRawBufferPointer) throws(StreamReadFailure) {
        let got = try read(into: buffer)
        if got < buffer.count { throw .endOfFile(bytesRead: got) }
    }

    /// Reads up to `buffer.count` bytes of content; returns fewer only at its end (or where a
    /// gzip stream is cut short).
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(StreamReadFailure) -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        var done = 0
        reading: while done < buffer.count {
            switch mode {
            case .undecided:
                try startContent()
            case .finished:
                break reading
            case .decoded:
                let n = min(decoded.count - decodedOffset, buffer.count - done)
                if n == 0 { mode = .finished; break reading }
                decoded.withUnsafeBytes { (base + done).copyMemory(from: $0.baseAddress! + decodedOffset, byteCount: n) }
                decodedOffset += n
                done += n
            case .direct:
                if !pending.isEmpty {
                    let n = min(pending.count, buffer.count - done)
                    (base + done).copyMemory(from: pending.baseAddress!, byteCount: n)
                    consume(n)
                    done += n
                } else if buffer.count - done >= Self.inputBufferSize, case .file(let fd) = source, !sourceExhausted {
                    // A large request: straight from the file into the caller's buffer.
                    let got = try readFile(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
                    if got == 0 { sourceExhausted = true; mode = .finished } else { done += got }
                } else {
                    try refill()
                    if pending.isEmpty { mode = .finished }
                }
            case .gzip:
                if pending.isEmpty {
                    try refill()
                    // The input ends inside a member: the file is cut short.
                    if pending.isEmpty { break reading }
                }
                done += try inflateStep(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
            case .memberEnded:
                try ensureTwoBytes()
                if pending.count >= 2 && pending[0] == 0x1F && pending[1] == 0x8B {
                    inflater?.reset()
                    mode = .gzip
                } else {
                    // Bytes after the last member are ignored, as gzread ignores them.
                    consume(pending.count)
                    mode = .finished
                }
            }
        }
        position += done
        return done
    }

    /// Discards `count` bytes of content.
    func skip(_ count: Int) throws(StreamReadFailure) {
        guard count > 0 else { return }
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: min(count, 64 * 1024), alignment: 8)
        defer { scratch.deallocate() }
        var left = count
        while left > 0 {
            let part = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<min(left, scratch.count)])
            let got = try read(into: part)
            if got < part.count { throw .endOfFile(bytesRead: count - left + got) }
            left -= got
        }
    }

    /// Whether the content ends here, which for gzip also verifies the CRC-32 and length
    /// trailer: a trailer cut off is an early end of file, a wrong one is corruption.
    func checkEnd() throws(StreamReadFailure) {
        let byte = UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 1)
        defer { byte.deallocate() }
        // In a gzip member, reading nothing means the input ended before the member did.
        if try read(into: byte) == 0 && mode == .gzip { throw .endOfFile(bytesRead: position) }
    }

    /// Reads the rest of the file, hashing it, and returns the hex SHA-256 of every byte of the
    /// file; `nil` for a stream made without `computeDigest`. Call after the content is decoded.
    func finishDigest() throws(StreamReadFailure) -> String? {
        guard digest != nil else { return nil }
        pending = UnsafeRawBufferPointer(rebasing: pending[pending.endIndex...])
        if case .file(let fd) = source {
            while !sourceExhausted {
                let got = try readFile(fd, into: inputBuffer)
                if got == 0 { sourceExhausted = true }
            }
        }
        mode = .finished
        return digest!.finalizeHex()
    }

    /// Inflates the rest of a gzip stream in one step with libdeflate, which is faster than zlib's
    /// streaming `inflate` (`scripts/bench/gzip_bench.py`), when the content still to come is
    /// large: the NIfTI reader calls this once the header has told it `contentSize`, the bytes
    /// of content it expects in all.
    ///
    /// The rest of the file is read into memory (and hashed, as every raw byte is), and every
    /// gzip member is inflated from the start of the input into a buffer of at most
    /// `contentSize` + 1 MiB. Where that fails for any reason (corrupt or truncated data, more
    /// content than expected, a file that changed), nothing is lost: the stream goes on with
    /// zlib from where it stood, over the bytes now in memory, so errors are exactly those of the
    /// streaming path. Memory: the compressed file and the content, until the stream is dropped.
    func decodeRemainingAtOnce(contentSize: Int) {
        defer { if mode == .decoded { decodedAtOnce = true } }
        guard mode == .gzip, contentSize - position >= 1 << 20 else { return }
        let input: UnsafeRawBufferPointer
        switch source {
        case .memory:
            input = borrowedInput
        case .file(let fd):
            guard let whole = readRestOfFile(fd) else { return }
            input = whole
        }
        guard let decompressor = try? GzipDecompressor(),
              let content = try? decompressor.decompressMembers(input, sizeHint: contentSize, limit: contentSize + (1 << 20)),
              content.count >= position
        else { return }
        decoded = content
        decodedOffset = position
        mode = .decoded
        // The raw bytes are no longer needed.
        pending = UnsafeRawBufferPointer(start: nil, count: 0)
        ownedInput?.deallocate()
        ownedInput = nil
    }

    /// Reads the file's remaining bytes (hashing them) into a new `ownedInput`, after a copy of
    /// the bytes already read (re-read with `pread`, not hashed again), and moves `pending` into
    /// it, so the zlib stream can go on from there whatever happens next. Returns the raw input
    /// read so far, or `nil` when a read failed (the streaming path then meets the failure again
    /// and reports it). Bytes a growing file gains after `fileSize` are read later, as usual.
    private func readRestOfFile(_ fd: Int32) -> UnsafeRawBufferPointer? {
        let whole = UnsafeMutableRawBufferPointer.allocate(byteCount: max(fileSize, rawBytesRead), alignment: 16)
        var filled = 0
        while filled < rawBytesRead {
            let got = pread(fd, whole.baseAddress! + filled, rawBytesRead - filled, off_t(filled))
            if got < 0 && errno == EINTR { continue }
            if got <= 0 { whole.deallocate(); return nil }
            filled += got
        }
        let pendingStart = rawBytesRead - pending.count
        var complete = true
        while filled < whole.count {
            do throws(StreamReadFailure) {
                let got = try readFile(fd, into: UnsafeMutableRawBufferPointer(rebasing: whole[filled...]))
                if got == 0 { sourceExhausted = true; break }
                filled += got
            } catch {
                complete = false
                break
            }
        }
        ownedInput = whole
        pending = UnsafeRawBufferPointer(rebasing: whole[pendingStart..<filled])
        return complete ? UnsafeRawBufferPointer(rebasing: whole[0..<filled]) : nil
    }

    // MARK: Raw input

    /// Decides from the first two bytes whether the content is gzip.
    private func startContent() throws(StreamReadFailure) {
        try ensureTwoBytes()
        if pending.count >= 2 && pending[0] == 0x1F && pending[1] == 0x8B {
            do {
                inflater = try GzipInflater()
            } catch {
                throw .io(error.code == .outOfMemory ? "zlib ran out of memory" : "zlib could not start inflating (code \(error.zlibCode))")
            }
            isCompressed = true
            mode = .gzip
        } else {
            mode = .direct
        }
    }

    /// One `inflate` call from `pending` into `output`; returns the bytes produced.
    private func inflateStep(into output: UnsafeMutableRawBufferPointer) throws(StreamReadFailure) -> Int {
        guard let inflater else { throw .io("inflate used before it was started") }
        let step: GzipInflater.Step
        do {
            step = try inflater.inflate(from: pending, into: output)
        } catch {
            throw error.code == .outOfMemory ? .io("zlib ran out of memory") : .corrupt(error.operation)
        }
        consume(step.consumed)
        if step.memberEnded { mode = .memberEnded }
        return step.produced
    }

    /// Makes `pending` hold at least two bytes, unless the input has fewer left.
    private func ensureTwoBytes() throws(StreamReadFailure) {
        guard pending.count < 2, !sourceExhausted, case .file(let fd) = source else { return }
        var kept = 0
        if pending.count == 1 {
            inputBuffer[0] = pending[0]
            kept = 1
        }
        while kept < 2 && !sourceExhausted {
            let got = try readFile(fd, into: UnsafeMutableRawBufferPointer(rebasing: inputBuffer[kept...]))
            if got == 0 { sourceExhausted = true }
            kept += got
        }
        pending = UnsafeRawBufferPointer(rebasing: inputBuffer[0..<kept])
    }

    /// Replaces an empty `pending` with the next bytes of the file (nothing when it is exhausted).
    private func refill() throws(StreamReadFailure) {
        guard pending.isEmpty, !sourceExhausted, case .file(let fd) = source else { return }
        let got = try readFile(fd, into: inputBuffer)
        if got == 0 { sourceExhausted = true }
        pending = UnsafeRawBufferPointer(rebasing: inputBuffer[0..<got])
    }

    private func consume(_ count: Int) {
        pending = UnsafeRawBufferPointer(rebasing: pending[(pending.startIndex + count)...])
    }

    /// Reads up to `buffer.count` bytes of the file (0 at its end), hashing what it got.
    private func readFile(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(StreamReadFailure) -> Int {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return 0 }
        while true {
            let got = systemRead(fd, base, min(buffer.count, 1 << 30))
            if got < 0 {
                let code = errno
                if code == EINTR { continue }
                throw .io(String(cString: strerror(code)))
            }
            if got > 0, digest != nil {
                digest!.update(UnsafeRawBufferPointer(start: base, count: got))
            }
            rawBytesRead += got
            return got
        }
    }
}

/// `read(2)`, under a name that does not clash with the stream's own `read(into:)`.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(fd, buffer, count)
}
