/// An LZ4 frame that could not be compressed or decompressed, with the reason and,
/// when the caller gave one, what the data was (an exam, a chunk, a file).
public struct LZ4Error: Error, Equatable, Sendable, CustomStringConvertible {
    /// Why the operation failed.
    public enum Kind: String, Sendable, Hashable {
        /// The bytes are not a valid LZ4 frame (bad magic, header, block or size field, trailing bytes).
        case corruptFrame
        /// A header, block or content checksum did not match: the data was altered.
        case checksumMismatch
        /// The frame declares or produces more bytes than the caller's maximum.
        case tooLarge
        /// The frame ends before its end mark (and checksum).
        case truncated
        /// libLZ4 could not compress (should not happen with a correct bound) or allocate.
        case libraryFailure
    }

    /// Why it failed.
    public var kind: Kind
    /// A sentence with the details (libLZ4's error name when it gave one).
    public var message: String
    /// What was being (de)compressed, e.g. `exam CT-001 chunk 3`; empty when not given.
    public var subject: String

    /// Builds an error.
    public init(kind: Kind, message: String, subject: String = "") {
        self.kind = kind
        self.message = message
        self.subject = subject
    }

    /// `subject: kind: message`.
    public var description: String {
        subject.isEmpty ? "LZ4 \(kind.rawValue): \(message)" : "\(subject): LZ4 \(kind.rawValue): \(message)"
    }
}
