import HemoCore
import HemoTestKit
import Testing
@testable import HemoScheduler

/// The cluster's policy machines together — ``Scheduler`` and ``CoordinatorPolicy`` on the
/// coordinator's side, a ``WorkerSession`` per worker — over HemoTestKit's in-memory ROUTER and
/// DEALERs under a manual clock: seconds of cluster time, with a cut link, in milliseconds.
@Suite("The cluster's policy over the in-memory transport")
struct InMemoryClusterTests {
    static let interval = Duration.milliseconds(100)

    /// A tiny frame protocol for the harness: a type word, then its fields.
    static func frames(_ words: String...) -> [[UInt8]] { words.map { Array($0.utf8) } }
    static func words(_ frames: [[UInt8]]) -> [String] { frames.map { String(decoding: $0, as: UTF8.self) } }
    static func attempt(_ exam: String, _ n: String) -> ExamAttempt { ExamAttempt(exam: CaseID(exam)!, attempt: UInt32(n)!) }

    final class Coordinator {
        let router: InMemoryNetwork.Router
        var scheduler: Scheduler
        var policy = CoordinatorPolicy(settings: .init(heartbeatInterval: InMemoryClusterTests.interval))
        var routes: [WorkerID: [UInt8]] = [:]
        var peers: [[UInt8]: WorkerID] = [:]
        var completed: [CaseID: Int] = [:]
        var lastDone: [WorkerID: SchedulerInstant] = [:]
        var dead: [WorkerID] = []
        var allDone = false
        var left = Set<[UInt8]>()
        var graceOver = false

        init(router: InMemoryNetwork.Router, exams: Int) throws {
            self.router = router
            let specs = (0..<exams).map { ExamSpec(id: CaseID("exam-\($0)")!, sizeEstimate: UInt64($0)) }
            scheduler = try Scheduler(settings: SchedulerSettings(heartbeatInterval: InMemoryClusterTests.interval, livenessIntervals: 3,
                                                                  maxAttempts: 5),
                                      exams: specs)
        }

        func apply(_ directives: [SchedulerDirective], now: SchedulerInstant) {
            for d in directives {
                switch d {
                case .dispatch(let a):
                    if let r = routes[a.worker] { router.send(frames("JOB", a.exam.rawValue, "\(a.attempt)"), to: r) }
                case .sendHeartbeat(let w):
                    if let r = routes[w] { router.send(frames("HB"), to: r) }
                case .cancel(let w, let exam, let attempt, _):
                    if let r = routes[w] { router.send(frames("CANCEL", exam.rawValue, "\(attempt)"), to: r) }
                case .disconnectWorker(let w):
                    if let r = routes[w] { perform(policy.on(.unknownPeer(route: r), now: now), now: now) }
                case .markWorkerDead(let w, _):
                    dead.append(w)
                case .examCompleted(let exam, _, _):
                    completed[exam, default: 0] += 1
                case .allDone:
                    allDone = true
                default:
                    break
                }
            }
        }

        func perform(_ actions: [CoordinatorPolicy.Action], now: SchedulerInstant) {
            for a in actions {
                switch a {
                case .tick(let until, _): apply(scheduler.on(.tickAfterReading(until: until), now: now), now: now)
                case .tellUnknown(let r): router.send(frames("DISC", "unknown worker"), to: r)
                case .resendShutdown(let r): router.send(frames("DISC", "shutdown"), to: r)
                case .graceOver: graceOver = true
                default: break
                }
            }
        }

        func step(now: SchedulerInstant) {
            if allDone {
                while let (route, f) = router.receive() {
                    perform(policy.on(.peerSpokeInGrace(route: route, leaving: words(f) == ["DISC", "leaving"]), now: now), now: now)
                }
                perform(policy.on(.graceTurn, now: now), now: now)
                return
            }
            while let (route, f) = router.receive() {
                let w = words(f)
                if w[0] == "READY" {
                    let id = WorkerID(String(decoding: route, as: UTF8.self))
                    routes[id] = route
                    peers[route] = id
                    let held = w.dropFirst().map { $0.split(separator: ":").map(String.init) }.map { attempt($0[0], $0[1]) }
                    apply(scheduler.on(.workerReady(id, capacity: 1, capabilities: .build, holding: held), now: now), now: now)
                    continue
                }
                guard let id = peers[route] else { perform(policy.on(.unknownPeer(route: route), now: now), now: now); continue }
                switch w[0] {
                case "HB": apply(scheduler.on(.heartbeat(id), now: now), now: now)
                case "DONE":
                    lastDone[id] = now
                    apply(scheduler.on(.jobDone(id, exam: CaseID(w[1])!, attempt: UInt32(w[2])!), now: now), now: now)
                default: break
                }
            }
            perform(policy.on(.inboxEmpty, now: now), now: now)
            perform(policy.on(.turn, now: now), now: now)
            if allDone {
                for r in routes.values { router.send(frames("DISC", "shutdown"), to: r) }
                perform(policy.on(.shutdownSent(awaiting: Set(scheduler.status.workers.compactMap { routes[$0.id] })), now: now), now: now)
            }
        }
    }

    final class Worker {
        let dealer: InMemoryNetwork.Dealer
        var session: WorkerSession
        var running: [(attempt: ExamAttempt, doneAt: SchedulerInstant)] = []
        var cancelled = Set<ExamAttempt>()
        var reconnectAt: SchedulerInstant?
        var exited: WorkerSession.Exit?

        init(dealer: InMemoryNetwork.Dealer, now: SchedulerInstant) {
            self.dealer = dealer
            session = WorkerSession(settings: .init(heartbeatInterval: InMemoryClusterTests.interval, livenessIntervals: 3,
                                                    maxReconnectDelay: .milliseconds(800)), now: now)
            dealer.send(frames("READY"))
        }

        func ready(_ held: [ExamAttempt]) -> [[UInt8]] {
            [Array("READY".utf8)] + held.map { Array("\($0.exam.rawValue):\($0.attempt)".utf8) }
        }

        func perform(_ actions: [WorkerSession.Action], now: SchedulerInstant) {
            for a in actions {
                switch a {
                case .startJob(let at): running.append((at, now + .milliseconds(150)))
                case .cancelJob(let at): cancelled.insert(at)
                case .sendResult(let at): dealer.send(frames("DONE", at.exam.rawValue, "\(at.attempt)"))
                case .sendReady(let held): dealer.send(ready(held))
                case .sendHeartbeat: dealer.send(frames("HB"))
                case .sendDisconnect(let reason): dealer.send(frames("DISC", reason))
                case .reconnect(let delay): dealer.reset(); reconnectAt = now + delay
                case .connect(let held): dealer.send(ready(held)); reconnectAt = nil; _ = session.on(.connected, now: now)
                case .exit(let e): exited = e
                case .dropResult, .log, .fail: break
                }
            }
        }

        func step(now: SchedulerInstant) {
            guard exited == nil else { return }
            if let at = reconnectAt {
                if now >= at { perform(session.on(.backoffElapsed, now: now), now: now) }
                return
            }
            while let f = dealer.receive() {
                let w = words(f)
                let incoming: WorkerSession.Incoming = switch w[0] {
                case "JOB": .job(attempt(w[1], w[2]))
                case "CANCEL": .cancel(attempt(w[1], w[2]))
                case "DISC": .disconnect(reason: w[1])
                default: .other
                }
                perform(session.on(.received(incoming), now: now), now: now)
            }
            while let first = running.first, first.doneAt <= now {
                running.removeFirst()
                perform(session.on(.resultReady(first.attempt, cancelled: cancelled.remove(first.attempt) != nil), now: now), now: now)
            }
            perform(session.on(.turn, now: now), now: now)
        }
    }

    @Test func aCutLinkIsDeclaredDeadTheWorkerRejoinsAndEveryExamEndsOnce() throws {
        let net = InMemoryNetwork()
        let clock = ManualClock()
        let coordinator = try Coordinator(router: net.router, exams: 60)
        coordinator.perform(coordinator.policy.on(.started, now: clock.now), now: clock.now)
        let workers = (0..<3).map { Worker(dealer: net.dealer("w\($0)"), now: clock.now) }
        var steps = 0
        while !coordinator.graceOver && steps < 2_000 {
            steps += 1
            let now = clock.advance(by: .milliseconds(10))
            if now == .seconds(0.5) { net.cut("w1") }
            if now == .seconds(1.2) { net.restore("w1") }
            coordinator.step(now: now)
            for w in workers { w.step(now: now) }
        }
        #expect(coordinator.graceOver, "the run ended (after \(steps) steps)")
        #expect(coordinator.completed.count == 60 && coordinator.completed.values.allSatisfy { $0 == 1 }, "every exam completed exactly once")
        #expect(coordinator.dead == ["w1"], "only the cut worker was declared dead")
        #expect(workers[1].session.reconnections >= 1, "the cut worker reconnected")
        #expect(workers[0].session.reconnections == 0 && workers[2].session.reconnections == 0)
        #expect(workers.allSatisfy { $0.exited == .shutdown }, "every worker heard shutdown and left")
        #expect((coordinator.lastDone["w1"] ?? .zero) > .seconds(1.2), "the rejoined worker took work again")
        #expect(net.droppedMessages > 0)
    }
}
