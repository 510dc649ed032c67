import ArgumentParser
import Foundation
import HemoCore
import HemoScheduler
import HemoWire
import ZeroMQ

/// `hemo-bench dispatch`: how many no-op jobs per second the coordinator's dispatch path sustains —
/// the scheduler, HEMO wire encode/decode and (optionally) real ZeroMQ ROUTER/DEALER sockets with
/// simulated workers in this process, all on one thread.
struct DispatchBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dispatch",
        abstract: "Measure dispatch capacity (jobs/s) with no-op jobs."
    )

    /// Where messages travel.
    enum Transport: String, ExpressibleByArgument, CaseIterable {
        /// The scheduler alone, no encoding.
        case scheduler
        /// Scheduler + JOB/DONE encode and decode in memory.
        case none
        /// Real sockets over inproc.
        case inproc
        /// Real sockets over loopback TCP.
        case tcp
    }

    @Option(help: "Simulated workers (DEALER sockets, or in-memory with --transport none).")
    var workers: Int = 8

    @Option(help: "No-op jobs (exams) per run.")
    var jobs: Int = 100_000

    @Option(help: "Capacity each worker advertises in READY.")
    var capacity: Int = 4

    @Option(help: "Transport: scheduler (scheduler only), none (scheduler + wire), inproc or tcp (loopback).")
    var transport: Transport = .inproc

    @Option(help: "Runs; the median is reported.")
    var repeats: Int = 3

    @Flag(help: "Run the simulated workers' sockets on a second thread, so the first thread measures the coordinator alone.")
    var workerThread = false

    func validate() throws {
        guard (1...1000).contains(workers) else { throw ValidationError("--workers must be 1...1000") }
        guard (1...10_000_000).contains(jobs) else { throw ValidationError("--jobs must be 1...10000000") }
        guard (1...WireProtocol.maxCapacity).contains(capacity) else { throw ValidationError("--capacity must be 1...1024") }
        guard (1...99).contains(repeats) else { throw ValidationError("--repeats must be 1...99") }
    }

    func run() throws {
        let exams = (0..<jobs).map { i in
            ExamSpec(id: CaseID(String(format: "bench-%08d", i))!, sizeEstimate: UInt64((i &* 2_654_435_761) % 1000))
        }
        var rates: [Double] = []
        var cpuRates: [Double] = []
        for run in 1...repeats {
            let bench = DispatchBench(exams: exams, workers: workers, capacity: capacity, workerThread: workerThread)
            let cpuBefore = Self.processCPUSeconds()
            let seconds: Double
            switch transport {
            case .scheduler: seconds = try bench.runInMemory(wire: false)
            case .none: seconds = try bench.runInMemory(wire: true)
            case .inproc: seconds = try bench.runOverSockets(endpoint: "inproc://bench-dispatch-\(UUID().uuidString)")
            case .tcp: seconds = try bench.runOverSockets(endpoint: "tcp://127.0.0.1:*")
            }
            let cpu = Self.processCPUSeconds() - cpuBefore
            let rate = Double(jobs) / seconds
            let cpuRate = Double(jobs) / max(cpu, 1e-9)
            rates.append(rate)
            cpuRates.append(cpuRate)
            print(String(format: "run %d: %d jobs in %.3f s = %.0f jobs/s; %.3f CPU-s = %.0f jobs/CPU-s",
                         run, jobs, seconds, rate, cpu, cpuRate))
        }
        let median = rates.sorted()[rates.count / 2]
        let cpuMedian = cpuRates.sorted()[cpuRates.count / 2]
        print(String(format: "bench-dispatch transport=%@%@ workers=%d capacity=%d jobs=%d median=%.0f jobs/s cpu-median=%.0f jobs/CPU-s",
                     transport.rawValue, workerThread && (transport == .inproc || transport == .tcp) ? " worker-thread" : "",
                     workers, capacity, jobs, median, cpuMedian))
    }

    /// User + system CPU time of the whole process (every thread, libzmq's I/O threads included).
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF_WHO, &usage) == 0 else { return 0 }
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}

/// One benchmark run's set-up and loops.
struct DispatchBench {
    let exams: [ExamSpec]
    let workers: Int
    let capacity: Int
    var workerThread = false

    /// Failure of the benchmark itself.
    struct BenchError: Error, CustomStringConvertible {
        let description: String
    }

    func makeScheduler() throws -> Scheduler {
        try Scheduler(settings: SchedulerSettings(heartbeatInterval: .seconds(1), prefetch: 1), exams: exams)
    }

    static func job(for a: Assignment) -> WireMessage {
        .job(JobMessage(jobID: a.jobID, exam: a.exam, attempt: a.attempt, kind: .build, options: Array(#"{"noop":true}"#.utf8),
                 inputs: .paths(["/shared/cohort/\(a.exam.rawValue).nii.gz"])))
    }

    static func done(for job: JobMessage) -> WireMessage {
        .done(DoneMessage(exam: job.exam, attempt: job.attempt, summary: Array(#"{"any":0}"#.utf8),
                   timings: [StageTiming(stage: "noop", nanoseconds: 0)]))
    }

    /// Scheduler + JOB/DONE encode and decode, workers simulated in memory.
    func runInMemory(wire: Bool) throws -> Double {
        var scheduler = try makeScheduler()
        let clock = ContinuousClock()
        let start = clock.now
        func now() -> SchedulerInstant { SchedulerInstant(nanoseconds: start.duration(to: clock.now).nanosecondsApprox) }
        var queue: [Assignment] = []
        var head = 0
        var finished = false
        func apply(_ directives: [SchedulerDirective]) {
            for d in directives {
                switch d {
                case .dispatch(let a): queue.append(a)
                case .allDone: finished = true
                default: break
                }
            }
        }
        for w in 0..<workers {
            apply(scheduler.on(.workerReady(WorkerID("w\(w)"), capacity: capacity, capabilities: .build), now: now()))
        }
        while !finished {
            guard head < queue.count else { throw BenchError(description: "no job to run but not finished") }
            let a = queue[head]
            head += 1
            if head > 4096 { queue.removeFirst(head); head = 0 }
            guard wire else {
                apply(scheduler.on(.jobDone(a.worker, exam: a.exam, attempt: a.attempt), now: now()))
                continue
            }
            // Coordinator → worker → coordinator, through the wire format.
            guard case .job(let job) = try WireMessage.decode(try Self.job(for: a).encode()),
                  case .done(let done) = try WireMessage.decode(try Self.done(for: job).encode()) else {
                throw BenchError(description: "wire round trip changed the message type")
            }
            apply(scheduler.on(.jobDone(a.worker, exam: done.exam, attempt: done.attempt), now: now()))
        }
        return Double(start.duration(to: clock.now).nanosecondsApprox) / 1e9
    }

    /// One ROUTER and `workers` DEALERs in one context, one thread polling them all.
    func runOverSockets(endpoint: String) throws -> Double {
        let context = try Context(ioThreads: 1)
        defer { try? context.terminate() }
        let router = try context.socket(.router)
        defer { router.close() }
        try router.set(.routerMandatory(true))
        try router.set(.maxMessageSize(WireProtocol.recommendedMaxMessageSize))
        try router.bind(endpoint)
        let bound = try router.lastEndpoint
        let simulated = SimulatedWorkers(context: context, endpoint: bound, count: workers, capacity: capacity)
        var poller = Poller()
        poller.add(router)
        var workerSockets: [Socket] = []
        var stop: StopFlag?
        if workerThread {
            let flag = StopFlag()
            stop = flag
            Thread { simulated.runUntilStopped(flag) }.start()
        } else {
            workerSockets = try simulated.open()
            for dealer in workerSockets { poller.add(dealer) }
        }
        defer {
            workerSockets.forEach { $0.close() }
            stop?.stopAndWait()
        }

        var scheduler = try makeScheduler()
        let clock = ContinuousClock()
        let start = clock.now
        func now() -> SchedulerInstant { SchedulerInstant(nanoseconds: start.duration(to: clock.now).nanosecondsApprox) }
        var lastTick = now()
        var finished = false

        func perform(_ directives: [SchedulerDirective]) throws {
            for d in directives {
                switch d {
                case .dispatch(let a):
                    try router.send([Array(a.worker.rawValue.utf8)] + (try Self.job(for: a).encode()))
                case .sendHeartbeat(let w):
                    _ = try? router.send([Array(w.rawValue.utf8)] + (try WireMessage.heartbeat.encode()))
                case .allDone:
                    finished = true
                default:
                    break
                }
            }
        }

        while !finished {
            let ready = try poller.poll(timeout: .milliseconds(100))
            if ready[0].contains(.readable) {
                while let frames = try router.receive(dontWait: true, maxFrames: WireProtocol.maxFrames + 1) {
                    guard let id = frames.first else { continue }
                    let worker = WorkerID(String(decoding: id, as: UTF8.self))
                    let event: SchedulerEvent
                    switch try WireMessage.decode(Array(frames.dropFirst())) {
                    case .ready(let r): event = .workerReady(worker, capacity: r.capacity, capabilities: r.capabilities)
                    case .done(let d): event = .jobDone(worker, exam: d.exam, attempt: d.attempt)
                    case .heartbeat: event = .heartbeat(worker)
                    default: continue
                    }
                    try perform(scheduler.on(event, now: now()))
                }
            }
            for (index, dealer) in workerSockets.enumerated() where ready[index + 1].contains(.readable) {
                try SimulatedWorkers.answer(dealer)
            }
            let t = now()
            if t.since(lastTick) >= .milliseconds(100) {
                lastTick = t
                try perform(scheduler.on(.tick, now: t))
            }
        }
        return Double(start.duration(to: clock.now).nanosecondsApprox) / 1e9
    }
}

/// No-op workers: DEALER sockets that answer every JOB with DONE at once.
struct SimulatedWorkers: Sendable {
    let context: Context
    let endpoint: String
    let count: Int
    let capacity: Int

    /// Opens and connects the sockets and sends READY from each (call on the thread that will poll them).
    func open() throws -> [Socket] {
        var sockets: [Socket] = []
        for w in 0..<count {
            let dealer = try context.socket(.dealer)
            try dealer.set(.routingID(Array("w\(w)".utf8)))
            try dealer.set(.maxMessageSize(WireProtocol.recommendedMaxMessageSize))
            try dealer.connect(endpoint)
            let ready = ReadyMessage(workerID: "w\(w)", workerName: "bench", capacity: capacity, threads: 1, capabilities: .build)
            try dealer.send(try WireMessage.ready(ready).encode())
            sockets.append(dealer)
        }
        return sockets
    }

    /// Answers every waiting JOB on `dealer`.
    static func answer(_ dealer: Socket) throws {
        while let frames = try dealer.receive(dontWait: true, maxFrames: WireProtocol.maxFrames) {
            if case .job(let job) = try WireMessage.decode(frames) {
                try dealer.send(try DispatchBench.done(for: job).encode())
            }
        }
    }

    /// Owns the sockets on the calling thread until `flag` is raised.
    func runUntilStopped(_ flag: StopFlag) {
        defer { flag.finished.signal() }
        do {
            let sockets = try open()
            defer { sockets.forEach { $0.close() } }
            var poller = Poller()
            for socket in sockets { poller.add(socket) }
            while !flag.isRaised {
                let ready = try poller.poll(timeout: .milliseconds(50))
                for (index, socket) in sockets.enumerated() where ready[index].contains(.readable) {
                    try Self.answer(socket)
                }
            }
        } catch {
            print("bench-dispatch: worker thread failed: \(error)")
        }
    }
}

/// A flag raised by one thread and polled by another, plus a signal when the poller is done.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var raised = false
    let finished = DispatchSemaphore(value: 0)

    var isRaised: Bool { lock.lock(); defer { lock.unlock() }; return raised }

    func stopAndWait() {
        lock.lock(); raised = true; lock.unlock()
        finished.wait()
    }
}

extension Duration {
    /// Whole nanoseconds (saturating at `UInt64.max`, zero when negative).
    var nanosecondsApprox: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        return UInt64(seconds) &* 1_000_000_000 &+ UInt64(attoseconds / 1_000_000_000)
    }
}

#if canImport(Glibc)
/// Glibc's `RUSAGE_SELF` as the `Int32` `getrusage` takes.
private let RUSAGE_SELF_WHO = __rusage_who_t(RUSAGE_SELF.rawValue)
#else
/// Darwin's `RUSAGE_SELF`.
private let RUSAGE_SELF_WHO = RUSAGE_SELF
#endif
