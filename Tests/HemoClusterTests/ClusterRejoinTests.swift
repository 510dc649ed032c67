import Foundation
import HemoCluster
import HemoTestKit
import HemoWire
import Testing

/// A worker that comes back under its identifier while the coordinator still holds its old
/// connection open: half-open after a link cut (the coordinator cannot know the peer is gone until a
/// TCP retransmission fails), or the worker process restarted on a host that vanished. The
/// multi-host system test (scripts/system-tests/45-multihost.sh) shows it with a real link cut;
/// here the old connection is a raw peer that said READY and then fell silent, so it is
/// deterministic: without the coordinator's routing-ID handover the new connection is ignored for
/// as long as the old one stays open, and the run never ends.
@Suite(.serialized) struct ClusterRejoinTests {
    @Test func workerRejoiningWhileItsOldConnectionIsStillOpenIsAdmitted() throws {
        let cohort = try TinyCohort.make(count: 2)
        let reference = try cohort.referenceManifest()
        let (coordinator, endpoint) = try startCoordinator(cohort, out: cohort.release("rejoin"), settings: fastSettings())
        let old = try RawPeer(endpoint: endpoint, id: "w1")
        defer { old.close() }
        try old.send(.ready(ReadyMessage(workerID: "w1", workerName: "old connection", capacity: 1, threads: 1, capabilities: .build)))
        guard case .job? = try old.next(within: 5) else {
            Issue.record("the first connection of w1 received no JOB")
            coordinator.stop()
            _ = try? coordinator.wait()
            return
        }
        // Silence: after 3 × 100 ms the coordinator declares w1 dead; the connection stays open.
        #expect(eventually(5) { !(coordinator.status?.workers.contains { $0.id.rawValue == "w1" } ?? true) },
                "the silent first connection of w1 was never declared dead")
        let worker = try Hemo.worker(endpoint, id: "w1")
        let finished = eventually(15) { coordinator.status.map { $0.completed == $0.total } ?? false }
        guard finished else {
            coordinator.stop()
            _ = try? coordinator.wait()
            worker.kill()
            Issue.record("w1 reconnecting under its identifier was never admitted while its old connection stayed open: \(worker.stderr)")
            return
        }
        let summary = try coordinator.wait()
        #expect(summary.outcome.manifest == reference)
        #expect(summary.outcome.failures.isEmpty)
        #expect(worker.wait(seconds: 10) == 0, "\(worker.stderr)")
    }

    @Test func aWorkerDeclaredDeadThatRejoinsHoldingItsAttemptKeepsItAndSpendsNoAttempt() throws {
        let cohort = try TinyCohort.make(count: 1)
        let reference = try cohort.referenceManifest()
        let (coordinator, endpoint) = try startCoordinator(cohort, out: cohort.release("kept"), settings: fastSettings())
        let peer = try RawPeer(endpoint: endpoint, id: "keeper")
        defer { peer.close() }
        let ready = ReadyMessage(workerID: "keeper", workerName: "raw", capacity: 1, threads: 1, capabilities: .build)
        try peer.send(.ready(ready))
        guard case .job(let job)? = try peer.next(within: 5) else {
            Issue.record("no JOB"); coordinator.stop(); _ = try? coordinator.wait(); return
        }
        // Silent past the liveness limit: declared dead, the exam goes back to pending.
        #expect(eventually(5) { !(coordinator.status?.workers.contains { $0.id.rawValue == "keeper" } ?? true) })
        // It rejoins (protocol 3 READY) listing the attempt it still holds, then delivers it.
        var rejoin = ready
        rejoin.held = [HeldAttempt(exam: job.exam, attempt: job.attempt)]
        try peer.send(.ready(rejoin))
        for m in try resultMessages(for: job) { try peer.send(m) }
        let summary = try coordinator.wait()
        #expect(summary.outcome.manifest == reference)
        #expect(summary.dispatches == 1, "the attempt was kept, not dispatched again")
    }
}
