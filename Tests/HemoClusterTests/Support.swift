import Foundation
import HemoCluster
import HemoCore
import HemoRelease
import HemoScheduler
import NIfTI
import ZeroMQ

/// A tiny raw cohort: `count` cases of 24×20×6 voxels with a label map (case 0 negative).
struct TinyCohort {
    let root: String

    static let geometry = Geometry(size: GridSize(24, 20, 6), spacing: SIMD3(0.9, 0.9, 5),
                                   affine: Affine(rowMajor: [-0.9, 0, 0, 10, 0, -0.9, 0, 12, 0, 0, 5, -20, 0, 0, 0, 1]))

    static func make(count: Int, tag: String = UUID().uuidString) throws -> TinyCohort {
        let root = NSTemporaryDirectory() + "hemo-cluster-cohort-\(tag)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        for n in 0..<count {
            let dir = root + "/" + String(format: "case_%03d", n)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            var ct = Volume<Int16>(geometry: geometry, repeating: 30)
            for idx in ct.voxels.indices { ct.voxels[idx] = Int16(-200 + (idx * 7 + n * 13) % 900) }
            try NIfTIFile.write(ct, to: dir + "/ct.nii.gz", options: NIfTIWriteOptions())
            try NIfTIFile.write(labelMap(seed: n), to: dir + "/labelmap.nii.gz", options: NIfTIWriteOptions())
        }
        return TinyCohort(root: root)
    }

    static func labelMap(seed: Int) -> Volume<UInt8> {
        var labels = Volume<UInt8>(geometry: geometry, repeating: 0)
        guard seed > 0 else { return labels }
        let g = geometry.size
        for k in 1..<(g.k - 1) {
            for j in 0..<g.j {
                for i in 0..<g.i {
                    let di = i - (5 + seed % 7), dj = j - 8
                    if di * di + dj * dj <= 9 { labels[i, j, k] = 4 }
                    if i == 20 && j >= 3 && j < 15 && k % 2 == 1 { labels[i, j, k] = 2 }
                    if seed % 3 == 0 && i + j == 12 && k == 2 { labels[i, j, k] = 3 }
                }
            }
        }
        return labels
    }

    func release(_ name: String) -> String { root + "-" + name }

    /// The one-process reference: `hemo build`'s manifest.
    func referenceManifest(options: ReleaseOptions = ReleaseOptions()) throws -> String {
        try ReleaseBuilder(options: options, threads: 2, force: true)
            .build(cohort: try Cohort.open(root), destination: release("reference")).manifest
    }
}

/// The built `hemo` executable (the test target depends on it, so SwiftPM builds it first).
enum Hemo {
    static var binary: String {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("hemo").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return FileManager.default.currentDirectoryPath + "/.build/debug/hemo"
    }

    /// Starts `hemo args…` with output captured into temporary files.
    static func spawn(_ args: [String]) throws -> Child {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        let base = NSTemporaryDirectory() + "hemo-child-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: base + ".out", contents: nil)
        FileManager.default.createFile(atPath: base + ".err", contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".out"))
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".err"))
        try p.run()
        return Child(process: p, base: base)
    }

    /// `hemo worker` connecting to `endpoint` with test-speed heartbeats.
    static func worker(_ endpoint: String, id: String, heartbeatMs: Int = 100, extra: [String] = []) throws -> Child {
        // A patient liveness (10 intervals) so a loaded test machine does not make workers reconnect.
        try spawn(["worker", "--connect", endpoint, "--id", id, "--heartbeat-ms", "\(heartbeatMs)", "--liveness", "10"] + extra)
    }
}

/// A child process.
final class Child: @unchecked Sendable {
    let process: Process
    let base: String
    init(process: Process, base: String) { self.process = process; self.base = base }

    var pid: Int32 { process.processIdentifier }
    var stdout: String { (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? "" }

    func kill(_ signal: Int32 = SIGKILL) { Foundation.kill(process.processIdentifier, signal) }

    /// Waits up to `seconds` for the exit; kills it when it is still running. Returns the status (nil: killed by us).
    @discardableResult
    func wait(seconds: Double) -> Int32? {
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

/// Polls `condition` every 10 ms for up to `seconds`.
@discardableResult
func eventually(_ seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        Thread.sleep(forTimeInterval: 0.01)
    }
    return condition()
}

/// Test-speed coordinator settings: 100 ms heartbeats.
func fastSettings(heartbeatMs: Int = 100, transfer: TransferMode = .shared) -> CoordinatorSettings {
    var s = CoordinatorSettings()
    s.scheduler = SchedulerSettings(heartbeatInterval: .milliseconds(heartbeatMs), livenessIntervals: 3, maxAttempts: 3)
    s.transfer = transfer
    if ProcessInfo.processInfo.environment["HEMO_TEST_LOG"] == nil { s.log = { _ in } }
    return s
}

/// A worker on an in-process thread with its own sockets.
final class ThreadWorker: @unchecked Sendable {
    let worker: ClusterWorker
    let exit = Locked<Result<WorkerExit, Error>?>(nil)

    init(_ settings: WorkerSettings) {
        worker = ClusterWorker(settings: settings)
        let t = Thread { [self] in
            let r = Result { try worker.run() }
            exit.withLock { $0 = r }
        }
        t.start()
    }

    static func fast(_ endpoint: String, id: String, curve: CurveClientConfig? = nil) -> ThreadWorker {
        var s = WorkerSettings(endpoint: endpoint, workerID: id)
        s.heartbeatInterval = .milliseconds(100)
        s.livenessIntervals = 10
        s.curve = curve
        s.log = { _ in }
        return ThreadWorker(s)
    }

    func finished(within seconds: Double) -> Result<WorkerExit, Error>? {
        eventually(seconds) { exit.withLock { $0 } != nil }
        return exit.withLock { $0 }
    }
}

/// Runs a coordinator on `cohort` with `settings` and returns it started.
func startCoordinator(_ cohort: TinyCohort, out: String, settings: CoordinatorSettings) throws -> (Coordinator, String) {
    let c = try Coordinator(cohort: try Cohort.open(cohort.root), destination: out, options: ReleaseOptions(), settings: settings)
    let endpoint = try c.start()
    return (c, endpoint)
}
