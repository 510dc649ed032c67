/// A JSON value written with a fixed layout, so release files are byte-reproducible:
/// object keys keep the order given, numbers are written from pre-formatted text,
/// two-space indentation, `\n` line ends and a final newline.
public indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    /// A number, already formatted (see ``JSONValue/number(_:decimals:)`` and ``JSONValue/int(_:)``).
    case numberText(String)
    case string(String)
    case array([JSONValue])
    /// An object; keys are written in this order.
    case object([(String, JSONValue)])

    /// An integer.
    public static func int<I: BinaryInteger>(_ v: I) -> JSONValue { .numberText(String(v)) }

    /// A floating-point number with a fixed number of decimals (no exponent; `-0` written as `0`).
    public static func number(_ v: Double, decimals: Int) -> JSONValue { .numberText(formatFixed(v, decimals: decimals)) }

    public static func == (a: JSONValue, b: JSONValue) -> Bool { a.rendered() == b.rendered() }

    /// The value as text, pretty-printed with two-space indentation and a trailing newline.
    public func rendered() -> String {
        var out = ""
        write(into: &out, indent: 0)
        out.append("\n")
        return out
    }

    /// The value as compact single-line text.
    public func compact() -> String {
        switch self {
        case .null: "null"
        case .bool(let b): b ? "true" : "false"
        case .numberText(let t): t
        case .string(let s): JSONValue.quote(s)
        case .array(let a): "[" + a.map { $0.compact() }.joined(separator: ",") + "]"
        case .object(let o): "{" + o.map { JSONValue.quote($0.0) + ":" + $0.1.compact() }.joined(separator: ",") + "}"
        }
    }

    private func write(into out: inout String, indent: Int) {
        let pad = String(repeating: "  ", count: indent + 1)
        let closePad = String(repeating: "  ", count: indent)
        switch self {
        case .array(let a) where a.isEmpty: out += "[]"
        case .object(let o) where o.isEmpty: out += "{}"
        case .array(let a):
            // Arrays of scalars stay on one line (boxes, affine rows, dims).
            if a.allSatisfy({ $0.isScalar }) {
                out += "[" + a.map { $0.compact() }.joined(separator: ", ") + "]"
                return
            }
            out += "[\n"
            for (n, v) in a.enumerated() {
                out += pad
                v.write(into: &out, indent: indent + 1)
                out += n + 1 < a.count ? ",\n" : "\n"
            }
            out += closePad + "]"
        case .object(let o):
            out += "{\n"
            for (n, (k, v)) in o.enumerated() {
                out += pad + JSONValue.quote(k) + ": "
                v.write(into: &out, indent: indent + 1)
                out += n + 1 < o.count ? ",\n" : "\n"
            }
            out += closePad + "}"
        default:
            out += compact()
        }
    }

    private var isScalar: Bool {
        switch self {
        case .array, .object: false
        default: true
        }
    }

    /// JSON string literal with the mandatory escapes.
    static func quote(_ s: String) -> String {
        var r = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": r += "\\\""
            case "\\": r += "\\\\"
            case "\n": r += "\\n"
            case "\r": r += "\\r"
            case "\t": r += "\\t"
            case _ where u.value < 0x20:
                let h = String(u.value, radix: 16)
                r += "\\u" + String(repeating: "0", count: 4 - h.count) + h
            default: r.unicodeScalars.append(u)
            }
        }
        return r + "\""
    }
}

/// `v` with exactly `decimals` digits after the point, rounded from the double's exact binary
/// value with ties to even, as C's `printf("%.*f")` and Python's `"%.*f"` do (so `0.5078125`
/// gives `0.507812` and `1.0005`, stored as 1.000499…, gives `1.000`); never in exponent form
/// and never `-0` (a value that rounds to zero is written without its sign). Pure Swift,
/// independent of locale. `decimals` must lie in 0…18.
public func formatFixed(_ v: Double, decimals: Int) -> String {
    guard v.isFinite else { return v.isNaN ? "nan" : (v > 0 ? "inf" : "-inf") }
    precondition((0...18).contains(decimals), "formatFixed supports 0...18 decimals")
    var scale = 1.0
    var scaleInt: UInt128 = 1
    for _ in 0..<decimals { scale *= 10; scaleInt *= 10 }
    let a = abs(v)
    guard a * scale < 1.0e35 else {
        // Beyond exact integer range: fall back to Swift's shortest representation.
        return String(v)
    }
    // a = significand · 2^exponent exactly; a · 10^decimals = q · 2^exponent.
    let biased = Int(a.exponentBitPattern)
    let significand = UInt128(biased == 0 ? a.significandBitPattern : a.significandBitPattern | (1 << 52))
    let exponent = (biased == 0 ? 1 : biased) - 1075
    let q = significand * scaleInt  // < 2^53 · 10^18 < 2^113
    var scaled: UInt128
    if exponent >= 0 {
        scaled = q << exponent  // a · 10^decimals < 1e35 < 2^117, so this fits
    } else if -exponent >= 120 {
        scaled = 0  // q / 2^120 < 1/2
    } else {
        let shift = -exponent
        scaled = q >> shift
        let rest = q & ((UInt128(1) << shift) - 1)
        let half = UInt128(1) << (shift - 1)
        if rest > half || (rest == half && scaled & 1 == 1) { scaled += 1 }
    }
    if scaled == 0 { return decimals > 0 ? "0." + String(repeating: "0", count: decimals) : "0" }
    var digits = String(scaled)
    if digits.count <= decimals { digits = String(repeating: "0", count: decimals - digits.count + 1) + digits }
    let sign = v < 0 ? "-" : ""
    if decimals == 0 { return sign + digits }
    let cut = digits.index(digits.endIndex, offsetBy: -decimals)
    return sign + digits[..<cut] + "." + digits[cut...]
}

/// Why JSON text could not be parsed.
public struct JSONParseError: Error, CustomStringConvertible, Sendable {
    /// Byte offset of the problem.
    public var offset: Int
    /// What was expected.
    public var reason: String
    public var description: String { "JSON at byte \(offset): \(reason)" }
}

extension JSONValue {
    /// Parses JSON text, keeping object keys in their order and numbers as their text, so that
    /// ``rendered()`` of a parsed release file gives its bytes back.
    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        try parse(bytes: Array(text.utf8))
    }

    /// Parses JSON from UTF-8 bytes, as ``parse(_:)``.
    public static func parse(bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        var p = JSONTextParser(bytes: bytes)
        let v = try p.value()
        p.skipSpace()
        guard p.i == p.bytes.count else { throw JSONParseError(offset: p.i, reason: "text after the value") }
        return v
    }

    /// The member `key` of an object (the first, when repeated), else `nil`.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o.first { $0.0 == key }?.1 }
        return nil
    }

    /// The string of a `.string`, else `nil`.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The integer of a `.numberText` holding one, else `nil`.
    public var intValue: Int? {
        if case .numberText(let t) = self { return Int(t) }
        return nil
    }

    /// The elements of an `.array`, else `nil`.
    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }
}

/// A small recursive-descent JSON parser behind ``JSONValue/parse(_:)``.
struct JSONTextParser {
    let bytes: [UInt8]
    var i = 0
    var depth = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func skipSpace() {
        while i < bytes.count {
            let b = bytes[i]
            guard b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 else { return }
            i += 1
        }
    }

    func fail(_ reason: String) -> JSONParseError { JSONParseError(offset: i, reason: reason) }

    mutating func literal(_ word: String, _ v: JSONValue) throws(JSONParseError) -> JSONValue {
        let w = Array(word.utf8)
        guard i + w.count <= bytes.count, Array(bytes[i..<i + w.count]) == w else { throw fail("expected \(word)") }
        i += w.count
        return v
    }

    mutating func value() throws(JSONParseError) -> JSONValue {
        skipSpace()
        guard i < bytes.count else { throw fail("unexpected end") }
        switch bytes[i] {
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "["):
            depth += 1
            guard depth < 256 else { throw fail("nested too deeply") }
            defer { depth -= 1 }
            i += 1
            var out: [JSONValue] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(out) }
            while true {
                out.append(try value())
                skipSpace()
                guard i < bytes.count else { throw fail("unterminated array") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(out) }
                throw fail("expected , or ]")
            }
        case UInt8(ascii: "{"):
            depth += 1
            guard depth < 256 else { throw fail("nested too deeply") }
            defer { depth -= 1 }
            i += 1
            var out: [(String, JSONValue)] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(out) }
            while true {
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a key") }
                let k = try string()
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected :") }
                i += 1
                out.append((k, try value()))
                skipSpace()
                guard i < bytes.count else { throw fail("unterminated object") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(out) }
                throw fail("expected , or }")
            }
        default:
            let start = i
            while i < bytes.count {
                let b = bytes[i]
                guard (b >= 0x30 && b <= 0x39) || b == 0x2B || b == 0x2D || b == 0x2E || b == 0x45 || b == 0x65 else { break }
                i += 1
            }
            let text = String(decoding: bytes[start..<i], as: UTF8.self)
            guard !text.isEmpty, Double(text) != nil else { i = start; throw fail("unexpected character") }
            return .numberText(text)
        }
    }

    mutating func string() throws(JSONParseError) -> String {
        i += 1 // opening quote
        var out: [UInt8] = []
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") { i += 1; return String(decoding: out, as: UTF8.self) }
            if b == UInt8(ascii: "\\") {
                guard i + 1 < bytes.count else { break }
                let e = bytes[i + 1]
                i += 2
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    guard i + 4 <= bytes.count, let u = UInt32(String(decoding: bytes[i..<i + 4], as: UTF8.self), radix: 16) else {
                        throw fail("bad \\u escape")
                    }
                    i += 4
                    var scalar = u
                    if (0xD800..<0xDC00).contains(u), i + 6 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u"),
                       let low = UInt32(String(decoding: bytes[i + 2..<i + 6], as: UTF8.self), radix: 16), (0xDC00..<0xE000).contains(low) {
                        scalar = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00)
                        i += 6
                    }
                    guard let s = Unicode.Scalar(scalar) else { throw fail("bad \\u escape") }
                    out.append(contentsOf: Array(String(Character(s)).utf8))
                default: throw fail("bad escape")
                }
                continue
            }
            guard b >= 0x20 else { throw fail("control character in a string") }
            out.append(b)
            i += 1
        }
        throw fail("unterminated string")
    }
}
