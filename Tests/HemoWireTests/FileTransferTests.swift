import HemoCore
import LZ4
import Testing
@testable import HemoWire

@Suite("FILE parts: encoded release files on the wire")
struct FileTransferTests {
    let exam = caseID("case_007")

    func sampleFiles() -> [EncodedFile] {
        var rng = SplitMix64(seed: 7)
        let noisy = (0..<5000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        return [EncodedFile(path: "imagesTr/case_007_0000.nii.gz", bytes: noisy),
                EncodedFile(path: "labelsTr/case_007.nii.gz", bytes: [UInt8](repeating: 3, count: 777)),
                EncodedFile(path: "masks2d/case_007/000.png", bytes: Array("\u{89}PNG tiny".utf8))]
    }

    func assemble(_ parts: [FilePart], attempt: UInt32 = 1) throws -> FileAssembler {
        var a = FileAssembler(exam: exam, attempt: attempt)
        for p in parts {
            guard case .file(let back) = try WireMessage.decode(try WireMessage.file(p).encode()) else {
                Issue.record("FILE did not decode as FILE"); continue
            }
            #expect(back == p)
            _ = try a.accept(back)
        }
        return a
    }

    @Test func filesSurviveTheWireByteForByteWithTheirDigests() throws {
        let files = sampleFiles()
        let parts = try FileChunker().parts(of: files, exam: exam, attempt: 1)
        #expect(parts.count == 3 && parts.allSatisfy { $0.partCount == 1 && $0.fileCount == 3 })
        #expect(parts[0].sha256 == { var h = SHA256(); h.update(files[0].bytes); return h.finalize() }())
        let a = try assemble(parts)
        #expect(a.isComplete)
        #expect(a.files == files)
        #expect(a.rawBytes == files.reduce(0) { $0 + $1.bytes.count })
    }

    @Test func aFileLargerThanOnePartTravelsInSeveralAndIsReassembled() throws {
        let size = WireProtocol.filePartBytes + 1234
        var big = [UInt8](repeating: 0, count: size)
        for n in stride(from: 0, to: size, by: 4099) { big[n] = UInt8(truncatingIfNeeded: n / 4099) }
        let file = EncodedFile(path: "imagesTr/case_007_0000.nii.gz", bytes: big)
        let parts = try FileChunker().parts(of: [file], exam: exam, attempt: 1)
        #expect(parts.map(\.byteRange) == [0..<WireProtocol.filePartBytes, WireProtocol.filePartBytes..<size])
        var a = FileAssembler(exam: exam, attempt: 1)
        #expect(try a.accept(parts[1]) == .accepted, "parts may arrive in any order")
        #expect(try a.accept(parts[1]) == .duplicate)
        #expect(try a.accept(parts[0]) == .fileComplete(path: file.path))
        #expect(a.files == [file])
    }

    @Test func aCorruptPartFailsTheAttemptAndLaterPartsAreIgnored() throws {
        var parts = try FileChunker().parts(of: sampleFiles(), exam: exam, attempt: 1)
        parts[0].payload[parts[0].payload.count / 2] ^= 0x40
        var a = FileAssembler(exam: exam, attempt: 1)
        #expect(throws: ChunkError.self) { try a.accept(parts[0]) }
        #expect(try a.accept(parts[1]) == .ignoredAttempt(1))
        #expect(!a.isComplete && a.files == nil)
    }

    @Test func aWrongDigestIsCaughtWhenTheFileCompletes() throws {
        var parts = try FileChunker().parts(of: sampleFiles(), exam: exam, attempt: 1)
        parts[1].sha256[0] ^= 1
        var a = FileAssembler(exam: exam, attempt: 1)
        _ = try a.accept(parts[0])
        let error = #expect(throws: ChunkError.self) { try a.accept(parts[1]) }
        #expect(error?.reason.contains("SHA-256") == true, "\(String(describing: error))")
    }

    @Test func inconsistentPartsAreRefused() throws {
        let parts = try FileChunker().parts(of: sampleFiles(), exam: exam, attempt: 1)
        var samePath = parts[1]
        samePath.path = parts[0].path
        var a = FileAssembler(exam: exam, attempt: 1)
        _ = try a.accept(parts[0])
        #expect(throws: ChunkError.self) { try a.accept(samePath) }
        var otherCount = parts[1]
        otherCount.fileCount = 4
        var b = FileAssembler(exam: exam, attempt: 1)
        _ = try b.accept(parts[0])
        #expect(throws: ChunkError.self) { try b.accept(otherCount) }
        var c = FileAssembler(exam: exam, attempt: 2)
        #expect(try c.accept(parts[0]) == .ignoredAttempt(1), "another attempt's part")
    }

    @Test(arguments: ["../escape.nii.gz", "/abs/path.png", "a//b.png", "masks2d/./x.png", ""])
    func pathsThatLeaveTheReleaseAreRefusedOnBothSides(path: String) throws {
        #expect(throws: ChunkError.self) {
            try FileChunker().parts(of: [EncodedFile(path: path, bytes: [1])], exam: exam, attempt: 1)
        }
        let good = try FileChunker().parts(of: [EncodedFile(path: "x.png", bytes: [1])], exam: exam, attempt: 1)[0]
        func frames(path: String) throws -> [[UInt8]] {
            var w = WireWriter()
            try w.string(exam.rawValue, max: 64, field: "exam")
            w.u32(1); w.u32(0); w.u32(1)
            try w.string(path, max: 4096, field: "path")
            w.u64(1)
            for b in good.sha256 { w.u8(b) }
            w.u32(0); w.u32(1)
            return [WireProtocol.header, [MessageType.file.rawValue], w.bytes, good.payload]
        }
        #expect(try WireMessage.decode(try frames(path: "x.png")) == .file(good), "the hand-built frames are right")
        #expect(throws: WireError.self) { try WireMessage.decode(try frames(path: path)) }
    }

    @Test func aPartCountThatDoesNotMatchTheSizeIsRefused() throws {
        var part = try FileChunker().parts(of: [EncodedFile(path: "x.png", bytes: [1, 2, 3])], exam: exam, attempt: 1)[0]
        part.partCount = 2
        #expect(throws: WireError.self) { try WireMessage.file(part).encode() }
    }

    @Test func statusRepliesCarryThroughputAndAnETA() throws {
        let reply = StatusReply(examsTotal: 100, completed: 40, quarantined: 2, running: 4, pending: 54,
                                examsPerMinute: 29, windowSeconds: 60, elapsedSeconds: 90, workers: [])
        guard case .statusReply(let back) = try WireMessage.decode(try WireMessage.statusReply(reply).encode()) else {
            Issue.record("STATUS-REPLY did not decode"); return
        }
        #expect(back == reply)
        #expect(back.etaSeconds == 58.0 / 29.0 * 60)
        var stalled = reply
        stalled.examsPerMinute = 0
        #expect(stalled.etaSeconds == nil)
        var nan = reply
        nan.examsPerMinute = .nan
        #expect(throws: WireError.self) { try WireMessage.statusReply(nan).encode() }
    }

    @Test func aPeerOfAnotherProtocolVersionIsRefusedByName() throws {
        var frames = try WireMessage.heartbeat.encode()
        frames[0][4] = 1
        let error = #expect(throws: WireError.self) { try WireMessage.decode(frames) }
        #expect(error?.reason == .unsupportedVersion(1))
        #expect(error?.description.contains("this build speaks 3") == true)
    }
}
