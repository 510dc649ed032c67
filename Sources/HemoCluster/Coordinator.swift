import HemoConcurrency
import Foundation
import HemoCore
import HemoRelease
import HemoScheduler
import HemoWire

/// The cluster's coordinator: one ROUTER served by a dedicated poll thread, the ``Scheduler``
/// state machine fed with events and the real clock, and a small pool of writer threads that
/// write the workers' verified release files into a resumable ``ReleaseAssembly``.
///
/// Workers send each exam's subtype bitmask as LZ4 chunks and its record (and the encoded CT only
/// when the options change its grid); the coordinator checks them against each other, and its
/// writer threads encode the label files (and otherwise the CT, from the input) with the same
/// ``CaseFiles`` code as `hemo build`, write them atomically and journal the case.
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
    /// What every exam's JOB computes: a build, or pseudo-labels with a model.
    public let task: ClusterTask
    private let options: ReleaseOptions
    private let optionBytes: [UInt8]
    /// Every JOB's kind (for infer, the model's SHA-256 as bytes), computed once.
    private let jobKind: JobKind
    private let assembly: ReleaseAssembly
    private let cases: [CaseID: CohortCase]
    private let alreadyFinished: Set<CaseID>
    /// Why the run was asked to stop (``stop(reason:)``), or `nil`.
    private let stopRequest = Locked<String?>(nil)
    private let finished = DispatchSemaphore(value: 0)
    private let result = Locked<Result<CoordinatorSummary, Error>?>(nil)
    private let statusLock = Locked<SchedulerStatus?>(nil)
    private let snapshotLock = Locked(CoordinatorSnapshot())
    private var boundEndpoint = ""
    /// Opens the ROUTER end on the poll thread.
    private let makeTransport: @Sendable (CoordinatorSettings) throws -> any RouterTransport

    /// Opens (or resumes) the release at `destination` for `cohort`.
    ///
    /// - Parameter task: ``ClusterTask/build`` gives `hemo build`'s release; ``ClusterTask/pseudoLabel(_:)``
    ///   gives `hemo infer`'s with that model (workers must hold the same model and sidecar).
    /// - Parameter transport: opens the ROUTER end on the poll thread; `nil` (the product): a
    ///   ZeroMQ ROUTER bound to ``CoordinatorSettings/endpoint``. Tests pass `HemoTestKit`'s
    ///   in-memory network.
    /// - Throws: ``ClusterError`` for a refused bind address; the release's errors for an unusable destination.
    public init(cohort: Cohort, destination: String, options: ReleaseOptions, task: ClusterTask = .build,
                settings: CoordinatorSettings,
                transport: (@Sendable (CoordinatorSettings) throws -> any RouterTransport)? = nil) throws {
        var options = options
        options.writesMasks = task.writesMasks
        if settings.curve == nil && !settings.insecure && !ClusterKeys.isLocalOnly(settings.endpoint) {
            throw ClusterError(settings.endpoint, "binding a non-loopback address without CURVE keys is refused; give --curve-secret and --allowed-keys, or --insecure on a trusted network")
        }
        self.cohort = cohort
        self.settings = settings
        self.task = task
        self.options = options
        makeTransport = transport ?? { try ZeroMQRouterTransport(settings: $0) }
        optionBytes = JobOptionsCoding.encode(options, sidecarSHA256: task.sidecarSHA256)
        jobKind = task.jobKind
        assembly = try ReleaseAssembly(destination: destination, options: options, kind: task.releaseKind,
                                       weakLabels: cohort.weakLabels, force: settings.force, resumable: true,
                                       fingerprint: task.resumeFingerprint, shard: cohort.shard)
        for problem in assembly.journalProblems { settings.log(problem) }
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
            nameCurrentThread("hemo-poll")
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
    public func stop() { stop(reason: "the coordinator stopped") }

    /// Stops serving without committing, for `reason` (the error ``wait()`` throws names it); the
    /// journal keeps what was released. The first reason given wins.
    public func stop(reason: String) { stopRequest.withLock { if $0 == nil { $0 = reason } } }

    /// The scheduler's latest counts.
    public var status: SchedulerStatus? { statusLock.withLock { $0 } }

    /// The latest snapshot: counts, throughput, workers and wire counters (thread-safe).
    public var snapshot: CoordinatorSnapshot { snapshotLock.withLock { $0 } }

    // MARK: The poll loop (one thread owns the transport)

    private final class PollLoop {
        let c: Coordinator
        let router: any RouterTransport
        /// Other threads (writers, the committer) signal it when they have finished something.
        let wake: WakeLine
        let endpoint: String
        var scheduler: Scheduler
        let origin = monotonicNanoseconds()
        let start = monotonicNanoseconds()
        // Workers.
        var routes: [WorkerID: [UInt8]] = [:]
        var peers: [[UInt8]: WorkerID] = [:]
        var names: [WorkerID: String] = [:]
        // Results.
        var collectors = ResultCollection<ResultCollector>()
        var results: [CaseID: CollectedCase] = [:]
        let writer: WriterPool
        var allDone = false
        var doneCount: Int
        /// The shell's own policy (back-pressure, the DISCONNECT limiter, status throttling, receive
        /// budgets, ticks, the grace period). Computing the status sorts every live worker, which
        /// is costly with thousands of them: the policy refreshes it at most every 100 ms
        /// (scripts/bench/scale.sh; the measurement: scripts/bench/README.md).
        var policy: CoordinatorPolicy
        var failedCount = 0
        let total: Int
        let resumed: Int
        // Figures.
        var wire = WireCounters()
        var stages = StageTimes()
        var throughput: ThroughputWindow

        init(coordinator: Coordinator) throws {
            c = coordinator
            router = try c.makeTransport(c.settings)
            endpoint = router.endpoint
            wake = try WakeLine()
            let requires = c.task.requiredCapabilities
            let exams = c.cohort.cases.map { ExamSpec(id: $0.id, sizeEstimate: UInt64(max(0, $0.sizeEstimate)), requires: requires) }
            scheduler = try Scheduler(settings: c.settings.scheduler, exams: exams, alreadyFinished: c.alreadyFinished)
            writer = WriterPool(threads: c.settings.writerThreads, assembly: c.assembly, cases: c.cases, options: c.options,
                                wake: wake, delay: c.settings.writeDelay)
            throughput = ThroughputWindow(window: c.settings.throughputWindow, start: .zero)
            policy = CoordinatorPolicy(settings: .init(heartbeatInterval: c.settings.scheduler.heartbeatInterval,
                                                      maxQueuedResults: c.settings.maxQueuedResults,
                                                      receiveBatch: c.settings.receiveBatch))
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
            router.close()
        }

        var now: SchedulerInstant { SchedulerInstant(nanoseconds: monotonicNanoseconds() - origin) }

        func run() throws -> CoordinatorSummary {
            var idle = c.settings.idleTimeout.map { IdleWatch(timeout: $0) }
            perform(policy.on(.started, now: now))
            while true {
                if let reason = c.stopRequest.withLock({ $0 }) {
                    apply(scheduler.on(.runEnded(reason: reason), now: now))
                    throw ClusterError(endpoint, "coordinator stopped before the run finished: \(reason) (the journal keeps released exams; the same command resumes)")
                }
                let polledAt = now
                let events = try router.poll(wake: wake.fileDescriptor, timeout: policy.settings.tickInterval)
                if events.message {
                    perform(policy.on(.batchStarted, now: now))
                    while policy.on(.receiveSlot, now: now) == [.receive] {
                        let askedAt = now
                        let frames: [[UInt8]]?
                        do { frames = try router.receive(maxFrames: WireProtocol.maxFrames + 1) } catch let error as TransportError where error.code == .tooManyFrames {
                            wire.droppedMessages += 1; c.settings.log("dropped a message: \(error)"); continue
                        }
                        guard let frames else { perform(policy.on(.inboxEmpty, now: askedAt)); break }
                        handle(frames)
                    }
                } else {
                    perform(policy.on(.pollIdle, now: polledAt))
                }
                if events.woken { wake.drain() }
                for done in writer.takeCompleted() {
                    if let storage = done.storageError {
                        apply(scheduler.on(.runEnded(reason: "the release cannot be written"), now: now))
                        throw ClusterError(endpoint, "exam \(done.exam) could not be written, so the run stops: \(storage). The journal keeps the exams already released; fix the storage (e.g. free space) and run the same command again to resume")
                    }
                    perform(policy.on(.resultWritten, now: now))
                    if let failure = done.failure {
                        failedCount += 1
                        c.settings.log("exam \(done.exam) could not be written: \(failure)")
                    }
                    stages.merge(done.times)
                    c.settings.observer?(done.failure == nil ? .released(exam: done.exam, times: done.times) : .failed(exam: done.exam, stage: "write"))
                    examFinished(done.exam)
                }
                let turnAt = now
                let ticked = perform(policy.on(.turn, now: turnAt))
                if ticked, idle != nil, case .expired(let reason) = idle!.on(blocker: scheduler.progressBlocker, now: turnAt) {
                    c.settings.log("ending the run: \(reason)")
                    c.stop(reason: reason)
                }
                if allDone && policy.queuedResults == 0 { break }
            }
            let outcome = try commitServingStatus()
            for (_, route) in routes { send(.disconnect(reason: "shutdown"), to: route) }
            // A grace period: a worker that was reconnecting (new socket, its old pipe gone) when the
            // run ended still hears "shutdown" instead of retrying a coordinator that is gone. It ends
            // early once every live worker answered "shutdown" with DISCONNECT "leaving".
            var graceOver = perform(policy.on(.shutdownSent(awaiting: Set(scheduler.status.workers.compactMap { routes[$0.id] })), now: now))
            while !graceOver {
                if try router.poll(wake: nil, timeout: .milliseconds(20)).message {
                    while let frames = try? router.receive(maxFrames: WireProtocol.maxFrames + 1), frames.count >= 2 {
                        guard let m = try? WireMessage.decode(Array(frames.dropFirst())), m != .statusRequest else { continue }
                        let leaving = if case .disconnect(reason: "leaving") = m { true } else { false }
                        perform(policy.on(.peerSpokeInGrace(route: frames[0], leaving: leaving), now: now))
                    }
                }
                graceOver = perform(policy.on(.graceTurn, now: now))
            }
            publish()
            return CoordinatorSummary(release: c.assembly.staging.destination, outcome: outcome,
                                      seconds: Double(monotonicNanoseconds() - start) / 1e9, resumed: resumed,
                                      wire: wire, workerStages: stages)
        }

        /// Does the I/O the policy asks for; returns whether the scheduler ticked or the grace
        /// period ended (the two actions the loop waits on).
        @discardableResult
        func perform(_ actions: [CoordinatorPolicy.Action]) -> Bool {
            var flag = false
            for action in actions {
                switch action {
                case .pauseDispatch(let queued, let resumeAt):
                    wire.dispatchPauses += 1
                    if let queued {
                        c.settings.log("dispatch paused: \(queued) results wait for the release writers (the disk or --writer-threads is the bottleneck); it resumes at \(resumeAt)")
                    }
                    apply(scheduler.on(.pauseDispatch, now: now))
                case .resumeDispatch:
                    apply(scheduler.on(.resumeDispatch, now: now))
                case .storeStatus:
                    c.statusLock.withLock { $0 = scheduler.status }
                case .publish(let workers):
                    publish(workers: workers)
                case .replyStatus:
                    break // answered by the caller, which holds the route
                case .tellUnknown(let route):
                    send(.disconnect(reason: "unknown worker"), to: route)
                case .receive:
                    break // the receive loop reads it
                case .tick(let readUntil, let backlog):
                    if let backlog {
                        c.settings.log("the inbox has held unread messages for \(backlog) (the coordinator is saturated): workers are declared dead only after it is read")
                    }
                    apply(scheduler.on(.tickAfterReading(until: readUntil), now: now))
                    flag = true
                case .heartbeatAll:
                    for worker in scheduler.status.workers { if let route = routes[worker.id] { send(.heartbeat, to: route) } }
                case .resendShutdown(let route):
                    send(.disconnect(reason: "shutdown"), to: route)
                case .graceOver:
                    flag = true
                }
            }
            return flag
        }

        /// Commits the release (tables, provenance, manifest, rename) on another thread while this
        /// one keeps answering STATUS and heartbeating the workers: a long commit must not look like
        /// a dead coordinator to `hemo status`, a liveness probe, or the workers.
        func commitServingStatus() throws -> ReleaseAssembly.Outcome {
            let committed = Locked<Result<ReleaseAssembly.Outcome, Error>?>(nil)
            let assembly = c.assembly, model = c.task.modelProvenance, delay = c.settings.commitDelay, wake = self.wake
            let committer = Thread {
                nameCurrentThread("hemo-commit")
                if let delay { Thread.sleep(forTimeInterval: delay.seconds) }
                let outcome = Result { try assembly.commit(model: model) }
                committed.withLock { $0 = outcome }
                wake.signal()
            }
            committer.stackSize = 8 << 20
            committer.start()
            while true {
                if let outcome = committed.withLock({ $0 }) { return try outcome.get() }
                let events = try router.poll(wake: wake.fileDescriptor, timeout: .milliseconds(50))
                if events.woken { wake.drain() }
                if events.message {
                    // Every exam is finished: workers only heartbeat now, and only STATUS needs an answer.
                    while let frames = try? router.receive(maxFrames: WireProtocol.maxFrames + 1), frames.count >= 2 {
                        if case .statusRequest? = try? WireMessage.decode(Array(frames.dropFirst())) {
                            perform(policy.on(.statusRequested, now: now))
                            send(.statusReply(publish().statusReply()), to: frames[0])
                        }
                    }
                }
                perform(policy.on(.commitTurn, now: now))
            }
        }

        /// One exam is released or failed: count it, measure throughput, report progress.
        func examFinished(_ exam: CaseID) {
            doneCount += 1
            let t = now
            throughput.record(at: t)
            // The list of workers is the costly part with thousands of them: the policy refreshes it
            // at most every 100 ms.
            guard case .publish(let workers)? = policy.on(.examFinished, now: t).first else { return }
            let snapshot = publish(workers: workers)
            c.settings.progress(CoordinatorProgress(done: doneCount, total: total, failed: failedCount,
                                                    lastCase: exam.rawValue, snapshot: snapshot))
        }

        /// The snapshot of now, also stored for other threads; without `workers`, the counts are
        /// new and the list of workers is the last one published.
        @discardableResult
        func publish(workers refresh: Bool = true) -> CoordinatorSnapshot {
            var s = refresh ? scheduler.status : scheduler.counts
            if refresh {
                c.statusLock.withLock { $0 = s }
            } else {
                s.workers = c.statusLock.withLock { $0?.workers ?? [] }
                c.statusLock.withLock { [s] in $0 = s }
            }
            var snap = CoordinatorSnapshot()
            snap.examsTotal = total
            snap.failed = failedCount
            snap.released = doneCount - failedCount
            snap.pending = s.pending
            snap.inFlight = max(0, total - snap.done - s.pending)
            snap.resumed = resumed
            let t = now
            (snap.examsPerMinute, snap.windowSeconds) = throughput.rate(at: t)
            snap.elapsedSeconds = Double(t.nanoseconds) / 1e9
            if refresh {
                snap.workers = s.workers.map {
                    WorkerStatus(workerID: $0.id.rawValue, workerName: names[$0.id] ?? "", capacity: $0.capacity,
                                 outstanding: $0.outstanding, draining: $0.draining)
                }
            } else {
                snap.workers = c.snapshotLock.withLock { $0.workers }
            }
            snap.wire = wire
            c.snapshotLock.withLock { $0 = snap }
            return snap
        }

        @discardableResult
        func send(_ message: WireMessage, to route: [UInt8]) -> Int {
            do {
                let frames = try message.encode()
                _ = try router.send(frames, to: route)
                let bytes = frames.reduce(0) { $0 + $1.count }
                c.settings.observer?(.sent(bytes: bytes))
                return bytes
            } catch {
                c.settings.log("cannot send \(message.type) to peer \(hex(route)): \(error)")
                return 0
            }
        }

        /// DISCONNECT "unknown worker", at most once per heartbeat interval per peer (a dead
        /// worker's in-flight chunks would otherwise each earn one).
        func tellUnknown(_ route: [UInt8]) {
            perform(policy.on(.unknownPeer(route: route), now: now))
        }

        func hex(_ bytes: [UInt8]) -> String {
            if let s = String(bytes: bytes, encoding: .utf8), s.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0.isLetter || $0.isNumber || "-_.:@".contains($0) }) {
                return s
            }
            return bytes.prefix(16).map { String(format: "%02x", $0) }.joined()
        }

        func handle(_ frames: [[UInt8]]) {
            guard frames.count >= 2 else { wire.droppedMessages += 1; return }
            let route = frames[0]
            let body = Array(frames.dropFirst())
            let size = body.reduce(0) { $0 + $1.count }
            c.settings.observer?(.received(bytes: size))
            let message: WireMessage
            do { message = try WireMessage.decode(body) } catch {
                wire.droppedMessages += 1
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
                let capabilities = c.task.capabilities(r.capabilities, models: r.models)
                if capabilities != r.capabilities {
                    c.settings.log("worker \(id) holds another model than this run's (its READY lists \(r.models.count)): it gets no infer jobs")
                }
                apply(scheduler.on(.workerReady(id, capacity: r.capacity, capabilities: capabilities,
                                                holding: r.held.map { ExamAttempt(exam: $0.exam, attempt: $0.attempt) }), now: now))
            case .statusRequest:
                perform(policy.on(.statusRequested, now: now))
                send(.statusReply(publish().statusReply()), to: route)
            case .heartbeat, .chunk, .file, .done, .failed, .disconnect:
                guard let id = known else {
                    // Paranoid Pirate: an unknown peer is told to reconnect with READY (once per interval).
                    tellUnknown(route)
                    return
                }
                switch message {
                case .heartbeat:
                    apply(scheduler.on(.heartbeat(id), now: now))
                case .chunk(let chunk):
                    wire.resultBytesReceived += size
                    partArrived(exam: chunk.exam, attempt: chunk.attempt, kind: "CHUNK", from: id) { (c: inout ResultCollector) throws(ChunkError) in try c.accept(chunk) }
                case .file(let part):
                    wire.resultBytesReceived += size
                    partArrived(exam: part.exam, attempt: part.attempt, kind: "FILE", from: id) { (c: inout ResultCollector) throws(ChunkError) in try c.accept(part) }
                case .done(let done):
                    wire.resultBytesReceived += size
                    doneArrived(done, from: id)
                case .failed(let f):
                    wire.resultBytesReceived += size
                    collectors.drop(f.exam, attempt: f.attempt)
                    c.settings.observer?(.attemptFailed(exam: f.exam, attempt: f.attempt, stage: f.stage))
                    if f.stage == ClusterTask.refusalStage {
                        apply(scheduler.on(.jobRefused(id, exam: f.exam, attempt: f.attempt, lacking: c.task.requiredCapabilities,
                                                       reason: f.reason), now: now))
                    } else {
                        apply(scheduler.on(.jobFailed(id, exam: f.exam, attempt: f.attempt, stage: f.stage, reason: f.reason), now: now))
                    }
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
                wire.droppedMessages += 1
                c.settings.log("dropped an unexpected \(message.type) from peer \(hex(route))")
            }
        }

        /// A CHUNK or FILE part: counts as a heartbeat; stored when it belongs to the worker's running
        /// attempt of the exam (else ignored); a corrupt one fails the attempt.
        func partArrived(exam: CaseID, attempt: UInt32, kind: String, from id: WorkerID,
                         accept: (inout ResultCollector) throws(ChunkError) -> Void) {
            apply(scheduler.on(.heartbeat(id), now: now))
            switch collectors.part(exam, attempt: attempt, from: id, accept: accept) {
            case .accepted:
                break
            case .notRunning:
                c.settings.log("ignored a \(kind) of exam \(exam) attempt \(attempt) from \(id): not a running attempt of that worker")
            case .rejected(let error):
                apply(scheduler.on(.chunkCorrupt(id, exam: exam, attempt: attempt, reason: error.reason), now: now))
            }
        }

        func doneArrived(_ done: DoneMessage, from id: WorkerID) {
            if let collector = collectors.finish(done.exam, attempt: done.attempt, from: id) {
                do {
                    results[done.exam] = try collector.result(done: done)
                    wire.maskRawBytes += collector.maskRawBytes
                    wire.maskPayloadBytes += collector.maskPayloadBytes
                    wire.fileRawBytes += collector.rawBytes - collector.maskRawBytes
                    wire.filePayloadBytes += collector.payloadBytes - collector.maskPayloadBytes
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
                    collectors.drop(exam, attempt: attempt)
                    if let route = routes[worker] {
                        let text = WireText.truncated(reason, maxBytes: WireProtocol.maxReasonBytes)
                        if send(.cancel(CancelMessage(exam: exam, attempt: attempt, reason: text)), to: route) > 0 { wire.cancelsSent += 1 }
                    }
                    c.settings.log("cancelled exam \(exam) attempt \(attempt) on \(worker): \(reason)")
                case .attemptKept(let worker, let exam, let attempt):
                    collectors.kept(exam, attempt: attempt, by: worker) {
                        ResultCollector(exam: exam, attempt: attempt,
                                        expectsImage: ResultEncoding.travelsCT(options: c.options, fromDICOM: c.cases[exam]?.isDICOM == true),
                                        expectsProbabilities: c.options.probabilities)
                    }
                    c.settings.log("worker \(worker) rejoined holding exam \(exam) attempt \(attempt): it keeps it")
                case .ignoreResult(let worker, let exam, let attempt, let reason):
                    c.settings.log("ignored a result of exam \(exam) attempt \(attempt) from \(worker): \(reason)")
                case .sendHeartbeat(let worker):
                    if let route = routes[worker] { send(.heartbeat, to: route) }
                case .markWorkerDead(let worker, let reason):
                    c.settings.log("worker \(worker) is dead: \(reason)")
                    collectors.dropAll(of: worker)
                case .workerIncapable(let worker, _, let reason):
                    c.settings.log("worker \(worker) cannot run this run's jobs and gets no more of them until it restarts: \(reason)")
                case .disconnectWorker(let worker):
                    if let route = routes[worker] { tellUnknown(route) }
                case .examCompleted(let exam, _, _):
                    if let result = results.removeValue(forKey: exam) {
                        perform(policy.on(.resultQueued, now: now))
                        writer.submit(result)
                    }
                case .quarantine(let exam, let last):
                    results[exam] = nil
                    do {
                        try c.assembly.fail(FailureRow(caseName: exam.rawValue, stage: last.stage, reason: last.reason))
                    } catch {
                        c.settings.log("cannot record the failure of exam \(exam): \(error)")
                    }
                    c.settings.observer?(.failed(exam: exam, stage: last.stage))
                    failedCount += 1
                    examFinished(exam)
                case .allDone:
                    allDone = true
                }
            }
            perform(policy.on(.schedulerChanged, now: now))
        }

        func dispatch(_ a: Assignment) {
            guard let route = routes[a.worker], let cohortCase = c.cases[a.exam] else { return }
            wire.dispatches += 1
            let inputs: JobInputs
            switch c.settings.transfer {
            case .shared:
                inputs = ExamInputs.shared(cohortCase, ctOnly: c.task.needsCTOnly)
            case .inline:
                do {
                    let packed = try ExamInputs.inline(cohortCase, ctOnly: c.task.needsCTOnly)
                    inputs = packed.inputs
                    wire.inlineRawBytes += packed.raw
                    wire.inlineCompressedBytes += packed.compressed
                } catch {
                    apply(scheduler.on(.jobFailed(a.worker, exam: a.exam, attempt: a.attempt, stage: "read", reason: error.reason), now: now))
                    return
                }
            }
            let job = JobMessage(jobID: a.jobID, exam: a.exam, attempt: a.attempt, kind: c.jobKind, options: c.optionBytes, inputs: inputs)
            collectors.dispatched(a.exam, attempt: a.attempt, to: a.worker,
                                  collector: ResultCollector(exam: a.exam, attempt: a.attempt,
                                                             expectsImage: ResultEncoding.travelsCT(options: c.options, fromDICOM: c.cases[a.exam]?.isDICOM == true),
                                                             expectsProbabilities: c.options.probabilities))
            c.settings.observer?(.dispatched(exam: a.exam, attempt: a.attempt, worker: a.worker))
            wire.jobBytesSent += send(.job(job), to: route)
        }
    }
}
