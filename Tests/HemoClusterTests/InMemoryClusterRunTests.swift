import Foundation
import HemoConcurrency
@_spi(Drills) import HemoCluster
import HemoCore
import HemoRelease
import HemoScheduler
import HemoTestKit
import HemoWire
import Testing

/// The real `Coordinator` and `ClusterWorker` (shells, scheduler, policy, writers, compute
/// threads) over HemoTestKit's in-memory network: no sockets, no processes, fast heartbeats.
/// The socket suites keep the real-libzmq cases.
@Suite struct InMemoryClusterRunTests {
    /// A worker on a thread, connected through `net`.
    final class NetWorker: @unchecked Sendable {
        let worker: ClusterWorker
        let exit = Locked<Result<WorkerExit, Error>?>(nil)

        init(_ net: InMemoryNetwork, id: String, jobDelay: Duration? = nil, livenessIntervals: Int = 10) {
            var s = WorkerSettings(endpoint: "inmemory://router", workerID: id)
            s.heartbeatInterval = .milliseconds(50)
            s.livenessIntervals = livenessIntervals
            s.maxReconnectDelay = .milliseconds(100)
            s.jobDelay = jobDelay
            s.log = { _ in }
            worker = ClusterWorker(settings: s, transport: { _ in net.connector(id) })
            let t = Thread { [self] in
                let r = Result { try worker.run() }
                exit.withLock { $0 = r }
            }
            t.start()
        }

        func finished(within seconds: Double) -> Result<WorkerExit, Error>? {
            eventually(seconds) { exit.withLock { $0 } != nil }
            return exit.withLock { $0 }
        }
    }

    /// A started coordinator on `cohort` over `net`, writing release `name`: 50 ms heartbeats, and
    /// a run that stalls ends with an error instead of hanging the suite.
    func coordinator(_ cohort: TinyCohort, _ name: String, over net: InMemoryNetwork) throws -> Coordinator {
        var s = fastSettings(heartbeatMs: 50)
        s.idleTimeout = .seconds(20)
        let c = try Coordinator(cohort: try Cohort.open(cohort.root), destination: cohort.release(name),
                                options: ReleaseOptions(), settings: s, transport: { _ in net.router })
        #expect(try c.start() == "inmemory://router")
        return c
    }

    /// Whether `worker` ended its run as the coordinator's shutdown says.
    func shutDown(_ worker: NetWorker) -> Bool {
        guard case .success(.shutdown)? = worker.finished(within: 5) else {
            Issue.record("worker did not shut down: \(String(describing: worker.exit.withLock { $0 }))")
            return false
        }
        return true
    }

    @Test func twoWorkersBuildTheSameReleaseAsHemoBuild() throws {
        let cohort = try TinyCohort.make(count: 4)
        let reference = try cohort.referenceManifest()
        let net = InMemoryNetwork()
        let coordinator = try coordinator(cohort, "memory", over: net)
        let workers = [NetWorker(net, id: "a"), NetWorker(net, id: "b")]
        let summary = try coordinator.wait()
        #expect(summary.outcome.manifest == reference)
        #expect(summary.outcome.failures.isEmpty)
        #expect(summary.dispatches == 4)
        for w in workers { _ = shutDown(w) }
        #expect(workers.map { $0.worker.statistics.finished }.reduce(0, +) == 4)
    }

    @Test func aKilledWorkersJobsAreRerunAndTheReleaseIsByteIdentical() throws {
        let cohort = try TinyCohort.make(count: 4)
        let reference = try cohort.referenceManifest()
        let net = InMemoryNetwork()
        let coordinator = try coordinator(cohort, "memory-kill", over: net)
        // The doomed worker holds each job for a minute, so it is killed while holding one.
        let doomed = NetWorker(net, id: "doomed", jobDelay: .seconds(60))
        let holding = eventually(10) { coordinator.status?.workers.contains { $0.id.rawValue == "doomed" && $0.outstanding > 0 } ?? false }
        #expect(holding, "the doomed worker never received a job")
        net.kill("doomed")
        let survivor = NetWorker(net, id: "survivor")
        let summary = try coordinator.wait()
        #expect(summary.outcome.manifest == reference)
        #expect(summary.outcome.failures.isEmpty)
        #expect(summary.dispatches > 4, "the killed worker's jobs were dispatched again")
        guard case .failure? = doomed.finished(within: 5) else {
            Issue.record("the killed worker's run() did not end with an error")
            return
        }
        guard shutDown(survivor) else { return }
        let onDisk = try String(contentsOfFile: cohort.release("memory-kill") + "/MANIFEST.sha256", encoding: .utf8)
        let referenceOnDisk = try String(contentsOfFile: cohort.release("reference") + "/MANIFEST.sha256", encoding: .utf8)
        #expect(onDisk == referenceOnDisk)
    }

    @Test func aCutLinkIsSurvivedByReconnectingAndTheReleaseIsByteIdentical() throws {
        let cohort = try TinyCohort.make(count: 3)
        let reference = try cohort.referenceManifest()
        let net = InMemoryNetwork()
        let coordinator = try coordinator(cohort, "memory-cut", over: net)
        // Silent for 3 heartbeats (150 ms), the worker gives the coordinator up and reconnects.
        let worker = NetWorker(net, id: "flaky", jobDelay: .milliseconds(200), livenessIntervals: 3)
        let holding = eventually(10) { coordinator.status?.workers.contains { $0.id.rawValue == "flaky" && $0.outstanding > 0 } ?? false }
        #expect(holding, "the worker never received a job")
        net.cut("flaky")
        Thread.sleep(forTimeInterval: 0.5)
        net.restore("flaky")
        let summary = try coordinator.wait()
        #expect(summary.outcome.manifest == reference)
        #expect(summary.outcome.failures.isEmpty)
        #expect(net.droppedMessages > 0, "the cut dropped heartbeats")
        guard shutDown(worker) else { return }
        #expect(worker.worker.statistics.reconnections >= 1)
    }

    @Test func malformedMessagesFromARoguePeerAreDroppedAndServingContinues() throws {
        let cohort = try TinyCohort.make(count: 2)
        let reference = try cohort.referenceManifest()
        let net = InMemoryNetwork()
        let coordinator = try coordinator(cohort, "memory-rogue", over: net)
        let rogue = net.dealer("rogue")
        rogue.send([[0xde, 0xad, 0xbe, 0xef]])                                               // one junk frame
        rogue.send([WireProtocol.header, [99], []])                                          // unknown type
        rogue.send([[UInt8]](repeating: [0], count: WireProtocol.maxFrames + 2))             // too many frames
        let worker = NetWorker(net, id: "honest")
        let summary = try coordinator.wait()
        #expect(summary.outcome.manifest == reference)
        #expect(summary.droppedMessages >= 3)
        _ = shutDown(worker)
    }
}
