import HemoConcurrency
import Foundation
import HemoCore
import HemoPseudoLabel
import HemoRelease
import HemoScheduler
import HemoWire

/// The worker's knobs.
public struct WorkerSettings: Sendable {
    /// The coordinator's endpoint.
    public var endpoint: String
    /// This worker's identifier (also its ZeroMQ routing id).
    public var workerID: String
    /// A human-readable name.
    public var workerName: String
    /// Jobs run at once.
    public var capacity: Int = 1
    /// CPU threads in all (split between the running jobs).
    public var threads: Int = 1
    /// Heartbeat interval (must match the coordinator's).
    public var heartbeatInterval: Duration = .seconds(1)
    /// The coordinator is presumed gone after this many silent intervals; the worker reconnects.
    public var livenessIntervals = 3
    /// Longest pause between reconnections (the pause doubles from one interval up to this).
    public var maxReconnectDelay: Duration = .seconds(32)
    /// CURVE client keys, or `nil` for plain TCP.
    public var curve: CurveClientConfig?
    /// The model for infer JOBs (default: hemo's bundled model, loaded on the first infer JOB);
    /// ``WorkerModelSource/none`` advertises build jobs only.
    public var model: WorkerModelSource = .bundledDefault
    /// Where inline inputs are written (a private folder per job inside it).
    public var scratch: String = NSTemporaryDirectory()
    /// A pause before each job (fault drills and tests: keeps a job in flight long enough to kill
    /// the worker or the coordinator mid-job); `nil` in normal use. Drill interface:
    /// `@_spi(Drills) import HemoCluster`.
    @_spi(Drills) public var jobDelay: Duration?
    /// Log lines; default: standard error.
    public var log: @Sendable (String) -> Void = { FileHandle.standardError.write(Data(("worker: " + $0 + "\n").utf8)) }
    /// Receives every ``WorkerEvent`` (metrics), from the I/O and compute threads; `nil`: none.
    public var observer: (@Sendable (WorkerEvent) -> Void)?

    /// Settings for a worker connecting to `endpoint`; the identifier defaults to `host-pid`.
    public init(endpoint: String, workerID: String? = nil) {
        self.endpoint = endpoint
        let host = ProcessInfo.processInfo.hostName.filter { $0.isLetter || $0.isNumber || "-.".contains($0) }.prefix(40)
        let pid = ProcessInfo.processInfo.processIdentifier
        let id = workerID ?? "w-\(host.isEmpty ? "host" : String(host))-\(pid)"
        self.workerID = id
        self.workerName = "\(host) pid \(pid)"
    }
}

/// How a worker ended.
public enum WorkerExit: Sendable, Equatable {
    /// The coordinator finished the run and said so.
    case shutdown
    /// Drained after ``ClusterWorker/drain()`` (SIGTERM): held jobs finished, DISCONNECT sent.
    case drained
}

/// A worker refused by the coordinator in a way retrying cannot fix.
public struct WorkerFatalError: Error, CustomStringConvertible, Sendable {
    /// Why, as a sentence naming the endpoint.
    public var description: String
}

/// A Paranoid Pirate worker: one DEALER owned by the I/O thread that calls ``run()`` (it polls,
/// heartbeats and reconnects with exponential back-off), jobs computed on `capacity` separate
/// threads whose results come back through a queue and a ``WakeLine``.
public final class ClusterWorker: @unchecked Sendable {
    /// The settings.
    public let settings: WorkerSettings
    private let draining = Locked(false)
    private let wakeHolder = Locked<WakeLine?>(nil)
    private let inbox = Locked<(jobs: [JobMessage], stopped: Bool)>(([], false))
    private let jobAvailable = DispatchSemaphore(value: 0)
    private let outbox = Locked<[(messages: [[[UInt8]]], attempt: AttemptKey)]>([])
    /// Attempts the coordinator cancelled while a compute thread held them: their work stops at the
    /// next stage boundary and their results are dropped.
    private let cancelled = Locked<Set<AttemptKey>>([])
    private let counters = Locked(WorkerCounters())
    private let model: WorkerModel
    /// The models READY lists (hashed once).
    private let modelDigests: [ModelDigests]
    /// Opens the connector on the I/O thread.
    private let makeConnector: @Sendable (WorkerSettings) throws -> any DealerConnector

    /// An exam's attempt, as a worker tracks it.
    struct AttemptKey: Hashable, Sendable {
        var exam: CaseID
        var attempt: UInt32
    }

    /// A worker with `settings`.
    /// - Parameter transport: opens the worker's connections; `nil` (the product): ZeroMQ DEALERs
    ///   to ``WorkerSettings/endpoint``. Tests pass `HemoTestKit`'s in-memory network.
    public init(settings: WorkerSettings, transport: (@Sendable (WorkerSettings) throws -> any DealerConnector)? = nil) {
        self.settings = settings
        makeConnector = transport ?? { try ZeroMQDealerConnector(settings: $0) }
        model = WorkerModel(settings.model)
        modelDigests = settings.model.digests
    }

    /// Jobs received, finished and cancelled so far (thread-safe).
    public var statistics: WorkerCounters { counters.withLock { $0 } }

    /// Asks the worker to finish the jobs it holds, send DISCONNECT and return from ``run()`` (thread-safe).
    public func drain() {
        draining.withLock { $0 = true }
        wakeHolder.withLock { $0 }?.signal()
    }

    /// Serves until the coordinator shuts the run down or the worker is drained. Blocks the calling
    /// thread (run it on a dedicated thread or the main thread, never the Swift concurrency pool).
    /// - Throws: ``WorkerFatalError`` for a protocol-version mismatch; the transport's errors
    ///   (`ZeroMQError`) for socket failures.
    public func run() throws -> WorkerExit {
        let connector = try makeConnector(settings)
        let wake = try WakeLine()
        wakeHolder.withLock { $0 = wake }
        let computeThreads = startComputeThreads(wake: wake)
        defer {
            inbox.withLock { $0.stopped = true }
            for _ in 0..<computeThreads { jobAvailable.signal() }
            wakeHolder.withLock { $0 = nil }
            wake.close()
            // Once the connection is closed: its lingering results and DISCONNECT go out before
            // the process exits.
            connector.close()
        }
        let origin = monotonicNanoseconds()
        var now: SchedulerInstant { SchedulerInstant(nanoseconds: monotonicNanoseconds() - origin) }
        let interval = settings.heartbeatInterval
        var session = WorkerSession(settings: .init(heartbeatInterval: interval, livenessIntervals: settings.livenessIntervals,
                                                    maxReconnectDelay: settings.maxReconnectDelay), now: now)
        var socket = try connect(connector, held: [])
        defer { socket.close(abandoning: false) }
        /// Result messages of finished attempts, waiting for the session's verdict.
        var finishedResults: [ExamAttempt: [[[UInt8]]]] = [:]
        /// Jobs received, waiting for the session's verdict.
        var arrived: [ExamAttempt: JobMessage] = [:]
        /// The reasons of CANCELs received, until the session decides on them.
        var cancelReasons: [ExamAttempt: String] = [:]
        // The shell: each action is I/O only; the session decides.
        func perform(_ actions: [WorkerSession.Action]) throws -> WorkerExit? {
            for action in actions {
                switch action {
                case .startJob(let attempt):
                    guard let job = arrived.removeValue(forKey: attempt) else { continue }
                    counters.withLock { $0.received += 1 }
                    inbox.withLock { $0.jobs.append(job) }
                    jobAvailable.signal()
                case .cancelJob(let attempt):
                    let removed = cancel(AttemptKey(exam: attempt.exam, attempt: attempt.attempt))
                    if removed { _ = session.on(.cancelledBeforeStart(attempt), now: now) }
                    settings.log("exam \(attempt.exam) attempt \(attempt.attempt) cancelled by the coordinator (\(cancelReasons[attempt] ?? ""))\(removed ? " before it started" : "")")
                case .sendResult(let attempt):
                    counters.withLock { $0.finished += 1 }
                    for frames in finishedResults.removeValue(forKey: attempt) ?? [] where try !sent(frames, on: socket) {
                        settings.log("no connection to the coordinator: a result message of exam \(attempt.exam) was dropped (it will be re-dispatched)")
                    }
                case .dropResult(let attempt):
                    // Cancelled while it ran: the coordinator wants nothing of it.
                    finishedResults[attempt] = nil
                    _ = cancelled.withLock { $0.remove(AttemptKey(exam: attempt.exam, attempt: attempt.attempt)) }
                    counters.withLock { $0.cancelled += 1 }
                case .sendReady(let held):
                    try send(ready(held: held), on: socket)
                case .sendHeartbeat:
                    try send(.heartbeat, on: socket)
                case .sendDisconnect(let reason):
                    try send(.disconnect(reason: reason), on: socket)
                case .reconnect(let delay):
                    counters.withLock { $0.reconnections += 1 }
                    // Abandon the old socket at once: lingering, it would keep trying to deliver its
                    // queued READY and heartbeats and, once the link is back, claim this worker's
                    // routing ID at the coordinator alongside (or after) the new socket.
                    socket.close(abandoning: true)
                    // Wait out the back-off, but wake for a drain (nothing held can be delivered anyway).
                    wake.wait(timeout: delay)
                    if draining.withLock({ $0 }) { _ = session.on(.drainRequested, now: now) }
                    if let exit = try perform(session.on(.backoffElapsed, now: now)) { return exit }
                case .connect(let held):
                    socket = try connect(connector, held: held)
                    _ = session.on(.connected, now: now)
                case .log(let line):
                    settings.log(line)
                case .exit(let exit):
                    return exit == .shutdown ? .shutdown : .drained
                case .fail(let reason):
                    throw WorkerFatalError(description: "\(settings.endpoint): \(reason)")
                }
            }
            return nil
        }
        while true {
            let events = try socket.poll(wake: wake.fileDescriptor, timeout: interval / 2)
            if events.message {
                while let frames = try socket.receive(maxFrames: WireProtocol.maxFrames + 1) {
                    settings.observer?(.received(bytes: frames.reduce(0) { $0 + $1.count }))
                    let message: WireMessage
                    do { message = try WireMessage.decode(frames) } catch {
                        if case .unsupportedVersion(let v) = error.reason {
                            throw WorkerFatalError(description: "\(settings.endpoint): the coordinator speaks protocol version \(v), this worker speaks HEMO\(WireProtocol.version); upgrade one of them")
                        }
                        _ = session.on(.receivedMalformed, now: now)
                        settings.log("dropped a malformed message from the coordinator: \(error)")
                        continue
                    }
                    let incoming: WorkerSession.Incoming
                    switch message {
                    case .job(let job):
                        let attempt = ExamAttempt(exam: job.exam, attempt: job.attempt)
                        arrived[attempt] = job
                        incoming = .job(attempt)
                    case .cancel(let c):
                        let attempt = ExamAttempt(exam: c.exam, attempt: c.attempt)
                        cancelReasons[attempt] = c.reason
                        incoming = .cancel(attempt)
                    case .disconnect(let reason):
                        incoming = .disconnect(reason: reason)
                    default:
                        incoming = .other
                    }
                    if let exit = try perform(session.on(.received(incoming), now: now)) { return exit }
                    if case .cancel(let attempt) = incoming { cancelReasons[attempt] = nil }
                }
            }
            if events.woken { wake.drain() }
            for result in outbox.withLock({ o in defer { o = [] }; return o }) {
                let attempt = ExamAttempt(exam: result.attempt.exam, attempt: result.attempt.attempt)
                finishedResults[attempt] = result.messages
                let wasCancelled = cancelled.withLock { $0.contains(result.attempt) }
                if let exit = try perform(session.on(.resultReady(attempt, cancelled: wasCancelled), now: now)) { return exit }
            }
            if draining.withLock({ $0 }) && !session.draining { _ = session.on(.drainRequested, now: now) }
            if let exit = try perform(session.on(.turn, now: now)) { return exit }
        }
    }

    /// CANCEL of a held attempt: a queued one is removed before it starts (returns true); a running
    /// one is marked, stops at its next stage boundary and its results are dropped.
    private func cancel(_ key: AttemptKey) -> Bool {
        let removed = inbox.withLock { q -> Bool in
            guard let n = q.jobs.firstIndex(where: { $0.exam == key.exam && $0.attempt == key.attempt }) else { return false }
            q.jobs.remove(at: n)
            return true
        }
        if removed {
            counters.withLock { $0.cancelled += 1 }
        } else {
            cancelled.withLock { _ = $0.insert(key) }
        }
        return removed
    }

    /// READY with this worker's models and the attempts it holds (queued or running), so that a
    /// rejoining worker keeps them.
    private func ready(held: [ExamAttempt]) -> WireMessage {
        let holding = held.prefix(WireProtocol.maxHeldAttempts)
        return .ready(ReadyMessage(workerID: settings.workerID, workerName: String(settings.workerName.prefix(WireProtocol.maxNameBytes)),
                            capacity: max(1, settings.capacity), threads: max(1, settings.threads),
                            capabilities: settings.model.capabilities, models: modelDigests,
                            held: holding.map { HeldAttempt(exam: $0.exam, attempt: $0.attempt) }))
    }

    /// Sends encoded frames without blocking and tells the observer; false when ZeroMQ could not queue them.
    private func sent(_ frames: [[UInt8]], on socket: any DealerTransport) throws -> Bool {
        guard try socket.send(frames) else { return false }
        settings.observer?(.sent(bytes: frames.reduce(0) { $0 + $1.count }))
        return true
    }

    /// Sends without blocking: with no live connection (e.g. refused by CURVE) the message is dropped.
    private func send(_ message: WireMessage, on socket: any DealerTransport) throws {
        _ = try sent(try message.encode(), on: socket)
    }

    /// A new connection, greeted with READY.
    private func connect(_ connector: any DealerConnector, held: [ExamAttempt]) throws -> any DealerTransport {
        let socket = try connector.connect()
        try send(ready(held: held), on: socket)
        return socket
    }

    private func startComputeThreads(wake: WakeLine) -> Int {
        let count = max(1, settings.capacity)
        let perJob = max(1, settings.threads / count)
        for n in 0..<count {
            let t = Thread { [self] in
                while true {
                    jobAvailable.wait()
                    let next: JobMessage? = inbox.withLock { q in q.stopped || q.jobs.isEmpty ? nil : q.jobs.removeFirst() }
                    guard let job = next else {
                        if inbox.withLock({ $0.stopped }) { return }
                        continue
                    }
                    let key = AttemptKey(exam: job.exam, attempt: job.attempt)
                    settings.observer?(.jobStarted(exam: job.exam, attempt: job.attempt))
                    if let delay = settings.jobDelay { Thread.sleep(forTimeInterval: delay.seconds) }
                    let started = monotonicNanoseconds()
                    let context = JobContext(threads: perJob, scratch: settings.scratch, model: model,
                                             log: settings.log,
                                             isCancelled: { [cancelled] in cancelled.withLock { $0.contains(key) } })
                    let messages = Self.process(job, context)
                    if let observe = settings.observer {
                        observe(.jobFinished(exam: job.exam, attempt: job.attempt, seconds: Double(monotonicNanoseconds() - started) / 1e9,
                                             outcome: WorkerJobOutcome.of(messages)))
                    }
                    outbox.withLock { $0.append((messages, key)) }
                    wake.signal()
                }
            }
            t.name = "hemo-compute-\(n)"
            t.stackSize = 8 << 20
            t.start()
        }
        return count
    }

    /// Runs one JOB and returns the encoded messages to send (results then DONE, or FAILED; none
    /// when it was cancelled). One function per job kind.
    static func process(_ job: JobMessage, _ context: JobContext) -> [[[UInt8]]] {
        func failed(_ stage: String, _ reason: String) -> [[[UInt8]]] {
            let f = FailedMessage(exam: job.exam, attempt: job.attempt, stage: String(stage.prefix(WireProtocol.maxStageBytes)),
                           reason: WireText.truncated(reason, maxBytes: WireProtocol.maxReasonBytes))
            return [(try? WireMessage.failed(f).encode()) ?? []].filter { !$0.isEmpty }
        }
        do {
            let messages: [WireMessage]
            switch job.kind {
            case .build:
                messages = try buildJob(job, context)
            case .infer(let sha):
                messages = try inferJob(job, modelSHA256: ModelIdentity.hex(sha), context)
            }
            return try messages.map { try $0.encode() }
        } catch is CancellationError {
            return [] // cancelled by the coordinator while it ran: nothing to send
        } catch let f as CaseFailure {
            return failed(f.stage, f.reason)
        } catch let e as ClusterError {
            return failed("transfer", e.description)
        } catch {
            context.log("exam \(job.exam) attempt \(job.attempt): \(error)")
            return failed("worker", "\(error)")
        }
    }

    /// A build JOB: the exam's pipeline, then its bitmask as CHUNKs, its CT as FILEs when the
    /// options change its grid, and DONE with the record. Returns no message once cancelled (checked
    /// between stages).
    static func buildJob(_ job: JobMessage, _ context: JobContext) throws -> [WireMessage] {
        try withInputs(of: job, context) { cohortCase, options in
            var times = StageTimes()
            let product = try CasePipeline.run(cohortCase, options: options.options, threads: context.threads, times: &times)
            if context.isCancelled() { return [] }
            return try ResultEncoding.messages(product: product, attempt: job.attempt, options: options.options, times: &times)
        }
    }

    /// An infer JOB: `hemo infer`'s per-exam function with this worker's model, which must be the
    /// one the JOB names (ONNX and sidecar SHA-256), then the pseudo-label bitmask as CHUNKs, the
    /// CT as FILEs when the options change its grid, and DONE (whose record carries the slice
    /// probabilities and box scores).
    static func inferJob(_ job: JobMessage, modelSHA256: String, _ context: JobContext) throws -> [WireMessage] {
        try withInputs(of: job, context) { cohortCase, options in
            let model = try context.model.model(sha256: modelSHA256, sidecarSHA256: options.sidecarSHA256)
            var times = StageTimes()
            let (product, record) = try PseudoLabelPipeline.run(cohortCase, model: model, options: options.options,
                                                                threads: context.threads, times: &times,
                                                                isCancelled: context.isCancelled)
            if context.isCancelled() { return [] }
            return try ResultEncoding.messages(product: product, record: record, attempt: job.attempt,
                                               options: options.options, times: &times)
        }
    }

    /// Decodes the JOB's options and materialises its inputs (inline files into a private folder,
    /// removed afterwards), then runs `body`; returns no message when the job was cancelled first.
    private static func withInputs(of job: JobMessage, _ context: JobContext,
                                   _ body: (CohortCase, (options: ReleaseOptions, sidecarSHA256: String?)) throws -> [WireMessage]) throws -> [WireMessage] {
        var folder: String?
        defer { if let folder { try? FileManager.default.removeItem(atPath: folder) } }
        if context.isCancelled() { return [] }
        let options = try JobOptionsCoding.decodeWithSidecar(job.options, exam: job.exam)
        if case .inline = job.inputs {
            folder = context.scratch + "/hemo-job-\(job.exam.rawValue)-\(job.attempt)-\(UUID().uuidString)"
        }
        let cohortCase = try ExamInputs.materialize(exam: job.exam, inputs: job.inputs, scratch: folder ?? context.scratch)
        return try body(cohortCase, options)
    }
}

/// What a job function needs besides its JOB.
struct JobContext: Sendable {
    /// CPU threads for this job.
    var threads: Int
    /// Where inline inputs go (a folder per job inside it).
    var scratch: String
    /// The worker's model for infer JOBs.
    var model: WorkerModel
    /// Log lines.
    var log: @Sendable (String) -> Void
    /// Whether the coordinator cancelled this attempt (checked between stages, and between batches
    /// of slices during inference).
    var isCancelled: @Sendable () -> Bool
}

/// A worker's job counts.
public struct WorkerCounters: Sendable, Equatable {
    /// JOBs received.
    public var received = 0
    /// Jobs finished whose results were sent (DONE or FAILED).
    public var finished = 0
    /// Jobs dropped because the coordinator cancelled them.
    public var cancelled = 0
    /// Times the coordinator fell silent past the liveness limit and the worker reconnected.
    public var reconnections = 0

    /// Counts.
    public init(received: Int = 0, finished: Int = 0, cancelled: Int = 0, reconnections: Int = 0) {
        self.received = received
        self.finished = finished
        self.cancelled = cancelled
        self.reconnections = reconnections
    }
}
