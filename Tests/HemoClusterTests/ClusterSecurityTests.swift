import Foundation
import HemoTestKit
import HemoCluster
import HemoCore
import HemoRelease
import HemoWire
import Testing
import ZeroMQ

/// CURVE, the bind policy and `hemo status`.
@Suite(.serialized) struct ClusterSecurityTests {
    @Test func curveAdmitsOnlyAllowedWorkers() throws {
        guard CurveKeyPair.isSupported || !SkipPolicy.skip("swift-curve", reason: "libzmq was built without CURVE") else { return }
        let cohort = try TinyCohort.make(count: 3)
        let reference = try cohort.referenceManifest()
        let server = try CurveKeyPair.generate(), allowed = try CurveKeyPair.generate(), intruder = try CurveKeyPair.generate()
        var settings = fastSettings()
        settings.curve = CurveServerConfig(keyPair: server, allowedKeys: [allowed.publicKey])
        let (coordinator, endpoint) = try startCoordinator(cohort, out: cohort.release("curve"), settings: settings)
        let unauthorised = ThreadWorker.fast(endpoint, id: "intruder", curve: CurveClientConfig(serverKey: server.publicKey, keyPair: intruder))
        Thread.sleep(forTimeInterval: 0.5)
        #expect(coordinator.status?.workers.isEmpty ?? true, "an unauthorised worker was admitted")
        // A plain-TCP peer is refused as well.
        let plain = try RawPeer(endpoint: endpoint, id: "plain")
        try plain.send(.ready(ReadyMessage(workerID: "plain", workerName: "test", capacity: 1, threads: 1, capabilities: .build)))
        #expect(try plain.next(within: 0.5) == nil)
        plain.close()
        #expect(coordinator.status?.workers.isEmpty ?? true)
        // The key files from `hemo keygen` drive an admitted worker process.
        let dir = NSTemporaryDirectory() + "hemo-keys-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try ClusterKeys.write(server, secretPath: dir + "/server.secret", publicPath: dir + "/server.public")
        try ClusterKeys.write(allowed, secretPath: dir + "/worker.secret", publicPath: dir + "/worker.public")
        let worker = try Hemo.worker(endpoint, id: "allowed", extra: ["--curve-server-key", dir + "/server.public",
                                                                      "--curve-secret", dir + "/worker.secret"])
        let summary = try coordinator.wait()
        #expect(summary.outcome.manifest == reference)
        #expect(worker.wait(seconds: 10) == 0, "\(worker.stderr)")
        unauthorised.worker.drain()
        #expect(unauthorised.finished(within: 5) != nil)
    }

    @Test func keygenFilesRoundTrip() throws {
        guard CurveKeyPair.isSupported || !SkipPolicy.skip("swift-curve", reason: "libzmq was built without CURVE") else { return }
        let dir = NSTemporaryDirectory() + "hemo-keygen-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let r = try Hemo.spawn(["keygen", "--out", dir + "/node"])
        #expect(r.wait(seconds: 10) == 0, "\(r.stderr)")
        let pair = try ClusterKeys.readKeyPair(dir + "/node.secret")
        #expect(try ClusterKeys.readPublicKeys(dir + "/node.public") == [pair.publicKey])
        let mode = try FileManager.default.attributesOfItem(atPath: dir + "/node.secret")[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)
    }

    @Test func nonLoopbackBindWithoutKeysIsRefused() throws {
        let cohort = try TinyCohort.make(count: 1)
        var settings = fastSettings()
        settings.endpoint = "tcp://0.0.0.0:*"
        #expect(throws: ClusterError.self) {
            _ = try Coordinator(cohort: try Cohort.open(cohort.root), destination: cohort.release("open"), options: ReleaseOptions(), settings: settings)
        }
        let cli = try Hemo.spawn(["coordinator", "--cohort", cohort.root, "--out", cohort.release("cli"), "--bind", "tcp://0.0.0.0:5999"])
        #expect(cli.wait(seconds: 10) == 1)
        #expect(cli.stderr.contains("--insecure"))
        settings.insecure = true
        _ = try Coordinator(cohort: try Cohort.open(cohort.root), destination: cohort.release("open"), options: ReleaseOptions(), settings: settings)
        #expect(ClusterKeys.isLocalOnly("tcp://127.0.0.1:5555") && ClusterKeys.isLocalOnly("ipc:///tmp/x"))
        #expect(!ClusterKeys.isLocalOnly("tcp://10.1.2.3:5555") && !ClusterKeys.isLocalOnly("tcp://*:5555"))
    }

    @Test func statusCommandReportsARunningCoordinator() throws {
        let cohort = try TinyCohort.make(count: 3)
        let (coordinator, endpoint) = try startCoordinator(cohort, out: cohort.release("status"), settings: fastSettings())
        let worker = try Hemo.worker(endpoint, id: "slowpoke", extra: ["--job-delay-ms", "300"])
        #expect(eventually(10) { coordinator.status?.running ?? 0 > 0 })
        let status = try Hemo.spawn(["status", endpoint])
        #expect(status.wait(seconds: 10) == 0, "\(status.stderr)")
        #expect(status.stdout.contains("exams: 3 total"), "\(status.stdout)")
        #expect(status.stdout.contains("slowpoke"), "\(status.stdout)")
        _ = try coordinator.wait()
        #expect(worker.wait(seconds: 10) == 0, "\(worker.stderr)")
    }
}
