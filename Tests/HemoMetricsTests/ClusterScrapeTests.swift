import HemoConcurrency
import Foundation
@_spi(Drills) import HemoCluster
import HemoCore
import HemoHTTP
import HemoMetrics
import HemoRelease
import HemoScheduler
import HemoTestKit
import Testing

/// A real coordinator and worker (ZeroMQ over loopback), each with its metrics listener, scraped
/// over HTTP during and after a tiny run.
@Suite(.serialized) struct ClusterScrapeTests {
    static func scrape(_ server: MetricsHTTPServer) throws -> PrometheusText {
        let answer = try MetricsHTTPClient.get(host: "127.0.0.1", port: server.port)
        #expect(answer.status == 200)
        return try PrometheusText(answer.body)
    }

    /// HemoTestKit's `eventually`.
    static func eventually(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        try HemoTestKit.eventually(seconds, condition)
    }

    @Test func inProcessCoordinatorAndWorkerCountTheCohortOverHTTP() throws {
        let cohort = try TinyCohort.make(count: 5)
        var settings = CoordinatorSettings()
        settings.scheduler = SchedulerSettings(heartbeatInterval: .milliseconds(100), livenessIntervals: 5, maxAttempts: 3)
        settings.log = { _ in }
        let coordinatorMetrics = CoordinatorMetrics()
        coordinatorMetrics.install(into: &settings)
        let coordinator = try Coordinator(cohort: try Cohort.open(cohort.root), destination: cohort.release("metrics"),
                                          options: ReleaseOptions(), settings: settings)
        coordinatorMetrics.statusSource = { [weak coordinator] in coordinator?.status }
        let coordinatorServer = try MetricsHTTPServer(port: 0) { coordinatorMetrics.exposition() }
        defer { coordinatorServer.stop() }
        let endpoint = try coordinator.start()

        var workerSettings = WorkerSettings(endpoint: endpoint, workerID: "metrics-worker")
        workerSettings.heartbeatInterval = .milliseconds(100)
        workerSettings.livenessIntervals = 10
        workerSettings.jobDelay = .milliseconds(150)
        workerSettings.log = { _ in }
        let workerMetrics = WorkerMetrics(capacity: 1)
        workerMetrics.install(into: &workerSettings)
        let workerServer = try MetricsHTTPServer(port: 0) { workerMetrics.exposition() }
        defer { workerServer.stop() }
        let worker = ClusterWorker(settings: workerSettings)
        let exit = Locked<Result<WorkerExit, Error>?>(nil)
        Thread { exit.withLock { $0 = Result { try worker.run() } } }.start()

        // During the run: the worker is connected and an exam is in flight (each job sleeps 150 ms).
        var during: PrometheusText?
        let sawRunning = try Self.eventually(10) {
            let t = try Self.scrape(coordinatorServer)
            during = t
            return t.value("hemo_workers_connected") == 1 && (t.value("hemo_exams_in_flight") ?? 0) >= 1
        }
        #expect(sawRunning, "never saw a connected worker with an exam in flight")
        #expect(during?.value("hemo_exams") == 5)
        #expect((during?.value("hemo_exams_done_total") ?? 99) < 5)

        let summary = try coordinator.wait()
        #expect(summary.outcome.records.count == 5)
        #expect(Self.eventually(5) { exit.withLock { $0 } != nil })

        let after = try Self.scrape(coordinatorServer)
        #expect(after.value("hemo_exams_done_total") == 5)
        #expect(after.value("hemo_exams_failed_total") == 0)
        #expect(after.value("hemo_jobs_dispatched_total") == Double(summary.dispatches))
        #expect(after.value("hemo_job_retries_total") == 0)
        #expect(after.value("hemo_exams_in_flight") == 0)
        #expect(after.value("hemo_queue_depth") == 0)
        #expect(after.value("hemo_job_round_trip_seconds_count") == 5)
        #expect((after.value("hemo_job_round_trip_seconds_sum") ?? 0) >= 5 * 0.15)
        #expect(after.value("hemo_job_round_trip_seconds_bucket", ["le": "+Inf"]) == 5)
        for stage in ["transform", "write"] {
            #expect(after.value("hemo_stage_seconds_count", ["stage": stage]) == 5, "stage \(stage)")
        }
        // The worker reads each exam's inputs, and the coordinator's writers read its CT to write the image.
        #expect(after.value("hemo_stage_seconds_count", ["stage": "read"]) == 10)
        // Every byte the coordinator sent, the worker received, and the other way round (the
        // coordinator's final DISCONNECT may or may not reach the worker before it leaves).
        let sentByCoordinator = try #require(after.value("hemo_wire_sent_bytes_total"))
        let receivedByCoordinator = try #require(after.value("hemo_wire_received_bytes_total"))
        #expect(sentByCoordinator >= Double(summary.jobBytesSent) && receivedByCoordinator >= Double(summary.resultBytesReceived))
        #expect(summary.resultBytesReceived > 0)
        #expect(after.types["hemo_exams_done_total"] == "counter")
        #expect(after.types["hemo_stage_seconds"] == "histogram")
        #expect(after.help["hemo_queue_depth"]?.isEmpty == false)
        #expect((after.value("hemo_process_resident_memory_bytes") ?? 0) > 1_000_000)

        let w = try Self.scrape(workerServer)
        #expect(w.value("hemo_worker_jobs_done_total") == 5)
        #expect(w.value("hemo_worker_jobs_in_flight") == 0)
        #expect(w.sum("hemo_worker_jobs_failed_total") == 0)
        #expect(w.value("hemo_worker_stage_seconds_count", ["stage": "encode"]) == 5)
        // The worker's last HEARTBEAT or DISCONNECT may go out after the coordinator stopped reading.
        let sentByWorker = try #require(w.value("hemo_worker_sent_bytes_total"))
        #expect(sentByWorker >= receivedByCoordinator && sentByWorker - receivedByCoordinator < 100)
        let receivedByWorker = try #require(w.value("hemo_worker_received_bytes_total"))
        #expect(receivedByWorker <= sentByCoordinator && receivedByWorker >= Double(summary.jobBytesSent))
    }

    @Test func hemoCoordinatorAndWorkerProcessesServeMetrics() throws {
        let cohort = try TinyCohort.make(count: 3)
        let coordinator = try Spawned(["coordinator", "--cohort", cohort.root, "--out", cohort.release("cli"),
                                       "--bind", "tcp://127.0.0.1:0", "--heartbeat-ms", "100", "--metrics-port", "0"])
        defer { coordinator.kill() }
        var endpoint = "", coordinatorURL: (String, UInt16)?
        #expect(Self.eventually(20) {
            endpoint = coordinator.stdout.components(separatedBy: "listening on ").dropFirst().first?.split(separator: "\n").first.map(String.init) ?? ""
            coordinatorURL = Spawned.metricsAddress(coordinator.stderr)
            return !endpoint.isEmpty && coordinatorURL != nil
        }, "coordinator did not announce its endpoint and metrics: \(coordinator.stderr)")
        let worker = try Spawned(["worker", "--connect", endpoint, "--heartbeat-ms", "100", "--liveness", "10",
                                  "--job-delay-ms", "200", "--metrics-port", "0"])
        defer { worker.kill() }
        var workerURL: (String, UInt16)?
        #expect(Self.eventually(20) { workerURL = Spawned.metricsAddress(worker.stderr); return workerURL != nil })
        let (wHost, wPort) = try #require(workerURL)
        let (cHost, cPort) = try #require(coordinatorURL)
        // Mid-run: the worker holds a job (each sleeps 200 ms first).
        let sawJob = Self.eventually(20) {
            guard let w = try? PrometheusText(MetricsHTTPClient.get(host: wHost, port: wPort).body) else { return false }
            return (w.value("hemo_worker_jobs_started_total") ?? 0) >= 1
        }
        #expect(sawJob)
        // The scheduler's counts are refreshed for scrapes at most every 100 ms.
        var c = try PrometheusText(MetricsHTTPClient.get(host: cHost, port: cPort).body)
        #expect(try Self.eventually(5) {
            c = try PrometheusText(MetricsHTTPClient.get(host: cHost, port: cPort).body)
            return c.value("hemo_workers_connected") == 1
        }, "the coordinator never reported its one worker: \(c.value("hemo_workers_connected") ?? -1)")
        #expect(c.value("hemo_exams") == 3)
        #expect(coordinator.wait(seconds: 60) == 0, "\(coordinator.stderr)")
        #expect(worker.wait(seconds: 20) == 0, "\(worker.stderr)")
    }
}

/// A `hemo` (or `hemo-bench`) child process: HemoTestKit's ``ChildProcess``, stopped with SIGTERM.
struct Spawned: Sendable {
    let child: ChildProcess
    var process: Process { child.process }
    var stdout: String { child.stdout }
    var stderr: String { child.stderr }

    init(_ args: [String], executable: String = HemoExecutable.path) throws {
        child = try ChildProcess(executable, args)
    }

    func kill() { child.terminate() }

    /// The exit status, or nil when it was still running after `seconds` (then it is killed).
    func wait(seconds: Double) -> Int32? { child.wait(seconds: seconds) }

    /// Host and port from a `…: metrics on http://HOST:PORT/metrics` line.
    static func metricsAddress(_ log: String) -> (String, UInt16)? {
        guard let line = log.split(separator: "\n").first(where: { $0.contains("metrics on http://") }),
              let range = line.range(of: "http://") else { return nil }
        let hostPort = line[range.upperBound...].split(separator: "/").first ?? ""
        guard let colon = hostPort.lastIndex(of: ":"), let port = UInt16(hostPort[hostPort.index(after: colon)...]) else { return nil }
        return (String(hostPort[..<colon]), port)
    }
}
