/// A message that could not be encoded or decoded: which field, and why.
///
/// Decoding never traps: every malformed, truncated, oversize or hostile input ends as one of these.
public struct WireError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Why the field was rejected.
    public enum Reason: Equatable, Sendable {
        /// The frame ended before the field was complete.
        case truncated
        /// A length or count is over its limit.
        case tooLarge(limit: Int, actual: Int)
        /// The value is outside its allowed set (explained).
        case invalidValue(String)
        /// Bytes were left after the last field of the frame.
        case trailingBytes(Int)
        /// The message has the wrong number of frames for its type.
        case wrongFrameCount(expected: String, actual: Int)
        /// Frame 1 names no known message type.
        case unknownMessageType(UInt8)
        /// Frame 0 is not `HEMO` followed by a version byte.
        case notHemoProtocol
        /// Frame 0 names a protocol version this build does not speak.
        case unsupportedVersion(UInt8)
    }

    /// The field, dotted from the message type, e.g. `CHUNK.geometry.spacing`.
    public var field: String
    /// Why it was rejected.
    public var reason: Reason

    /// Builds an error.
    public init(field: String, reason: Reason) {
        self.field = field
        self.reason = reason
    }

    /// `field: reason`.
    public var description: String {
        let why: String
        switch reason {
        case .truncated: why = "truncated"
        case .tooLarge(let limit, let actual): why = "\(actual) is over the limit \(limit)"
        case .invalidValue(let text): why = text
        case .trailingBytes(let n): why = "\(n) unexpected bytes after the last field"
        case .wrongFrameCount(let expected, let actual): why = "\(actual) frames, expected \(expected)"
        case .unknownMessageType(let code): why = "unknown message type \(code)"
        case .notHemoProtocol: why = "not a HEMO protocol message"
        case .unsupportedVersion(let v): why = "protocol version \(v) is not supported (this build speaks \(WireProtocol.version))"
        }
        return "wire field \(field): \(why)"
    }
}
