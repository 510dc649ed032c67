import HemoCore

/// Deterministic mutation of DICOM files, for the fuzz test (`DICOMTests`) and its long run
/// (`hemo-bench dicom-fuzz`, system test 61): bit flips, overwritten bytes with boundary values
/// (0x00, 0xFF, lengths like 0xFFFFFFFF), truncation, duplicated or deleted ranges, and
/// rewritten element lengths and VRs, so every guard of the parser is reached.
public struct DICOMMutator: Sendable {
    var rng: SplitMix64

    /// A mutator whose choices depend only on `seed`.
    public init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(rng.next() % UInt64(n)) }

    /// One to four mutations of `bytes`.
    public mutating func mutate(_ bytes: [UInt8]) -> [UInt8] {
        var b = bytes
        let rounds = 1 + below(4)
        for _ in 0..<rounds {
            guard !b.isEmpty else { b = [UInt8](repeating: 0, count: below(200)); continue }
            switch below(9) {
            case 0: // flip a bit
                let i = below(b.count); b[i] ^= UInt8(1) << UInt8(below(8))
            case 1: // boundary byte
                b[below(b.count)] = [0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE][below(6)]
            case 2: // truncate
                b.removeSubrange(below(b.count)...)
            case 3: // absurd 32-bit value (a length, most likely, when aligned after a tag)
                let i = below(max(1, b.count - 4))
                let v: [UInt32] = [0xFFFF_FFFF, 0xFFFF_FFFE, 0x7FFF_FFFF, 0x8000_0000, 0, 1, UInt32(b.count), UInt32(b.count) &+ 1]
                let x = v[below(v.count)]
                for k in 0..<4 where i + k < b.count { b[i + k] = UInt8(truncatingIfNeeded: x >> (8 * UInt32(k))) }
            case 4: // absurd 16-bit value (a short length, rows, columns, bits)
                let i = below(max(1, b.count - 2))
                let v: [UInt16] = [0xFFFF, 0, 1, 0x8000, 7, 12, 16, 32, 33]
                let x = v[below(v.count)]
                for k in 0..<2 where i + k < b.count { b[i + k] = UInt8(truncatingIfNeeded: x >> (8 * UInt16(k))) }
            case 5: // delete a range
                let i = below(b.count), n = min(b.count - i, 1 + below(64))
                b.removeSubrange(i..<(i + n))
            case 6: // duplicate a range
                let i = below(b.count), n = min(b.count - i, 1 + below(64))
                b.insert(contentsOf: b[i..<(i + n)], at: below(b.count))
            case 7: // rewrite a VR-looking pair of capitals
                var spots: [Int] = []
                var i = 132
                while i + 1 < b.count && spots.count < 64 {
                    if (0x41...0x5A).contains(b[i]) && (0x41...0x5A).contains(b[i + 1]) { spots.append(i) }
                    i += 1 + below(16)
                }
                if let s = spots.isEmpty ? nil : spots[below(spots.count)] {
                    let vrs = ["SQ", "UN", "OB", "OW", "US", "SS", "UL", "FD", "DS", "xx", "\u{0}\u{0}"]
                    let v = Array(vrs[below(vrs.count)].utf8)
                    b[s] = v[0]; b[s + 1] = v[1]
                }
            default: // random bytes over a short range
                let i = below(b.count), n = min(b.count - i, 1 + below(16))
                for k in i..<(i + n) { b[k] = UInt8(truncatingIfNeeded: rng.next()) }
            }
        }
        return b
    }
}

/// What one fuzz run saw.
public struct DICOMFuzzReport: Sendable {
    /// Mutated files tried.
    public var files = 0
    /// Files parsed and decoded without error (mutations that kept the file valid).
    public var decoded = 0
    /// Files rejected with a ``DICOMError``.
    public var rejected = 0
    /// Rejections whose message did not name the file (should stay 0).
    public var unnamed = 0
    /// Whole-series reads with one mutated file among valid ones.
    public var seriesReads = 0
    /// Of those, the ones that gave a volume.
    public var seriesVolumes = 0
}

/// Runs the parser and the pixel decoders over `count` mutations of `seeds`, each mutation
/// derived from (`seed`, its index) alone. Every outcome must be a data set or a ``DICOMError``
/// naming the file; a crash ends the process (which is what the test guards against).
public func fuzzDICOM(_ seeds: [[UInt8]], count: Int, seed: UInt64) -> DICOMFuzzReport {
    var report = DICOMFuzzReport()
    guard !seeds.isEmpty else { return report }
    let valid = seeds.enumerated().compactMap { try? DICOMParser.parse($0.element, path: "seed-\($0.offset).dcm") }
    for n in 0..<count {
        var m = DICOMMutator(seed: SplitMix64.key([seed, UInt64(n)]))
        let source = seeds[n % seeds.count]
        let bytes = m.mutate(source)
        let name = "fuzz-\(n).dcm"
        report.files += 1
        do {
            let ds = try DICOMParser.parse(bytes, path: name)
            let f = try PixelFormat(ds)
            _ = try PixelDecoder.storedValues(ds, format: f)
            _ = try DICOMSlice.slices(of: ds)
            report.decoded += 1
            // Every 8th valid mutation also goes through series building in place of its source.
            if n % 8 == 0, !valid.isEmpty {
                var sets = valid
                sets[n % seeds.count < sets.count ? n % seeds.count : 0] = ds
                report.seriesReads += 1
                if (try? DICOMStudy.read(dataSets: sets, folder: "fuzz-study-\(n)")) != nil { report.seriesVolumes += 1 }
            }
        } catch {
            report.rejected += 1
            if !error.description.hasPrefix(name) { report.unnamed += 1 }
        }
    }
    return report
}
