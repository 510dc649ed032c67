import HemoCore
import LZ4
import Testing
@testable import HemoWire

@Suite("HEMO wire messages")
struct WireMessageTests {
    @Test func everyMessageTypeRoundTrips() throws {
        let messages = try sampleMessages()
        #expect(Set(messages.map(\.type)) == Set(MessageType.allCases))
        for message in messages {
            let frames = try message.encode()
            #expect(frames[0] == Array("HEMO".utf8) + [3])
            #expect(frames[1] == [message.type.rawValue])
            #expect(try WireMessage.decode(frames) == message, "\(message.type)")
            #expect(try message.encode() == frames, "encoding is deterministic")
        }
    }

    @Test func frameLayoutOfHeartbeatAndChunk() throws {
        #expect(try WireMessage.heartbeat.encode() == [[0x48, 0x45, 0x4D, 0x4F, 3], [3], []])
        let chunkMessage = try sampleMessages().first { $0.type == .chunk }!
        guard case .chunk(let chunk) = chunkMessage else { return }
        let frames = try chunkMessage.encode()
        #expect(frames.count == 4)
        #expect(frames[3] == chunk.payload, "the LZ4 frame travels as its own ZeroMQ frame")
    }

    @Test func integersAreLittleEndian() throws {
        let frames = try WireMessage.failed(FailedMessage(exam: caseID("A"), attempt: 0x0102_0304, stage: "s", reason: "")).encode()
        // u32 length 1, "A", then the attempt.
        #expect(Array(frames[2][0..<9]) == [1, 0, 0, 0, 0x41, 0x04, 0x03, 0x02, 0x01])
    }

    @Test func headerProblemsAreNamed() throws {
        var frames = try WireMessage.heartbeat.encode()
        frames[0] = Array("HEMX".utf8) + [2]
        #expect(throws: WireError(field: "header", reason: .notHemoProtocol)) { try WireMessage.decode(frames) }
        frames[0] = Array("HEMO".utf8) + [1]
        #expect(throws: WireError(field: "header", reason: .unsupportedVersion(1)), "a version-1 peer is refused") {
            try WireMessage.decode(frames)
        }
        frames[0] = Array("HEMO".utf8) + [2]
        #expect(throws: WireError(field: "header", reason: .unsupportedVersion(2)), "a version-2 peer is refused") {
            try WireMessage.decode(frames)
        }
        frames[0] = Array("HEMO".utf8) + [4]
        #expect(throws: WireError(field: "header", reason: .unsupportedVersion(4))) { try WireMessage.decode(frames) }
        frames[0] = WireProtocol.header
        frames[1] = [42]
        #expect(throws: WireError(field: "type", reason: .unknownMessageType(42))) { try WireMessage.decode(frames) }
        #expect(throws: WireError.self) { try WireMessage.decode([WireProtocol.header, [3]]) }
        #expect(throws: WireError.self) { try WireMessage.decode([]) }
    }

    @Test func fieldProblemsAreNamed() throws {
        var frames = try WireMessage.failed(FailedMessage(exam: caseID("CT-9"), attempt: 1, stage: "read", reason: "x")).encode()
        frames[2].append(0)
        #expect(throws: WireError(field: "FAILED.fields", reason: .trailingBytes(1))) { try WireMessage.decode(frames) }
        frames[2].removeLast(3)
        #expect(throws: WireError(field: "FAILED.reason", reason: .truncated)) { try WireMessage.decode(frames) }

        // A case identifier that would escape its folder.
        var bad = WireWriter()
        try bad.string("../etc", max: 64, field: "x")
        let error = #expect(throws: WireError.self) {
            try WireMessage.decode([WireProtocol.header, [MessageType.failed.rawValue], bad.bytes])
        }
        #expect(error?.field == "FAILED.exam")

        // A length prefix far over the limit is refused before reading.
        var huge = WireWriter()
        huge.u32(0xFFFF_FFF0)
        let tooLarge = #expect(throws: WireError.self) {
            try WireMessage.decode([WireProtocol.header, [MessageType.disconnect.rawValue], huge.bytes])
        }
        #expect(tooLarge?.field == "DISCONNECT.reason")
        #expect(tooLarge?.reason == .tooLarge(limit: WireProtocol.maxReasonBytes, actual: 0xFFFF_FFF0))
    }

    @Test func encodingChecksTheSameLimits() {
        let longReason = String(repeating: "é", count: 2000)
        #expect(throws: WireError.self) {
            try WireMessage.failed(FailedMessage(exam: caseID("A"), attempt: 1, stage: "s", reason: longReason)).encode()
        }
        let cut = WireText.truncated(longReason, maxBytes: WireProtocol.maxReasonBytes)
        #expect(cut.utf8.count <= WireProtocol.maxReasonBytes && cut.utf8.count >= WireProtocol.maxReasonBytes - 1)
        #expect(throws: WireError.self) {
            try WireMessage.ready(ReadyMessage(workerID: "bad id", workerName: "", capacity: 1, threads: 1, capabilities: [])).encode()
        }
        #expect(throws: WireError.self) {
            try WireMessage.ready(ReadyMessage(workerID: "w", workerName: "", capacity: 0, threads: 1, capabilities: [])).encode()
        }
        #expect(throws: WireError.self) {
            try WireMessage.job(JobMessage(jobID: 1, exam: caseID("A"), attempt: 1, kind: .infer(modelSHA256: [1]),
                                    options: [], inputs: .paths([]))).encode()
        }
        #expect(throws: WireError.self) {
            try WireMessage.job(JobMessage(jobID: 1, exam: caseID("A"), attempt: 1, kind: .build, options: [],
                                    inputs: .inline([InlineFile(name: "../x", size: 0, lz4Frame: [])]))).encode()
        }
    }

    @Test func chunkGeometryAndSlabAreValidated() throws {
        guard case .chunk(let chunk) = try sampleMessages().first(where: { $0.type == .chunk })! else { return }
        var badSpacing = chunk
        badSpacing.geometry.spacing = SIMD3(.nan, 1, 1)
        #expect(throws: WireError.self) { try WireMessage.chunk(badSpacing).encode() }
        var beyond = chunk
        beyond.index = beyond.count
        #expect(throws: WireError.self) { try WireMessage.chunk(beyond).encode() }
        var outside = chunk
        outside.slices = 5..<9
        #expect(throws: WireError.self) { try WireMessage.chunk(outside).encode() }

        // Patch k1 on the wire to lie outside the grid.
        var frames = try WireMessage.chunk(chunk).encode()
        let k1Offset = frames[2].count - 5
        frames[2][k1Offset] = 200
        let error = #expect(throws: WireError.self) { try WireMessage.decode(frames) }
        #expect(error?.field == "CHUNK.slices")
    }

    @Test func jobFrameCountMustMatchInlineFiles() throws {
        guard let inlineJob = try sampleMessages().first(where: {
            if case .job(let j) = $0, case .inline = j.inputs { return true } else { return false }
        }) else { Issue.record("no inline job sample"); return }
        var frames = try inlineJob.encode()
        frames.removeLast()
        let error = #expect(throws: WireError.self) { try WireMessage.decode(frames) }
        #expect(error?.field == "JOB")
    }
}

@Suite("Inline JOB files")
struct InlineFileTests {
    @Test func inlineFilesRoundTripThroughAJob() throws {
        let ct = (0..<50_000).map { UInt8(truncatingIfNeeded: $0 / 7) }
        let file = try InlineFile.compressing(name: "CT-001_0000.nii.gz", bytes: ct)
        #expect(file.size == ct.count)
        let job = WireMessage.job(JobMessage(jobID: 1, exam: caseID("CT-001"), attempt: 1, kind: .build, options: [],
                                      inputs: .inline([file])))
        guard case .job(let decoded) = try WireMessage.decode(try job.encode()),
              case .inline(let files) = decoded.inputs else { Issue.record("not an inline job"); return }
        #expect(try files[0].decompressed() == ct)
    }

    @Test func aLyingSizeOrCorruptFrameIsAnErrorNamingTheFile() throws {
        var file = try InlineFile.compressing(name: "a.json", bytes: Array(repeating: 1, count: 1000))
        file.size = 999
        let tooLarge = #expect(throws: WireError.self) { try file.decompressed() }
        #expect(tooLarge?.description.contains("a.json") == true)
        file.size = 2000
        let short = #expect(throws: WireError.self) { try file.decompressed() }
        #expect(short?.field == "JOB.inputs.inline.size")
        file.size = 1000
        file.lz4Frame[file.lz4Frame.count - 2] ^= 0xFF
        #expect(throws: WireError.self) { try file.decompressed() }
        #expect(throws: WireError.self) { try InlineFile.compressing(name: "../etc/passwd", bytes: []) }
    }
}

@Suite("ROUTER envelopes")
struct RoutedMessageTests {
    @Test func routedMessagesCarryTheRoutingIDInFront() throws {
        let frames = try WireMessage.heartbeat.encode(routedTo: Array("w1".utf8))
        #expect(frames.count == 4 && frames[0] == Array("w1".utf8))
        let (id, message) = try WireMessage.decode(routed: frames)
        #expect(id == Array("w1".utf8) && message == .heartbeat)
        #expect(throws: WireError.self) { try WireMessage.decode(routed: []) }
        #expect(throws: WireError.self) { try WireMessage.heartbeat.encode(routedTo: []) }
    }
}
