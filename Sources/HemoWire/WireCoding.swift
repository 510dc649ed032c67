/// Appends little-endian fields to a frame.
struct WireWriter {
    private(set) var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func i16(_ v: Int16) { u16(UInt16(bitPattern: v)) }
    mutating func f64(_ v: Double) { u64(v.bitPattern) }
    mutating func bool(_ v: Bool) { u8(v ? 1 : 0) }

    /// A `u32` byte count then the UTF-8 bytes; throws when over `max`.
    mutating func string(_ s: String, max: Int, field: String) throws(WireError) {
        let utf8 = Array(s.utf8)
        try checkLength(utf8.count, max: max, field: field)
        u32(UInt32(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    /// A `u32` byte count then the bytes; throws when over `max`.
    mutating func blob(_ b: [UInt8], max: Int, field: String) throws(WireError) {
        try checkLength(b.count, max: max, field: field)
        u32(UInt32(b.count))
        bytes.append(contentsOf: b)
    }
}

/// Throws ``WireError/Reason/tooLarge(limit:actual:)`` when `count > max`.
func checkLength(_ count: Int, max: Int, field: @autoclosure () -> String) throws(WireError) {
    guard count <= max else { throw WireError(field: field(), reason: .tooLarge(limit: max, actual: count)) }
}

/// Reads little-endian fields from a frame, bounds-checked; never traps.
struct WireReader {
    let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    private mutating func take(_ n: Int, field: String) throws(WireError) -> ArraySlice<UInt8> {
        guard n >= 0, remaining >= n else { throw WireError(field: field, reason: .truncated) }
        defer { offset += n }
        return bytes[offset..<(offset + n)]
    }

    private mutating func littleEndian(_ width: Int, field: String) throws(WireError) -> UInt64 {
        guard remaining >= width else { throw WireError(field: field, reason: .truncated) }
        var value: UInt64 = 0
        var shift: UInt64 = 0
        var index = offset
        let end = offset + width
        while index < end {
            value |= UInt64(bytes[index]) << shift
            shift += 8
            index += 1
        }
        offset = end
        return value
    }

    mutating func raw(_ n: Int, _ field: String) throws(WireError) -> [UInt8] { Array(try take(n, field: field)) }
    mutating func u8(_ field: String) throws(WireError) -> UInt8 { UInt8(truncatingIfNeeded: try littleEndian(1, field: field)) }
    mutating func u16(_ field: String) throws(WireError) -> UInt16 { UInt16(truncatingIfNeeded: try littleEndian(2, field: field)) }
    mutating func u32(_ field: String) throws(WireError) -> UInt32 { UInt32(truncatingIfNeeded: try littleEndian(4, field: field)) }
    mutating func u64(_ field: String) throws(WireError) -> UInt64 { try littleEndian(8, field: field) }
    mutating func i16(_ field: String) throws(WireError) -> Int16 { Int16(bitPattern: try u16(field)) }
    mutating func f64(_ field: String) throws(WireError) -> Double { Double(bitPattern: try u64(field)) }

    mutating func bool(_ field: String) throws(WireError) -> Bool {
        switch try u8(field) {
        case 0: return false
        case 1: return true
        case let other: throw WireError(field: field, reason: .invalidValue("boolean byte \(other) is not 0 or 1"))
        }
    }

    /// A `u32` length (checked against `max` before reading) then that many bytes.
    mutating func blob(_ field: String, max: Int) throws(WireError) -> [UInt8] {
        let length = try u32(field)
        guard let count = Int(exactly: length), count <= max else {
            throw WireError(field: field, reason: .tooLarge(limit: max, actual: Int(clamping: length)))
        }
        return Array(try take(count, field: field))
    }

    /// A length-prefixed string that must be valid UTF-8 without NUL bytes.
    mutating func string(_ field: String, max: Int) throws(WireError) -> String {
        let raw = try blob(field, max: max)
        let text = String(decoding: raw, as: UTF8.self)
        // Decoding repairs invalid sequences; equal bytes mean the input was valid UTF-8.
        guard text.utf8.elementsEqual(raw) else { throw WireError(field: field, reason: .invalidValue("not valid UTF-8")) }
        guard !raw.contains(0) else { throw WireError(field: field, reason: .invalidValue("contains a NUL byte")) }
        return text
    }

    /// Throws when bytes are left over.
    func finish(_ field: @autoclosure () -> String) throws(WireError) {
        guard remaining == 0 else { throw WireError(field: field(), reason: .trailingBytes(remaining)) }
    }
}
