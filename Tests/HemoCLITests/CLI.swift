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
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// A fresh temporary folder.
    static func tempDir(_ tag: String) throws -> String {
        let d = NSTemporaryDirectory() + "hemo-cli-\(tag)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }
}
