import Deflate
import Foundation
import Testing

/// GNU gzip (`/bin/gzip`), an independent implementation, run on `input` with `arguments`.
private func gnuGzip(_ arguments: [String], input: [UInt8]) throws -> (status: Int32, output: [UInt8]) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/gzip")
    process.arguments = arguments
    let stdin = Pipe(), stdout = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = FileHandle.nullDevice
    try process.run()
    let writer = Thread {
        stdin.fileHandleForWriting.write(Data(input))
        try? stdin.fileHandleForWriting.close()
    }
    writer.start()
    let output = stdout.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, Array(output))
}

private func sample(_ count: Int, seed: UInt32) -> [UInt8] {
    var state = seed
    return (0..<count).map { n in
        state = state &* 1_664_525 &+ 1_013_904_223
        return UInt8(truncatingIfNeeded: (n / 97) &+ Int(state >> 29))
    }
}

struct DeflateTests {
    @Test(arguments: [0, 1, 6, 12])
    func gnuGzipReadsOurMembers(level: Int) throws {
        let content = sample(700_001, seed: 7)
        let compressor = try GzipMemberCompressor(level: level)
        let first = content.withUnsafeBytes { try? compressor.compressMember(UnsafeRawBufferPointer(rebasing: $0[0..<300_000])) }
        let second = content.withUnsafeBytes { try? compressor.compressMember(UnsafeRawBufferPointer(rebasing: $0[300_000...])) }
        let members = try #require(first) + #require(second)
        let (status, output) = try gnuGzip(["-dc"], input: members)
        #expect(status == 0)
        #expect(output == content)
        // Equal input, equal bytes: no time or name in the header.
        let again = content.withUnsafeBytes { try? compressor.compressMember(UnsafeRawBufferPointer(rebasing: $0[0..<300_000])) }
        #expect(again == first)
    }

    @Test func weReadWhatGnuGzipWrites() throws {
        let content = sample(1_500_000, seed: 3)
        let (status, compressed) = try gnuGzip(["-c", "-6", "-n"], input: content)
        #expect(status == 0)
        let decompressor = try GzipDecompressor()
        // A small hint: the buffer has to grow.
        let back = try compressed.withUnsafeBytes { try decompressor.decompressMembers($0, sizeHint: 1000, limit: 1 << 30) }
        #expect(back == content)
        // Two members and trailing bytes that are not a member, read as gzread reads them.
        let two = compressed + compressed + Array("trailing".utf8)
        let both = try two.withUnsafeBytes { try decompressor.decompressMembers($0, sizeHint: content.count, limit: 1 << 30) }
        #expect(both == content + content)
    }

    @Test func corruptTruncatedAndOversizedInputsAreErrors() throws {
        let content = sample(200_000, seed: 11)
        let compressor = try GzipMemberCompressor(level: 1)
        let member = try content.withUnsafeBytes { try compressor.compressMember($0) }
        let decompressor = try GzipDecompressor()
        func code(_ bytes: [UInt8], limit: Int = 1 << 30) -> DeflateError.Code? {
            do {
                _ = try bytes.withUnsafeBytes { try decompressor.decompressMembers($0, sizeHint: 0, limit: limit) }
                return nil
            } catch { return (error as? DeflateError)?.code }
        }
        #expect(code(Array(member.dropLast(5))) == .corruptData)
        var crc = member
        crc[crc.count - 6] ^= 0xFF
        #expect(code(crc) == .corruptData)
        #expect(code(Array("not gzip".utf8)) == .corruptData)
        #expect(code(member, limit: 100_000) == .tooLarge)
        #expect(throws: DeflateError.self) { try GzipMemberCompressor(level: 13) }
    }
}
