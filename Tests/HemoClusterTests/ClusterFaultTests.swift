import Foundation
import HemoTestKit
import HemoCluster
import HemoCore
import HemoRelease
import HemoScheduler
import HemoWire
import Testing
import ZeroMQ

/// A raw DEALER peer driven by the test, for misbehaving workers.
final class RawPeer {
    let context: Context
    let socket: Socket

    init(endpoint: String, id: String) throws {
        context = try Context()
        socket = try context.socket(.dealer)
        try socket.set(.routingID(Array(id.utf8)))
        try socket.connect(endpoint)
    }

    func send(_ message: WireMessage) throws { _ = try socket.send(try message.encode()) }
    func sendRaw(_ frames: [[UInt8]]) throws { _ = try socket.send(frames) }

    /// The next message that is not a HEARTBEAT, within `seconds`.
    func next(within seconds: Double) throws -> WireMessage? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            guard try socket.wait(timeout: .milliseconds(20)), let frames = try socket.receive(dontWait: true) else { continue }
            let m = try WireMessage.decode(frames)
            if m != .heartbeat { return m }
        }
        return nil
    }

    func close() {
        socket.close()
        try? context.terminate()
    }
}

/// Computes an exam as a real worker would (for peers that send results by hand).
func resultMessages(for job: JobMessage, tamper: Bool = false) throws -> [WireMessage] {
    let c = try ExamInputs.materialize(exam: job.exam, inputs: job.inputs, scratch: NSTemporaryDirectory())
    var times = StageTimes()
    let options = try JobOptionsCoding.decode(job.options, exam: job.exam)
    var product = try CasePipeline.run(c, options: options, threads: 1, times: &times)
    if tamper {
        var ct = product.ct
        for n in ct.voxels.indices { ct.voxels[n] = 1234 }
        product = CaseProduct(id: product.id, ct: ct, masks: SubtypeMasks(geometry: product.masks.geometry), inputs: product.inputs)
    }
    return try ResultEncoding.messages(product: product, attempt: job.attempt, options: options, times: &times)
}

/// Fault drills with real sockets and processes; each ends with the clean run's manifest.
@Suite(.serialized) struct ClusterFaultTests {
    @Test func workerKilledMidJobIsReplacedAndTheReleaseIsUnchanged() throws {
        let cohort = try TinyCohort.make(count: 4)
        let reference = try cohort.referenceManifest()
        let (coordinator, endpoint) = try startCoordinator(cohort, out: cohort.release("kill"), settings: fastSettings())
        let rescuer = try killWorkerMidJobThenRescue(coordinator, endpoint: endpoint)
        let summary = try coordinator.wait()
        #expect(summary.outcome.manifest == reference)
        #expect(summary.outcome.failures.isEmpty)
        #expect(summary.dispatches > 4, "the killed worker's jobs were dispatched again")
        #expect(rescuer.wait(seconds: 10) == 0, "\(rescuer.stderr)")
    }

    @Test func silentPeerIsDeclaredDeadAndItsLateResultIsIgnored() throws {
        let cohort = try TinyCohort.make(count: 3)
        let reference = try cohort.referenceManifest()
        let (coordinator, endpoint) = try startCoordinator(cohort, out: cohort.release("silent"), settings: fastSettings())
        let silent = try RawPeer(endpoint: endpoint, id: "silent")
        defer { silent.close() }
        try silent.send(.ready(ReadyMessage(workerID: "silent", workerName: "test", capacity: 1, threads: 1, capabilities: .build)))
        guard case .job(let job)? = try silent.next(within: 5) else { Issue.record("no JOB for the silent peer"); return }
        // Say nothing: after 3 × 100 ms the coordinator declares it dead.
        #expect(eventually(5) { coordinator.status?.workers.contains { $0.id.rawValue == "silent" } ?? false })
        #expect(eventually(5) { !(coordinator.status?.workers.contains { $0.id.rawValue == "silent" } ?? true) })
        // Its late (and wrong) result must not be used.
        for m in try resultMessages(for: job, tamper: true) { try silent.send(m) }
        // (It may first see the second JOB it was given: credit is capacity + prefetch.)
        var reason: String?
        while reason == nil, let m = try silent.next(within: 5) {
            if case .disconnect(let r) = m { reason = r }
        }
        #expect(reason == "unknown worker")
        let worker = try Hemo.worker(endpoint, id: "live")
        let summary = try coordinator.wait()
        #expect(summary.outcome.manifest == reference)
        #expect(summary.dispatches > 3, "the silent peer's jobs were dispatched again")
        #expect(worker.wait(seconds: 10) == 0, "\(worker.stderr)")
    }

    @Test func duplicateAndTamperedLateResultsOfALiveWorkerAreIgnored() throws {
        let cohort = try TinyCohort.make(count: 3)
        let reference = try cohort.referenceManifest()
        let (coordinator, endpoint) = try startCoordinator(cohort, out: cohort.release("dup"), settings: fastSettings())
        let peer = try RawPeer(endpoint: endpoint, id: "duplicator")
        defer { peer.close() }
        try peer.send(.ready(ReadyMessage(workerID: "duplicator", workerName: "test", capacity: 1, threads: 1, capabilities: .build)))
        var served = 0
        var previous: JobMessage?
        while served < 3 {
            guard let m = try peer.next(within: 10) else { break }
            guard case .job(let job) = m else { continue }
            for r in try resultMessages(for: job) { try peer.send(r) }
            for r in try resultMessages(for: job) { try peer.send(r) }              // exact duplicate
            for r in try resultMessages(for: job, tamper: true) { try peer.send(r) } // late, different bytes
            if let previous { for r in try resultMessages(for: previous, tamper: true) { try peer.send(r) } }
            previous = job
            served += 1
            try peer.send(.heartbeat)
        }
        #expect(served == 3)
        let summary = try coordinator.wait()
        #expect(summary.outcome.manifest == reference)
        #expect(summary.dispatches == 3)
    }

    @Test func roguePeerIsDroppedAndServingContinues() throws {
        let cohort = try TinyCohort.make(count: 3)
        let reference = try cohort.referenceManifest()
        let (coordinator, endpoint) = try startCoordinator(cohort, out: cohort.release("rogue"), settings: fastSettings())
        let rogue = try RawPeer(endpoint: endpoint, id: "rogue")
        defer { rogue.close() }
        var header = WireProtocol.header
        try rogue.sendRaw([[0xde, 0xad, 0xbe, 0xef]])                                          // one junk frame
        try rogue.sendRaw([Array("NOPE".utf8) + [1], [2], [0]])                               // not HEMO
        try rogue.sendRaw([header, [99], []])                                                  // unknown type
        try rogue.sendRaw([header, [MessageType.job.rawValue], [1, 2, 3]])                     // truncated JOB
        try rogue.sendRaw([header, [MessageType.chunk.rawValue], [UInt8](repeating: 0xff, count: 300), [1]]) // garbage CHUNK
        try rogue.sendRaw([[UInt8]](repeating: [0], count: 400))                               // too many frames
        try rogue.sendRaw([header, [MessageType.ready.rawValue], [UInt8](repeating: 7, count: 64)]) // bad READY fields
        header[4] = WireProtocol.version &+ 1
        try rogue.sendRaw([header, [MessageType.heartbeat.rawValue], []])                      // another version
        guard case .disconnect(let reason)? = try rogue.next(within: 5) else { Issue.record("no DISCONNECT for a version mismatch"); return }
        #expect(reason.contains("not supported"))
        let worker = try Hemo.worker(endpoint, id: "honest")
        let summary = try coordinator.wait()
        #expect(summary.outcome.manifest == reference)
        #expect(summary.droppedMessages >= 7)
        #expect(worker.wait(seconds: 10) == 0, "\(worker.stderr)")
    }

    @Test func coordinatorKilledAndRestartedResumesFromTheJournal() throws {
        let cohort = try TinyCohort.make(count: 6)
        let reference = try cohort.referenceManifest()
        // A free loopback port for both coordinator lives.
        let probeContext = try Context()
        let probe = try probeContext.socket(.router)
        try probe.bind("tcp://127.0.0.1:*")
        let endpoint = try probe.lastEndpoint
        probe.close()
        try probeContext.terminate()
        let out = cohort.release("resume")
        let args = ["coordinator", "--cohort", cohort.root, "--out", out, "--bind", endpoint, "--heartbeat-ms", "100"]
        let first = try Hemo.spawn(args)
        let worker = try Hemo.worker(endpoint, id: "steady", extra: ["--job-delay-ms", "250"])
        let journal = (out as NSString).deletingLastPathComponent + "/." + (out as NSString).lastPathComponent + ".journal"
        let progressed = eventually(30) {
            ((try? String(contentsOfFile: journal, encoding: .utf8)) ?? "").split(separator: "\n").count >= 2
        }
        #expect(progressed, "no exam was journaled: \(first.stderr)")
        first.kill(SIGKILL)
        first.process.waitUntilExit()
        let second = try Hemo.spawn(args)
        #expect(second.wait(seconds: 60) == 0, "\(second.stderr)")
        #expect(second.stdout.contains("resumed from the journal"), "\(second.stdout)")
        // Only the unfinished exams were dispatched after the restart: one steady worker, no retries.
        let resumed = second.stdout.firstMatch(of: /(\d+) resumed from the journal/).map { Int($0.1)! } ?? -1
        let dispatched = second.stdout.firstMatch(of: /wire: (\d+) jobs/).map { Int($0.1)! } ?? -1
        #expect(resumed >= 1 && resumed < 6, "\(second.stdout)")
        #expect(dispatched == 6 - resumed, "after the restart \(dispatched) jobs were dispatched for \(6 - resumed) unfinished exams: \(second.stdout)")
        let manifest = try String(contentsOfFile: out + "/MANIFEST.sha256", encoding: .utf8)
        let expected = try String(contentsOfFile: cohort.release("reference") + "/MANIFEST.sha256", encoding: .utf8)
        #expect(manifest == expected)
        #expect(!FileManager.default.fileExists(atPath: journal))
        #expect(worker.wait(seconds: 10) == 0, "\(worker.stderr)")
        _ = reference
    }

    @Test func workerExitsWithAClearErrorOnAProtocolVersionMismatch() throws {
        let context = try Context()
        defer { try? context.terminate() }
        let router = try context.socket(.router)
        defer { router.close() }
        try router.bind("tcp://127.0.0.1:*")
        let worker = try Hemo.worker(try router.lastEndpoint, id: "old")
        guard try router.wait(timeout: .seconds(10)), let ready = try router.receive() else {
            Issue.record("no READY"); worker.kill(); return
        }
        var header = WireProtocol.header
        header[4] = WireProtocol.version &+ 1
        _ = try router.send([ready[0], header, [MessageType.heartbeat.rawValue], []])
        let status = worker.wait(seconds: 10)
        #expect(status != nil && status != 0, "the worker must exit non-zero, not hang")
        #expect(worker.stderr.contains("protocol version"), "\(worker.stderr)")
    }

    @Test func anExpiredLeaseIsCancelledOnItsLiveWorkerWhichDropsIt() throws {
        let cohort = try TinyCohort.make(count: 3)
        let reference = try cohort.referenceManifest()
        var settings = fastSettings()
        settings.scheduler = SchedulerSettings(heartbeatInterval: .milliseconds(100), livenessIntervals: 3, maxAttempts: 3,
                                               jobTimeout: .seconds(2))
        let (coordinator, endpoint) = try startCoordinator(cohort, out: cohort.release("lease"), settings: settings)
        let slow = try Hemo.worker(endpoint, id: "slow", extra: ["--job-delay-ms", "5000"])
        #expect(eventually(10) { coordinator.status?.workers.contains { $0.id.rawValue == "slow" && $0.outstanding > 0 } ?? false })
        let fast = try Hemo.worker(endpoint, id: "fast")
        let summary = try coordinator.wait()
        #expect(summary.outcome.manifest == reference)
        #expect(summary.outcome.failures.isEmpty)
        #expect(summary.wire.cancelsSent >= 1, "the slow worker's expired attempts were cancelled")
        #expect(slow.wait(seconds: 10) == 0, "\(slow.stderr)")
        #expect(slow.stderr.contains("cancelled by the coordinator"), "\(slow.stderr)")
        #expect(fast.wait(seconds: 10) == 0, "\(fast.stderr)")
    }

    @Test func sigtermDrainsTheWorkerAfterItsJob() throws {
        let cohort = try TinyCohort.make(count: 3)
        let reference = try cohort.referenceManifest()
        let (coordinator, endpoint) = try startCoordinator(cohort, out: cohort.release("drain"), settings: fastSettings())
        let drained = try Hemo.worker(endpoint, id: "drained", extra: ["--job-delay-ms", "600"])
        #expect(eventually(10) { coordinator.status?.workers.contains { $0.id.rawValue == "drained" && $0.outstanding > 0 } ?? false })
        drained.kill(SIGTERM)
        #expect(drained.wait(seconds: 10) == 0, "a drained worker exits 0: \(drained.stderr)")
        let other = try Hemo.worker(endpoint, id: "other")
        let summary = try coordinator.wait()
        #expect(summary.outcome.manifest == reference)
        #expect(other.wait(seconds: 10) == 0, "\(other.stderr)")
    }
}
