import HemoCore
import Testing
@testable import HemoWire

@Suite("HEMO wire decoder under hostile input")
struct WireFuzzTests {
    /// A fast uniform draw in `0..<n` (debug builds make the generic `random(in:)` slow).
    static func draw(_ n: Int, _ rng: inout SplitMix64) -> Int { n <= 0 ? 0 : Int(rng.next() % UInt64(n)) }
    static func byte(_ rng: inout SplitMix64) -> UInt8 { UInt8(truncatingIfNeeded: rng.next()) }

    /// One mutation of a valid message's frames.
    static func mutate(_ frames: [[UInt8]], _ rng: inout SplitMix64) -> [[UInt8]] {
        var frames = frames
        switch draw(8, &rng) {
        case 0, 1: // bit flips anywhere
            for _ in 0..<1 + draw(4, &rng) {
                let f = draw(frames.count, &rng)
                guard !frames[f].isEmpty else { continue }
                let b = draw(frames[f].count, &rng)
                frames[f][b] ^= UInt8(1) << UInt8(draw(8, &rng))
            }
        case 2: // truncate a frame
            let f = draw(frames.count, &rng)
            frames[f] = Array(frames[f].prefix(draw(frames[f].count + 1, &rng)))
        case 3: // duplicate a frame
            let f = draw(frames.count, &rng)
            frames.insert(frames[f], at: draw(frames.count + 1, &rng))
        case 4: // remove a frame
            frames.remove(at: draw(frames.count, &rng))
        case 5: // overwrite 4 bytes of the fields frame with a random length-like value
            if frames.count > 2, frames[2].count >= 4 {
                let at = draw(frames[2].count - 3, &rng)
                let choices: [UInt32] = [0, 1, 0xFFFF_FFFF, 0x7FFF_FFFF, UInt32(draw(70_001, &rng))]
                let value = choices[draw(choices.count, &rng)]
                for i in 0..<4 { frames[2][at + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
            }
        case 6: // append random bytes to a frame
            let f = draw(frames.count, &rng)
            for _ in 0..<(1 + draw(16, &rng)) { frames[f].append(byte(&rng)) }
        default: // a random message: valid header and type, random fields
            var fields: [UInt8] = []
            for _ in 0..<draw(301, &rng) { fields.append(byte(&rng)) }
            frames = [WireProtocol.header, [UInt8(draw(13, &rng))], fields]
            for _ in 0..<draw(4, &rng) { frames.append([byte(&rng)]) }
        }
        return frames
    }

    @Test func hundredThousandMutatedMessagesDecodeOrThrowWithoutCrashing() throws {
        let seeds = try sampleMessages().map { try $0.encode() }
        var rng = SplitMix64(seed: 0xC0FFEE)
        var decoded = 0, rejected = 0, unstable = 0
        var fieldsNamed = Set<String>()
        for _ in 0..<100_000 {
            let base = seeds[Self.draw(seeds.count, &rng)]
            var frames = Self.mutate(base, &rng)
            if Self.draw(4, &rng) == 0 { frames = Self.mutate(frames, &rng) }
            let message: WireMessage
            do {
                message = try WireMessage.decode(frames)
            } catch {
                rejected += 1
                fieldsNamed.insert(error.field)
                continue
            }
            decoded += 1
            // Whatever decodes must encode again and decode to the same message.
            let again = try message.encode()
            if try WireMessage.decode(again) != message { unstable += 1 }
        }
        #expect(unstable == 0, "decoded messages re-encode to the same message")
        #expect(decoded + rejected == 100_000)
        #expect(rejected > 50_000, "most mutations are caught")
        #expect(decoded > 100, "some mutations (e.g. in free text) stay valid")
        #expect(fieldsNamed.count > 20, "errors name many distinct fields: \(fieldsNamed.count)")
    }
}
