import Foundation
import HemoWire
import Testing
import ZeroMQ

/// `hemo worker`'s exit status and last stderr line ("worker: exiting: REASON"), which
/// scripts/ops/scale-workers reads from the record its launcher writes.
@Suite struct WorkerExitTests {
    @Test func aWorkerTheCoordinatorNeverAnswersGivesUpWithStatus3AndSaysWhy() throws {
        // Bound but silent, like a coordinator whose CURVE handshake refuses the worker's key.
        let context = try Context()
        defer { try? context.terminate() }
        let router = try context.socket(.router, linger: .zero)
        defer { router.close() }
        try router.bind("tcp://127.0.0.1:*")
        let endpoint = try router.lastEndpoint
        let worker = try Hemo.worker(endpoint, id: "unanswered", extra: ["--first-contact-timeout", "0.5"])
        let status = worker.wait(seconds: 20)
        #expect(status == 3, "\(worker.stderr)")
        #expect(worker.stderr.contains("worker: exiting: no message from the coordinator at \(endpoint) within 0.5 s"), "\(worker.stderr)")
        #expect(!worker.stderr.contains("worker: connected"), "\(worker.stderr)")
    }

    @Test func aWorkerToldTheRunIsOverExits0AndSaysSo() throws {
        let context = try Context()
        defer { try? context.terminate() }
        let router = try context.socket(.router, linger: .zero)
        defer { router.close() }
        try router.bind("tcp://127.0.0.1:*")
        let worker = try Hemo.worker(try router.lastEndpoint, id: "late", extra: ["--first-contact-timeout", "30"])
        guard try router.wait(timeout: .seconds(10)), let ready = try router.receive() else {
            Issue.record("no READY"); worker.kill(); return
        }
        _ = try router.send([ready[0]] + (try WireMessage.disconnect(reason: "shutdown").encode()))
        let status = worker.wait(seconds: 10)
        #expect(status == 0, "\(worker.stderr)")
        #expect(worker.stderr.contains("worker: connected: the coordinator at"), "\(worker.stderr)")
        #expect(worker.stderr.contains("worker: exiting: the coordinator shut the run down"), "\(worker.stderr)")
    }
}
