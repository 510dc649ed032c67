/// Why an evaluation could not be computed: the inputs named in `source` and the reason.
public struct EvalError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong, in a form tests and callers can switch over.
    public enum Code: Sendable, Equatable {
        /// Two arrays that must pair up element by element have different lengths.
        case lengthMismatch(expected: Int, actual: Int)
        /// A score or box coordinate is NaN or infinite.
        case nonFiniteValue(index: Int)
        /// A box has a negative width or height.
        case negativeBoxSize(index: Int)
        /// A release or cohort file is missing, unreadable or malformed.
        case badInput(String)
        /// The prediction and the truth have no case in common.
        case noCommonCases
    }

    /// The failure.
    public var code: Code
    /// The file, case or argument the failure concerns.
    public var source: String

    /// An error about `source`.
    public init(_ code: Code, source: String) {
        self.code = code
        self.source = source
    }

    /// A sentence naming the source and the reason.
    public var description: String {
        switch code {
        case let .lengthMismatch(expected, actual):
            "\(source): expected \(expected) values to pair with, got \(actual)"
        case let .nonFiniteValue(index):
            "\(source): value at index \(index) is NaN or infinite"
        case let .negativeBoxSize(index):
            "\(source): box at index \(index) has a negative width or height"
        case let .badInput(reason):
            "\(source): \(reason)"
        case .noCommonCases:
            "\(source): the prediction and the truth have no case in common"
        }
    }
}
