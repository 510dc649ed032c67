import Foundation

/// A child process (usually `hemo` or `hemo-bench`) with its standard output and error captured
/// in temporary files, for tests that run the binaries as users and scripts do.
///
/// ```swift
/// let coordinator = try ChildProcess(HemoExecutable.path, ["coordinator", "--cohort", dir, …])
/// defer { coordinator.terminate() }
/// #expect(coordinator.wait(seconds: 30) == 0, "\(coordinator.stderr)")
/// ```
public final class ChildProcess: @unchecked Sendable {
    /// The process.
    public let process = Process()
    /// The capture files' common path (`.out`, `.err`).
    public let base = NSTemporaryDirectory() + "hemo-child-\(UUID().uuidString)"

    /// Starts `executable` with `arguments`, and `environment` added to this process's.
    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        _ = FileManager.default.createFile(atPath: base + ".out", contents: nil)
        _ = FileManager.default.createFile(atPath: base + ".err", contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".out"))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".err"))
        try process.run()
    }

    deinit {
        try? FileManager.default.removeItem(atPath: base + ".out")
        try? FileManager.default.removeItem(atPath: base + ".err")
    }

    /// The process id.
    public var pid: Int32 { process.processIdentifier }
    /// Everything written to standard output so far.
    public var stdout: String { (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? "" }
    /// Everything written to standard error so far.
    public var stderr: String { (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? "" }

    /// Sends `signal` (SIGKILL by default) without waiting.
    public func kill(_ signal: Int32 = SIGKILL) { Foundation.kill(process.processIdentifier, signal) }

    /// SIGTERM when still running, then waits for the exit.
    public func terminate() { if process.isRunning { process.terminate(); process.waitUntilExit() } }

    /// Waits for the exit, however long it takes, and returns its status.
    public func waitForExit() -> Int32 {
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Waits up to `seconds` for the exit and returns its status; a process still running then is
    /// killed (SIGKILL) and `nil` is returned.
    @discardableResult
    public func wait(seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning {
            kill()
            process.waitUntilExit()
            return nil
        }
        return process.terminationStatus
    }
}
