import HemoCore
import LZ4
import Testing
@testable import HemoWire

@Suite("Mask chunking and assembly")
struct MaskChunkingTests {
    let exam = caseID("CT-042")

    @Test(arguments: [1, 4, 7, 20, 64])
    func labelMapsSurviveChunkingWireAndAssembly(slicesPerChunk: Int) throws {
        let mask = sampleLabelMap(GridSize(17, 13, 20), seed: UInt64(slicesPerChunk))
        let chunks = try MaskChunker(slicesPerChunk: slicesPerChunk).chunks(bitmask: mask, exam: exam, attempt: 3)
        #expect(chunks.count == (20 + slicesPerChunk - 1) / slicesPerChunk)
        var assembler = MaskAssembler(exam: exam, attempt: 3)
        var result: Volume<UInt8>?
        // Deliver over the wire, in reverse order.
        for chunk in chunks.reversed() {
            guard case .chunk(let received) = try WireMessage.decode(try WireMessage.chunk(chunk).encode()) else {
                Issue.record("not a chunk"); return
            }
            switch try assembler.accept(received) {
            case .complete(let volume): result = volume
            case .accepted: break
            case let other: Issue.record("unexpected \(other)")
            }
        }
        #expect(result == mask)
    }

    @Test func chunkingIsDeterministic() throws {
        let mask = sampleLabelMap(GridSize(30, 30, 12), seed: 9)
        let a = try MaskChunker(slicesPerChunk: 5).chunks(bitmask: mask, exam: exam, attempt: 1)
        let b = try MaskChunker(slicesPerChunk: 5).chunks(bitmask: mask, exam: exam, attempt: 1)
        #expect(a == b)
    }

    @Test func duplicatesAndOtherAttemptsAreIgnored() throws {
        let mask = sampleLabelMap(GridSize(8, 8, 6), seed: 2)
        let chunks = try MaskChunker(slicesPerChunk: 2).chunks(bitmask: mask, exam: exam, attempt: 2)
        let stale = try MaskChunker(slicesPerChunk: 2).chunks(bitmask: mask, exam: exam, attempt: 1)
        var assembler = MaskAssembler(exam: exam, attempt: 2)
        #expect(try assembler.accept(chunks[0]) == .accepted(received: 1, count: 3))
        #expect(try assembler.accept(chunks[0]) == .duplicate)
        #expect(try assembler.accept(stale[1]) == .ignoredAttempt(1))
        #expect(try assembler.accept(chunks[1]) == .accepted(received: 2, count: 3))
        #expect(try assembler.accept(chunks[2]) == .complete(mask))
        #expect(try assembler.accept(chunks[2]) == .duplicate)
    }

    @Test func aCorruptPayloadFailsTheAttemptAndLaterChunksAreIgnored() throws {
        let mask = sampleLabelMap(GridSize(16, 16, 6), seed: 3)
        var chunks = try MaskChunker(slicesPerChunk: 2).chunks(bitmask: mask, exam: exam, attempt: 1)
        chunks[1].payload[chunks[1].payload.count / 2] ^= 0x40
        var assembler = MaskAssembler(exam: exam, attempt: 1)
        _ = try assembler.accept(chunks[0])
        let error = #expect(throws: ChunkError.self) { try assembler.accept(chunks[1]) }
        #expect(error?.chunkIndex == 1)
        #expect(error?.description.contains("CT-042") == true)
        #expect(try assembler.accept(chunks[2]) == .ignoredAttempt(1))

        // A new attempt starts clean.
        assembler.restart(attempt: 2)
        let fresh = try MaskChunker(slicesPerChunk: 2).chunks(bitmask: mask, exam: exam, attempt: 2)
        var outcome: ChunkOutcome?
        for chunk in fresh { outcome = try assembler.accept(chunk) }
        #expect(outcome == .complete(mask))
    }

    @Test func inconsistentChunksAreErrors() throws {
        let mask = sampleLabelMap(GridSize(8, 8, 8), seed: 4)
        let chunks = try MaskChunker(slicesPerChunk: 4).chunks(bitmask: mask, exam: exam, attempt: 1)

        func firstThen(_ second: Chunk) -> ChunkError? {
            var assembler = MaskAssembler(exam: exam, attempt: 1)
            _ = try? assembler.accept(chunks[0])
            return #expect(throws: ChunkError.self) { try assembler.accept(second) }
        }
        var otherGeometry = chunks[1]
        otherGeometry.geometry.affine[0, 3] += 1
        #expect(firstThen(otherGeometry)?.reason.contains("geometry") == true)

        var otherCount = chunks[1]
        otherCount.count = 3
        #expect(firstThen(otherCount)?.reason.contains("count") == true)

        var beyond = chunks[1]
        beyond.index = 5
        beyond.count = 2
        #expect(firstThen(beyond) != nil)

        var overlapping = chunks[1]
        overlapping.slices = 3..<8
        #expect(firstThen(overlapping)?.reason.contains("slice 3") == true)

        var wrongSize = chunks[1]
        wrongSize.payload = try LZ4Frame.compress([UInt8](repeating: 0, count: 10))
        #expect(firstThen(wrongSize)?.reason.contains("holds 10 bytes") == true)

        var tooBig = chunks[1]
        tooBig.payload = try LZ4Frame.compress([UInt8](repeating: 0, count: 8 * 8 * 4 + 1))
        #expect(firstThen(tooBig)?.reason.contains("tooLarge") == true)

        var badLabel = chunks[1]
        badLabel.payload = try LZ4Frame.compress([UInt8](repeating: 40, count: 8 * 8 * 4))
        #expect(firstThen(badLabel)?.reason.contains("bitmask value 40") == true)

        var otherExam = chunks[1]
        otherExam.exam = caseID("CT-043")
        #expect(firstThen(otherExam)?.reason.contains("routed") == true)
    }

    @Test func aMissingSliceIsAnErrorWhenAllChunksArrived() throws {
        let mask = sampleLabelMap(GridSize(4, 4, 6), seed: 5)
        var chunks = try MaskChunker(slicesPerChunk: 3).chunks(bitmask: mask, exam: exam, attempt: 1)
        // Claim the second chunk covers only slice 3..<5 (slice 5 in none).
        let slab = (0..<(4 * 4 * 2)).map { _ in UInt8(0) }
        chunks[1].slices = 3..<5
        chunks[1].payload = try LZ4Frame.compress(slab)
        var assembler = MaskAssembler(exam: exam, attempt: 1)
        _ = try assembler.accept(chunks[0])
        let error = #expect(throws: ChunkError.self) { try assembler.accept(chunks[1]) }
        #expect(error?.reason.contains("slice 5") == true)
    }

    @Test func bitmaskValuesAbove31AreRefusedAtTheSource() {
        var mask = sampleLabelMap(GridSize(4, 4, 2), seed: 6)
        mask.voxels[3] = 32
        #expect(throws: ChunkError.self) { try MaskChunker().chunks(bitmask: mask, exam: exam, attempt: 1) }
    }

    @Test func protocolOneMaskKindsAreRefusedOnTheWire() {
        // Version 1's label-map (0), probability (1...5) and byte-plane (7, 8) kinds are gone.
        for code in [UInt8(0), 1, 5, 7, 8, 9, 255] { #expect(MaskKind(code: code) == nil, "code \(code)") }
        #expect(MaskKind(code: 6) == .bitmask)
    }

    @Test func largeSlicesAreSplitUnderTheChunkLimit() throws {
        // 100 voxels a slice; 8 slices per chunk would exceed a 350-voxel limit, so 3 go in each.
        let chunker = MaskChunker(slicesPerChunk: 8, maxChunkVoxels: 350)
        let mask = sampleLabelMap(GridSize(10, 10, 7), seed: 8)
        let chunks = try chunker.chunks(bitmask: mask, exam: exam, attempt: 1)
        #expect(chunks.map(\.slices) == [0..<3, 3..<6, 6..<7])
        #expect(MaskChunker(maxChunkVoxels: .max).maxChunkVoxels == WireProtocol.maxChunkVoxels)
    }
}

@Suite("Probability map chunks")
struct ProbabilityMapChunkTests {
    let exam = caseID("CT-043")

    @Test func mapsWithAnyByteSurviveTheWireUnderTheirOwnKind() throws {
        let size = GridSize(11, 9, 7)
        let bytes = (0..<size.count).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        let map = Volume<UInt8>(geometry: Geometry(size: size, spacing: SIMD3(1, 1, 2)), voxels: bytes)
        for subtype in Subtype.allCases {
            let kind = MaskKind.probability(subtype)
            #expect(MaskKind(code: kind.code) == kind)
            let chunks = try MaskChunker(slicesPerChunk: 3).chunks(bytes: map, kind: kind, exam: exam, attempt: 1)
            var assembler = MaskAssembler(exam: exam, attempt: 1, maskKind: kind)
            var result: Volume<UInt8>?
            for chunk in chunks {
                guard case .chunk(let received) = try WireMessage.decode(try WireMessage.chunk(chunk).encode()) else {
                    Issue.record("not a chunk"); return
                }
                if case .complete(let v) = try assembler.accept(received) { result = v }
            }
            #expect(result == map)
            // A bitmask assembler refuses another kind.
            var bits = MaskAssembler(exam: exam, attempt: 1)
            #expect(throws: ChunkError.self) { try bits.accept(chunks[0]) }
        }
        #expect(MaskKind(code: 10) == nil)
        #expect(MaskKind(code: 16) == nil)
    }
}
