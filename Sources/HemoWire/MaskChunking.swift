import HemoCore
import LZ4

/// Splits a result mask into CHUNK messages of `slicesPerChunk` k-slices each (worker side).
///
/// Each chunk's payload is one LZ4 frame (content checksum on) of the slab's bytes, i fastest.
/// The output depends only on the mask, the exam, the attempt and the settings, so the same
/// result always gives the same chunks.
public struct MaskChunker: Sendable {
    /// Slices per chunk (at least 1; lowered when a slab would exceed ``WireProtocol/maxChunkVoxels``).
    public var slicesPerChunk: Int
    /// LZ4 level for payloads (see ``LZ4Frame``).
    public var compressionLevel: Int
    /// Most voxels in one slab (at most ``WireProtocol/maxChunkVoxels``); fewer slices go in a chunk when needed.
    public var maxChunkVoxels: Int

    /// A chunker.
    public init(slicesPerChunk: Int = 16, compressionLevel: Int = LZ4Frame.defaultLevel,
                maxChunkVoxels: Int = WireProtocol.maxChunkVoxels) {
        self.slicesPerChunk = max(1, slicesPerChunk)
        self.compressionLevel = compressionLevel
        self.maxChunkVoxels = min(max(1, maxChunkVoxels), WireProtocol.maxChunkVoxels)
    }

    /// Chunks of a subtype bitmask (values 0...31).
    /// - Throws: ``ChunkError`` for a value above 31, several frames or an unsendable geometry.
    public func chunks(bitmask volume: Volume<UInt8>, exam: CaseID, attempt: UInt32) throws(ChunkError) -> [Chunk] {
        if maximum(volume.voxels) > 31, let bad = volume.voxels.first(where: { $0 > 31 }) {
            throw ChunkError(exam: exam, attempt: attempt, chunkIndex: nil, reason: "bitmask value \(bad) is outside 0...31")
        }
        return try chunks(bytes: volume.voxels, frames: volume.frames, geometry: volume.geometry,
                          kind: .bitmask, exam: exam, attempt: attempt)
    }

    /// Chunks of a one-byte-per-voxel volume of `kind` (the bitmask, or a probability map whose bytes are all valid).
    /// - Throws: ``ChunkError`` for a bitmask value above 31, several frames or an unsendable geometry.
    public func chunks(bytes volume: Volume<UInt8>, kind: MaskKind, exam: CaseID, attempt: UInt32) throws(ChunkError) -> [Chunk] {
        guard kind != .bitmask else { return try chunks(bitmask: volume, exam: exam, attempt: attempt) }
        return try chunks(bytes: volume.voxels, frames: volume.frames, geometry: volume.geometry,
                          kind: kind, exam: exam, attempt: attempt)
    }

    private func chunks(bytes: [UInt8], frames: Int, geometry: Geometry, kind: MaskKind,
                        exam: CaseID, attempt: UInt32) throws(ChunkError) -> [Chunk] {
        func fail(_ reason: String, _ index: Int? = nil) -> ChunkError {
            ChunkError(exam: exam, attempt: attempt, chunkIndex: index, reason: reason)
        }
        guard frames == 1 else { throw fail("a mask has one frame, this one has \(frames)") }
        let size = geometry.size
        do {
            try FieldRules.checkGeometry(size: [size.i, size.j, size.k],
                                         spacing: [geometry.spacing.x, geometry.spacing.y, geometry.spacing.z],
                                         affine: geometry.affine.rowMajor, codes: [geometry.qformCode, geometry.sformCode],
                                         field: "geometry")
        } catch {
            throw fail(error.description)
        }
        let sliceVoxels = size.sliceCount
        let perChunk = max(1, min(slicesPerChunk, maxChunkVoxels / sliceVoxels))
        let count = (size.k + perChunk - 1) / perChunk
        var result: [Chunk] = []
        result.reserveCapacity(count)
        for index in 0..<count {
            let k0 = index * perChunk
            let k1 = min(size.k, k0 + perChunk)
            let slab = bytes[(k0 * sliceVoxels)..<(k1 * sliceVoxels)]
            let payload: [UInt8]
            do {
                payload = try slab.withUnsafeBytes { raw throws(LZ4Error) in
                    try LZ4Frame.compress(raw, level: compressionLevel, subject: "exam \(exam) chunk \(index)")
                }
            } catch {
                throw fail("\(error)", index)
            }
            result.append(Chunk(exam: exam, attempt: attempt, index: index, count: count, slices: k0..<k1,
                                maskKind: kind, geometry: geometry, payload: payload))
        }
        return result
    }
}

/// A chunk that cannot be used; the attempt that sent it has failed.
public struct ChunkError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The exam.
    public var exam: CaseID
    /// The attempt.
    public var attempt: UInt32
    /// The chunk, when one is concerned.
    public var chunkIndex: Int?
    /// Why, as a sentence.
    public var reason: String

    /// Builds an error.
    public init(exam: CaseID, attempt: UInt32, chunkIndex: Int?, reason: String) {
        self.exam = exam
        self.attempt = attempt
        self.chunkIndex = chunkIndex
        self.reason = reason
    }

    /// `exam E attempt A chunk C: reason`.
    public var description: String {
        "exam \(exam) attempt \(attempt)\(chunkIndex.map { " chunk \($0)" } ?? ""): \(reason)"
    }
}

/// What ``MaskAssembler/accept(_:)`` did with a chunk.
public enum ChunkOutcome: Equatable, Sendable {
    /// Stored; `received` of `count` chunks are in.
    case accepted(received: Int, count: Int)
    /// The last chunk: here is the whole mask. Later chunks of this attempt are ignored as duplicates.
    case complete(Volume<UInt8>)
    /// A chunk index already received (or the mask is already complete): ignored.
    case duplicate
    /// A chunk from an attempt other than the current one (expired or failed): ignored.
    case ignoredAttempt(UInt32)
}

/// Rebuilds one exam's mask from CHUNK messages (coordinator side).
///
/// Give it the attempt the scheduler dispatched; chunks of other attempts are ignored. Each chunk
/// is checked (exam, kind, index < count, count constant, slab inside the grid and not overlapping
/// another, geometry identical to the first chunk's, LZ4 frame with content checksum, decompressed
/// size equal to the slab, label values 0...5). A failing check throws ``ChunkError``: the attempt
/// is then failed and every later chunk of it ignored, until ``restart(attempt:)``.
public struct MaskAssembler: Sendable {
    /// The exam being assembled.
    public let exam: CaseID
    /// The kind of mask expected.
    public let maskKind: MaskKind
    /// The current attempt.
    public private(set) var attempt: UInt32
    private var failed = false
    private var completed = false
    private var geometry: Geometry?
    private var count = 0
    private var received: [Bool] = []
    private var receivedCount = 0
    private var sliceOwner: [Int32] = []
    private var voxels: [UInt8] = []

    /// An assembler for `exam`, accepting chunks of `attempt`.
    public init(exam: CaseID, attempt: UInt32, maskKind: MaskKind = .bitmask) {
        self.exam = exam
        self.attempt = attempt
        self.maskKind = maskKind
    }

    /// Drops everything received and accepts chunks of `attempt` from now on.
    public mutating func restart(attempt: UInt32) {
        self = MaskAssembler(exam: exam, attempt: attempt, maskKind: maskKind)
    }

    /// Chunks stored so far for the current attempt.
    public var chunksReceived: Int { receivedCount }
    /// Chunks expected (known after the first chunk).
    public var chunksExpected: Int? { geometry == nil ? nil : count }

    /// Checks and stores one chunk.
    /// - Throws: ``ChunkError`` for a corrupt or inconsistent chunk; the attempt is failed.
    public mutating func accept(_ chunk: Chunk) throws(ChunkError) -> ChunkOutcome {
        guard chunk.exam == exam else {
            throw ChunkError(exam: exam, attempt: chunk.attempt, chunkIndex: chunk.index,
                             reason: "chunk for exam \(chunk.exam) was routed to the assembler of \(exam)")
        }
        guard chunk.attempt == attempt, !failed else { return .ignoredAttempt(chunk.attempt) }
        if completed { return .duplicate }
        do throws(ChunkError) {
            return try store(chunk)
        } catch {
            failed = true
            voxels = []
            throw error
        }
    }

    private mutating func store(_ chunk: Chunk) throws(ChunkError) -> ChunkOutcome {
        func fail(_ reason: String) -> ChunkError {
            ChunkError(exam: exam, attempt: attempt, chunkIndex: chunk.index, reason: reason)
        }
        guard chunk.maskKind == maskKind else { throw fail("mask kind \(chunk.maskKind) but \(maskKind) was expected") }
        let size = chunk.geometry.size
        if let geometry {
            guard chunk.geometry == geometry else { throw fail("geometry differs from the first chunk's") }
            guard chunk.count == count else { throw fail("chunk count \(chunk.count) differs from the first chunk's \(count)") }
        } else {
            // Decoded chunks are already bounded; check again for chunks built in memory.
            guard size.i >= 1, size.j >= 1, size.k >= 1, size.i <= WireProtocol.maxGridEdge,
                  size.j <= WireProtocol.maxGridEdge, size.k <= WireProtocol.maxGridEdge,
                  size.count <= WireProtocol.maxVolumeVoxels else { throw fail("grid \(size) is outside the wire's limits") }
            guard chunk.count >= 1, chunk.count <= size.k else { throw fail("chunk count \(chunk.count) is outside 1...\(size.k)") }
        }
        guard chunk.index >= 0, chunk.index < chunk.count else { throw fail("index \(chunk.index) is outside 0..<\(chunk.count)") }
        guard chunk.slices.lowerBound >= 0, chunk.slices.upperBound <= size.k, !chunk.slices.isEmpty else {
            throw fail("slab \(chunk.slices.lowerBound)..<\(chunk.slices.upperBound) is outside 0..<\(size.k)")
        }
        if geometry == nil {
            geometry = chunk.geometry
            count = chunk.count
            received = [Bool](repeating: false, count: chunk.count)
            sliceOwner = [Int32](repeating: -1, count: size.k)
            voxels = [UInt8](repeating: 0, count: size.count)
        }
        if received[chunk.index] { return .duplicate }
        for k in chunk.slices where sliceOwner[k] != -1 {
            throw fail("slice \(k) is also in chunk \(sliceOwner[k])")
        }
        guard chunk.payload.count >= 5, chunk.payload[4] & 0b0000_0100 != 0 else {
            throw fail("payload is not an LZ4 frame with a content checksum")
        }
        let slabVoxels = chunk.slabVoxels
        let bytes: [UInt8]
        do {
            bytes = try LZ4Frame.decompress(chunk.payload, maximumOutputSize: slabVoxels,
                                            subject: "exam \(exam) attempt \(attempt) chunk \(chunk.index)")
        } catch {
            throw fail("payload: \(error.kind.rawValue): \(error.message)")
        }
        guard bytes.count == slabVoxels else {
            throw fail("payload holds \(bytes.count) bytes, the slab has \(slabVoxels) voxels")
        }
        let largest = maskKind == .bitmask ? maximum(bytes) : 0
        if largest > 31, let bad = bytes.first(where: { $0 > 31 }) {
            throw fail("bitmask value \(bad) is outside 0...31")
        }
        let start = chunk.slices.lowerBound * size.sliceCount
        voxels.replaceSubrange(start..<(start + slabVoxels), with: bytes)
        for k in chunk.slices { sliceOwner[k] = Int32(chunk.index) }
        received[chunk.index] = true
        receivedCount += 1
        guard receivedCount == count, let geometry else { return .accepted(received: receivedCount, count: count) }
        if let gap = sliceOwner.firstIndex(of: -1) {
            throw fail("all \(count) chunks arrived but slice \(gap) is in none of them")
        }
        completed = true
        let volume = Volume<UInt8>(geometry: geometry, voxels: voxels)
        voxels = []
        return .complete(volume)
    }
}

/// The largest byte of `bytes` (0 when empty), in one vectorisable pass.
func maximum(_ bytes: [UInt8]) -> UInt8 {
    bytes.withUnsafeBufferPointer { p in
        var m: UInt8 = 0
        for b in p { m = max(m, b) }
        return m
    }
}
