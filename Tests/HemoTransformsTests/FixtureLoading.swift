import Foundation
import HemoCore

/// Errors of the fixture loader, naming the file.
struct FixtureError: Error, CustomStringConvertible {
    let file: String
    let reason: String
    var description: String { "fixture \(file): \(reason)" }
}

/// Reads committed fixtures from the test bundle.
enum Fixtures {
    static func url(_ relative: String) throws -> URL {
        guard let base = Bundle.module.resourceURL else { throw FixtureError(file: relative, reason: "no resource bundle") }
        let url = base.appendingPathComponent("Fixtures").appendingPathComponent(relative)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw FixtureError(file: relative, reason: "missing; run the scripts/make-*-fixtures.py generator")
        }
        return url
    }

    static func data(_ relative: String) throws -> Data { try Data(contentsOf: url(relative)) }

    static func json<T: Decodable>(_ relative: String, as: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(T.self, from: data(relative))
    }

    /// Little-endian raw values of a fixed-width type.
    static func raw<T: FixedWidthInteger>(_ relative: String, as: T.Type = T.self) throws -> [T] {
        let d = try data(relative)
        guard d.count % MemoryLayout<T>.size == 0 else { throw FixtureError(file: relative, reason: "truncated") }
        return d.withUnsafeBytes { bytes in
            (0..<(d.count / MemoryLayout<T>.size)).map { T(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) }
        }
    }

    /// Little-endian raw float32 values.
    static func rawFloat(_ relative: String) throws -> [Float] {
        try raw(relative, as: UInt32.self).map { Float(bitPattern: $0) }
    }
}
