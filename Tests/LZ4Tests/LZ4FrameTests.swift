import HemoCore
import Testing
@testable import LZ4


func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var rng = SplitMix64(seed: seed)
    return (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
}

/// A label-map-like payload: long runs of zeros with a few blobs.
func maskLikeBytes(_ count: Int) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    for i in 0..<count where (i / 997) % 7 == 3 {
        let label: Int = 1 + (i / 5000) % 5
        bytes[i] = UInt8(label)
    }
    return bytes
}

@Suite("LZ4 frames")
struct LZ4FrameTests {
    @Test(arguments: [0, 1, 17, 65_536, 65_537, 3 * 1024 * 1024 + 5])
    func maskLikeDataRoundTrips(size: Int) throws {
        let input = maskLikeBytes(size)
        let frame = try LZ4Frame.compress(input)
        if size > 4096 { #expect(frame.count < size / 4, "mask-like data compresses") }
        #expect(try LZ4Frame.decompress(frame, maximumOutputSize: size) == input)
        #expect(try LZ4Frame.declaredContentSize(frame) == (size == 0 ? nil : size))
    }

    @Test func incompressibleDataRoundTrips() throws {
        let input = randomBytes(300_000, seed: 7)
        let frame = try LZ4Frame.compress(input)
        #expect(frame.count >= input.count)
        #expect(try LZ4Frame.decompress(frame, maximumOutputSize: input.count) == input)
    }

    @Test(arguments: [0, 1, 9])
    func outputIsDeterministicForInputAndLevel(level: Int) throws {
        let input = maskLikeBytes(200_000) + randomBytes(10_000, seed: 3)
        let a = try LZ4Frame.compress(input, level: level)
        let b = try LZ4Frame.compress(input, level: level)
        #expect(a == b)
        #expect(try LZ4Frame.decompress(a, maximumOutputSize: input.count) == input)
    }

    @Test func framesCarryAContentChecksumSoAlteredDataIsCaught() throws {
        let input = randomBytes(5000, seed: 11)
        var frame = try LZ4Frame.compress(input)
        // FLG byte (offset 4): bit 2 = content checksum, bit 3 = content size present.
        #expect(frame[4] & 0b0000_0100 != 0)
        #expect(frame[4] & 0b0000_1000 != 0)
        // Incompressible data is stored raw: flipping a data byte breaks only the content checksum.
        frame[frame.count - 20] ^= 0x01
        let error = #expect(throws: LZ4Error.self) { try LZ4Frame.decompress(frame, maximumOutputSize: 5000) }
        #expect(error?.kind == .checksumMismatch)
    }

    @Test func aFlippedByteAnywhereIsAnErrorNotACrash() throws {
        let input = maskLikeBytes(40_000) + randomBytes(3000, seed: 5)
        let frame = try LZ4Frame.compress(input)
        var failures = 0
        for position in 0..<frame.count {
            for bit in [0, 3, 7] {
                var altered = frame
                altered[position] ^= UInt8(1 << bit)
                do {
                    let output = try LZ4Frame.decompress(altered, maximumOutputSize: input.count)
                    // Only a flip the checksums cannot see could decode; it must not be silent corruption.
                    #expect(output == input, "byte \(position) bit \(bit) decoded to different data")
                } catch {
                    failures += 1
                }
            }
        }
        // A few flips are harmless: e.g. a match offset changed inside a run of zeros copies the
        // same zeros. Those decode to the original bytes (checked above); all others must fail.
        #expect(failures >= frame.count * 3 * 95 / 100, "nearly every flip is detected")
    }

    @Test func truncatedFramesAreReportedAsTruncated() throws {
        let input = maskLikeBytes(100_000)
        let frame = try LZ4Frame.compress(input)
        for length in [0, 3, 6, 7, 11, frame.count / 2, frame.count - 5, frame.count - 1] {
            let error = #expect(throws: LZ4Error.self) {
                try LZ4Frame.decompress(Array(frame.prefix(length)), maximumOutputSize: input.count)
            }
            #expect(error?.kind == .truncated, "length \(length): \(String(describing: error))")
        }
    }

    @Test func framesOverTheLimitAreRejectedBeforeDecoding() throws {
        let input = maskLikeBytes(10_000)
        let frame = try LZ4Frame.compress(input, subject: "exam A chunk 0")
        let error = #expect(throws: LZ4Error.self) {
            try LZ4Frame.decompress(frame, maximumOutputSize: 9_999, subject: "exam A chunk 0")
        }
        #expect(error?.kind == .tooLarge)
        #expect(error?.description.contains("exam A chunk 0") == true)
    }

    @Test func trailingBytesAfterTheFrameAreRejected() throws {
        let frame = try LZ4Frame.compress([1, 2, 3])
        let error = #expect(throws: LZ4Error.self) { try LZ4Frame.decompress(frame + [0], maximumOutputSize: 3) }
        #expect(error != nil)
    }

    @Test func garbageIsNotAFrame() {
        let error = #expect(throws: LZ4Error.self) {
            try LZ4Frame.decompress(randomBytes(64, seed: 1), maximumOutputSize: 1000)
        }
        #expect(error?.kind == .corruptFrame)
    }
}
