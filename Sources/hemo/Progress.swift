import Foundation

/// Progress on stderr: a redrawn bar on a terminal, plain lines otherwise (logs, CI, pipes).
final class ProgressReporter: @unchecked Sendable {
    private let label: String
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private let start = DispatchTime.now().uptimeNanoseconds
    private let lock = NSLock()
    private var lastLine = 0

    init(label: String) { self.label = label }

    /// Reports `done` of `total`, with an optional note (e.g. a failure). A measured throughput
    /// (`examsPerMinute`, with its `etaSeconds`, e.g. a coordinator's windowed rate) replaces the
    /// average since start.
    func update(done: Int, total: Int, failed: Int, note: String? = nil,
                examsPerMinute: Double? = nil, etaSeconds: Double?? = nil) {
        lock.lock(); defer { lock.unlock() }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let rate = examsPerMinute.map { $0 / 60 } ?? (elapsed > 0 ? Double(done) / elapsed : 0)
        let eta: Double? = etaSeconds ?? (rate > 0 ? Double(total - done) / rate : nil)
        let stats = "\(done)/\(total) exams, \(failed) failed, \(String(format: "%.1f", rate * 60)) exams/min, ETA \(eta.map { "\(Int($0.rounded())) s" } ?? "unknown")"
        if let note { emit(isTerminal ? "\r\u{1B}[K\(note)\n" : "\(note)\n") }
        if isTerminal {
            let width = 30
            let filled = total > 0 ? width * done / total : width
            emit("\r\u{1B}[K\(label) [" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] " + stats)
            if done == total { emit("\n") }
        } else if done == total || done - lastLine >= max(1, total / 20) || note != nil {
            lastLine = done
            emit("\(label): \(stats)\n")
        }
    }

    private func emit(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }
}

/// Writes a line to stderr.
func printError(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }
