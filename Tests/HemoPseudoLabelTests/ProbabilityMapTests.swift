import Foundation
import Testing
import HemoCore
import HemoRelease
import HemoTestKit
@testable import HemoPseudoLabel

@Suite struct ProbabilityQuantisationTests {
    static let cases: [(Float, UInt8)] = [
        (0, 0), (1, 255), (-0.2, 0), (1.7, 255), (Float.nan, 0), (0.5, 128),
        (Float(0.5 / 255), 1), (Float(0.49 / 255), 0), (Float(254.6 / 255), 255), (Float(254.4 / 255), 254), (Float(100.0 / 255), 100),
    ]

    @Test(arguments: cases)
    func roundsHalvesAwayFromZeroAndClamps(p: Float, q: UInt8) {
        #expect(ProbabilityMaps.quantise(p) == q)
    }

    @Test func everyByteReadsBackWithinHalfAStep() {
        for n in 0...1000 {
            let p = Float(n) / 1000
            let back = Double(ProbabilityMaps.quantise(p)) * ProbabilityMaps.slope
            #expect(abs(back - Double(p)) <= 0.5 / 255 + 1e-9)
        }
    }
}

@Suite(.serialized) struct ProbabilityMapReleaseTests {
    @Test func mapsAreReleasedVerifiedAndTheSameForAnyThreadCount() throws {
        let c = try TinyCohort.make(count: 3)
        let cohort = try Cohort.open(c.root)
        let model = try TinyModel.load()
        var options = ReleaseOptions()
        options.probabilities = true
        let a = try PseudoLabelBuilder(model: model, options: options, threads: 1, force: false)
            .build(cohort: cohort, destination: c.release("a"))
        let b = try PseudoLabelBuilder(model: model, options: options, threads: 3, force: false)
            .build(cohort: cohort, destination: c.release("b"))
        #expect(a.failures.isEmpty)
        #expect(a.manifest == b.manifest)
        let lines = a.manifest.split(separator: "\n").filter { $0.contains("  probabilities/") }
        #expect(lines.count == 3 * 5)
        #expect(try ReleaseVerifier().verify(c.release("a")).ok)
        let provenance = try String(contentsOfFile: c.release("a") + "/provenance.json", encoding: .utf8)
        #expect(provenance.contains("\"probabilities\": true"))

        // A map removed together with its manifest line: the manifest agrees, the verifier does not.
        let root = c.release("a")
        let victim = "probabilities/" + lines[0].split(separator: " ").last!.dropFirst("probabilities/".count)
        try FileManager.default.removeItem(atPath: root + "/" + victim)
        let manifest = try String(contentsOfFile: root + "/MANIFEST.sha256", encoding: .utf8)
        try manifest.split(separator: "\n").filter { !$0.hasSuffix("  " + victim) }.map { $0 + "\n" }.joined()
            .write(toFile: root + "/MANIFEST.sha256", atomically: true, encoding: .utf8)
        let report = try ReleaseVerifier().verify(root)
        #expect(!report.ok)
        #expect(report.disagreements.contains { $0.file == victim && $0.detail.hasPrefix("missing") })
    }

    @Test func aFormatThreeModelsMapsAreItsSubtypeChannelsQuantised() throws {
        let folder = try VolumetricModelTests.folder { VolumetricModelTests.sidecar(sha: $0, patch: [16, 16]) }
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let model = try PseudoLabelModel(onnxPath: folder)
        let hu: [Float] = (0..<(24 * 20 * 2)).map { (n: Int) -> Float in Float((n * 53) % 140) - 30 }
        let ct = Volume<Float>(geometry: Geometry(size: GridSize(24, 20, 2), spacing: SIMD3<Double>(1, 1, 2)), voxels: hu)
        var times = StageTimes()
        let prediction = try model.predict(ct, threads: 1, keepProbabilities: true, times: &times)
        let kept = try #require(prediction.channelProbabilities)
        let maps = model.subtypeProbabilityMaps(kept, geometry: ct.geometry)
        #expect(maps.count == 5)
        for (n, map) in maps.enumerated() {
            #expect(map.geometry == ct.geometry)
            let expected = (0..<ct.geometry.size.count).map { ProbabilityMaps.quantise(kept.values[(n + 1) * ct.geometry.size.count + $0]) }
            #expect(map.voxels == expected)
        }
    }

    @Test func aReleaseWithoutTheOptionHoldsNoMapsAndRefusesStrayOnes() throws {
        let c = try TinyCohort.make(count: 2)
        let cohort = try Cohort.open(c.root)
        let summary = try PseudoLabelBuilder(model: try TinyModel.load(), options: ReleaseOptions(), threads: 2, force: false)
            .build(cohort: cohort, destination: c.release("a"))
        #expect(!summary.manifest.contains("probabilities/"))
        #expect(!FileManager.default.fileExists(atPath: c.release("a") + "/probabilities"))
        #expect(try ReleaseVerifier().verify(c.release("a")).ok)
        let stray = "probabilities/" + (summary.manifest.split(separator: "\n").first { $0.contains("labelsTr/") }!
            .split(separator: "/").last!.dropLast(".nii.gz".count)) + "/EPH.nii.gz"
        try FileManager.default.createDirectory(atPath: c.release("a") + "/" + (stray as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: c.release("a") + "/" + summary.manifest.split(separator: "\n").first { $0.contains("labelsTr/") }!
            .split(separator: " ").last!, toPath: c.release("a") + "/" + stray)
        let report = try ReleaseVerifier().verify(c.release("a"))
        #expect(report.disagreements.contains { $0.file == stray && $0.detail.contains("without --probabilities") })
    }
}
