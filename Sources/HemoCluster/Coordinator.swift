import Foundation
import HemoCore
import HemoRelease
import HemoScheduler
import HemoWire
import ZeroMQ

/// The coordinator's knobs.
public struct CoordinatorSettings: Sendable {
    /// The ROUTER's bind address; `tcp://127.0.0.1:*` picks a free port (see ``Coordinator/endpoint``).
    public var endpoint: String = "tcp://127.0.0.1:*"
    /// Heartbeats, liveness, attempts, prefetch and leases.
    public var scheduler = SchedulerSettings()
    /// How input files reach workers.
    public var transfer: TransferMode = .shared
    /// Threads writing released cases (so the poll loop keeps serving heartbeats).
    public var writerThreads = 2
    /// CURVE: the coordinator's keys and the admitted clients; `nil` for plain TCP.
    public var curve: CurveServerConfig?
    /// Allow a non-loopback bind without CURVE.
    public var insecure = false
    /// Replace an existing release folder (a journal of the same options still resumes).
    public var force = false
    /// Log lines (warnings, dropped messages); default: standard error.
    public var log: @Sendable (String) -> Void = { FileHandle.standardError.write(Data(("coordinator: " + $0 + "\n").utf8)) }
    /// Progress after each exam finishes (released or failed).
    public var progress: @Sendable (CoordinatorProgress) -> Void = { _ in }
    /// Receives every ``CoordinatorEvent`` on the poll thread (metrics); `nil`: none.
    public var observer: (@Sendable (CoordinatorEvent) -> Void)?

    /// The defaults.
    public init() {}
}

/// Progress of a coordinated run.
public struct CoordinatorProgress: Sendable {
    /// Exams finished (released or failed) including those of an earlier run.
    public var done: Int
    /// Exams in all.
    public var total: Int
    /// Exams failed.
    public var failed: Int
    /// The exam just finished.
    public var lastCase: String
}

/// What a finished coordinated run reports.
public struct CoordinatorSummary: Sendable {
    /// The release folder.
    public var release: String
    /// The committed release.
    public var outcome: ReleaseAssembly.Outcome
    /// Wall time in seconds.
    public var seconds: Double
    /// Exams restored from the journal of an earlier run.
    public var resumed: Int
    /// Bytes of JOB messages sent.
    public var jobBytesSent: Int
    /// Bytes of CHUNK/DONE/FAILED messages received.
    public var resultBytesReceived: Int
    /// Uncompressed and compressed bytes of the accepted result chunks.
    public var chunkRawBytes: Int, chunkPayloadBytes: Int
    /// Uncompressed and compressed bytes of inline input files sent.
    public var inlineRawBytes: Int, inlineCompressedBytes: Int
    /// Messages dropped as malformed or unexpected.
    public var droppedMessages: Int
    /// Attempts dispatched (more than the exams when some were retried).
    public var dispatches: Int
    /// Per-stage seconds reported by workers, summed over exams.
    public var workerStages: StageTimes

    /// Wire bytes per released exam (both directions).
    public var wireBytesPerExam: Double {
        Double(jobBytesSent + resultBytesReceived) / Double(max(1, outcome.records.count - resumed))
    }
    /// Uncompressed ÷ compressed size of the result chunks.
    public var chunkCompressionRatio: Double { Double(chunkRawBytes) / Double(max(1, chunkPayloadBytes)) }
}

/// The cluster's coordinator: one ROUTER served by a dedicated poll thread, the ``Scheduler``
/// state machine fed with events and the real clock, and a small pool of writer threads that
/// release assembled cases into a resumable ``ReleaseAssembly``.
///
/// ```swift
/// let coordinator = try Coordinator(cohort: cohort, destination: out, options: options, settings: settings)
/// let endpoint = try coordinator.start()     // bound, serving
/// let summary = try coordinator.wait()       // every exam released or failed, release committed
/// ```
public final class Coordinator: @unchecked Sendable {
    /// The cohort.
    public let cohort: Cohort
    /// The settings.
    public let settings: CoordinatorSettings
    private let options: ReleaseOptions
    private let optionBytes: [UInt8]
    private let assembly: ReleaseAssembly
    private let cases: [CaseID: CohortCase]
    private let alreadyFinished: Set<CaseID>
    private let stopFlag = Locked(false)
    private let finished = DispatchSemaphore(value: 0)
    private let result = Locked<Result<CoordinatorSummary, Error>?>(nil)
    private let statusLock = Locked<SchedulerStatus?>(nil)
    private var boundEndpoint = ""

    /// Opens (or resumes) the release at `destination` for `cohort`.
    /// - Throws: ``ClusterError`` for a refused bind address; the release's errors for an unusable destination.
    public init(cohort: Cohort, destination: String, options: ReleaseOptions, settings: CoordinatorSettings) throws {
        if settings.curve == nil && !settings.insecure && !ClusterKeys.isLocalOnly(settings.endpoint) {
            throw ClusterError(settings.endpoint, "binding a non-loopback address without CURVE keys is refused; give --curve-secret and --allowed-keys, or --insecure on a trusted network")
        }
        self.cohort = cohort
        self.settings = settings
        self.options = options
        optionBytes = JobOptionsCoding.encode(options)
        assembly = try ReleaseAssembly(destination: destination, options: options, kind: .annotations,
                                       weakLabels: cohort.weakLabels, force: settings.force, resumable: true)
        var map: [CaseID: CohortCase] = [:]
        for c in cohort.cases { map[c.id] = c }
        cases = map
        alreadyFinished = Set(assembly.finished.compactMap { CaseID($0) }).intersection(map.keys)
    }

    /// Binds and starts serving on a dedicated thread; returns the bound endpoint.
    public func start() throws -> String {
        let ready = DispatchSemaphore(value: 0)
        let startError = Locked<Error?>(nil)
        let thread = Thread { [self] in
            let loop: PollLoop
            do {
                loop = try PollLoop(coordinator: self)
                boundEndpoint = loop.endpoint
            } catch {
                startError.withLock { $0 = error }
                ready.signal()
                result.withLock { $0 = .failure(error) }
                finished.signal()
                return
            }
            ready.signal()
            let outcome = Result { try loop.run() }
            loop.close()
            result.withLock { $0 = outcome }
            finished.signal()
        }
        thread.name = "hemo-coordinator"
        thread.stackSize = 8 << 20
        thread.start()
        ready.wait()
        if let e = startError.withLock({ $0 }) { throw e }
        return boundEndpoint
    }

    /// The endpoint workers connect to (after ``start()``).
    public var endpoint: String { boundEndpoint }

    /// Blocks until the run is committed (or failed).
    public func wait() throws -> CoordinatorSummary {
        finished.wait()
        finished.signal()
        switch result.withLock({ $0 })! {
        case .success(let s): return s
        case .failure(let e): throw e
        }
    }

    /// Stops serving without committing; the journal keeps what was released (a restart resumes).
    public func stop() { stopFlag.withLock { $0 = true } }

    /// The scheduler's latest counts.
    public var status: SchedulerStatus? { statusLock.withLock { $0 } }

    // MARK: The poll loop (one thread owns every socket)

    private final class PollLoop {
        let c: Coordinator
        let context: Context
        let router: Socket
        let wakeReceiver: Socket
        let wake: WakeLine
        let auth: ZAPAuthenticator?
        let endpoint: String
        var scheduler: Scheduler
        let origin = monotonicNanoseconds()
        let start = monotonicNanoseconds()
        // Workers.
        var routes: [WorkerID: [UInt8]] = [:]
        var peers: [[UInt8]: WorkerID] = [:]
        var names: [WorkerID: String] = [:]
        // Results.
        var collectors: [CaseID: (worker: WorkerID, collector: ResultCollector)] = [:]
        var products: [CaseID: CaseProduct] = [:]
        let writer: WriterPool
        var writesOutstanding = 0
        var allDone = false
        var doneCount: Int
        var failedCount = 0
        let total: Int
        let resumed: Int
        // Figures.
        var jobBytes = 0, resultBytes = 0, chunkRaw = 0, chunkPayload = 0, inlineRaw = 0, inlinePacked = 0
        var dropped = 0, dispatches = 0
        var stages = StageTimes()

        init(coordinator: Coordinator) throws {
            c = coordinator
            context = try Context()
            if let curve = c.settings.curve {
                auth = try ZAPAuthenticator(context: context, domain: "hemo", allowedClientKeys: curve.allowedKeys)
            } else {
                auth = nil
            }
            router = try context.socket(.router, linger: .milliseconds(500))
            try router.set(.maxMessageSize(WireProtocol.recommendedMaxMessageSize))
            try router.set(.sendHighWaterMark(0))
            // A worker reconnecting after a link cut comes back under its routing ID while its old
            // TCP connection may still look open here (half-open until a retransmission fails): the
            // newest connection must own the ID, or the worker's new messages are silently ignored.
            try router.set(.routerHandover(true))
            if let curve = c.settings.curve {
                try router.set(.zapDomain("hemo"))
                try router.set(.curveServer(true))
                try router.set(.curveSecretKey(curve.keyPair.secretKey))
            }
            try router.bind(c.settings.endpoint)
            endpoint = try router.lastEndpoint
            wakeReceiver = try context.socket(.pair)
            wake = try WakeLine(context: context, receiver: wakeReceiver)
            let exams = c.cohort.cases.map { ExamSpec(id: $0.id, sizeEstimate: UInt64(max(0, $0.sizeEstimate))) }
            scheduler = try Scheduler(settings: c.settings.scheduler, exams: exams, alreadyFinished: c.alreadyFinished)
            writer = WriterPool(threads: c.settings.writerThreads, assembly: c.assembly, wake: wake)
            total = c.cohort.cases.count + c.cohort.problems.count
            resumed = c.alreadyFinished.count
            doneCount = resumed
            for p in c.cohort.problems {
                try c.assembly.fail(FailureRow(caseName: p.name, stage: "input", reason: p.reason))
                doneCount += 1
                failedCount += 1
            }
            c.settings.observer?(.runStarted(total: total, resumed: resumed, unreadable: c.cohort.problems.count))
        }

        func close() {
            writer.stop()
            wake.close()
            wakeReceiver.close()
            router.close()
            auth?.stop()
            try? context.terminate()
        }

        var now: SchedulerInstant { SchedulerInstant(nanoseconds: monotonicNanoseconds() - origin) }

        func run() throws -> CoordinatorSummary {
            var poller = Poller()
            poller.add(router)
            poller.add(wakeReceiver)
            let tickEvery = max(Duration.milliseconds(5), c.settings.scheduler.heartbeatInterval / 4)
            var lastTick = monotonicNanoseconds()
            apply(scheduler.on(.tick, now: now))
            while true {
                if c.stopFlag.withLock({ $0 }) {
                    throw ClusterError(endpoint, "coordinator stopped before the run finished (the journal keeps released exams)")
                }
                let events = try poller.poll(timeout: tickEvery)
                if events[0].contains(.readable) {
                    var budget = 256
                    while budget > 0 {
                        budget -= 1
                        let frames: [[UInt8]]?
                        do { frames = try router.receive(dontWait: true, maxFrames: WireProtocol.maxFrames + 1) } catch {
                            if error.code == .tooManyFrames { dropped += 1; c.settings.log("dropped a message: \(error)"); continue }
                            throw error
                        }
                        guard let frames else { break }
                        handle(frames)
                    }
                }
                if events[1].contains(.readable) {
                    while (try? wakeReceiver.receive(dontWait: true)) ?? nil != nil {}
                }
                for done in writer.takeCompleted() {
                    writesOutstanding -= 1
                    if done.failure != nil { failedCount += 1 }
                    stages.merge(done.times)
                    c.settings.observer?(done.failure == nil ? .released(exam: done.exam, times: done.times) : .failed(exam: done.exam, stage: "write"))
                    doneCount += 1
                    c.settings.progress(CoordinatorProgress(done: doneCount, total: total, failed: failedCount, lastCase: done.exam.rawValue))
                }
                if monotonicNanoseconds() - lastTick >= UInt64(tickEvery.seconds * 1e9) {
                    lastTick = monotonicNanoseconds()
                    apply(scheduler.on(.tick, now: now))
                }
                if allDone && writesOutstanding == 0 { break }
            }
            let outcome = try c.assembly.commit()
            for (_, route) in routes { send(.disconnect(reason: "shutdown"), to: route) }
            // A grace period: a worker that was reconnecting (new socket, its old pipe gone) when the
            // run ended still hears "shutdown" instead of retrying a coordinator that is gone.
            let graceEnd = monotonicNanoseconds() + UInt64(max(0.2, 2 * c.settings.scheduler.heartbeatInterval.seconds) * 1e9)
            while monotonicNanoseconds() < graceEnd {
                guard try router.wait(timeout: .milliseconds(20)) else { continue }
                while let frames = try? router.receive(dontWait: true, maxFrames: WireProtocol.maxFrames + 1), frames.count >= 2 {
                    if let m = try? WireMessage.decode(Array(frames.dropFirst())), m != .statusRequest {
                        send(.disconnect(reason: "shutdown"), to: frames[0])
                    }
                }
            }
            return CoordinatorSummary(release: c.assembly.staging.destination, outcome: outcome,
                                      seconds: Double(monotonicNanoseconds() - start) / 1e9, resumed: resumed,
                                      jobBytesSent: jobBytes, resultBytesReceived: resultBytes,
                                      chunkRawBytes: chunkRaw, chunkPayloadBytes: chunkPayload,
                                      inlineRawBytes: inlineRaw, inlineCompressedBytes: inlinePacked,
                                      droppedMessages: dropped, dispatches: dispatches, workerStages: stages)
        }

        @discardableResult
        func send(_ message: WireMessage, to route: [UInt8]) -> Int {
            do {
                let frames = try message.encode()
                _ = try router.send([route] + frames, dontWait: true)
                let bytes = frames.reduce(0) { $0 + $1.count }
                c.settings.observer?(.sent(bytes: bytes))
                return bytes
            } catch {
                c.settings.log("cannot send \(message.type) to peer \(hex(route)): \(error)")
                return 0
            }
        }

        var toldUnknown: [[UInt8]: UInt64] = [:]

        /// DISCONNECT "unknown worker", at most once per heartbeat interval per peer (a dead
        /// worker's in-flight chunks would otherwise each earn one).
        func tellUnknown(_ route: [UInt8]) {
            let t = monotonicNanoseconds()
            if let last = toldUnknown[route], t - last < UInt64(c.settings.scheduler.heartbeatInterval.seconds * 1e9) { return }
            if toldUnknown.count > 10_000 { toldUnknown.removeAll() }
            toldUnknown[route] = t
            send(.disconnect(reason: "unknown worker"), to: route)
        }

        func hex(_ bytes: [UInt8]) -> String {
            if let s = String(bytes: bytes, encoding: .utf8), s.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0.isLetter || $0.isNumber || "-_.:@".contains($0) }) {
                return s
            }
            return bytes.prefix(16).map { String(format: "%02x", $0) }.joined()
        }

        func handle(_ frames: [[UInt8]]) {
            guard frames.count >= 2 else { dropped += 1; return }
            let route = frames[0]
            let body = Array(frames.dropFirst())
            let size = body.reduce(0) { $0 + $1.count }
            c.settings.observer?(.received(bytes: size))
            let message: WireMessage
            do { message = try WireMessage.decode(body) } catch {
                dropped += 1
                c.settings.log("dropped a malformed message from peer \(hex(route)): \(error)")
                if case .unsupportedVersion(let v) = error.reason {
                    send(.disconnect(reason: "protocol version \(v) is not supported: this coordinator speaks HEMO\(WireProtocol.version)"), to: route)
                }
                return
            }
            let known = peers[route]
            switch message {
            case .ready(let r):
                let id = WorkerID(r.workerID)
                if let old = routes[id], old != route { peers[old] = nil }
                routes[id] = route
                peers[route] = id
                names[id] = r.workerName
                apply(scheduler.on(.workerReady(id, capacity: r.capacity, capabilities: r.capabilities), now: now))
            case .statusRequest:
                let s = scheduler.status
                let reply = StatusReply(examsTotal: s.total + c.cohort.problems.count, completed: s.completed,
                                        quarantined: s.quarantined + c.cohort.problems.count,
                                        running: s.running, pending: s.pending,
                                        workers: s.workers.prefix(WireProtocol.maxStatusWorkers).map {
                                            WorkerStatus(workerID: $0.id.rawValue, workerName: names[$0.id] ?? "",
                                                         capacity: $0.capacity, outstanding: $0.outstanding, draining: $0.draining)
                                        })
                send(.statusReply(reply), to: route)
            case .heartbeat, .chunk, .done, .failed, .disconnect:
                guard let id = known else {
                    // Paranoid Pirate: an unknown peer is told to reconnect with READY (once per interval).
                    tellUnknown(route)
                    return
                }
                switch message {
                case .heartbeat:
                    apply(scheduler.on(.heartbeat(id), now: now))
                case .chunk(let chunk):
                    resultBytes += size
                    chunkArrived(chunk, from: id)
                case .done(let done):
                    resultBytes += size
                    doneArrived(done, from: id)
                case .failed(let f):
                    resultBytes += size
                    if collectors[f.exam]?.collector.attempt == f.attempt { collectors[f.exam] = nil }
                    c.settings.observer?(.attemptFailed(exam: f.exam, attempt: f.attempt, stage: f.stage))
                    apply(scheduler.on(.jobFailed(id, exam: f.exam, attempt: f.attempt, stage: f.stage, reason: f.reason), now: now))
                case .disconnect(let reason):
                    if reason == "drain" {
                        apply(scheduler.on(.workerDraining(id), now: now))
                    } else {
                        peers[route] = nil
                        apply(scheduler.on(.workerDisconnected(id), now: now))
                    }
                default:
                    break
                }
            case .job, .statusReply, .cancel:
                dropped += 1
                c.settings.log("dropped an unexpected \(message.type) from peer \(hex(route))")
            }
        }

        func chunkArrived(_ chunk: Chunk, from id: WorkerID) {
            apply(scheduler.on(.heartbeat(id), now: now))
            guard var entry = collectors[chunk.exam], entry.collector.attempt == chunk.attempt, entry.worker == id else {
                c.settings.log("ignored a CHUNK of exam \(chunk.exam) attempt \(chunk.attempt) from \(id): not a running attempt of that worker")
                return
            }
            do {
                try entry.collector.accept(chunk)
                collectors[chunk.exam] = entry
            } catch {
                collectors[chunk.exam] = nil
                apply(scheduler.on(.chunkCorrupt(id, exam: chunk.exam, attempt: chunk.attempt, reason: error.reason), now: now))
            }
        }

        func doneArrived(_ done: Done, from id: WorkerID) {
            if let entry = collectors[done.exam], entry.collector.attempt == done.attempt, entry.worker == id {
                collectors[done.exam] = nil
                do {
                    products[done.exam] = try entry.collector.product(done: done)
                    chunkRaw += entry.collector.rawBytes
                    chunkPayload += entry.collector.payloadBytes
                } catch {
                    apply(scheduler.on(.chunkCorrupt(id, exam: done.exam, attempt: done.attempt, reason: error.reason), now: now))
                    return
                }
                var times = StageTimes()
                for t in done.timings { times.add(t.stage, Double(t.nanoseconds) / 1e9) }
                stages.merge(times)
                c.settings.observer?(.resultAccepted(exam: done.exam, attempt: done.attempt, timings: done.timings))
            }
            apply(scheduler.on(.jobDone(id, exam: done.exam, attempt: done.attempt), now: now))
        }

        func apply(_ directives: [SchedulerDirective]) {
            for d in directives {
                switch d {
                case .dispatch(let a):
                    dispatch(a)
                case .cancel(let worker, let exam, let attempt, let reason):
                    if collectors[exam]?.collector.attempt == attempt { collectors[exam] = nil }
                    c.settings.log("cancelled exam \(exam) attempt \(attempt) on \(worker): \(reason)")
                case .ignoreResult(let worker, let exam, let attempt, let reason):
                    c.settings.log("ignored a result of exam \(exam) attempt \(attempt) from \(worker): \(reason)")
                case .sendHeartbeat(let worker):
                    if let route = routes[worker] { send(.heartbeat, to: route) }
                case .markWorkerDead(let worker, let reason):
                    c.settings.log("worker \(worker) is dead: \(reason)")
                    for (exam, entry) in collectors where entry.worker == worker { collectors[exam] = nil }
                case .disconnectWorker(let worker):
                    if let route = routes[worker] { tellUnknown(route) }
                case .examCompleted(let exam, _, _):
                    if let product = products.removeValue(forKey: exam) {
                        writesOutstanding += 1
                        writer.submit(product)
                    }
                case .quarantine(let exam, let last):
                    products[exam] = nil
                    do {
                        try c.assembly.fail(FailureRow(caseName: exam.rawValue, stage: last.stage, reason: last.reason))
                    } catch {
                        c.settings.log("cannot record the failure of exam \(exam): \(error)")
                    }
                    c.settings.observer?(.failed(exam: exam, stage: last.stage))
                    failedCount += 1
                    doneCount += 1
                    c.settings.progress(CoordinatorProgress(done: doneCount, total: total, failed: failedCount, lastCase: exam.rawValue))
                case .allDone:
                    allDone = true
                }
            }
            c.statusLock.withLock { $0 = scheduler.status }
        }

        func dispatch(_ a: Assignment) {
            guard let route = routes[a.worker], let cohortCase = c.cases[a.exam] else { return }
            dispatches += 1
            let inputs: JobInputs
            switch c.settings.transfer {
            case .shared:
                inputs = ExamInputs.shared(cohortCase)
            case .inline:
                do {
                    let packed = try ExamInputs.inline(cohortCase)
                    inputs = packed.inputs
                    inlineRaw += packed.raw
                    inlinePacked += packed.compressed
                } catch {
                    apply(scheduler.on(.jobFailed(a.worker, exam: a.exam, attempt: a.attempt, stage: "read", reason: error.reason), now: now))
                    return
                }
            }
            let job = Job(jobID: a.jobID, exam: a.exam, attempt: a.attempt, kind: .build, options: c.optionBytes, inputs: inputs)
            collectors[a.exam] = (a.worker, ResultCollector(exam: a.exam, attempt: a.attempt))
            c.settings.observer?(.dispatched(exam: a.exam, attempt: a.attempt, worker: a.worker))
            jobBytes += send(.job(job), to: route)
        }
    }
}

/// Threads that write released cases, so the poll loop never blocks on disk.
final class WriterPool: @unchecked Sendable {
    struct Completion {
        var exam: CaseID
        var times: StageTimes
        var failure: String?
    }

    private let queue = Locked<(items: [CaseProduct], stopped: Bool)>(([], false))
    private let available = DispatchSemaphore(value: 0)
    private let completed = Locked<[Completion]>([])
    private let threads: Int

    init(threads: Int, assembly: ReleaseAssembly, wake: WakeLine) {
        self.threads = max(1, threads)
        for n in 0..<self.threads {
            let t = Thread { [self] in
                while true {
                    available.wait()
                    let next: CaseProduct? = queue.withLock { q in q.stopped ? nil : (q.items.isEmpty ? nil : q.items.removeFirst()) }
                    guard let product = next else {
                        if queue.withLock({ $0.stopped }) { return }
                        continue
                    }
                    var times = StageTimes()
                    var failure: String?
                    do { try assembly.release(product, times: &times) } catch {
                        failure = "\(error)"
                        try? assembly.fail(FailureRow(caseName: product.id.rawValue, stage: "write", reason: "\(error)"))
                    }
                    completed.withLock { $0.append(Completion(exam: product.id, times: times, failure: failure)) }
                    wake.signal()
                }
            }
            t.name = "hemo-writer-\(n)"
            t.start()
        }
    }

    func submit(_ product: CaseProduct) {
        queue.withLock { $0.items.append(product) }
        available.signal()
    }

    func takeCompleted() -> [Completion] { completed.withLock { c in defer { c = [] }; return c } }

    func stop() {
        queue.withLock { $0.stopped = true }
        for _ in 0..<threads { available.signal() }
    }
}

