/// What a cluster worker can do: advertised in its READY message, required by each exam's job.
public struct WorkerCapabilities: OptionSet, Hashable, Sendable {
    /// The bit mask (a `u32` on the wire).
    public let rawValue: UInt32
    /// Wraps a bit mask.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Dataset builds from annotations.
    public static let build = WorkerCapabilities(rawValue: 1 << 0)
    /// Model inference (pseudo-labels).
    public static let infer = WorkerCapabilities(rawValue: 1 << 1)
    /// Every bit this version knows.
    public static let known: WorkerCapabilities = [.build, .infer]
}
