import HemoCore

/// The coordinator's scheduler as a pure state machine, in the style of SWIM's `Instance`:
/// feed it events with the current time, perform the directives it returns. It owns no socket,
/// thread or clock, so it is deterministic: the same events at the same instants give the same
/// directives.
///
/// Rules:
/// - **Order.** Largest exams first (``ExamSpec/sizeEstimate`` descending), ties by exam id.
/// - **Credit.** A worker holds at most `capacity + prefetch` attempts; the one with most free
///   credit gets the next exam (ties by worker id).
/// - **Liveness.** Any event from a worker proves it alive; one silent for
///   ``SchedulerSettings/deadAfter`` is marked dead at the next `tick`, and its attempts fail.
///   The coordinator heartbeats each worker once per interval when it sent it nothing else.
/// - **Backlog.** Silence is judged only over what was read: with
///   ``SchedulerEvent/tickAfterReading(until:)`` a worker is dead only when silent for
///   `deadAfter` before the instant the shell last found its inbox empty, and a lease expires
///   only when its time ran out before that instant. A saturated coordinator whose socket still
///   holds a live worker's heartbeat (or an attempt's result) does not declare it dead (or expired).
/// - **Attempts.** Each dispatch of an exam is a new attempt number; results that name another
///   attempt are ignored. A failed attempt (FAILED, corrupt chunk, dead or restarted worker,
///   expired lease) is retried, preferring a live worker that has not failed that exam (the exam
///   waits for one while such a worker exists), up to ``SchedulerSettings/maxAttempts``; then the
///   exam is quarantined with its last error.
/// - **Refusal.** A worker that cannot run a job at all (``SchedulerEvent/jobRefused(_:exam:attempt:lacking:reason:)``,
///   e.g. it holds another model) loses those capabilities until its next READY; the exam goes
///   back to pending without spending an attempt and waits for a capable worker.
/// - **Cancel.** A worker that may still be computing an attempt the scheduler took from it is
///   told to drop it (``SchedulerDirective/cancel(_:exam:attempt:reason:)``): at once when the
///   lease expired or a chunk was corrupt; when it rejoins (READY) after being declared dead or
///   after restarting; and, for any such attempt still out (a worker declared dead that never
///   rejoined), when the run ends. A result the
///   worker sends for it first is ignored and settles it.
/// - **Rejoin.** A worker's READY lists the attempts it holds: rejoining while still live, it keeps
///   those that are its own; declared dead meanwhile, it gets back those still pending with no newer
///   attempt (``SchedulerDirective/attemptKept(_:exam:attempt:)``); anything else is cancelled.
/// - **Drain.** A draining worker keeps its attempts but gets nothing new.
/// - **Back-pressure.** Between ``SchedulerEvent/pauseDispatch`` and ``SchedulerEvent/resumeDispatch``
///   nothing is dispatched (the shell's release writers are behind); everything else goes on.
/// - **Resume.** Exams finished in an earlier run are counted as completed and never dispatched.
/// - **End.** ``SchedulerDirective/allDone`` is emitted once, after every exam is completed or
///   quarantined. ``SchedulerEvent/runEnded(reason:)`` ends a run early: every attempt still out
///   is cancelled and nothing more is dispatched.
public struct Scheduler: Sendable {
    /// The settings.
    public let settings: SchedulerSettings

    private struct Exam: Sendable {
        var spec: ExamSpec
        var phase: ExamPhase = .pending
        var attempts: UInt32 = 0
        /// Attempts refused by incapable workers: numbered like the others, not counted against the limit.
        var refusals: UInt32 = 0
        var failedOn: Set<WorkerID> = []
        var jobID: UInt64 = 0
        var dispatchedAt = SchedulerInstant.zero
    }

    private struct Worker: Sendable {
        var id: WorkerID
        var capacity: Int
        var capabilities: WorkerCapabilities
        var credit: Int
        var lastHeard: SchedulerInstant
        var lastSent: SchedulerInstant
        var running: Set<Int> = []
        var draining = false
        var alive = true
    }

    /// Exams in dispatch order (rank = index).
    private var exams: [Exam]
    private var examIndex: [CaseID: Int]
    private var pending = MinHeap()
    private var workers: [Worker] = []
    private var workerSlot: [WorkerID: Int] = [:]
    /// Every worker's slot, ordered by worker id (kept sorted as workers join), so that ``status``
    /// and `tick` need not sort thousands of ids each time (a coordinator publishes its status
    /// after every finished exam).
    private var slotsByID: [Int] = []
    private var runningExams: Set<Int> = []
    private var finished = 0
    private var completedCount = 0
    private var quarantinedCount = 0
    private var nextJobID: UInt64 = 1
    private var announcedAllDone = false
    private var ended = false
    /// The shell asked for no new dispatches (``SchedulerEvent/pauseDispatch``).
    private var dispatchPaused = false
    /// The distinct capability sets the exams require (a worker covering one can take such exams).
    private var requirementKinds: [WorkerCapabilities] = []
    /// Attempts taken from a worker that may still be computing them and was not told yet
    /// (it was declared dead, or restarted): cancelled when it rejoins or the run ends.
    private var stale: [WorkerID: Set<AttemptRef>] = [:]

    private struct AttemptRef: Hashable, Sendable {
        var exam: Int
        var attempt: UInt32
    }

    /// A scheduler for `exams`, of which `alreadyFinished` (from the journal of an earlier run)
    /// count as completed and are never dispatched.
    /// - Throws: ``SchedulerError/duplicateExam(_:)``.
    public init(settings: SchedulerSettings = SchedulerSettings(), exams: [ExamSpec],
                alreadyFinished: Set<CaseID> = []) throws(SchedulerError) {
        self.settings = settings
        let ordered = exams.sorted { a, b in
            a.sizeEstimate != b.sizeEstimate ? a.sizeEstimate > b.sizeEstimate : a.id < b.id
        }
        var index: [CaseID: Int] = [:]
        var states: [Exam] = []
        for spec in ordered {
            guard index[spec.id] == nil else { throw .duplicateExam(spec.id) }
            index[spec.id] = states.count
            var exam = Exam(spec: spec)
            if alreadyFinished.contains(spec.id) { exam.phase = .completed }
            states.append(exam)
        }
        self.exams = states
        self.examIndex = index
        self.requirementKinds = Array(Set(states.map(\.spec.requires))).sorted { $0.rawValue < $1.rawValue }
        for (rank, exam) in states.enumerated() {
            if exam.phase == .pending { pending.push(rank) } else { finished += 1; completedCount += 1 }
        }
    }

    // MARK: Queries

    /// Where `exam` is, or `nil` when it is not in the run.
    public func phase(of exam: CaseID) -> ExamPhase? { examIndex[exam].map { exams[$0].phase } }

    /// Attempts dispatched so far for `exam`.
    public func attempts(of exam: CaseID) -> Int { examIndex[exam].map { Int(exams[$0].attempts) } ?? 0 }

    /// Whether every exam is completed or quarantined.
    public var isFinished: Bool { finished == exams.count }

    /// Attempts the scheduler took from `worker` and will cancel when it rejoins or the run ends,
    /// as (exam, attempt) in exam order.
    public func staleAttempts(of worker: WorkerID) -> [(exam: CaseID, attempt: UInt32)] {
        (stale[worker] ?? []).sorted { ($0.exam, $0.attempt) < ($1.exam, $1.attempt) }.map { (exams[$0.exam].spec.id, $0.attempt) }
    }

    /// Counts and live workers, for `hemo status`.
    public var status: SchedulerStatus {
        var s = counts
        s.workers = slotsByID.compactMap {
            let w = self.workers[$0]
            return w.alive ? .init(id: w.id, capacity: w.capacity, outstanding: w.running.count, draining: w.draining) : nil
        }
        return s
    }

    /// Why no exam can advance, or `nil` when one can: the run is finished, an attempt is out, or
    /// a live worker that is not draining can take a pending exam (credit aside). The shell's
    /// ``IdleWatch`` turns a lasting blocker into the end of the run (`--idle-timeout`).
    ///
    /// Exams of a run need few distinct capability sets, so this costs one pass over the workers.
    public var progressBlocker: String? {
        if finished == exams.count || !runningExams.isEmpty { return nil }
        let remaining = exams.count - finished
        var live = 0, draining = 0, incapable = 0
        for w in workers where w.alive {
            live += 1
            if w.draining { draining += 1; continue }
            if requirementKinds.contains(where: { w.capabilities.isSuperset(of: $0) }) { return nil }
            incapable += 1
        }
        let exams = remaining == 1 ? "the 1 remaining exam" : "the \(remaining) remaining exams"
        if live == 0 { return "no worker is connected to take \(exams)" }
        var parts: [String] = []
        if draining > 0 { parts.append("\(draining) draining") }
        if incapable > 0 { parts.append("\(incapable) unable to run these jobs (they refused them: another model, or --build-only)") }
        return "no connected worker can take \(exams): \(live) connected, " + parts.joined(separator: ", ")
    }

    /// ``status`` without the workers (constant time).
    public var counts: SchedulerStatus {
        SchedulerStatus(total: exams.count, completed: completedCount, quarantined: quarantinedCount,
                        running: runningExams.count, pending: pending.count, workers: [])
    }

    // MARK: Events

    /// Handles one event at `now` and returns what to do, in order.
    public mutating func on(_ event: SchedulerEvent, now: SchedulerInstant) -> [SchedulerDirective] {
        var out: [SchedulerDirective] = []
        switch event {
        case let .workerReady(id, capacity, capabilities, holding):
            workerReady(id, capacity: capacity, capabilities: capabilities, holding: Set(holding), now: now, &out)
        case let .heartbeat(id):
            if heard(id, now: now) == nil { out.append(.disconnectWorker(id)) }
        case let .jobDone(id, exam, attempt):
            jobDone(id, exam: exam, attempt: attempt, now: now, &out)
        case let .jobFailed(id, exam, attempt, stage, reason):
            attemptEnded(id, exam: exam, attempt: attempt, stage: stage, reason: reason, cancel: false, now: now, &out)
        case let .jobRefused(id, exam, attempt, lacking, reason):
            refused(id, exam: exam, attempt: attempt, lacking: lacking, reason: reason, now: now, &out)
        case let .chunkCorrupt(id, exam, attempt, reason):
            attemptEnded(id, exam: exam, attempt: attempt, stage: "transfer", reason: reason, cancel: true, now: now, &out)
        case let .workerDraining(id):
            if let slot = heard(id, now: now) {
                if !workers[slot].draining { workers[slot].draining = true }
            } else {
                out.append(.disconnectWorker(id))
            }
        case let .workerDisconnected(id):
            if let slot = workerSlot[id], workers[slot].alive {
                remove(slot, stage: "worker", reason: "worker \(id) disconnected", now: now, &out)
            }
        case .tick:
            tick(now: now, readUntil: now, &out)
        case let .tickAfterReading(until):
            tick(now: now, readUntil: min(now, until), &out)
        case let .runEnded(reason):
            endRun(reason: reason, &out)
        case .pauseDispatch:
            dispatchPaused = true
        case .resumeDispatch:
            dispatchPaused = false
        }
        fill(now: now, &out)
        if finished == exams.count && !announcedAllDone {
            announcedAllDone = true
            cancelStale(reason: "the run is finished", &out)
            out.append(.allDone)
        }
        return out
    }

    /// Cancels every attempt still out (running on a live worker, or stale) and stops dispatching.
    private mutating func endRun(reason: String, _ out: inout [SchedulerDirective]) {
        ended = true
        for slot in slotsByID where workers[slot].alive {
            for e in workers[slot].running.sorted() {
                guard case .running(let attempt, _) = exams[e].phase else { continue }
                out.append(.cancel(workers[slot].id, exam: exams[e].spec.id, attempt: attempt, reason: reason))
                release(e, from: slot)
                exams[e].phase = .pending
                pending.push(e)
            }
        }
        cancelStale(reason: reason, &out)
    }

    /// Emits a cancel for every stale attempt, in worker then exam order, and forgets them all. A
    /// worker declared dead may only have been unreachable, so its attempts are cancelled too.
    private mutating func cancelStale(reason: String, _ out: inout [SchedulerDirective]) {
        for id in stale.keys.sorted() {
            for ref in (stale[id] ?? []).sorted(by: { ($0.exam, $0.attempt) < ($1.exam, $1.attempt) }) {
                out.append(.cancel(id, exam: exams[ref.exam].spec.id, attempt: ref.attempt, reason: reason))
            }
        }
        stale = [:]
    }

    /// A result (DONE or FAILED) from `id` for an attempt that is no longer its: the worker is no
    /// longer computing it, so nothing needs cancelling.
    private mutating func settleStale(_ id: WorkerID, exam e: Int, attempt: UInt32) {
        stale[id]?.remove(AttemptRef(exam: e, attempt: attempt))
        if stale[id]?.isEmpty == true { stale[id] = nil }
    }

    /// Records that `id` spoke; returns its slot when it is a live worker.
    private mutating func heard(_ id: WorkerID, now: SchedulerInstant) -> Int? {
        guard let slot = workerSlot[id], workers[slot].alive else { return nil }
        if workers[slot].lastHeard < now { workers[slot].lastHeard = now }
        return slot
    }

    /// Where a new worker `id` goes in ``slotsByID`` (binary search).
    private func insertionPoint(of id: WorkerID) -> Int {
        var low = 0, high = slotsByID.count
        while low < high {
            let mid = (low + high) / 2
            if workers[slotsByID[mid]].id < id { low = mid + 1 } else { high = mid }
        }
        return low
    }

    private func creditLimit(capacity: Int) -> Int { capacity > 0 ? capacity + settings.prefetch : 0 }

    private mutating func workerReady(_ id: WorkerID, capacity: Int, capabilities: WorkerCapabilities, holding: Set<ExamAttempt>,
                                      now: SchedulerInstant, _ out: inout [SchedulerDirective]) {
        let capacity = max(0, capacity)
        var kept: Set<Int> = []
        if let slot = workerSlot[id], workers[slot].alive {
            // A second READY means the worker restarted or rejoined: it keeps the attempts it still
            // holds; the others are given to others, and cancelled below in case it still computes them.
            for e in workers[slot].running.sorted() {
                guard case .running(let attempt, _) = exams[e].phase else { continue }
                if holding.contains(ExamAttempt(exam: exams[e].spec.id, attempt: attempt)) {
                    kept.insert(e)
                    out.append(.attemptKept(id, exam: exams[e].spec.id, attempt: attempt))
                    continue
                }
                stale[id, default: []].insert(AttemptRef(exam: e, attempt: attempt))
                release(e, from: slot)
                failed(e, FailureRecord(stage: "worker", reason: "worker \(id) restarted (sent READY again)", worker: id, attempt: attempt), &out)
            }
        }
        var fresh = Worker(id: id, capacity: capacity, capabilities: capabilities, credit: creditLimit(capacity: capacity) - kept.count,
                           lastHeard: now, lastSent: now)
        fresh.running = kept
        if let slot = workerSlot[id] {
            workers[slot] = fresh
        } else {
            workerSlot[id] = workers.count
            let at = insertionPoint(of: id)
            slotsByID.insert(workers.count, at: at)
            workers.append(fresh)
        }
        if let refs = stale.removeValue(forKey: id) {
            let slot = workerSlot[id]!
            for ref in refs.sorted(by: { ($0.exam, $0.attempt) < ($1.exam, $1.attempt) }) {
                // Declared dead (or restarted) meanwhile, but still computing it, and nobody else has it:
                // the attempt is given back instead of spending another.
                if holding.contains(ExamAttempt(exam: exams[ref.exam].spec.id, attempt: ref.attempt)),
                   exams[ref.exam].phase == .pending, exams[ref.exam].attempts == ref.attempt, workers[slot].credit > 0 {
                    pending.remove(ref.exam)
                    exams[ref.exam].phase = .running(attempt: ref.attempt, worker: id)
                    exams[ref.exam].failedOn.remove(id)
                    exams[ref.exam].dispatchedAt = now
                    workers[slot].running.insert(ref.exam)
                    workers[slot].credit -= 1
                    runningExams.insert(ref.exam)
                    out.append(.attemptKept(id, exam: exams[ref.exam].spec.id, attempt: ref.attempt))
                    continue
                }
                out.append(.cancel(id, exam: exams[ref.exam].spec.id, attempt: ref.attempt,
                                   reason: "attempt \(ref.attempt) of exam \(exams[ref.exam].spec.id) was taken back while worker \(id) was unreachable or restarting"))
            }
        }
    }

    /// The exam index and worker slot of a result (DONE, FAILED, refusal, corrupt chunk) when it
    /// names the attempt `id` currently runs; otherwise the result is ignored (and a worker the
    /// scheduler does not know is told to reconnect) and `nil` is returned. With `settles`, an
    /// ignored result also settles a stale attempt (the worker is no longer computing it).
    private mutating func currentAttempt(_ id: WorkerID, exam: CaseID, attempt: UInt32, settles: Bool,
                                         now: SchedulerInstant, _ out: inout [SchedulerDirective]) -> (exam: Int, slot: Int)? {
        let slot = heard(id, now: now)
        guard let e = examIndex[exam] else {
            out.append(.ignoreResult(id, exam: exam, attempt: attempt, reason: "exam \(exam) is not in this run"))
            return nil
        }
        guard case .running(let current, let holder) = exams[e].phase, current == attempt, holder == id, let slot else {
            out.append(.ignoreResult(id, exam: exam, attempt: attempt, reason: staleReason(e, attempt: attempt)))
            if settles { settleStale(id, exam: e, attempt: attempt) }
            if slot == nil { out.append(.disconnectWorker(id)) }
            return nil
        }
        return (e, slot)
    }

    private mutating func jobDone(_ id: WorkerID, exam: CaseID, attempt: UInt32, now: SchedulerInstant,
                                  _ out: inout [SchedulerDirective]) {
        guard let (e, slot) = currentAttempt(id, exam: exam, attempt: attempt, settles: true, now: now, &out) else { return }
        release(e, from: slot)
        exams[e].phase = .completed
        finished += 1
        completedCount += 1
        out.append(.examCompleted(exam, attempt: attempt, worker: id))
    }

    private func staleReason(_ e: Int, attempt: UInt32) -> String {
        switch exams[e].phase {
        case .completed: "exam \(exams[e].spec.id) is already completed"
        case .quarantined: "exam \(exams[e].spec.id) is quarantined"
        case .pending: "attempt \(attempt) of exam \(exams[e].spec.id) expired"
        case .running(let current, let worker):
            current == attempt ? "attempt \(attempt) of exam \(exams[e].spec.id) belongs to worker \(worker)"
                               : "attempt \(attempt) of exam \(exams[e].spec.id) expired (current attempt \(current))"
        }
    }

    /// FAILED or a corrupt chunk for an attempt.
    private mutating func attemptEnded(_ id: WorkerID, exam: CaseID, attempt: UInt32, stage: String, reason: String,
                                       cancel: Bool, now: SchedulerInstant, _ out: inout [SchedulerDirective]) {
        guard let (e, slot) = currentAttempt(id, exam: exam, attempt: attempt, settles: !cancel, now: now, &out) else { return }
        if cancel { out.append(.cancel(id, exam: exam, attempt: attempt, reason: reason)) }
        release(e, from: slot)
        failed(e, FailureRecord(stage: stage, reason: reason, worker: id, attempt: attempt), &out)
    }

    /// FAILED by a worker that cannot run such jobs: it loses the capabilities, the exam goes back
    /// to pending without spending an attempt.
    private mutating func refused(_ id: WorkerID, exam: CaseID, attempt: UInt32, lacking: WorkerCapabilities, reason: String,
                                  now: SchedulerInstant, _ out: inout [SchedulerDirective]) {
        guard let (e, slot) = currentAttempt(id, exam: exam, attempt: attempt, settles: true, now: now, &out) else { return }
        release(e, from: slot)
        exams[e].refusals += 1
        exams[e].phase = .pending
        pending.push(e)
        if !workers[slot].capabilities.isDisjoint(with: lacking) {
            workers[slot].capabilities.subtract(lacking)
            out.append(.workerIncapable(id, lacking: lacking, reason: reason))
        }
    }

    /// Frees the credit an attempt held.
    private mutating func release(_ e: Int, from slot: Int) {
        if workers[slot].running.remove(e) != nil { workers[slot].credit += 1 }
        runningExams.remove(e)
    }

    /// An attempt ended without a result: retry or quarantine.
    private mutating func failed(_ e: Int, _ record: FailureRecord, _ out: inout [SchedulerDirective]) {
        exams[e].failedOn.insert(record.worker)
        if Int(exams[e].attempts - exams[e].refusals) >= settings.maxAttempts {
            exams[e].phase = .quarantined(record)
            finished += 1
            quarantinedCount += 1
            out.append(.quarantine(exams[e].spec.id, lastError: record))
        } else {
            exams[e].phase = .pending
            pending.push(e)
        }
    }

    /// Fails every attempt a worker holds, in exam order; with `keepStale`, remembers them to be
    /// cancelled (the worker may still be computing them).
    private mutating func failAll(of slot: Int, stage: String, reason: String, keepStale: Bool = false,
                                  now: SchedulerInstant, _ out: inout [SchedulerDirective]) {
        for e in workers[slot].running.sorted() {
            guard case .running(let attempt, _) = exams[e].phase else { continue }
            if keepStale { stale[workers[slot].id, default: []].insert(AttemptRef(exam: e, attempt: attempt)) }
            release(e, from: slot)
            failed(e, FailureRecord(stage: stage, reason: reason, worker: workers[slot].id, attempt: attempt), &out)
        }
    }

    private mutating func remove(_ slot: Int, stage: String, reason: String, keepStale: Bool = false,
                                 now: SchedulerInstant, _ out: inout [SchedulerDirective]) {
        if !keepStale { stale[workers[slot].id] = nil }
        failAll(of: slot, stage: stage, reason: reason, keepStale: keepStale, now: now, &out)
        workers[slot].alive = false
        workers[slot].credit = 0
    }

    /// Liveness and leases as of `readUntil` (every message that arrived before it was handled),
    /// heartbeats to workers as of `now`.
    private mutating func tick(now: SchedulerInstant, readUntil: SchedulerInstant, _ out: inout [SchedulerDirective]) {
        let order = slotsByID.filter { workers[$0].alive }
        let backlog = now.since(readUntil)
        let unread = backlog > .zero ? " before the inbox's unread backlog of \(backlog)" : ""
        // 1. Liveness.
        for slot in order where readUntil.since(workers[slot].lastHeard) > settings.deadAfter {
            let reason = "no message for \(readUntil.since(workers[slot].lastHeard))\(unread) (limit \(settings.deadAfter))"
            out.append(.markWorkerDead(workers[slot].id, reason: reason))
            // It may only be unreachable: what it held is cancelled if it comes back.
            remove(slot, stage: "worker", reason: "worker \(workers[slot].id) died: \(reason)", keepStale: true, now: now, &out)
        }
        // 2. Leases.
        if let timeout = settings.jobTimeout {
            for e in runningExams.sorted() {
                guard case .running(let attempt, let holder) = exams[e].phase,
                      readUntil.since(exams[e].dispatchedAt) > timeout, let slot = workerSlot[holder] else { continue }
                let reason = "no result within \(timeout)"
                out.append(.cancel(holder, exam: exams[e].spec.id, attempt: attempt, reason: reason))
                release(e, from: slot)
                failed(e, FailureRecord(stage: "lease", reason: reason, worker: holder, attempt: attempt), &out)
            }
        }
        // 3. Heartbeats to workers we have not sent anything for an interval.
        for slot in order where workers[slot].alive && now.since(workers[slot].lastSent) >= settings.heartbeatInterval {
            workers[slot].lastSent = now
            out.append(.sendHeartbeat(workers[slot].id))
        }
    }

    // MARK: Dispatch

    private enum Choice { case worker(Int), wait, noCredit }

    /// Picks a worker for exam `e`: live, not draining, capable, with credit; prefers one that has
    /// not failed the exam, then the most free credit, then the smallest id.
    private func choose(_ e: Int) -> Choice {
        let requires = exams[e].spec.requires
        let failedOn = exams[e].failedOn
        let noFailures = failedOn.isEmpty
        var best: Int?
        var bestFresh = false
        var anyCredit = false
        var freshExists = false
        for slot in workers.indices {
            let w = workers[slot]
            guard w.alive, !w.draining, w.credit > 0 || !noFailures, w.capabilities.isSuperset(of: requires) else { continue }
            let fresh = noFailures || !failedOn.contains(w.id)
            if fresh { freshExists = true }
            guard w.credit > 0 else { continue }
            anyCredit = true
            if let b = best {
                let current = workers[b]
                let better = fresh != bestFresh ? fresh
                    : w.credit != current.credit ? w.credit > current.credit : w.id < current.id
                if !better { continue }
            }
            best = slot
            bestFresh = fresh
        }
        guard let best else { return anyCredit ? .wait : .noCredit }
        if !bestFresh && freshExists { return .wait }
        return .worker(best)
    }

    private var hasFreeCredit: Bool {
        workers.contains { $0.alive && !$0.draining && $0.credit > 0 }
    }

    private mutating func fill(now: SchedulerInstant, _ out: inout [SchedulerDirective]) {
        guard !ended, !dispatchPaused, !pending.isEmpty, hasFreeCredit else { return }
        var waiting: [Int] = []
        while let e = pending.pop() {
            switch choose(e) {
            case .worker(let slot):
                dispatch(e, to: slot, now: now, &out)
            case .wait:
                waiting.append(e)
                continue
            case .noCredit:
                waiting.append(e)
            }
            if !hasFreeCredit { break }
        }
        for e in waiting { pending.push(e) }
    }

    private mutating func dispatch(_ e: Int, to slot: Int, now: SchedulerInstant, _ out: inout [SchedulerDirective]) {
        exams[e].attempts += 1
        let attempt = exams[e].attempts
        let id = workers[slot].id
        exams[e].phase = .running(attempt: attempt, worker: id)
        exams[e].jobID = nextJobID
        exams[e].dispatchedAt = now
        workers[slot].running.insert(e)
        workers[slot].credit -= 1
        workers[slot].lastSent = now
        runningExams.insert(e)
        out.append(.dispatch(Assignment(jobID: nextJobID, exam: exams[e].spec.id, attempt: attempt, worker: id)))
        nextJobID += 1
    }
}

/// A binary min-heap of exam ranks (smaller rank = dispatched first).
struct MinHeap: Sendable {
    private var items: [Int] = []

    var isEmpty: Bool { items.isEmpty }
    var count: Int { items.count }

    mutating func push(_ value: Int) {
        items.append(value)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child] < items[parent] else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes `value` (rare: an attempt given back to a rejoining worker); O(n log n).
    mutating func remove(_ value: Int) {
        guard let n = items.firstIndex(of: value) else { return }
        items.remove(at: n)
        items.sort() // a sorted array is a valid min-heap
    }

    mutating func pop() -> Int? {
        guard let last = items.popLast() else { return nil }
        guard !items.isEmpty else { return last }
        let top = items[0]
        items[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < items.count && items[left] < items[smallest] { smallest = left }
            if right < items.count && items[right] < items[smallest] { smallest = right }
            if smallest == parent { break }
            items.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}
