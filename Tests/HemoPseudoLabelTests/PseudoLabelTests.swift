import HemoConcurrency
import Foundation
import Testing
import HemoCore
import HemoInference
import HemoRelease
import HemoTestKit
@testable import HemoPseudoLabel

/// The tiny fixture model (scripts/fixtures/make-pseudolabel-fixtures.py): a 1×1 convolution and a Gemm head, input 32×32.
enum TinyModel {
    static var onnxPath: String { TinyModelFiles.onnxPath }
    static func load() throws -> PseudoLabelModel { try PseudoLabelModel(onnxPath: onnxPath) }

    /// A copy of the fixture model in a fresh folder with `edit` applied to its sidecar JSON.
    static func copy(editingSidecar edit: (inout [String: Any]) -> Void) throws -> String {
        let folder = NSTemporaryDirectory() + "hemo-model-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: onnxPath, toPath: folder + "/m.onnx")
        let data = try Data(contentsOf: URL(fileURLWithPath: PseudoLabelModel.sidecarPath(for: onnxPath)))
        var json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: folder + "/m.json"))
        return folder + "/m.onnx"
    }
}

@Suite(.serialized) struct PseudoLabelReleaseTests {
    @Test func theSameBytesForAnyThreadCountAndVerifyPasses() throws {
        let c = try TinyCohort.make(count: 4)
        let cohort = try Cohort.open(c.root)
        let model = try TinyModel.load()
        let a = try PseudoLabelBuilder(model: model, options: ReleaseOptions(), threads: 1, force: false)
            .build(cohort: cohort, destination: c.release("a"))
        let b = try PseudoLabelBuilder(model: model, options: ReleaseOptions(), threads: 3, force: false)
            .build(cohort: cohort, destination: c.release("b"))
        #expect(a.failures.isEmpty)
        #expect(a.cases == 4)
        #expect(a.manifest == b.manifest)
        let report = try ReleaseVerifier(threads: 2).verify(c.release("a"))
        #expect(report.ok, "\(report.disagreements)")
        #expect(report.casesChecked == 4)

        // The pseudo-label columns: probabilities in slice_labels.csv, model scores in boxes2d.csv.
        let slices = try String(contentsOfFile: c.release("a") + "/labels/slice_labels.csv", encoding: .utf8)
        #expect(slices.hasPrefix("case,slice,any,EPH,SDH,SAH,IPH,IVH,p_any,p_EPH,p_SDH,p_SAH,p_IPH,p_IVH\n"))
        #expect(slices.split(separator: "\n").count == 1 + 4 * 6)
        let boxes = try String(contentsOfFile: c.release("a") + "/boxes/boxes2d.csv", encoding: .utf8)
            .split(separator: "\n").dropFirst()
        #expect(!boxes.isEmpty, "the fixture model should find components in the tiny cohort")
        for row in boxes {
            let fields = row.split(separator: ",")
            let score = Double(fields[8]) ?? -1
            #expect(score > 1.0 / 6 && score <= 1, "a box score is a mean softmax probability of the winning class: \(row)")
            #expect((Int(fields[7]) ?? 0) >= 3, "components below the sidecar's 3 pixels are filtered: \(row)")
        }
        let provenance = try String(contentsOfFile: c.release("a") + "/provenance.json", encoding: .utf8)
        #expect(provenance.contains(model.sha256))
        #expect(provenance.contains("\"kind\": \"pseudo-labels\""))
    }

    @Test func aCorruptExamIsIsolatedAndTheRestReleased() throws {
        let c = try TinyCohort.make(count: 3)
        try Data("not a NIfTI file".utf8).write(to: URL(fileURLWithPath: c.root + "/case_001/ct.nii.gz"))
        let summary = try PseudoLabelBuilder(model: try TinyModel.load(), options: ReleaseOptions(), threads: 2, force: false)
            .build(cohort: try Cohort.open(c.root), destination: c.release("r"))
        #expect(summary.cases == 2)
        #expect(summary.failures.map(\.caseName) == ["case_001"])
        #expect(summary.failures.first?.stage == "read")
        #expect(summary.failures.first?.reason.contains("case_001/ct.nii.gz") == true)
        let failures = try String(contentsOfFile: c.release("r") + "/failures.csv", encoding: .utf8)
        #expect(failures.contains("case_001,read,"))
        #expect(!FileManager.default.fileExists(atPath: c.release("r") + "/imagesTr/case_001_0000.nii.gz"))
        #expect(try ReleaseVerifier(threads: 1).verify(c.release("r")).ok)
    }

    @Test func weakLabelsAddWeakAndAgreesColumns() throws {
        let c = try TinyCohort.make(count: 2)
        try "case,any,EPH,SDH,SAH,IPH,IVH\ncase_000,0,0,0,0,0,0\ncase_001,1,0,0,0,1,0\n"
            .write(toFile: c.root + "/weak_labels.csv", atomically: true, encoding: .utf8)
        _ = try PseudoLabelBuilder(model: try TinyModel.load(), options: ReleaseOptions(), threads: 1, force: false)
            .build(cohort: try Cohort.open(c.root), destination: c.release("r"))
        let patients = try String(contentsOfFile: c.release("r") + "/labels/patient_labels.csv", encoding: .utf8)
        #expect(patients.hasPrefix("case,any,EPH,SDH,SAH,IPH,IVH,slices,positive_slices,ml_EPH,ml_SDH,ml_SAH,ml_IPH,ml_IVH,weak_any,weak_EPH,weak_SDH,weak_SAH,weak_IPH,weak_IVH,agrees\n"))
        #expect(try ReleaseVerifier(threads: 1).verify(c.release("r")).ok)
    }
}

@Suite struct SidecarTests {
    @Test func theFixtureSidecarParses() throws {
        let model = try TinyModel.load()
        #expect(model.sidecar?.formatVersion == 2)
        #expect(model.sidecar?.height == 32 && model.sidecar?.width == 32)
        #expect(model.sidecar?.channels.map(\.name) == ["brain", "subdural", "blood"])
        #expect(model.sidecar?.filter.minimumPixels[.iph] == 3)
        #expect(model.sidecar?.segmentationOutput == "seg_logits")
    }

    @Test(arguments: [
        ("two channels", "channels"),
        ("wrong input", "input \"scan\" is not an input"),
        ("wrong output", "output \"segmentation\" is not an output"),
        ("bad version", "format_version"),
    ])
    func aSidecarThatDoesNotMatchTheModelIsAnErrorAtLoad(change: String, expected: String) throws {
        let path = try TinyModel.copy { json in
            var input = json["input"] as! [String: Any]
            var outputs = json["outputs"] as! [String: Any]
            switch change {
            case "two channels": input["channels"] = Array((input["channels"] as! [Any]).prefix(2))
            case "wrong input": input["name"] = "scan"
            case "wrong output": outputs["segmentation"] = outputs.removeValue(forKey: "seg_logits")
            default: json["format_version"] = 9
            }
            json["input"] = input
            json["outputs"] = outputs
        }
        do {
            _ = try PseudoLabelModel(onnxPath: path)
            Issue.record("a mismatched sidecar (\(change)) was accepted")
        } catch {
            #expect(error.description.contains(expected), "\(error)")
            #expect(error.path.hasSuffix("m.json"))
        }
    }

    @Test func aMissingSidecarNamesTheFileItLookedFor() throws {
        let folder = NSTemporaryDirectory() + "hemo-model-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: TinyModel.onnxPath, toPath: folder + "/alone.onnx")
        #expect(throws: ModelLoadError.self) { try PseudoLabelModel(onnxPath: folder + "/alone.onnx") }
        do { _ = try PseudoLabelModel(onnxPath: folder + "/alone.onnx") } catch {
            #expect(error.path == folder + "/alone.json")
        }
    }

    @Test func theDefaultModelShipsAsAResourceAndMatchesItsSidecar() throws {
        let model = try PseudoLabelModel.loadDefault()
        #expect(model.fileName == "hemo-default.onnx")
        #expect(model.sidecar?.channels.count == 3)
        #expect(model.sidecar?.height == 256)
        let size = try FileManager.default.attributesOfItem(atPath: model.onnxPath)[.size] as! NSNumber
        #expect(size.intValue <= 4 << 20, "the default model must stay within 4 MB")
    }
}

@Suite struct ResizeTests {
    @Test func bilinearHalfPixelTapsMatchTheSidecarRule() {
        // 512 → 256: every output is the mean of two neighbours (src = 2·dst + 0.5).
        let down = BilinearTaps(input: 4, output: 2)
        #expect(down.index0 == [0, 2] && down.index1 == [1, 3])
        #expect(down.weight0 == [0.5, 0.5] && down.weight1 == [0.5, 0.5])
        // 2 → 4: src = (dst + 0.5)/2 - 0.5 clamped at 0 and at in - 1.
        let up = BilinearTaps(input: 2, output: 4)
        #expect(up.index0 == [0, 0, 0, 1])
        #expect(up.index1 == [1, 1, 1, 1])
        #expect(up.weight1 == [0, 0.25, 0.75, 0.25]) // the last output's two taps are the same pixel
    }

    @Test func aSliceBelowTheSliceProbabilityThresholdIsCleared() {
        var labels: [UInt8] = [0, 4, 4, 0, 4, 4, 0, 0, 0]
        var scores: [Float] = [0, 0.9, 0.9, 0, 0.9, 0.9, 0, 0, 0]
        let rule = ComponentFilter(minimumPixels: [:], minimumScore: 0, minimumSliceProbability: 0.5)
        labels.withUnsafeMutableBufferPointer { l in scores.withUnsafeMutableBufferPointer { s in
            PseudoLabelModel.filter(labels: l.baseAddress!, scores: s.baseAddress!, rows: 3, columns: 3, sliceProbability: 0.4, rule: rule)
        } }
        #expect(labels.allSatisfy { $0 == 0 })
    }

    @Test func componentsBelowTheMinimumSizeAreRemoved() {
        // A 4-pixel IPH blob and a 1-pixel SDH speck; the rule keeps components of at least 2 pixels.
        var labels: [UInt8] = [4, 4, 0, 4, 4, 0, 0, 0, 2]
        var scores: [Float] = [0.9, 0.9, 0, 0.9, 0.9, 0, 0, 0, 0.8]
        let rule = ComponentFilter(minimumPixels: [.sdh: 2, .iph: 2], minimumScore: 0, minimumSliceProbability: 0)
        labels.withUnsafeMutableBufferPointer { l in scores.withUnsafeMutableBufferPointer { s in
            PseudoLabelModel.filter(labels: l.baseAddress!, scores: s.baseAddress!, rows: 3, columns: 3, sliceProbability: 0.9, rule: rule)
        } }
        #expect(labels == [4, 4, 0, 4, 4, 0, 0, 0, 0])
        #expect(scores[8] == 0)
    }
}

@Suite struct LesionFilterTests {
    @Test func lesionsBelowTheMinimumVoxelCountAreRemovedIn3D() {
        // 3×3×3 grid: a 2-voxel SAH lesion at (0,0,0)-(0,0,1), a 1-voxel SAH speck at (2,2,2), not adjacent.
        var labels = [UInt8](repeating: 0, count: 27)
        labels[0] = 3; labels[9] = 3; labels[26] = 3
        var scores = labels.map { $0 == 0 ? Float(0) : 0.9 }
        let rule = ComponentFilter(minimumLesionVoxels: [.sah: 2])
        PseudoLabelModel.removeSmallLesions(labels: &labels, scores: &scores, size: GridSize(3, 3, 3), rule: rule)
        #expect(labels[0] == 3 && labels[9] == 3)
        #expect(labels[26] == 0 && scores[26] == 0)
    }
}

/// `hemo infer` reads each CT once: its provenance hash comes from the read that decodes it.
@Suite struct PseudoLabelProvenanceTests {
    @Test func theCTHashEqualsTheFileHash() throws {
        let c = try TinyCohort.make(count: 2)
        defer { try? FileManager.default.removeItem(atPath: c.root) }
        let model = try TinyModel.load()
        for exam in try Cohort.open(c.root).cases {
            var times = StageTimes()
            let (product, _) = try PseudoLabelPipeline.run(exam, model: model, options: ReleaseOptions(), threads: 1, times: &times)
            #expect(product.inputs == [InputFile(path: exam.relative(exam.ct), sha256: try Manifest.sha256(ofFile: exam.ct))])
            #expect(!times.entries.contains { $0.0 == "hash" }, "no separate pass over the CT just for its hash")
        }
    }
}

@Suite struct PseudoLabelCancellationTests {
    @Test func aCancelledRunStopsBeforeTheNextBatchWithCancellationError() throws {
        let c = try TinyCohort.make(count: 2)
        let cohortCase = try #require(try Cohort.open(c.root).cases.first { $0.id.rawValue == "case_001" })
        let model = try TinyModel.load()
        let asked = Locked(0)
        var times = StageTimes()
        // Not cancelled at the stage boundary, cancelled when the first batch is about to run.
        #expect(throws: CancellationError.self) {
            _ = try PseudoLabelPipeline.run(cohortCase, model: model, options: ReleaseOptions(), threads: 1, times: &times,
                                            isCancelled: { asked.withLock { $0 += 1; return $0 >= 2 } })
        }
        #expect(asked.withLock { $0 } == 2)
        #expect(!times.entries.contains { $0.0 == "inference" }, "no batch ran: \(times.entries.map(\.0))")
        // Never cancelled: the run completes and asks once per batch plus once before inference.
        let never = Locked(0)
        var complete = StageTimes()
        _ = try PseudoLabelPipeline.run(cohortCase, model: model, options: ReleaseOptions(), threads: 1, times: &complete,
                                        isCancelled: { never.withLock { $0 += 1; return false } })
        let batches = (TinyCohort.geometry.size.k + PseudoLabelModel.batchSize - 1) / PseudoLabelModel.batchSize
        #expect(never.withLock { $0 } == 1 + batches)
        #expect(complete.entries.contains { $0.0 == "inference" })
    }
}
