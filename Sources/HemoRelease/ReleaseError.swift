/// Why a release could not be written or verified as a whole.
public struct ReleaseError: Error, CustomStringConvertible, Sendable {
    /// What kind of problem.
    public enum Code: String, Sendable {
        /// The destination exists and `--force` was not given.
        case destinationExists
        /// A file or folder could not be created, written or renamed.
        case io
        /// The release on disk disagrees with its manifest or its masks.
        case verification
        /// The input cohort is unusable as a whole.
        case input
        /// `hemo release merge` refused its parts (missing, duplicate, overlapping, mismatched or unfinished).
        case mergeRefused
    }
    /// The kind of problem.
    public var code: Code
    /// The path concerned.
    public var path: String
    /// What went wrong and what to do.
    public var reason: String

    /// An error.
    public init(_ code: Code, path: String, reason: String) {
        self.code = code; self.path = path; self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}

/// Why one exam could not be processed; it goes to `failures.csv` and the run goes on.
public struct CaseFailure: Error, CustomStringConvertible, Sendable {
    /// The stage: `input`, `read`, `annotations`, `transform`, `inference`, `write`.
    public var stage: String
    /// What went wrong, naming the file relative to the cohort.
    public var reason: String

    /// A failure at `stage`.
    public init(stage: String, reason: String) {
        self.stage = stage; self.reason = reason
    }

    public var description: String { "\(stage): \(reason)" }
}
