import HemoConcurrency
import Foundation
import HemoCluster
import HemoCore
import HemoRelease
import HemoScheduler
import HemoTestKit
import HemoWire
import Testing
import ZeroMQ

/// A saturated coordinator (its poll thread slowed down on purpose) with a backlog in its ROUTER:
/// heartbeats that prove the peers alive wait unread in the socket. Liveness is judged only over
/// what was read, so none of them is declared dead; once the backlog is read, a peer that really
/// went silent still is.
@Suite(.serialized) struct ClusterBacklogTests {
    @Test func queuedHeartbeatsKeepLivePeersAliveAndSilentOnesStillDie() throws {
        let cohort = try TinyCohort.make(count: 1)
        let slow = Locked(false)
        let log = Locked<[String]>([])
        var settings = fastSettings()
        // 100 ms heartbeats, dead after 5 silent intervals (500 ms).
        settings.scheduler = SchedulerSettings(heartbeatInterval: .milliseconds(100), livenessIntervals: 5, maxAttempts: 3)
        // Ticks between every two messages read, so a tick always finds a backlog during the flood.
        settings.receiveBatch = 2
        // While `slow`, each message costs the poll thread 120 ms: six peers heartbeating every
        // 20 ms queue far more than it reads, and one round over their six pipes (ZeroMQ reads
        // them in turn) takes 720 ms, longer than the 500 ms liveness limit.
        settings.observer = { event in
            if case .received = event, slow.withLock({ $0 }) { Thread.sleep(forTimeInterval: 0.12) }
        }
        settings.log = { line in log.withLock { $0.append(line) } }
        let (coordinator, endpoint) = try startCoordinator(cohort, out: cohort.release("backlog"), settings: settings)
        defer { coordinator.stop(); _ = try? coordinator.wait() }

        let context = try Context()
        defer { try? context.terminate() }
        let ids = (0..<6).map { "peer-\($0)" }
        var peers: [Socket] = []
        defer { peers.forEach { $0.close() } }
        for id in ids {
            let s = try context.socket(.dealer, linger: .zero)
            try s.set(.routingID(Array(id.utf8)))
            try s.connect(endpoint)
            peers.append(s)
        }
        func send(_ m: WireMessage, _ peer: Int) throws { _ = try peers[peer].send(try m.encode(), dontWait: true) }
        func live() -> Set<String> { Set(coordinator.status?.workers.map(\.id.rawValue) ?? []) }
        func deaths() -> [String] { log.withLock { $0.filter { $0.contains(" is dead: ") } } }
        /// Heartbeats from `senders` every 20 ms until `done` (or `seconds` pass).
        @discardableResult
        func beat(_ senders: Range<Int>, for seconds: Double, until done: () -> Bool = { false }) throws -> Bool {
            let end = Date().addingTimeInterval(seconds)
            while Date() < end {
                if done() { return true }
                for p in senders { try send(.heartbeat, p) }
                Thread.sleep(forTimeInterval: 0.02)
            }
            return done()
        }

        // Able to infer only (this run builds): the peers get no jobs, they only heartbeat.
        for p in ids.indices {
            try send(.ready(ReadyMessage(workerID: ids[p], workerName: "backlog test", capacity: 1, threads: 1, capabilities: .infer)), p)
        }
        #expect(try beat(ids.indices, for: 10) { live() == Set(ids) }, "the peers never joined: \(log.withLock { $0 })")

        // The flood: every peer keeps heartbeating while the coordinator reads far slower.
        slow.withLock { $0 = true }
        try beat(ids.indices, for: 2.5)
        slow.withLock { $0 = false }
        #expect(deaths().isEmpty, "live peers whose heartbeats were queued unread were declared dead")
        #expect(log.withLock { $0.contains { $0.contains("the inbox has held unread messages") } },
                "the backlog was not reported: the flood did not saturate the coordinator")

        // The backlog is read; peer-0 keeps talking, the others fall silent and are declared dead.
        let silentDied = try beat(0..<1, for: 15) { Set(deaths().compactMap { $0.split(separator: " ").dropFirst().first.map(String.init) }) == Set(ids.dropFirst()) }
        #expect(silentDied, "silent peers were not declared dead after the backlog: \(deaths())")
        #expect(!deaths().contains { $0.contains("worker peer-0 ") }, "peer-0 kept heartbeating: \(deaths())")
        #expect(live().contains("peer-0"))
    }
}
