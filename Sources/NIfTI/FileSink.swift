import CZlib
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one owner of a file descriptor opened for writing a new file.
///
/// Stands for `open(2)` with `O_CREAT | O_EXCL`, `write(2)` (retrying `EINTR` and short
/// writes), `fsync(2)` and `close(2)`.
final class FileSink {
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

    /// Writes all of `bytes`.
    func write(_ bytes: [UInt8]) throws(NIfTIError) {
        var failure: NIfTIError?
        bytes.withUnsafeBytes { raw in
            do throws(NIfTIError) { try write(raw) } catch { failure = error }
        }
        if let failure { throw failure }
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
    static func compress(_ segments: [UnsafeRawBufferPointer], level: Int, into sink: FileSink) throws(NIfTIError) {
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

        // Chunks are compressed on Dispatch's worker threads, at most `window` in flight, and
        // written here strictly in order as each one completes. After a failure the remaining
        // chunks are still waited for (they read the caller's buffers), just not written.
        let window = max(3, 2 * ProcessInfoLite.activeProcessorCount + 1)
        let list = ChunkList(chunks)
        let outputs = ChunkOutputs(count: chunks.count)
        let finished = (0..<chunks.count).map { _ in DispatchSemaphore(value: 0) }
        let queue = DispatchQueue.global(qos: .userInitiated)
        let lastIndex = chunks.count - 1
        var submitted = 0
        func submitNext() {
            let index = submitted
            submitted += 1
            let done = finished[index]
            queue.async {
                let dictionary: UnsafeRawBufferPointer? = index == 0 ? nil : {
                    let previous = list.chunks[index - 1]
                    let size = min(dictionarySize, previous.count)
                    return UnsafeRawBufferPointer(rebasing: previous[(previous.count - size)...])
                }()
                outputs.store(index, deflateChunk(list.chunks[index], dictionary: dictionary, level: level,
                                                  isLast: index == lastIndex))
                done.signal()
            }
        }
        while submitted < min(window, chunks.count) { submitNext() }
        var crc: UInt = crc32(0, nil, 0)
        var failure: NIfTIError?
        for index in 0..<chunks.count {
            finished[index].wait()
            let result = outputs.take(index)
            if submitted < chunks.count { submitNext() }
            guard failure == nil else { continue }
            guard let bytes = result.bytes else {
                failure = NIfTIError(.writeFailed, path: sink.path, reason: "zlib failed to compress: \(result.error)")
                continue
            }
            do throws(NIfTIError) { try sink.write(bytes) } catch { failure = error }
            crc = crc32_combine(crc, result.crc, .init(chunks[index].count))
        }
        if let failure { throw failure }

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
        var output = [UInt8](repeating: 0, count: capacity)
        var produced = 0
        let status: Int32 = output.withUnsafeMutableBytes { out in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(input.count)
            stream.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(out.count)
            let result = deflate(&stream, isLast ? Z_FINISH : Z_SYNC_FLUSH)
            produced = out.count - Int(stream.avail_out)
            return result
        }
        let expected = isLast ? Z_STREAM_END : Z_OK
        guard status == expected, stream.avail_in == 0 else {
            return ChunkResult(bytes: nil, crc: 0, error: "deflate returned \(status)")
        }
        output.removeSubrange(produced...)
        let crc = input.baseAddress.map { crc32(0, $0.assumingMemoryBound(to: Bytef.self), uInt(input.count)) } ?? 0
        return ChunkResult(bytes: output, crc: crc, error: "")
    }

    struct ChunkResult: Sendable {
        var bytes: [UInt8]?
        var crc: UInt
        var error: String
    }

    /// The chunks, shared read-only with the worker threads.
    final class ChunkList: @unchecked Sendable {
        let chunks: [UnsafeRawBufferPointer]
        init(_ chunks: [UnsafeRawBufferPointer]) { self.chunks = chunks }
    }

    /// Slots the worker threads fill, one per chunk: each slot is written by exactly one worker
    /// and read by the writing thread only after that worker signalled its semaphore.
    final class ChunkOutputs: @unchecked Sendable {
        private let slots: UnsafeMutableBufferPointer<ChunkResult>
        init(count: Int) {
            slots = .allocate(capacity: count)
            slots.initialize(repeating: ChunkResult(bytes: nil, crc: 0, error: "not run"))
        }
        deinit {
            slots.deinitialize()
            slots.deallocate()
        }
        func store(_ n: Int, _ result: ChunkResult) { slots[n] = result }
        /// The result of chunk `n`, leaving the slot empty so its memory is released.
        func take(_ n: Int) -> ChunkResult {
            let result = slots[n]
            slots[n] = ChunkResult(bytes: nil, crc: 0, error: "taken")
            return result
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
