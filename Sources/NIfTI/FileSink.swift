import CZlib
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
/// the number of threads: the input is cut into fixed 1 MiB chunks, each chunk is deflated on its
/// own with the previous 32 KiB as its dictionary and ends on a byte boundary (`Z_SYNC_FLUSH`),
/// the last with `Z_FINISH`, and the pieces are concatenated into one standard gzip member (the
/// technique of pigz). CRC-32s are computed per chunk and combined.
///
/// The gzip header carries no name and MTIME 0, so equal input gives equal bytes. Stands for
/// zlib's `deflateInit2_`, `deflateSetDictionary`, `deflate`, `deflateEnd`, `crc32`, `crc32_combine`.
enum ParallelGzip {
    /// Bytes of input per independently compressed chunk. Part of the output format: changing
    /// it changes the compressed bytes (not the content).
    static let chunkSize = 1 << 20
    static let dictionarySize = 32 * 1024

    /// Compresses the concatenation of `segments` at `level` (0...9) into `sink` as one gzip member.
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

        // gzip header: deflate, no flags, MTIME 0, XFL as zlib sets it, OS Unix.
        let xfl: UInt8 = level == 9 ? 2 : (level < 2 ? 4 : 0)
        try sink.write([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, xfl, 3])

        // Chunks are compressed by dedicated worker threads (not Dispatch's shared pool, which a
        // caller may be running on), at most `window` ahead of the writer, and written here
        // strictly in order as each completes.
        let pipeline = ChunkPipeline(chunks: chunks, level: level,
                                     workers: max(1, min(workers, chunks.count)),
                                     window: max(3, 2 * ProcessInfoLite.activeProcessorCount + 1))
        defer { pipeline.stopAndJoin() }
        var crc: UInt = crc32(0, nil, 0)
        for index in 0..<chunks.count {
            let result = pipeline.next(index)
            guard let bytes = result.bytes else {
                throw NIfTIError(.writeFailed, path: sink.path, reason: "zlib failed to compress: \(result.error)")
            }
            try sink.write(bytes)
            crc = crc32_combine(crc, result.crc, .init(chunks[index].count))
        }

        // Trailer: CRC-32 and length mod 2³², little-endian.
        let size = UInt32(truncatingIfNeeded: total), check = UInt32(truncatingIfNeeded: crc)
        try sink.write([UInt8(check & 0xFF), UInt8(check >> 8 & 0xFF), UInt8(check >> 16 & 0xFF), UInt8(check >> 24),
                        UInt8(size & 0xFF), UInt8(size >> 8 & 0xFF), UInt8(size >> 16 & 0xFF), UInt8(size >> 24)])
    }

    /// One chunk as raw deflate data ending on a byte boundary, plus its CRC-32.
    static func deflateChunk(_ input: UnsafeRawBufferPointer, dictionary: UnsafeRawBufferPointer?, level: Int,
                             isLast: Bool) -> ChunkResult {
        var stream = z_stream()
        guard deflateInit2_(&stream, Int32(level), Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY,
                            zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            return ChunkResult(bytes: nil, crc: 0, error: "deflateInit2 failed")
        }
        defer { deflateEnd(&stream) }
        if let dictionary, let base = dictionary.baseAddress, dictionary.count > 0 {
            guard deflateSetDictionary(&stream, base.assumingMemoryBound(to: Bytef.self), uInt(dictionary.count)) == Z_OK else {
                return ChunkResult(bytes: nil, crc: 0, error: "deflateSetDictionary failed")
            }
        }
        let capacity = Int(deflateBound(&stream, uLong(input.count))) + 64
        var produced = 0
        var status: Int32 = Z_STREAM_ERROR
        let output = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initialized in
            let out = UnsafeMutableRawBufferPointer(buffer)
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(input.count)
            stream.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(out.count)
            status = deflate(&stream, isLast ? Z_FINISH : Z_SYNC_FLUSH)
            produced = out.count - Int(stream.avail_out)
            initialized = produced
        }
        let expected = isLast ? Z_STREAM_END : Z_OK
        guard status == expected, stream.avail_in == 0 else {
            return ChunkResult(bytes: nil, crc: 0, error: "deflate returned \(status)")
        }
        let crc = input.baseAddress.map { crc32(0, $0.assumingMemoryBound(to: Bytef.self), uInt(input.count)) } ?? 0
        return ChunkResult(bytes: output, crc: crc, error: "")
    }

    struct ChunkResult: Sendable {
        var bytes: [UInt8]?
        var crc: UInt
        var error: String
    }

    /// Worker threads deflating chunks ahead of an in-order consumer.
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
        private var results: [ChunkResult?]
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

                let dictionary: UnsafeRawBufferPointer? = index == 0 ? nil : {
                    let previous = chunks[index - 1]
                    let size = min(dictionarySize, previous.count)
                    return UnsafeRawBufferPointer(rebasing: previous[(previous.count - size)...])
                }()
                let result = deflateChunk(chunks[index], dictionary: dictionary, level: level, isLast: index == chunks.count - 1)

                condition.lock()
                results[index] = result
                condition.broadcast()
                condition.unlock()
            }
        }

        /// Waits for chunk `index` (called with 0, 1, 2, ... in order) and takes its result.
        func next(_ index: Int) -> ChunkResult {
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
