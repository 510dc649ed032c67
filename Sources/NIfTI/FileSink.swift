import Deflate
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where encoded NIfTI bytes go: a new file (``FileSink``) or memory (``MemorySink``).
protocol ByteSink: AnyObject {
    /// The file the bytes are for, for error messages.
    var path: String { get }
    /// Appends all of `bytes`.
    func write(_ bytes: UnsafeRawBufferPointer) throws(NIfTIError)
}

extension ByteSink {
    /// Appends all of `bytes`.
    func write(_ bytes: [UInt8]) throws(NIfTIError) {
        var failure: NIfTIError?
        bytes.withUnsafeBytes { raw in
            do throws(NIfTIError) { try write(raw) } catch { failure = error }
        }
        if let failure { throw failure }
    }
}

/// Bytes collected in memory: what a worker sends instead of writing a file.
final class MemorySink: ByteSink {
    let path: String
    /// Everything written so far.
    private(set) var bytes: [UInt8] = []

    /// An empty sink; `path` names the file the bytes are for.
    init(path: String, reservingCapacity capacity: Int = 0) {
        self.path = path
        bytes.reserveCapacity(capacity)
    }

    func write(_ raw: UnsafeRawBufferPointer) throws(NIfTIError) {
        bytes.append(contentsOf: raw)
    }
}

/// The one owner of a file descriptor opened for writing a new file.
///
/// Stands for `open(2)` with `O_CREAT | O_EXCL`, `write(2)` (retrying `EINTR` and short
/// writes), `fsync(2)` and `close(2)`.
final class FileSink: ByteSink {
    private var descriptor: Int32
    let path: String

    /// Creates `path` exclusively (it must not exist), mode 0644 before the umask.
    init(creating path: String) throws(NIfTIError) {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if descriptor < 0 {
            let code = errno
            throw NIfTIError(.writeFailed, path: path, reason: "cannot create the file: \(String(cString: strerror(code)))")
        }
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }

    /// Writes all of `bytes`.
    func write(_ bytes: UnsafeRawBufferPointer) throws(NIfTIError) {
        guard var next = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let wrote = Glibc.write(descriptor, next, min(left, 1 << 30))
            if wrote < 0 {
                let code = errno
                if code == EINTR { continue }
                throw NIfTIError(.writeFailed, path: path, reason: "write failed: \(String(cString: strerror(code)))")
            }
            next += wrote
            left -= wrote
        }
    }

    /// Optionally forces the bytes to the disk, then closes; throws if either fails.
    func finish(synchronize: Bool) throws(NIfTIError) {
        let fd = descriptor
        descriptor = -1
        if synchronize && fsync(fd) != 0 {
            let code = errno
            close(fd)
            throw NIfTIError(.writeFailed, path: path, reason: "fsync failed: \(String(cString: strerror(code)))")
        }
        if close(fd) != 0 {
            let code = errno
            throw NIfTIError(.writeFailed, path: path, reason: "close failed: \(String(cString: strerror(code)))")
        }
    }
}

/// gzip compression of a byte stream on several threads, with output that does not depend on
/// the number of threads: the input is cut into fixed 1 MiB chunks and each chunk becomes one
/// complete gzip member, compressed by libdeflate (``GzipMemberCompressor``) on its own; the
/// members are written in order. A file of several members is standard gzip (RFC 1952, 2.2):
/// zlib's `gzread`, Python's `gzip` (nibabel), ITK and libnifti read it as one stream.
///
/// libdeflate compresses whole buffers, without zlib's preset dictionaries, so each chunk starts
/// with an empty history; at 1 MiB per chunk that costs well under 1% of size. It is faster than
/// zlib at the release's level 1 for the same size (`scripts/bench/gzip_bench.py`; the figures:
/// scripts/bench/README.md).
enum ParallelGzip {
    /// Bytes of input per independently compressed member. Part of the output format: changing
    /// it changes the compressed bytes (not the content).
    static let chunkSize = 1 << 20

    /// Compresses the concatenation of `segments` at `level` (0...9) into `sink` as gzip members.
    /// `workers` (default: one per processor) changes only the speed, never the bytes.
    static func compress(_ segments: [UnsafeRawBufferPointer], level: Int, into sink: some ByteSink,
                         workers: Int = ProcessInfoLite.activeProcessorCount) throws(NIfTIError) {
        // Cut the logical stream into chunks; only the first, which holds the small header and
        // the start of the voxels, is copied so that every chunk is one contiguous buffer.
        let total = segments.reduce(0) { $0 + $1.count }
        var chunks: [UnsafeRawBufferPointer] = []
        var ownedFirst: UnsafeMutableRawBufferPointer?
        defer { ownedFirst?.deallocate() }
        if segments.count > 1 {
            let firstSize = min(chunkSize, total)
            let first = UnsafeMutableRawBufferPointer.allocate(byteCount: firstSize, alignment: 16)
            ownedFirst = first
            var filled = 0
            var consumed: [Int] = []
            for segment in segments {
                let take = min(segment.count, firstSize - filled)
                if take > 0 {
                    UnsafeMutableRawBufferPointer(rebasing: first[filled..<(filled + take)])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: segment[0..<take]))
                }
                filled += take
                consumed.append(take)
            }
            chunks.append(UnsafeRawBufferPointer(first))
            for (segment, used) in zip(segments, consumed) {
                var start = used
                while start < segment.count {
                    let end = min(start + chunkSize, segment.count)
                    chunks.append(UnsafeRawBufferPointer(rebasing: segment[start..<end]))
                    start = end
                }
            }
        } else if let only = segments.first {
            var start = 0
            repeat {
                let end = min(start + chunkSize, only.count)
                chunks.append(UnsafeRawBufferPointer(rebasing: only[start..<end]))
                start = end
            } while start < only.count
        }
        if chunks.isEmpty { chunks = [UnsafeRawBufferPointer(start: nil, count: 0)] }

        // Chunks are compressed by dedicated worker threads (not Dispatch's shared pool, which a
        // caller may be running on), at most `window` ahead of the writer, and written here
        // strictly in order as each completes.
        let pipeline = ChunkPipeline(chunks: chunks, level: level,
                                     workers: max(1, min(workers, chunks.count)),
                                     window: max(3, 2 * ProcessInfoLite.activeProcessorCount + 1))
        defer { pipeline.stopAndJoin() }
        for index in 0..<chunks.count {
            switch pipeline.next(index) {
            case .success(let member): try sink.write(member)
            case .failure(let error):
                throw NIfTIError(.writeFailed, path: sink.path, reason: "gzip compression failed: \(error)")
            }
        }
    }

    /// Worker threads compressing chunks ahead of an in-order consumer, each with its own
    /// libdeflate compressor.
    ///
    /// All shared state is guarded by one `NSCondition`. Workers claim the next chunk while it is
    /// within `window` of the consumer, store the result in its slot and signal; the consumer
    /// waits for slot `i`, takes it and advances. `stopAndJoin` makes idle workers exit and waits
    /// until none is still reading the caller's buffers.
    final class ChunkPipeline: @unchecked Sendable {
        private let chunks: [UnsafeRawBufferPointer]
        private let level: Int
        private let window: Int
        private let condition = NSCondition()
        private var results: [Result<[UInt8], DeflateError>?]
        private var nextToClaim = 0
        private var consumed = 0
        private var stopping = false
        private var running = 0

        init(chunks: [UnsafeRawBufferPointer], level: Int, workers: Int, window: Int) {
            self.chunks = chunks
            self.level = level
            self.window = window
            results = Array(repeating: nil, count: chunks.count)
            running = max(1, workers)
            for _ in 0..<running {
                let thread = Thread { [self] in work() }
                thread.stackSize = 1 << 20
                thread.start()
            }
        }

        private func work() {
            let compressor = Result { () throws(DeflateError) in try GzipMemberCompressor(level: level) }
            while true {
                condition.lock()
                while !stopping && nextToClaim < chunks.count && nextToClaim - consumed >= window { condition.wait() }
                if stopping || nextToClaim >= chunks.count {
                    running -= 1
                    condition.broadcast()
                    condition.unlock()
                    return
                }
                let index = nextToClaim
                nextToClaim += 1
                condition.unlock()

                let result = compressor.flatMap { compressor in
                    Result { () throws(DeflateError) in try compressor.compressMember(chunks[index]) }
                }

                condition.lock()
                results[index] = result
                condition.broadcast()
                condition.unlock()
            }
        }

        /// Waits for chunk `index` (called with 0, 1, 2, ... in order) and takes its result.
        func next(_ index: Int) -> Result<[UInt8], DeflateError> {
            condition.lock()
            defer { condition.unlock() }
            while results[index] == nil { condition.wait() }
            let result = results[index]!
            results[index] = nil
            consumed = index + 1
            condition.broadcast()
            return result
        }

        /// Stops claiming new chunks and waits until every worker has exited.
        func stopAndJoin() {
            condition.lock()
            stopping = true
            condition.broadcast()
            while running > 0 { condition.wait() }
            condition.unlock()
        }
    }
}

/// The number of processors and the CPU time of this process, without Foundation.
enum ProcessInfoLite {
    static var activeProcessorCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// CPU seconds (user + system, all threads) this process has used (`CLOCK_PROCESS_CPUTIME_ID`).
    static var cpuSeconds: Double {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }
}
