/// A validated case identifier: `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`, as the release format requires.
///
/// Anything else is rejected before any file is written, so an identifier can never
/// escape its folder or collide with the format's own names.
public struct CaseID: Hashable, Sendable, Comparable, Codable, CustomStringConvertible {
    /// The identifier text.
    public let rawValue: String

    /// Validates `text`; `nil` when it breaks the rule.
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard (1...64).contains(bytes.count) else { return nil }
        func alnum(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
        }
        guard alnum(bytes[0]) else { return nil }
        for b in bytes.dropFirst() where !(alnum(b) || b == 0x5F || b == 0x2E || b == 0x2D) { return nil }
        rawValue = text
    }

    /// Why `text` is not a valid identifier, or `nil` when it is.
    public static func problem(with text: String) -> String? {
        CaseID(text) == nil
            ? "case identifier '\(text)' must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
            : nil
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = CaseID(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: CaseID.problem(with: text)!))
        }
        self = id
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }

    /// Byte-wise (C locale) order, so sorting never depends on the machine's locale.
    public static func < (a: CaseID, b: CaseID) -> Bool { Array(a.rawValue.utf8).lexicographicallyPrecedes(b.rawValue.utf8) }
    public var description: String { rawValue }
}
