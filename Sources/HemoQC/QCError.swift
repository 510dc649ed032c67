/// Why a QC report could not be made, naming the file or case and the reason.
public struct QCError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The release file, case or output path concerned.
    public let subject: String
    /// What went wrong, as a sentence to act on.
    public let reason: String

    /// An error about `subject`.
    public init(_ subject: String, _ reason: String) {
        self.subject = subject
        self.reason = reason
    }

    /// `subject: reason`.
    public var description: String { "\(subject): \(reason)" }
}
