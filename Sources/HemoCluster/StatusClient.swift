import HemoConcurrency
import Foundation
import HemoWire
import ZeroMQ

/// The client side of STATUS: one request, one reply.
public enum StatusClient {
    /// Asks the coordinator at `endpoint` for its status.
    /// - Throws: ``ClusterError`` when no answer comes within `timeout`.
    public static func ask(endpoint: String, curve: CurveClientConfig? = nil, timeout: Duration = .seconds(3)) throws -> StatusReply {
        let context = try Context()
        defer { try? context.terminate() }
        let socket = try context.socket(.dealer)
        defer { socket.close() }
        if let curve { try curve.apply(to: socket) }
        try socket.connect(endpoint)
        _ = try socket.send(try WireMessage.statusRequest.encode())
        let deadline = monotonicNanoseconds() + UInt64(timeout.seconds * 1e9)
        while monotonicNanoseconds() < deadline {
            let left = Duration.nanoseconds(Int64(deadline - monotonicNanoseconds()))
            guard try socket.wait(timeout: left), let frames = try socket.receive(dontWait: true) else { continue }
            if case .statusReply(let reply) = try WireMessage.decode(frames) { return reply }
        }
        throw ClusterError(endpoint, "no STATUS reply within \(timeout) (is a coordinator running there?)")
    }

    /// The reply as lines for people.
    public static func render(_ r: StatusReply) -> String {
        let eta = r.etaSeconds.map { formatDuration($0) } ?? "unknown"
        // The first line's wording is parsed by scripts (scale-workers, system tests): keep it.
        var lines = ["exams: \(r.examsTotal) total, \(r.completed) completed, \(r.quarantined) failed, \(r.running) running, \(r.pending) pending",
                     "throughput: \(String(format: "%.1f", r.examsPerMinute)) exams/min over the last \(formatDuration(r.windowSeconds)), ETA \(eta), running for \(formatDuration(r.elapsedSeconds))",
                     "workers: \(r.workers.count)"]
        for w in r.workers {
            lines.append("  \(w.workerID) (\(w.workerName)): capacity \(w.capacity), holding \(w.outstanding)\(w.draining ? ", draining" : "")")
        }
        return lines.joined(separator: "\n")
    }

    /// `1h02m03s`, `4m05s` or `6s`.
    public static func formatDuration(_ seconds: Double) -> String {
        let total = Int(max(0, seconds).rounded())
        let h = total / 3600, m = total / 60 % 60, s = total % 60
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        if h > 0 { return "\(h)h\(two(m))m\(two(s))s" }
        if m > 0 { return "\(m)m\(two(s))s" }
        return "\(s)s"
    }
}
