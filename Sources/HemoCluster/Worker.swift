import HemoConcurrency
import Foundation
import HemoCore
import HemoPseudoLabel
import HemoRelease
import HemoScheduler
import HemoWire

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
}
