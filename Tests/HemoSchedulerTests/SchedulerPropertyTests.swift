import HemoCore
import Testing
@testable import HemoScheduler


@Suite("Scheduler under random failures")
struct SchedulerPropertyTests {
    /// A simulated cluster: workers that complete, fail, hang, vanish, drain and send late results.
    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func everyExamEndsExactlyOnceAsCompletedOrQuarantined(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let examCount = 80
        let specs = (0..<examCount).map { ExamSpec(id: CaseID("exam-\($0)")!, sizeEstimate: UInt64.random(in: 0...20, using: &rng)) }
        let settings = SchedulerSettings(heartbeatInterval: .seconds(1), livenessIntervals: 3, maxAttempts: 3, prefetch: 1)
        var scheduler = try Scheduler(settings: settings, exams: specs)

        struct SimWorker {
            var id: WorkerID; var capacity: Int; var held: [Assignment] = []; var hung = false; var draining = false
            /// Refuses every job (another model); once it refused, it must be given nothing more.
            var refuses = false; var incapable = false
        }
        var workers: [WorkerID: SimWorker] = [:]
        var dead: [WorkerID: [Assignment]] = [:]  // for late results
        var nextWorker = 0
        var now = SchedulerInstant.zero
        var ends: [CaseID: Int] = [:]
        var allDoneCount = 0
        var lastAttempt: [CaseID: UInt32] = [:]
        var refusals: [CaseID: Int] = [:]
        /// What a rejoining worker listed in its READY (protocol 3), and what it got back.
        var listed: [WorkerID: Set<ExamAttempt>] = [:]
        var keptCount = 0

        func apply(_ directives: [SchedulerDirective]) {
            for d in directives {
                #expect(allDoneCount == 0, "nothing after allDone: \(d)")
                switch d {
                case .dispatch(let a):
                    #expect(workers[a.worker] != nil && workers[a.worker]?.draining == false, "dispatch to a usable worker")
                    #expect(a.attempt > lastAttempt[a.exam, default: 0], "attempts increase")
                    #expect(Int(a.attempt) <= settings.maxAttempts + refusals[a.exam, default: 0], "refusals spend no attempt")
                    #expect(workers[a.worker]?.incapable != true, "no dispatch to a worker that refused")
                    lastAttempt[a.exam] = a.attempt
                    workers[a.worker]?.held.append(a)
                    if let w = workers[a.worker] { #expect(w.held.count <= w.capacity + settings.prefetch, "credit respected") }
                case .examCompleted(let exam, _, _), .quarantine(let exam, _):
                    ends[exam, default: 0] += 1
                case .cancel(let worker, let exam, let attempt, _):
                    workers[worker]?.held.removeAll { $0.exam == exam && $0.attempt == attempt }
                case .markWorkerDead(let worker, _):
                    if let w = workers.removeValue(forKey: worker) { dead[worker] = w.held }
                case .allDone:
                    allDoneCount += 1
                case .workerIncapable(let worker, _, _):
                    workers[worker]?.incapable = true
                case .attemptKept(let worker, let exam, let attempt):
                    #expect(listed[worker]?.contains(ExamAttempt(exam: exam, attempt: attempt)) == true, "kept only what it listed")
                    #expect(lastAttempt[exam] == attempt, "kept only while no newer attempt exists")
                    workers[worker]?.held.append(Assignment(jobID: 0, exam: exam, attempt: attempt, worker: worker))
                    keptCount += 1
                case .ignoreResult, .sendHeartbeat, .disconnectWorker:
                    break
                }
            }
        }

        var steps = 0
        while allDoneCount == 0 && steps < 50_000 {
            steps += 1
            let live = workers.keys.sorted()
            let healthy = live.filter { workers[$0]?.hung == false && workers[$0]?.draining == false && workers[$0]?.incapable == false }
            let roll = Int.random(in: 0..<100, using: &rng)
            if healthy.count < 2 || roll < 3 {
                let id = WorkerID("w\(nextWorker)")
                nextWorker += 1
                let capacity = Int.random(in: 1...3, using: &rng)
                workers[id] = SimWorker(id: id, capacity: capacity, refuses: Int.random(in: 0..<10, using: &rng) == 0)
                apply(scheduler.on(.workerReady(id, capacity: capacity, capabilities: .build), now: now))
            } else if roll < 15 {
                // Time passes; non-hung workers heartbeat first.
                now = now + .milliseconds(Int.random(in: 100...900, using: &rng))
                for id in live where workers[id]?.hung == false { apply(scheduler.on(.heartbeat(id), now: now)) }
                apply(scheduler.on(.tick, now: now))
            } else if roll < 17, let id = healthy.randomElement(using: &rng) {
                workers[id]?.hung = true // stops talking; will be declared dead
            } else if roll < 18, let id = healthy.randomElement(using: &rng) {
                let held = workers.removeValue(forKey: id)?.held ?? []
                dead[id] = held
                apply(scheduler.on(.workerDisconnected(id), now: now))
            } else if roll < 19, let id = healthy.randomElement(using: &rng) {
                workers[id]?.draining = true
                apply(scheduler.on(.workerDraining(id), now: now))
            } else if roll < 24, let id = (dead.keys.sorted() + live.filter { workers[$0]?.hung == true }).randomElement(using: &rng) {
                // A silent or dead worker rejoins (READY again) listing some of the attempts it holds.
                let held = workers[id]?.held ?? dead[id] ?? []
                let holding = held.filter { _ in Bool.random(using: &rng) }.map { ExamAttempt(exam: $0.exam, attempt: $0.attempt) }
                listed[id] = Set(holding)
                dead[id] = nil
                let capacity = Int.random(in: 1...3, using: &rng)
                workers[id] = SimWorker(id: id, capacity: capacity)
                apply(scheduler.on(.workerReady(id, capacity: capacity, capabilities: .build, holding: holding), now: now))
            } else if roll < 26, let id = dead.keys.sorted().randomElement(using: &rng),
                      let late = dead[id]?.popLast() {
                apply(scheduler.on(.jobDone(id, exam: late.exam, attempt: late.attempt), now: now))
            } else {
                // A live, non-hung worker answers one job.
                let answering = live.filter { workers[$0]?.hung == false && !(workers[$0]?.held.isEmpty ?? true) }
                guard let id = answering.randomElement(using: &rng), var w = workers[id] else { continue }
                let job = w.held.remove(at: Int.random(in: 0..<w.held.count, using: &rng))
                workers[id] = w
                let outcome = Int.random(in: 0..<10, using: &rng)
                if w.refuses {
                    refusals[job.exam, default: 0] += 1
                    let out = scheduler.on(.jobRefused(id, exam: job.exam, attempt: job.attempt, lacking: .build, reason: "simulated"), now: now)
                    #expect(w.incapable || out.contains(.workerIncapable(id, lacking: .build, reason: "simulated")))
                    apply(out)
                } else if outcome < 6 {
                    apply(scheduler.on(.jobDone(id, exam: job.exam, attempt: job.attempt), now: now))
                } else if outcome < 9 {
                    apply(scheduler.on(.jobFailed(id, exam: job.exam, attempt: job.attempt, stage: "infer",
                                                  reason: "simulated"), now: now))
                } else {
                    apply(scheduler.on(.chunkCorrupt(id, exam: job.exam, attempt: job.attempt, reason: "simulated"), now: now))
                }
                if w.draining && w.held.isEmpty {
                    workers.removeValue(forKey: id)
                    apply(scheduler.on(.workerDisconnected(id), now: now))
                }
            }
        }
        #expect(allDoneCount == 1, "the run finished (seed \(seed), \(steps) steps)")
        #expect(ends.count == examCount)
        #expect(ends.values.allSatisfy { $0 == 1 }, "each exam ended exactly once")
        #expect(scheduler.isFinished)
        #expect(scheduler.status.completed + scheduler.status.quarantined == examCount)
        #expect(scheduler.status.quarantined > 0 && scheduler.status.completed > 0, "the simulation exercised both ends")
        _ = keptCount
    }
}
