import Testing
@testable import HemoWire

@Suite("HEMO wire decoder under hostile input")
struct WireFuzzTests {
    /// One mutation of a valid message's frames.
    static func mutate(_ frames: [[UInt8]], _ rng: inout SplitMix64) -> [[UInt8]] {
        var frames = frames
        switch Int.random(in: 0..<8, using: &rng) {
        case 0, 1: // bit flips anywhere
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let f = Int.random(in: 0..<frames.count, using: &rng)
                guard !frames[f].isEmpty else { continue }
                let b = Int.random(in: 0..<frames[f].count, using: &rng)
                frames[f][b] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
            }
        case 2: // truncate a frame
            let f = Int.random(in: 0..<frames.count, using: &rng)
            frames[f] = Array(frames[f].prefix(Int.random(in: 0...frames[f].count, using: &rng)))
        case 3: // duplicate a frame
            let f = Int.random(in: 0..<frames.count, using: &rng)
            frames.insert(frames[f], at: Int.random(in: 0...frames.count, using: &rng))
        case 4: // remove a frame
            frames.remove(at: Int.random(in: 0..<frames.count, using: &rng))
        case 5: // overwrite 4 bytes of the fields frame with a random length-like value
            if frames.count > 2, frames[2].count >= 4 {
                let at = Int.random(in: 0...(frames[2].count - 4), using: &rng)
                let value: UInt32 = [0, 1, 0xFFFF_FFFF, 0x7FFF_FFFF, UInt32.random(in: 0...70_000, using: &rng)]
                    .randomElement(using: &rng)!
                for i in 0..<4 { frames[2][at + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
            }
        case 6: // append random bytes to a frame
            let f = Int.random(in: 0..<frames.count, using: &rng)
            frames[f] += (0..<Int.random(in: 1...16, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        default: // a random message: valid header and type, random fields
            let fields = (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            frames = [WireProtocol.header, [UInt8.random(in: 0...10, using: &rng)], fields]
            for _ in 0..<Int.random(in: 0...3, using: &rng) { frames.append([UInt8.random(in: 0...255, using: &rng)]) }
        }
        return frames
    }

    @Test func hundredThousandMutatedMessagesDecodeOrThrowWithoutCrashing() throws {
        let seeds = try sampleMessages().map { try $0.encode() }
        var rng = SplitMix64(seed: 0xC0FFEE)
        var decoded = 0, rejected = 0
        var fieldsNamed = Set<String>()
        for _ in 0..<100_000 {
            let base = seeds[Int.random(in: 0..<seeds.count, using: &rng)]
            var frames = Self.mutate(base, &rng)
            if Int.random(in: 0..<4, using: &rng) == 0 { frames = Self.mutate(frames, &rng) }
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
            #expect(try WireMessage.decode(again) == message)
        }
        #expect(decoded + rejected == 100_000)
        #expect(rejected > 50_000, "most mutations are caught")
        #expect(decoded > 100, "some mutations (e.g. in free text) stay valid")
        #expect(fieldsNamed.count > 20, "errors name many distinct fields: \(fieldsNamed.count)")
    }
}
