import Dispatch

/// Seconds spent per stage, summed over cases (so with several threads the sum exceeds wall time).
public struct StageTimes: Sendable {
    /// Stage name → seconds, in first-seen order.
    public private(set) var entries: [(String, Double)] = []
    /// No time yet.
    public init() {}
    /// Adds `seconds` to `stage`.
    public mutating func add(_ stage: String, _ seconds: Double) {
        if let i = entries.firstIndex(where: { $0.0 == stage }) { entries[i].1 += seconds } else { entries.append((stage, seconds)) }
    }
    /// Adds every stage of `other`.
    public mutating func merge(_ other: StageTimes) { for (s, t) in other.entries { add(s, t) } }
}

/// Measures `body` and adds its duration to `times[stage]`.
@inline(__always)
public func timed<R>(_ stage: String, _ times: inout StageTimes, _ body: () throws -> R) rethrows -> R {
    let start = DispatchTime.now().uptimeNanoseconds
    defer { times.add(stage, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
    return try body()
}
