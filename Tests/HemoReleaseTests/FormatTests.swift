import Foundation
import Testing
import HemoCore
@testable import HemoRelease

@Suite struct FixedFormattingTests {
    /// Expected strings are Python's `"%.*f" % (d, v)` (C's printf), except that a value rounding
    /// to zero is written without its sign.
    @Test(arguments: [
        (0.0, 3, "0.000"), (-0.0004, 3, "0.000"), (1.0005, 3, "1.000"), (-2.5, 0, "-2"),
        (12.34567, 4, "12.3457"), (0.00001, 4, "0.0000"), (1234.5, 1, "1234.5"), (0.5, 6, "0.500000"),
        (0.5078125, 6, "0.507812"), (0.5234375, 6, "0.523438"), (1.5, 0, "2"), (2.5, 0, "2"),
        (0.125, 2, "0.12"), (0.375, 2, "0.38"), (5e-324, 6, "0.000000"), (123456789.0000005, 6, "123456789.000001"),
        (19698307.5, 9, "19698307.500000000"),
    ])
    func formatsWithFixedDecimals(_ v: Double, _ d: Int, _ expected: String) {
        #expect(formatFixed(v, decimals: d) == expected)
    }

    /// Glibc's `vsnprintf("%.*f")` is the peer: random doubles, exact binary ties and values a
    /// half-unit away from a tie, 0…9 decimals.
    @Test func agreesWithCPrintf() {
        var rng = SplitMix(seed: 19)
        var values: [Double] = []
        for _ in 0..<5_000 {
            values.append(Double(rng.next() % 1_000_000_000) / Double(1 << (rng.next() % 30)))  // exact binary fractions, many ties
            values.append(Double(bitPattern: 0x3F00_0000_0000_0000 | (rng.next() & 0x000F_FFFF_FFFF_FFFF)))  // [0.0078, 0.0156)
            values.append((Double(rng.next() % 2_000_000) - 1_000_000) / 1024 + 0.5 / 1_000_000)
        }
        for v in values {
            for d in [0, 1, 2, 3, 6, 9] {
                let c = withVaList([d, v]) { args -> String in
                    var buffer = [CChar](repeating: 0, count: 128)
                    _ = vsnprintf(&buffer, 128, "%.*f", args)
                    return String(cString: buffer)
                }
                let expected = c.hasPrefix("-") && c.dropFirst().allSatisfy { $0 == "0" || $0 == "." } ? String(c.dropFirst()) : c
                #expect(formatFixed(v, decimals: d) == expected, "\(v) with \(d) decimals")
                if formatFixed(v, decimals: d) != expected { return }
            }
        }
    }

    @Test func jsonKeepsKeyOrderAndEscapes() {
        let v = JSONValue.object([("b", .int(1)), ("a", .array([.int(1), .int(2)])), ("s", .string("q\"\n\u{1}"))])
        #expect(v.rendered() == "{\n  \"b\": 1,\n  \"a\": [1, 2],\n  \"s\": \"q\\\"\\n\\u0001\"\n}\n")
    }
}

/// A small deterministic generator for test values.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct CSVTests {
    @Test func roundTripsQuotedFields() throws {
        let t = CSVTable(header: ["case", "reason"], rows: [["a", "has, comma"], ["b", "has \"quote\"\nand newline"]])
        let back = try CSVTable.parse(t.rendered(), source: "t.csv")
        #expect(back == t)
    }

    @Test func rejectsRaggedRowsAndOpenQuotes() {
        #expect(throws: CSVError.self) { try CSVTable.parse("a,b\n1\n", source: "x.csv") }
        #expect(throws: CSVError.self) { try CSVTable.parse("a,b\n\"1,2\n", source: "x.csv") }
        #expect(throws: CSVError.self) { try CSVTable.parse("", source: "x.csv") }
    }
}

@Suite struct SplitTests {
    @Test func splitIsAPureFunctionOfCaseAndSeed() throws {
        let rule = SplitRule(seed: "s1")
        let ids = (0..<2000).map { CaseID("case_\($0)")! }
        let first = ids.map { rule.split(of: $0) }
        // Growing the cohort never moves a case.
        #expect(ids.map { rule.split(of: $0) } == first)
        let counts = Dictionary(grouping: first, by: { $0 }).mapValues(\.count)
        #expect(abs(Double(counts[.train]!) / 2000 - 0.70) < 0.04)
        #expect(abs(Double(counts[.val]!) / 2000 - 0.15) < 0.03)
        // Another seed gives another assignment.
        #expect(ids.map { SplitRule(seed: "s2").split(of: $0) } != first)
    }
}

@Suite struct StagingTests {
    func tempDir() throws -> String {
        let d = NSTemporaryDirectory() + "hemo-staging-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    @Test func commitWritesASortedManifestAndRenamesIntoPlace() throws {
        let dir = try tempDir()
        let s = try ReleaseStaging(destination: dir + "/rel", force: false)
        try s.write("b\n", to: "z/b.txt")
        try s.write("a\n", to: "a.txt")
        #expect(!FileManager.default.fileExists(atPath: dir + "/rel"))
        let manifest = try s.commit()
        #expect(manifest == "\(SHA256.hex(of: Array("a\n".utf8)))  a.txt\n\(SHA256.hex(of: Array("b\n".utf8)))  z/b.txt\n")
        #expect(FileManager.default.fileExists(atPath: dir + "/rel/MANIFEST.sha256"))
        #expect(!FileManager.default.fileExists(atPath: s.folder))
    }

    @Test func existingDestinationNeedsForce() throws {
        let dir = try tempDir()
        try FileManager.default.createDirectory(atPath: dir + "/rel", withIntermediateDirectories: true)
        #expect(throws: ReleaseError.self) { _ = try ReleaseStaging(destination: dir + "/rel", force: false) }
        let s = try ReleaseStaging(destination: dir + "/rel", force: true)
        try s.write("x", to: "x.txt")
        try s.commit()
        #expect(FileManager.default.fileExists(atPath: dir + "/rel/x.txt"))
    }
}
