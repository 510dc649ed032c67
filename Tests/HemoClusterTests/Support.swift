import HemoConcurrency
import Foundation
import HemoCluster
import HemoCore
import HemoRelease
import HemoScheduler
import NIfTI
import ZeroMQ
import HemoTestKit
import Testing

extension TinyCohort {
    /// The one-process reference: `hemo build`'s manifest.
    func referenceManifest(options: ReleaseOptions = ReleaseOptions()) throws -> String {
        try ReleaseBuilder(options: options, threads: 2, force: true)
            .build(cohort: try Cohort.open(root), destination: release("reference")).manifest
    }
}

/// The built `hemo` executable (the test target depends on it, so SwiftPM builds it first).
enum Hemo {
    static var binary: String { HemoExecutable.path }

    /// Starts `hemo args…` with output captured into temporary files.
    static func spawn(_ args: [String]) throws -> Child {
        try ChildProcess(binary, args)
    }

    /// `hemo worker` connecting to `endpoint` with test-speed heartbeats.
    static func worker(_ endpoint: String, id: String, heartbeatMs: Int = 100, extra: [String] = []) throws -> Child {
        // A patient liveness (10 intervals) so a loaded test machine does not make workers reconnect.
        try spawn(["worker", "--connect", endpoint, "--id", id, "--heartbeat-ms", "\(heartbeatMs)", "--liveness", "10"] + extra)
    }
}

/// A child process: HemoTestKit's.
typealias Child = ChildProcess

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

    static func fast(_ endpoint: String, id: String, curve: CurveClientConfig? = nil,
                     model: WorkerModelSource = .bundledDefault) -> ThreadWorker {
        var s = WorkerSettings(endpoint: endpoint, workerID: id)
        s.heartbeatInterval = .milliseconds(100)
        s.livenessIntervals = 10
        s.curve = curve
        s.model = model
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

/// The SIGKILL drill: a worker process (with `workerArguments`) that holds its jobs for 5 s is
/// killed once it holds one, then a rescuer with the same arguments joins. Returns the rescuer.
func killWorkerMidJobThenRescue(_ coordinator: Coordinator, endpoint: String, workerArguments: [String] = []) throws -> Child {
    let doomed = try Hemo.worker(endpoint, id: "doomed", extra: workerArguments + ["--job-delay-ms", "5000"])
    let holding = eventually(15) { coordinator.status?.workers.contains { $0.id.rawValue == "doomed" && $0.outstanding > 0 } ?? false }
    #expect(holding, "the worker never received a job: \(doomed.stderr)")
    doomed.kill(SIGKILL)
    doomed.process.waitUntilExit()
    return try Hemo.worker(endpoint, id: "rescuer", extra: workerArguments)
}
