import HemoConcurrency
import Foundation
@_spi(Drills) import HemoCluster
import HemoCore
import HemoRelease
import HemoTestKit
import HemoWire
import Testing
import ZeroMQ

/// CANCEL on the worker side, and STATUS with throughput, over real sockets.
@Suite(.serialized) struct ClusterCancelStatusTests {
    /// A ROUTER the test drives as a coordinator.
    final class FakeCoordinator {
        let context: Context
        let router: Socket
        let endpoint: String
        var route: [UInt8] = []

        init() throws {
            context = try Context()
            router = try context.socket(.router)
            try router.bind("tcp://127.0.0.1:*")
            endpoint = try router.lastEndpoint
        }

        func send(_ m: WireMessage) throws { _ = try router.send(try m.encode(routedTo: route)) }

        /// Messages other than HEARTBEAT received within `seconds`.
        func collect(for seconds: Double, until stop: (WireMessage) -> Bool = { _ in false }) throws -> [WireMessage] {
            var out: [WireMessage] = []
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                guard try router.wait(timeout: .milliseconds(20)), let frames = try router.receive(dontWait: true) else { continue }
                let (from, m) = try WireMessage.decode(routed: frames)
                route = from
                if m == .heartbeat { try send(.heartbeat); continue }
                out.append(m)
                if stop(m) { break }
            }
            return out
        }

        func close() {
            router.close()
            try? context.terminate()
        }
    }

    @Test func aWorkerDropsCancelledAttemptsQueuedOrRunning() throws {
        let cohort = try TinyCohort.make(count: 3)
        let cases = try Cohort.open(cohort.root).cases
        let fake = try FakeCoordinator()
        defer { fake.close() }
        var settings = WorkerSettings(endpoint: fake.endpoint, workerID: "canceller")
        settings.heartbeatInterval = .milliseconds(100)
        settings.livenessIntervals = 20
        settings.jobDelay = .milliseconds(600)
        settings.log = { _ in }
        let worker = ThreadWorker(settings)
        let joined = try fake.collect(for: 10) { if case .ready = $0 { true } else { false } }
        #expect(joined.contains { if case .ready = $0 { true } else { false } })
        func job(_ n: Int) -> JobMessage {
            JobMessage(jobID: UInt64(n), exam: cases[n].id, attempt: 1, kind: .build, options: JobOptionsCoding.encode(ReleaseOptions()),
                inputs: ExamInputs.shared(cases[n]))
        }
        // Job 0 starts (and sleeps 600 ms); job 1 waits in the queue (capacity 1).
        try fake.send(.job(job(0)))
        try fake.send(.job(job(1)))
        Thread.sleep(forTimeInterval: 0.2)
        try fake.send(.cancel(CancelMessage(exam: cases[1].id, attempt: 1, reason: "test: queued")))
        try fake.send(.cancel(CancelMessage(exam: cases[0].id, attempt: 1, reason: "test: running")))
        try fake.send(.cancel(CancelMessage(exam: cases[2].id, attempt: 9, reason: "test: never held"))) // ignored
        try fake.send(.job(job(2)))
        let results = try fake.collect(for: 20) { if case .done(let d) = $0 { d.exam == cases[2].id } else { false } }
        let exams = Set(results.compactMap { m -> CaseID? in
            switch m {
            case .chunk(let c): c.exam
            case .file(let f): f.exam
            case .done(let d): d.exam
            case .failed(let f): f.exam
            default: nil
            }
        })
        #expect(exams == [cases[2].id], "only the job that was not cancelled sends results")
        #expect(worker.worker.statistics == WorkerCounters(received: 3, finished: 1, cancelled: 2))
        try fake.send(.disconnect(reason: "shutdown"))
        guard case .success(.shutdown)? = worker.finished(within: 5) else { Issue.record("worker did not shut down"); return }
    }

    @Test func statusReportsCountsWorkersAndThroughput() throws {
        let cohort = try TinyCohort.make(count: 5)
        let (coordinator, endpoint) = try startCoordinator(cohort, out: cohort.release("status"), settings: fastSettings())
        let worker = try Hemo.worker(endpoint, id: "counted", extra: ["--job-delay-ms", "300"])
        #expect(eventually(20) { coordinator.snapshot.done >= 2 }, "\(worker.stderr)")
        let reply = try StatusClient.ask(endpoint: endpoint, timeout: .seconds(5))
        #expect(reply.examsTotal == 5)
        #expect(reply.completed >= 2)
        #expect(reply.completed + reply.quarantined + reply.running + reply.pending == 5)
        #expect(reply.workers.map(\.workerID) == ["counted"])
        #expect(reply.examsPerMinute > 0 && reply.windowSeconds > 0 && reply.elapsedSeconds >= reply.windowSeconds)
        #expect(reply.etaSeconds != nil)
        let text = StatusClient.render(reply)
        #expect(text.contains("exams/min") && text.contains("ETA") && text.contains("counted"), "\(text)")
        let summary = try coordinator.wait()
        #expect(summary.outcome.records.count == 5)
        let final = coordinator.snapshot
        #expect(final.released == 5 && final.inFlight == 0 && final.pending == 0)
        #expect(final.wire.fileRawBytes == 0 && final.wire.maskRawBytes > final.wire.maskPayloadBytes, "mask chunks only: the CT stays home")
        #expect(worker.wait(seconds: 10) == 0, "\(worker.stderr)")
    }

    @Test func statusIsAnsweredAndWorkersHeartbeatenWhileTheReleaseIsCommitted() throws {
        let cohort = try TinyCohort.make(count: 3)
        let reference = try cohort.referenceManifest()
        var settings = fastSettings()
        settings.commitDelay = .seconds(2) // 20 heartbeat intervals: far past the workers' liveness
        let (coordinator, endpoint) = try startCoordinator(cohort, out: cohort.release("committing"), settings: settings)
        let workers = (0..<2).map { ThreadWorker.fast(endpoint, id: "patient-\($0)") }
        #expect(eventually(20) { coordinator.snapshot.done == 3 })
        Thread.sleep(forTimeInterval: 0.3)
        let reply = try StatusClient.ask(endpoint: endpoint, timeout: .seconds(1))
        #expect(reply.completed == 3 && reply.running == 0 && reply.pending == 0)
        #expect(!FileManager.default.fileExists(atPath: cohort.release("committing") + "/MANIFEST.sha256"), "still committing")
        let summary = try coordinator.wait()
        #expect(summary.outcome.manifest == reference)
        for w in workers {
            guard case .success(.shutdown)? = w.finished(within: 5) else { Issue.record("worker did not shut down"); continue }
            // Heartbeats kept coming during the commit: no worker took the coordinator for dead.
            #expect(w.worker.statistics.reconnections == 0)
        }
    }
}

@Suite(.serialized) struct ClusterBackPressureTests {
    @Test func slowWritersPauseDispatchAndBoundTheResultsWaitingInMemory() throws {
        let cohort = try TinyCohort.make(count: 16)
        let reference = try cohort.referenceManifest()
        var settings = fastSettings()
        settings.writerThreads = 1
        settings.writeDelay = .milliseconds(120)
        settings.maxQueuedResults = 2
        // Results verified but not yet written, as the poll thread sees them.
        let waiting = Locked((now: 0, most: 0))
        settings.observer = { event in
            switch event {
            case .resultAccepted: waiting.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
            case .released, .failed: waiting.withLock { $0.now -= 1 }
            default: break
            }
        }
        let (coordinator, endpoint) = try startCoordinator(cohort, out: cohort.release("slow-writer"), settings: settings)
        let workers = (0..<3).map { ThreadWorker.fast(endpoint, id: "fast-\($0)") }
        let summary = try coordinator.wait()
        #expect(summary.outcome.manifest == reference)
        #expect(summary.wire.dispatchPauses > 0, "the writers were behind, so dispatch should have paused")
        // The limit, plus what was already out when dispatch paused: 3 workers × (capacity 1 + prefetch 1).
        #expect(waiting.withLock { $0.most } <= 2 + 3 * 2, "at most \(waiting.withLock { $0.most }) results waited")
        for w in workers { _ = w.finished(within: 5) }
    }
}
