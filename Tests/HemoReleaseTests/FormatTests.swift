import Foundation
import Testing
import HemoCore
@testable import HemoRelease

@Suite struct FixedFormattingTests {
    @Test(arguments: [
        (0.0, 3, "0.000"), (-0.0004, 3, "0.000"), (1.0005, 3, "1.001"), (-2.5, 0, "-3"),
        (12.34567, 4, "12.3457"), (0.00001, 4, "0.0000"), (1234.5, 1, "1234.5"), (0.5, 6, "0.500000"),
    ])
    func formatsWithFixedDecimals(_ v: Double, _ d: Int, _ expected: String) {
        #expect(formatFixed(v, decimals: d) == expected)
    }

    @Test func jsonKeepsKeyOrderAndEscapes() {
        let v = JSONValue.object([("b", .int(1)), ("a", .array([.int(1), .int(2)])), ("s", .string("q\"\n\u{1}"))])
        #expect(v.rendered() == "{\n  \"b\": 1,\n  \"a\": [1, 2],\n  \"s\": \"q\\\"\\n\\u0001\"\n}\n")
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
