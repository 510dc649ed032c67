import Foundation
import HemoTestKit

/// Runs the built `hemo` executable, as a user would.
enum CLI {
    /// The `hemo` binary next to the test bundle (SwiftPM builds it first: the test target depends on it).
    static var binary: String { HemoExecutable.path }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `hemo args…` (with `environment` added to this process's) and waits.
    static func run(_ args: [String], environment: [String: String] = [:]) throws -> Result {
        let child = try ChildProcess(binary, args, environment: environment)
        let status = child.waitForExit()
        return Result(status: status, stdout: child.stdout, stderr: child.stderr)
    }

    /// A fresh temporary folder.
    static func tempDir(_ tag: String) throws -> String {
        let d = NSTemporaryDirectory() + "hemo-cli-\(tag)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }
}
