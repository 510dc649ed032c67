import Foundation
import HemoCluster
import HemoCore
import HemoRelease
import HemoScheduler
import HemoWire
import Prometheus

/// Latency buckets in seconds shared by every `hemo_` histogram: 1 ms to 10 minutes.
public let hemoLatencyBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]

/// The coordinator's Prometheus metrics (names in the `HemoMetrics` article "Metrics").
///
/// Feed it the coordinator's events (``observe(_:)``, installed with ``install(into:)``); counts the
/// scheduler keeps (queue depth, in flight, workers) are read from ``statusSource`` when scraped.
///
/// ```swift
/// let metrics = CoordinatorMetrics()
/// metrics.install(into: &settings)
/// let coordinator = try Coordinator(…, settings: settings)
/// metrics.statusSource = { [weak coordinator] in coordinator?.status }
/// let server = try MetricsHTTPServer(port: 9464) { metrics.exposition() }
/// ```
public final class CoordinatorMetrics: @unchecked Sendable {
    /// The registry every metric lives in.
    public let registry: PrometheusCollectorRegistry
    private let lock = NSLock()
    private var statusProvider: (@Sendable () -> SchedulerStatus?)?
    private var dispatchedAt: [String: UInt64] = [:]
    private var unreadable = 0

    // Exams.
    let examsTotal, examsResumed, examsInFlight, queueDepth, workersConnected, workerSlots, workersDraining: Gauge
    let examsDone, examsFailed, examsQuarantined, dispatches, retries: Counter
    // Wire.
    let wire: WireTrafficMetrics
    // Latency.
    let roundTrip: ValueHistogram
    private let stageHistograms: LabelledFamily<ValueHistogram>
    private let attemptFailures: LabelledFamily<Counter>
    let process: ProcessMetrics

    /// Metrics in `registry` (a new one by default).
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        let r = registry
        examsTotal = r.hemoGauge(name: "hemo_exams", help: "Exams in the run, unreadable cohort entries included.")
        examsResumed = r.hemoGauge(name: "hemo_exams_resumed", help: "Exams restored from the journal of an earlier run.")
        examsInFlight = r.hemoGauge(name: "hemo_exams_in_flight", help: "Exams with an attempt assigned to a worker (running or prefetched).")
        queueDepth = r.hemoGauge(name: "hemo_queue_depth", help: "Exams waiting for a worker.")
        workersConnected = r.hemoGauge(name: "hemo_workers_connected", help: "Live workers (READY and not declared dead).")
        workerSlots = r.hemoGauge(name: "hemo_worker_slots", help: "Jobs the live workers can run at once (sum of their capacities).")
        workersDraining = r.hemoGauge(name: "hemo_workers_draining", help: "Live workers draining (finishing their jobs before leaving).")
        examsDone = r.hemoCounter(name: "hemo_exams_done_total", help: "Exams written into the release by this coordinator process.")
        examsFailed = r.hemoCounter(name: "hemo_exams_failed_total", help: "Exams written to failures.csv (unreadable input, attempts exhausted, or release write failed).")
        examsQuarantined = r.hemoCounter(name: "hemo_exams_quarantined_total", help: "Exams quarantined after their last attempt failed (a subset of hemo_exams_failed_total).")
        dispatches = r.hemoCounter(name: "hemo_jobs_dispatched_total", help: "JOB messages sent (attempts, retries included).")
        retries = r.hemoCounter(name: "hemo_job_retries_total", help: "JOB messages for a second or later attempt of an exam.")
        wire = WireTrafficMetrics(registry: r, prefix: "hemo_wire", peer: "workers", note: " (all frames but the routing id)")
        roundTrip = r.hemoHistogram(name: "hemo_job_round_trip_seconds", buckets: hemoLatencyBuckets,
                                         help: "From JOB sent to its DONE accepted with every chunk, per attempt.")
        stageHistograms = LabelledFamily { stage in
            r.hemoHistogram(name: "hemo_stage_seconds", labels: [("stage", stage)], buckets: hemoLatencyBuckets,
                            help: "Seconds per exam in one stage: worker stages reported in DONE (build jobs: hash, read, masks, transform; infer jobs: hash, read, transform, preprocess, inference, postprocess; both: analyse, encode) and the coordinator's write.")
        }
        attemptFailures = LabelledFamily { stage in
            r.hemoCounter(name: "hemo_attempts_failed_total", labels: [("stage", stage)],
                          help: "FAILED messages from workers, by the stage that failed (the exam may be retried; model: a worker refused an infer job for want of its model, which spends no attempt).")
        }
        process = ProcessMetrics(registry: r)
        for stage in ["hash", "read", "masks", "transform", "analyse", "write"] { _ = stageHistograms[stage] }
    }

    /// Where the scheduler's counts come from at scrape time (usually `{ coordinator.status }`).
    public var statusSource: (@Sendable () -> SchedulerStatus?)? {
        get { lock.withLock { statusProvider } }
        set { lock.withLock { statusProvider = newValue } }
    }

    /// Installs ``observe(_:)`` as the settings' observer (keeping an observer already there).
    public func install(into settings: inout CoordinatorSettings) {
        settings.chainObserver { [self] event in observe(event) }
    }

    /// Stage names become label values: a stage a worker invents is kept to a short, safe name.
    static func stageLabel(_ stage: String) -> String {
        let cleaned = String(stage.prefix(32).map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") ? $0 : "_" })
        return cleaned.isEmpty ? "unknown" : cleaned
    }

    private static func key(_ exam: CaseID, _ attempt: UInt32) -> String { "\(exam.rawValue)#\(attempt)" }

    /// Updates the metrics for one coordinator event.
    public func observe(_ event: CoordinatorEvent) {
        switch event {
        case .runStarted(let total, let resumed, let unreadable):
            examsTotal.set(Double(total))
            examsResumed.set(Double(resumed))
            examsFailed.increment(by: Int64(unreadable))
            lock.withLock { self.unreadable = unreadable }
        case .received(let bytes):
            wire.received(bytes: bytes)
        case .sent(let bytes):
            wire.sent(bytes: bytes)
        case .dispatched(let exam, let attempt, _):
            dispatches.increment()
            if attempt > 1 { retries.increment() }
            let now = DispatchTime.now().uptimeNanoseconds
            lock.withLock {
                // Attempts of dead workers never answer; keep the table bounded.
                if dispatchedAt.count > 100_000 { dispatchedAt.removeAll() }
                dispatchedAt[Self.key(exam, attempt)] = now
            }
        case .resultAccepted(let exam, let attempt, let timings):
            let now = DispatchTime.now().uptimeNanoseconds
            if let sent = lock.withLock({ dispatchedAt.removeValue(forKey: Self.key(exam, attempt)) }) {
                roundTrip.record(Double(now - sent) / 1e9)
            }
            for t in timings { stageHistograms[Self.stageLabel(t.stage)].record(Double(t.nanoseconds) / 1e9) }
        case .attemptFailed(let exam, let attempt, let stage):
            _ = lock.withLock { dispatchedAt.removeValue(forKey: Self.key(exam, attempt)) }
            attemptFailures[Self.stageLabel(stage)].increment()
        case .released(_, let times):
            examsDone.increment()
            for (stage, seconds) in times.entries { stageHistograms[Self.stageLabel(stage)].record(seconds) }
        case .failed(_, let stage):
            examsFailed.increment()
            if stage != "write" { examsQuarantined.increment() }
        }
    }

    /// Refreshes the scrape-time gauges and returns the exposition text.
    public func exposition() -> [UInt8] {
        if let status = statusSource?() {
            examsInFlight.set(Double(status.running))
            queueDepth.set(Double(status.pending))
            workersConnected.set(Double(status.workers.count))
            workerSlots.set(Double(status.workers.reduce(0) { $0 + $1.capacity }))
            workersDraining.set(Double(status.workers.filter(\.draining).count))
        }
        process.refresh()
        return registry.emitToBuffer()
    }
}

/// `hemo_process_*` gauges of this process read from `/proc/self` at scrape time (Linux; elsewhere
/// they stay 0), and `hemo_build_info`.
final class ProcessMetrics: Sendable {
    let cpuSeconds, residentBytes, peakResidentBytes, threads, openFiles: Gauge

    init(registry r: PrometheusCollectorRegistry) {
        cpuSeconds = r.hemoGauge(name: "hemo_process_cpu_seconds", help: "User plus system CPU seconds of this process so far (all threads).")
        residentBytes = r.hemoGauge(name: "hemo_process_resident_memory_bytes", help: "Resident set size of this process (VmRSS).")
        peakResidentBytes = r.hemoGauge(name: "hemo_process_peak_resident_memory_bytes", help: "Peak resident set size of this process (VmHWM).")
        threads = r.hemoGauge(name: "hemo_process_threads", help: "Threads of this process.")
        openFiles = r.hemoGauge(name: "hemo_process_open_fds", help: "Open file descriptors of this process (sockets included).")
        r.hemoGauge(name: "hemo_build_info", labels: [("version", HemoVersion.string)], help: "Always 1; the label gives the hemo version.").set(to: 1.0)
    }

    func refresh() {
        let usage = ProcessUsage.current()
        cpuSeconds.set(usage.cpuSeconds)
        residentBytes.set(Double(usage.residentBytes))
        peakResidentBytes.set(Double(usage.peakResidentBytes))
        threads.set(Double(usage.threads))
        openFiles.set(Double(usage.openFiles))
    }
}

/// CPU and memory of a process from `/proc/<pid>` (Linux): for the metrics and the scale benchmark.
public struct ProcessUsage: Sendable, Equatable {
    /// User plus system CPU seconds.
    public var cpuSeconds: Double = 0
    /// VmRSS in bytes.
    public var residentBytes: Int = 0
    /// VmHWM (peak RSS) in bytes.
    public var peakResidentBytes: Int = 0
    /// Threads.
    public var threads: Int = 0
    /// Open file descriptors.
    public var openFiles: Int = 0

    /// This process.
    public static func current() -> ProcessUsage { of(pid: nil) ?? ProcessUsage() }

    /// The process `pid` (`nil`: this one), or `nil` when `/proc/<pid>` cannot be read (gone, or not Linux).
    public static func of(pid: Int32?) -> ProcessUsage? {
        let base = pid.map { "/proc/\($0)" } ?? "/proc/self"
        guard let stat = try? String(contentsOfFile: base + "/stat", encoding: .utf8),
              let status = try? String(contentsOfFile: base + "/status", encoding: .utf8) else { return nil }
        var u = ProcessUsage()
        // Fields after the command name in parentheses (which may hold spaces): utime is field 14, stime 15.
        if let close = stat.lastIndex(of: ")") {
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) {
                u.cpuSeconds = (user + system) / Double(max(1, sysconf(Int32(_SC_CLK_TCK))))
            }
        }
        for line in status.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.count >= 2, let n = Int(parts[1]) else { continue }
            switch parts[0] {
            case "VmRSS:": u.residentBytes = n * 1024
            case "VmHWM:": u.peakResidentBytes = n * 1024
            case "Threads:": u.threads = n
            default: break
            }
        }
        u.openFiles = (try? FileManager.default.contentsOfDirectory(atPath: base + "/fd").count) ?? 0
        return u
    }

    /// CPU seconds of each thread of process `pid` by thread id, with the thread's name
    /// (`/proc/<pid>/task/*/comm`: libzmq names its threads `ZMQbg/…`; Foundation threads keep the
    /// process name); empty when unreadable. The time on CPU comes in nanoseconds from
    /// `schedstat` where the kernel has it, else in clock ticks (10 ms) from `stat`, too coarse for
    /// a thread that ran a few milliseconds.
    public static func threadCPUSeconds(pid: Int32) -> [Int: (name: String, seconds: Double)] {
        let base = "/proc/\(pid)/task"
        guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: base) else { return [:] }
        let tick = Double(max(1, sysconf(Int32(_SC_CLK_TCK))))
        var out: [Int: (name: String, seconds: Double)] = [:]
        for task in tasks {
            guard let tid = Int(task),
                  let name = try? String(contentsOfFile: "\(base)/\(task)/comm", encoding: .utf8),
                  let stat = try? String(contentsOfFile: "\(base)/\(task)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let threadName = name.trimmingCharacters(in: .whitespacesAndNewlines)
            if let sched = try? String(contentsOfFile: "\(base)/\(task)/schedstat", encoding: .utf8),
               let first = sched.split(separator: " ").first, let nanoseconds = Double(first) {
                out[tid] = (threadName, nanoseconds / 1e9)
                continue
            }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
            out[tid] = (threadName, (user + system) / tick)
        }
        return out
    }
}
