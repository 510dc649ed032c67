import CZlib
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

/// The one owner of a zlib `gzFile` opened for reading: every read of a NIfTI file goes
/// through here. zlib reads plain files transparently, so `.nii` and `.nii.gz` share one path.
///
/// Stands for `open(2)`, `gzdopen`, `gzbuffer`, `gzread`, `gzerror`, `gzdirect` and `gzclose`.
final class GzipReadStream {
    private var file: gzFile?
    /// Size of the file on disk in bytes (compressed size for gzip files).
    let fileSize: Int
    /// Bytes of uncompressed content consumed so far.
    private(set) var position: Int = 0

    /// Opens `path` for reading; a gzip file is decompressed on the fly.
    init(path: String) throws(NIfTIError) {
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
        guard let handle = gzdopen(fd, "rb") else {
            close(fd)
            throw NIfTIError(.unreadable, path: path, reason: "zlib could not open the file (out of memory?)")
        }
        // A larger input buffer than zlib's 8 KiB default: fewer read(2) calls on big volumes.
        gzbuffer(handle, 256 * 1024)
        file = handle
        fileSize = Int(status.st_size)
    }

    deinit {
        if let file { gzclose(file) }
    }

    /// Whether the content is gzip-compressed (zlib decides from the first bytes).
    /// Valid after the first read.
    var isCompressed: Bool { gzdirect(file) == 0 }

    /// Fills `buffer` completely, or throws why it could not.
    func readExactly(into buffer: UnsafeMutableRawBufferPointer) throws(StreamReadFailure) {
        let got = try read(into: buffer)
        if got < buffer.count { throw .endOfFile(bytesRead: got) }
    }

    /// Reads up to `buffer.count` bytes; returns fewer only at the end of the file.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(StreamReadFailure) -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        var done = 0
        while done < buffer.count {
            let want = UInt32(min(buffer.count - done, 1 << 30))
            let got = gzread(file, base + done, want)
            if got < 0 {
                // A cut gzip stream is an early end of file; anything else is damage or I/O.
                let failure = failure()
                if case .endOfFile = failure { break }
                throw failure
            }
            if got == 0 {
                // End of content; a damaged stream may still have left an error behind.
                var errnum: Int32 = 0
                _ = gzerror(file, &errnum)
                if errnum != Z_OK && errnum != Z_BUF_ERROR { throw failure() }
                break
            }
            done += Int(got)
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

    /// Whether the content ends here, which for gzip also verifies the CRC-32 and length trailer.
    func checkEnd() throws(StreamReadFailure) {
        let byte = UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 1)
        defer { byte.deallocate() }
        _ = try read(into: byte)
    }

    private func failure() -> StreamReadFailure {
        var errnum: Int32 = 0
        let message = gzerror(file, &errnum).map { String(cString: $0) } ?? "unknown zlib error"
        switch errnum {
        case Z_ERRNO: return .io(String(cString: strerror(errno)))
        case Z_BUF_ERROR: return .endOfFile(bytesRead: 0)
        default: return .corrupt(message)
        }
    }
}
