import Foundation
import HemoCluster
import HemoCore
import HemoRelease
import HemoTestKit
import Testing

/// `--images` through the cluster: the release equals the one-process build's for every mode.
@Suite(.serialized) struct ClusterImageModeTests {
    @Test(arguments: [ImageMode.copy, .link, .omit])
    func theClusterGivesTheOneProcessReleaseForEveryImageMode(mode: ImageMode) throws {
        let cohort = try TinyCohort.make(count: 4)
        var options = ReleaseOptions()
        options.images = mode
        let reference = try cohort.referenceManifest(options: options)
        let c = try Coordinator(cohort: try Cohort.open(cohort.root), destination: cohort.release("cluster-\(mode)"), options: options,
                                settings: fastSettings())
        let endpoint = try c.start()
        let workers = (0..<2).map { ThreadWorker.fast(endpoint, id: "m\($0)") }
        let summary = try c.wait()
        #expect(summary.outcome.manifest == reference)
        #expect(summary.outcome.records.count == 4)
        #expect(summary.wire.fileRawBytes == 0)
        #expect(FileManager.default.fileExists(atPath: cohort.release("cluster-\(mode)") + "/imagesTr") == (mode != .omit))
        let report = try ReleaseVerifier().verify(cohort.release("cluster-\(mode)"))
        #expect(report.disagreements.isEmpty, "\(report.disagreements)")
        for w in workers { _ = w.finished(within: 5) }
    }

    @Test func hemoRunWithImagesOmitMatchesHemoBuild() throws {
        let cohort = try TinyCohort.make(count: 3)
        let build = try Hemo.spawn(["build", "--cohort", cohort.root, "--out", cohort.release("b"), "--images", "omit"])
        #expect(build.wait(seconds: 60) == 0, "\(build.stderr)")
        let run = try Hemo.spawn(["run", "--cohort", cohort.root, "--out", cohort.release("r"), "--images", "omit",
                                  "--workers", "2", "--heartbeat-ms", "100"])
        #expect(run.wait(seconds: 60) == 0, "\(run.stderr)")
        let a = try String(contentsOfFile: cohort.release("b") + "/MANIFEST.sha256", encoding: .utf8)
        let b = try String(contentsOfFile: cohort.release("r") + "/MANIFEST.sha256", encoding: .utf8)
        #expect(a == b && a.contains("images.sha256") && !a.contains("imagesTr/"))
        let verify = try Hemo.spawn(["release", "verify", cohort.release("r")])
        #expect(verify.wait(seconds: 60) == 0, "\(verify.stdout) \(verify.stderr)")
        let refused = try Hemo.spawn(["build", "--cohort", cohort.root, "--out", cohort.release("x"), "--images", "omit", "--canonical"])
        #expect(refused.wait(seconds: 30) != 0)
        #expect(refused.stderr.contains("--images omit"), "\(refused.stderr)")
    }
}
