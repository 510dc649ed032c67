import Foundation
import HemoTestKit
import Testing

/// `hemo-bench scale-workers` (the simulator behind scripts/bench/scale.sh) against a real
/// `hemo coordinator` process: every exam is released and the report carries its figures.
@Suite(.serialized) struct ScaleSimulatorTests {
    @Test func simulatedWorkersFinishARealCoordinatorsRunAndReportLatencyAndCPU() throws {
        let template = try TinyCohort.make(count: 1)
        let root = template.release("scale-cohort")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let templateCase = try #require(try FileManager.default.contentsOfDirectory(atPath: template.root).first { !$0.hasSuffix(".csv") })
        try FileManager.default.copyItem(atPath: template.root + "/" + templateCase, toPath: root + "/template")
        let exams = 24
        var csv = "case,ct,labelmap,subtype_masks,polygons\n"
        for i in 0..<exams { csv += "sim_\(i),template/ct.nii.gz,template/labelmap.nii.gz,,\n" }
        try csv.write(toFile: root + "/cohort.csv", atomically: true, encoding: .utf8)

        let coordinator = try Spawned(["coordinator", "--cohort", root, "--out", template.release("scale-release"),
                                       "--bind", "tcp://127.0.0.1:0", "--heartbeat-ms", "200", "--liveness", "10"])
        defer { coordinator.kill() }
        var endpoint = ""
        #expect(ClusterScrapeTests.eventually(20) {
            endpoint = coordinator.stdout.components(separatedBy: "listening on ").dropFirst().first?.split(separator: "\n").first.map(String.init) ?? ""
            return !endpoint.isEmpty
        }, "coordinator did not start: \(coordinator.stderr)")
        let simulator = try Spawned(["scale-workers", "--connect", endpoint, "--workers", "6", "--median-ms", "20",
                                     "--heartbeat-ms", "200", "--coordinator-pid", "\(coordinator.process.processIdentifier)",
                                     "--timeout", "60"], executable: HemoExecutable.benchPath)
        defer { simulator.kill() }
        #expect(simulator.wait(seconds: 90) == 0, "\(simulator.stderr)")
        #expect(coordinator.wait(seconds: 30) == 0, "\(coordinator.stderr)")
        #expect(coordinator.stdout.contains("cases: \(exams),"), "\(coordinator.stdout)")

        let report = simulator.stdout
        func field(_ name: String) -> Double? {
            report.split(separator: " ").first { $0.hasPrefix(name + "=") }.flatMap { Double($0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        #expect(field("jobs") == Double(exams))
        #expect(field("workers") == 6)
        // Every JOB used a credit (6 READYs x 2 credits cover the first 12, DONEs the rest).
        #expect(field("dispatch_samples") == Double(exams))
        let p50 = try #require(field("dispatch_p50_ms")), p99 = try #require(field("dispatch_p99_ms"))
        #expect(p50 >= 0 && p50 <= p99)
        #expect((field("coord_cpu_s") ?? -1) > 0)
        #expect((field("coord_peak_rss_mb") ?? 0) > 1)
        #expect((field("coord_poll_thread_ms_per_job") ?? -1) > 0)
    }
}
