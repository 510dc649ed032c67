import ArgumentParser
import Foundation
import HemoCluster
import HemoCore
import HemoMetrics
import HemoRelease
import HemoScheduler
import HemoWire
import ZeroMQ

/// `hemo-bench scale-workers`: many simulated workers in this process, connected to ONE real
/// `hemo coordinator` (another process), for scripts/bench/scale.sh. Like `hemo-bench dispatch`'s
/// `SimulatedWorkers`, the workers are DEALER sockets polled by one thread; unlike them, each holds
/// its jobs for a fake compute time drawn from a log-normal distribution, heartbeats like a real
/// worker, and answers with a real result (CHUNKs + DONE) so the coordinator releases the exam.
///
/// The cohort is expected to list one template case many times (scale.sh writes such a cohort.csv):
/// the template's product is computed once and re-sent under each exam's identifier.
struct ScaleBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale-workers",
        abstract: "Simulate many workers with fake compute against one real coordinator; report dispatch latency and coordinator cost."
    )

    @Option(help: "The coordinator's endpoint.")
    var connect: String

    @Option(help: "Simulated workers (capacity 1 each).")
    var workers: Int = 100

    @Option(help: "Median fake compute time per job, milliseconds (log-normal).")
    var medianMs: Double = 300

    @Option(help: "Log-normal sigma of the compute time (0: every job takes the median).")
    var sigma: Double = 0.5

    @Option(help: "Seed of the compute-time draws.")
    var seed: UInt64 = 1

    @Option(help: "Heartbeat interval in milliseconds (the coordinator's).")
    var heartbeatMs: Int = 1000

    @Option(help: "The coordinator's liveness: silent heartbeat intervals after which it declares a worker dead. Only used to count the simulated workers that went silent that long themselves (sim_late_workers).")
    var liveness: Int = 3

    @Option(help: "The coordinator's prefetch: jobs it sends a worker beyond its capacity (credits at READY = 1 + prefetch).")
    var prefetch: Int = 1

    @Option(help: "The coordinator's process id: its CPU time and peak RSS are read from /proc over the run.")
    var coordinatorPid: Int32?

    @Option(help: "Simulated workers per ZeroMQ context (libzmq's default limit is 1023 sockets per context).")
    var socketsPerContext: Int = 1000

    @Option(help: "Give up after this many seconds.")
    var timeout: Double = 600

    func validate() throws {
        guard (1...20_000).contains(workers) else { throw ValidationError("--workers must be 1...20000") }
        guard medianMs > 0, sigma >= 0 else { throw ValidationError("--median-ms must be positive and --sigma not negative") }
        guard heartbeatMs >= 10 else { throw ValidationError("--heartbeat-ms must be at least 10") }
        guard (1...1000).contains(socketsPerContext) else { throw ValidationError("--sockets-per-context must be 1...1000") }
        guard prefetch >= 0 else { throw ValidationError("--prefetch must be 0 or more") }
        guard liveness >= 1 else { throw ValidationError("--liveness must be at least 1") }
    }

    func run() throws {
        var sim = try ScaleSimulation(command: self)
        let report = try sim.run()
        print(report)
    }
}

/// A min-heap of (due time, worker) for the fake compute timers.
struct TimerHeap {
    private var items: [(due: UInt64, worker: Int)] = []
    var isEmpty: Bool { items.isEmpty }
    var first: (due: UInt64, worker: Int)? { items.first }

    mutating func push(_ due: UInt64, _ worker: Int) {
        items.append((due, worker))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i].due < items[parent].due else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> (due: UInt64, worker: Int)? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count && items[l].due < items[m].due { m = l }
            if r < items.count && items[r].due < items[m].due { m = r }
            guard m != i else { break }
            items.swapAt(i, m)
            i = m
        }
        return top
    }
}

extension SplitMix64 {
    /// A log-normal draw with the given median and sigma (Box–Muller).
    mutating func logNormal(median: Double, sigma: Double) -> Double {
        let u1 = max(Double.leastNonzeroMagnitude, Double(next() >> 11) / Double(1 << 53))
        let u2 = Double(next() >> 11) / Double(1 << 53)
        let z = (-2 * Foundation.log(u1)).squareRoot() * cos(2 * Double.pi * u2)
        return median * Foundation.exp(sigma * z)
    }
}

/// The simulation's state: sockets, per-worker queues, timers and measurements (one thread).
struct ScaleSimulation {
    struct SimWorker {
        var queue: [JobMessage] = []
        var current: JobMessage?
        var computeSeconds = 0.0
        var credits: [UInt64] = []
        var lastSent: UInt64 = 0
        /// The longest time between two messages this worker sent: if it exceeds the coordinator's
        /// liveness limit, the simulator itself (starved of CPU) made the worker look dead.
        var longestSilence: UInt64 = 0
        /// The real worker's session (``WorkerSession``): heartbeats, the attempts held, and when a
        /// DISCONNECT means "join again" (an echo of a message sent before READY does not). The
        /// simulator's sockets are fixed, so its liveness limit lies beyond any run: it never reconnects.
        var session: WorkerSession
        var shutdown = false
    }

    let command: ScaleBenchCommand
    var contexts: [Context] = []
    var sockets: [Socket] = []
    var state: [SimWorker]
    var timers = TimerHeap()
    var random: SplitMix64
    var latencies: [UInt64] = []
    var templates: [String: CaseProduct] = [:]
    /// A template's record and encoded release files (for the template's own case id), computed once.
    var encodedTemplates: [String: (record: CaseRecord, files: [EncodedFile])] = [:]
    var jobsDone = 0, jobsReceived = 0, readiesResent = 0, computeSeconds = 0.0
    var firstJob: UInt64?
    var lastDone: UInt64 = 0
    var doneTimes: [UInt64] = []
    var shutdowns = 0
    /// The coordinator's usage and threads when its first "shutdown" arrived, read before any
    /// simulated worker answers "leaving" (after the last answer the coordinator may exit at once).
    var atFirstShutdown: (usage: ProcessUsage?, threads: [Int: (name: String, seconds: Double)], time: UInt64)?

    init(command: ScaleBenchCommand) throws {
        self.command = command
        random = SplitMix64(seed: command.seed)
        let settings = WorkerSession.Settings(heartbeatInterval: .milliseconds(command.heartbeatMs), livenessIntervals: 1_000_000)
        state = Array(repeating: SimWorker(session: WorkerSession(settings: settings, now: .zero)), count: command.workers)
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// The session clock: nanoseconds of ``now()`` as an instant.
    static func instant(_ t: UInt64 = now()) -> SchedulerInstant { SchedulerInstant(nanoseconds: t) }

    /// Does the I/O `worker`'s session asks for (this simulator never reconnects or drains).
    mutating func perform(_ actions: [WorkerSession.Action], worker: Int) throws {
        for action in actions {
            switch action {
            case .startJob, .cancelJob, .dropResult, .sendResult, .log, .reconnect, .connect, .fail:
                break // jobs are queued and answered by the caller
            case .sendReady(let held):
                readiesResent += 1
                try ready(worker, held: held)
            case .sendHeartbeat:
                try send(.heartbeat, worker: worker)
            case .sendDisconnect(let reason):
                try send(.disconnect(reason: reason), worker: worker)
            case .exit:
                if !state[worker].shutdown { state[worker].shutdown = true; shutdowns += 1 }
            }
        }
    }

    mutating func send(_ message: WireMessage, worker: Int) throws {
        _ = try sockets[worker].send(try message.encode(), dontWait: true)
        let t = Self.now()
        if state[worker].lastSent > 0 && t > state[worker].lastSent {
            state[worker].longestSilence = max(state[worker].longestSilence, t - state[worker].lastSent)
        }
        state[worker].lastSent = t
    }

    mutating func ready(_ worker: Int, held: [ExamAttempt] = []) throws {
        try send(.ready(ReadyMessage(workerID: "sim-\(worker)", workerName: "scale simulation", capacity: 1, threads: 1, capabilities: .build,
                              held: held.map { HeldAttempt(exam: $0.exam, attempt: $0.attempt) })),
                 worker: worker)
        let t = Self.now()
        state[worker].credits = Array(repeating: t, count: max(0, 1 + command.prefetch - held.count))
        if held.isEmpty { _ = state[worker].session.on(.connected, now: Self.instant(t)) }
    }

    mutating func startNext(_ worker: Int) {
        guard state[worker].current == nil, !state[worker].queue.isEmpty else { return }
        let job = state[worker].queue.removeFirst()
        let seconds = random.logNormal(median: command.medianMs / 1000, sigma: command.sigma)
        state[worker].current = job
        state[worker].computeSeconds = seconds
        timers.push(Self.now() + UInt64(seconds * 1e9), worker)
    }

    /// The template product for a job's inputs, computed once per distinct input set.
    mutating func product(for job: JobMessage) throws -> CaseProduct {
        let key: String
        switch job.inputs {
        case .paths(let paths): key = paths.joined(separator: "\n")
        case .inline: throw ValidationError("hemo-bench scale-workers needs --transfer shared")
        }
        if let t = templates[key] { return CaseProduct(id: job.exam, ct: t.ct, masks: t.masks, inputs: t.inputs) }
        let options = try JobOptionsCoding.decode(job.options, exam: job.exam)
        let c = try ExamInputs.materialize(exam: job.exam, inputs: job.inputs, scratch: NSTemporaryDirectory())
        var times = StageTimes()
        let p = try CasePipeline.run(c, options: options, threads: 1, times: &times)
        templates[key] = p
        return p
    }

    /// The messages a real worker would send for `job`: its template's files, encoded once and
    /// renamed to this case (the bytes do not depend on the case id), its record, its bitmask.
    mutating func result(for job: JobMessage, times: StageTimes) throws -> [WireMessage] {
        let product = try product(for: job)
        guard case .paths(let paths) = job.inputs else { throw ValidationError("hemo-bench scale-workers needs --transfer shared") }
        let key = paths.joined(separator: "\n")
        if encodedTemplates[key] == nil {
            let options = try JobOptionsCoding.decode(job.options, exam: job.exam)
            let record = CaseRecord(id: product.id, masks: product.masks)
            let files = try ResultEncoding.encodeFiles(product, options: options)
            encodedTemplates[key] = (record, files)
        }
        let template = encodedTemplates[key]!
        var record = template.record
        let from = template.record.id.rawValue
        record.id = job.exam
        let files = template.files.map { f in
            EncodedFile(path: f.path.replacingOccurrences(of: from, with: job.exam.rawValue), bytes: f.bytes)
        }
        return try ResultEncoding.messages(product: product, record: record, files: files, attempt: job.attempt, times: times)
    }

    mutating func finish(_ worker: Int) throws {
        guard let job = state[worker].current else { return }
        state[worker].current = nil
        var times = StageTimes()
        times.add("compute", state[worker].computeSeconds)
        computeSeconds += state[worker].computeSeconds
        let messages = try result(for: job, times: times)
        _ = state[worker].session.on(.resultReady(ExamAttempt(exam: job.exam, attempt: job.attempt), cancelled: false), now: Self.instant())
        for m in messages { try send(m, worker: worker) }
        let t = Self.now()
        state[worker].credits.append(t)
        lastDone = t
        doneTimes.append(t)
        jobsDone += 1
        startNext(worker)
    }

    mutating func receive(_ worker: Int) throws {
        while let frames = try sockets[worker].receive(dontWait: true, maxFrames: WireProtocol.maxFrames + 1) {
            let message = try WireMessage.decode(frames)
            let t = Self.now()
            switch message {
            case .job(let job):
                if firstJob == nil { firstJob = t }
                jobsReceived += 1
                if !state[worker].credits.isEmpty { latencies.append(t - state[worker].credits.removeFirst()) }
                state[worker].queue.append(job)
                try perform(state[worker].session.on(.received(.job(ExamAttempt(exam: job.exam, attempt: job.attempt))), now: Self.instant(t)),
                            worker: worker)
                startNext(worker)
            case .disconnect(let reason):
                if reason == "shutdown" && atFirstShutdown == nil, let pid = command.coordinatorPid {
                    atFirstShutdown = (ProcessUsage.of(pid: pid), ProcessUsage.threadCPUSeconds(pid: pid), Self.now())
                }
                // "shutdown": answer "leaving" and stop; declared dead or unknown (a loaded machine):
                // join again as a real worker does, keeping the attempts it holds.
                try perform(state[worker].session.on(.received(.disconnect(reason: reason)), now: Self.instant(t)), worker: worker)
            default:
                try perform(state[worker].session.on(.received(.other), now: Self.instant(t)), worker: worker)
            }
        }
    }

    /// Jobs per second between the 10th and the 90th percentile DONE (0 with under 10 jobs).
    func steadyRate() -> Double {
        guard doneTimes.count >= 10 else { return 0 }
        let first = doneTimes.count / 10, last = doneTimes.count * 9 / 10
        return Double(last - first) / max(Double(doneTimes[last] - doneTimes[first]) / 1e9, 1e-9)
    }

    mutating func run() throws -> String {
        let per = command.socketsPerContext
        for w in 0..<command.workers {
            if w % per == 0 { contexts.append(try Context(ioThreads: 1)) }
            let s = try contexts[contexts.count - 1].socket(.dealer, linger: .milliseconds(200))
            try s.set(.routingID(Array("sim-\(w)".utf8)))
            try s.set(.maxMessageSize(WireProtocol.recommendedMaxMessageSize))
            try s.set(.sendHighWaterMark(0))
            try s.connect(command.connect)
            sockets.append(s)
        }
        defer {
            sockets.forEach { $0.close() }
            contexts.forEach { try? $0.terminate() }
        }
        var poller = Poller()
        for s in sockets { poller.add(s) }
        let before = command.coordinatorPid.flatMap { ProcessUsage.of(pid: $0) }
        let threadsBefore = command.coordinatorPid.map { ProcessUsage.threadCPUSeconds(pid: $0) } ?? [:]
        var threadsAtEnd: [Int: (name: String, seconds: Double)] = [:]
        let selfBefore = DispatchBenchCommand.processCPUSeconds()
        let start = Self.now()
        for w in 0..<command.workers { try ready(w) }
        let interval = UInt64(command.heartbeatMs) * 1_000_000
        let deadAfter = interval * UInt64(command.liveness)
        var lastHeartbeatSweep = start
        var coordinatorAtEnd: ProcessUsage?
        var firstShutdown = start
        let deadline = start + UInt64(command.timeout * 1e9)
        while shutdowns < command.workers {
            let t = Self.now()
            guard t < deadline else {
                throw ValidationError("hemo-bench scale-workers: timed out after \(command.timeout) s with \(jobsDone) jobs done and \(shutdowns) of \(command.workers) workers told to shut down")
            }
            var waitNs: UInt64 = 20_000_000
            if let next = timers.first { waitNs = next.due > t ? min(waitNs, next.due - t) : 0 }
            let events = try poller.poll(timeout: .nanoseconds(Int64(waitNs)))
            for (w, e) in events.enumerated() where e.contains(.readable) { try receive(w) }
            if shutdowns > 0 && coordinatorAtEnd == nil {
                // The coordinator committed the release and told the first worker: its usage as read
                // when that "shutdown" arrived, before any simulated worker answered "leaving".
                if let sample = atFirstShutdown {
                    coordinatorAtEnd = sample.usage
                    threadsAtEnd = sample.threads
                    firstShutdown = sample.time
                } else {
                    coordinatorAtEnd = command.coordinatorPid.flatMap { ProcessUsage.of(pid: $0) }
                    firstShutdown = Self.now()
                    threadsAtEnd = command.coordinatorPid.map { ProcessUsage.threadCPUSeconds(pid: $0) } ?? [:]
                }
            }
            let now = Self.now()
            while let next = timers.first, next.due <= now {
                _ = timers.pop()
                try finish(next.worker)
            }
            if now - lastHeartbeatSweep >= interval / 4 {
                lastHeartbeatSweep = now
                for w in 0..<command.workers where !state[w].shutdown {
                    try perform(state[w].session.on(.turn, now: Self.instant(now)), worker: w)
                }
            }
        }
        let end = Self.now()
        let simCPU = DispatchBenchCommand.processCPUSeconds() - selfBefore
        let sorted = latencies.sorted()
        /// The nearest-rank percentile in milliseconds.
        func pct(_ p: Double) -> Double {
            guard !sorted.isEmpty else { return .nan }
            let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
            return Double(sorted[min(sorted.count - 1, max(0, rank - 1))]) / 1e6
        }
        let busyWall = Double(lastDone - (firstJob ?? start)) / 1e9
        let wall = Double(end - start) / 1e9
        var fields: [String] = [
            "workers=\(command.workers)", "jobs=\(jobsDone)",
            String(format: "wall_s=%.3f", wall), String(format: "busy_s=%.3f", busyWall),
            // Before the first JOB (READYs processed) and after the last DONE (releases still being
            // written, then the commit) until the coordinator said "shutdown".
            String(format: "first_job_s=%.3f", Double((firstJob ?? start) - start) / 1e9),
            String(format: "tail_s=%.3f", firstShutdown > lastDone ? Double(firstShutdown - lastDone) / 1e9 : 0),
            String(format: "jobs_per_s=%.1f", Double(jobsDone) / max(busyWall, 1e-9)),
            String(format: "demand_jobs_per_s=%.1f", Double(command.workers) / max(computeSeconds / Double(max(1, jobsDone)), 1e-9)),
            String(format: "worker_utilisation=%.3f", computeSeconds / (Double(command.workers) * max(busyWall, 1e-9))),
            // Steady state: between the 10th and the 90th percentile DONE, away from the ramp-up
            // and the stragglers of the log-normal tail.
            String(format: "steady_jobs_per_s=%.1f", steadyRate()),
            String(format: "dispatch_p50_ms=%.3f", pct(50)), String(format: "dispatch_p90_ms=%.3f", pct(90)),
            String(format: "dispatch_p99_ms=%.3f", pct(99)), String(format: "dispatch_max_ms=%.3f", sorted.last.map { Double($0) / 1e6 } ?? .nan),
            "dispatch_samples=\(sorted.count)", "ready_resent=\(readiesResent)",
            // The simulator's own side of liveness: the longest silence of any simulated worker (time
            // between two of its messages, as handed to libzmq), and how many workers were silent
            // longer than the coordinator's limit by the simulator's fault (it was starved). Deaths
            // beyond those are the coordinator's.
            String(format: "sim_longest_silence_ms=%.1f", Double(state.map(\.longestSilence).max() ?? 0) / 1e6),
            "sim_late_workers=\(state.filter { $0.longestSilence > deadAfter }.count)",
            String(format: "sim_cpu_s=%.2f", simCPU),
        ]
        if let b = before, let a = coordinatorAtEnd {
            let cpu = a.cpuSeconds - b.cpuSeconds
            fields += [String(format: "coord_cpu_s=%.2f", cpu),
                       String(format: "coord_cpu_ms_per_job=%.3f", cpu * 1000 / Double(max(1, jobsDone))),
                       String(format: "coord_cores=%.2f", cpu / max(wall, 1e-9)),
                       String(format: "coord_peak_rss_mb=%.1f", Double(a.peakResidentBytes) / 1_048_576),
                       "coord_threads=\(a.threads)", "coord_fds=\(a.openFiles)"]
            // The coordinator's threads: the poll loop names itself `hemo-poll` (older binaries: the
            // first thread after the main one that is not libzmq's `ZMQbg/…`), the release writers
            // `hemo-writer`. The poll loop is one thread, so it caps the coordinator at 1000 / its ms per job.
            let pid = Int(command.coordinatorPid ?? 0)
            func delta(_ tid: Int) -> Double { (threadsAtEnd[tid]?.seconds ?? 0) - (threadsBefore[tid]?.seconds ?? 0) }
            let pollTid = threadsAtEnd.first { $0.value.name == "hemo-poll" }?.key
                ?? threadsAtEnd.keys.filter { $0 != pid && !(threadsAtEnd[$0]?.name.hasPrefix("ZMQbg") ?? true) }.min()
            let poll = pollTid.map(delta) ?? 0
            let zmq = threadsAtEnd.filter { $0.value.name.hasPrefix("ZMQbg") }.keys.reduce(0) { $0 + delta($1) }
            let perJob = 1000 / Double(max(1, jobsDone))
            fields += [String(format: "coord_poll_thread_ms_per_job=%.3f", poll * perJob),
                       String(format: "coord_zmq_io_ms_per_job=%.3f", zmq * perJob),
                       String(format: "coord_other_threads_ms_per_job=%.3f", (cpu - poll - zmq) * perJob)]
        }
        return "bench-scale-workers " + fields.joined(separator: " ")
    }
}
