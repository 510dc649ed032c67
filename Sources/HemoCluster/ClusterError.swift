import Foundation
import HemoCore
import HemoRelease
import HemoTransforms
import HemoWire
import LZ4
import DICOM

/// A JOB or result that cannot be encoded or decoded, naming the exam and the reason.
public struct ClusterError: Error, CustomStringConvertible, Sendable {
    /// The exam, file or endpoint concerned.
    public var subject: String
    /// Why, as a sentence.
    public var reason: String

    /// An error about `subject`.
    public init(_ subject: String, _ reason: String) {
        self.subject = subject
        self.reason = reason
    }

    /// `subject: reason`.
    public var description: String { "\(subject): \(reason)" }
}
