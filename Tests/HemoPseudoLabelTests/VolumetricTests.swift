import Foundation
import Testing
import HemoCore
import HemoInference
import HemoRelease
import HemoTestKit
@testable import HemoPseudoLabel

/// Pure rules of sidecar format 3, against values printed by nnU-Net v2.8.1, SciPy 1.x and
/// scikit-image (the numbers in these tests come from those libraries, not from our code).
struct SlidingWindowTests {
    @Test func stepsEqualNNUNetsComputeStepsForSlidingWindow() {
        // nnunetv2.inference.sliding_window_prediction.compute_steps_for_sliding_window((110, 64, 37), (64, 32, 16), 0.5)
        #expect(SlidingWindowPlan.steps(imageSize: [110, 64, 37], patch: [64, 32, 16], step: 0.5) == [[0, 23, 46], [0, 16, 32], [0, 7, 14, 21]])
        #expect(SlidingWindowPlan.steps(imageSize: [16], patch: [16], step: 0.5) == [[0]])
    }

    @Test func smallImagesArePaddedHalfBeforeHalfAfter() {
        let plan = SlidingWindowPlan(imageSize: [12, 48, 40], patch: [16, 32, 32], step: 0.5)
        #expect(plan.paddedSize == [16, 48, 40])
        #expect(plan.padBefore == [2, 0, 0])
        #expect(plan.starts == [[0], [0, 16], [0, 8]])
        #expect(plan.origins.count == 4)
        #expect(plan.origins.first == [0, 0, 0] && plan.origins.last == [0, 16, 8])
    }

    @Test func gaussianEqualsSciPysGaussianFilterScaledToTen() {
        // scipy.ndimage.gaussian_filter(impulse at (4, 6) of 8×12, sigma=(1, 1.5)), divided by max/10
        let g = GaussianImportance.map(patch: [8, 12])
        #expect(g[4 * 12 + 6] == 10)
        #expect(abs(Double(g[3 * 12 + 6]) - 6.065306597126334) < 1e-5)
        #expect(abs(Double(g[4 * 12 + 9]) - 1.353352832366127) < 1e-5)
        #expect(abs(Double(g[0]) - 1.1253517471925912e-06) < 1e-11)
        // (16, 32, 32) at (2, 16, 16): 0.11108996538242305
        let g3 = GaussianImportance.map(patch: [16, 32, 32])
        #expect(abs(Double(g3[2 * 1024 + 16 * 32 + 16]) - 0.11108996538242305) < 1e-6)
        // In half precision the far corners underflow to 0 and take the smallest non-zero value.
        let half = GaussianImportance.map(patch: [16, 32, 32], half: true)
        #expect(half[0] > 0 && half[0] == half.min())
    }

    @Test func mirrorCombinationsFollowItertools() {
        #expect(MirrorAugmentation.combinations(axes: [0, 1, 2]) == [[0], [1], [2], [0, 1], [0, 2], [1, 2], [0, 1, 2]])
        #expect(MirrorAugmentation.combinations(axes: []) == [])
    }

    @Test func flipReversesTheChosenAxesAndTwiceRestores() {
        let shape = [2, 3, 4]
        let source = (0..<24).map(Float.init)
        var once = [Float](repeating: 0, count: 24), twice = once
        source.withUnsafeBufferPointer { s in once.withUnsafeMutableBufferPointer { MirrorAugmentation.flip(s.baseAddress!, into: $0.baseAddress!, shape: shape, axes: [0, 2]) } }
        // element (a, b, c) of the flip is source (1 - a, b, 3 - c)
        #expect(once[0] == source[1 * 12 + 0 * 4 + 3])
        #expect(once[1 * 12 + 2 * 4 + 1] == source[0 * 12 + 2 * 4 + 2])
        once.withUnsafeBufferPointer { s in twice.withUnsafeMutableBufferPointer { MirrorAugmentation.flip(s.baseAddress!, into: $0.baseAddress!, shape: shape, axes: [0, 2]) } }
        #expect(twice == source)
    }

    @Test func ctNormalisationClipsThenStandardises() {
        let n = IntensityNormalization.nnUNetCT(lower: -10, upper: 90, mean: 40, std: 20)
        #expect(n.apply([-1000, 40, 60, 3000]) == [-2.5, 0, 1, 2.5])
        let z = IntensityNormalization.zScore.apply([1, 2, 3, 4])
        #expect(abs(z[0] + 1.3416408) < 1e-6 && abs(z[3] - 1.3416408) < 1e-6)
    }

    @Test func resizeEqualsScikitImageOrderOneEdge() {
        // skimage.transform.resize(a, (3, 7, 3), order=1, mode="edge", anti_aliasing=False), a = arange(60).reshape(3, 4, 5) ** 1.5
        let a = (0..<60).map { Float(pow(Double($0), 1.5)) }
        let r = GridResize.resize(a, channels: 1, shape: [3, 4, 5], to: [3, 7, 3], rules: [.linear, .linear, .linear])
        #expect(abs(Double(r[1 * 21 + 0 * 3 + 0]) - 91.70650926468528) < 1e-3)
        #expect(abs(Double(r[2 * 21 + 3 * 3 + 1]) - 348.596549433552) < 1e-3)
        #expect(abs(Double(r[0 * 21 + 6 * 3 + 2]) - 80.66856407423091) < 1e-3)
        #expect(abs(r.reduce(0) { $0 + Double($1) } - 11466.197305619957) < 1e-2)
        // order 0 along the first axis (3 → 5): rows 0, 0, 1, 2, 2
        let n = GridResize.resize(a, channels: 1, shape: [3, 4, 5], to: [5, 4, 5], rules: [.nearest, .linear, .linear])
        let column: [Float] = (0..<5).map { (z: Int) -> Float in n[z * 20 + 6] }
        let expected: [Float] = [a[6], a[6], a[26], a[46], a[46]]
        #expect(column == expected)
    }

    @Test func separateZAppliesToTheSingleCoarseAxis() {
        #expect(GridResize.rules(from: [5, 0.5, 0.5], to: [1, 1, 1]) == [.nearest, .linear, .linear])
        #expect(GridResize.rules(from: [2, 1, 1], to: [1, 1, 1]) == [.linear, .linear, .linear])
        #expect(GridResize.shape([30, 512, 512], from: [5, 0.45, 0.45], to: [5, 0.9, 0.9]) == [30, 256, 256])
    }

    @Test func nonzeroBoxIsTheBoundingBoxOfNonZeroVoxels() {
        var v = [Float](repeating: 0, count: 4 * 5 * 6)
        v[(1 * 5 + 2) * 6 + 3] = 5
        v[(2 * 5 + 4) * 6 + 1] = -1
        #expect(VolumetricSteps.nonzeroBox(v, shape: [4, 5, 6]) == [1..<3, 2..<5, 1..<4])
        #expect(VolumetricSteps.nonzeroBox([Float](repeating: 0, count: 8), shape: [2, 2, 2]) == [0..<2, 0..<2, 0..<2])
    }
}

/// Format-3 sidecars: parsing, validation against a model, and prediction end to end on the
/// tiny fixture model (a 1×1 convolution, so every tiling and mirroring must give the logits of
/// one whole-slice run).
@Suite(.serialized) struct VolumetricModelTests {
    static func sidecar(sha: String, patch: [Int] = [16, 16], mirror: [Int] = [0, 1], extra: (inout [String: Any]) -> Void = { _ in }) -> [String: Any] {
        var s: [String: Any] = [
            "format": "hemocluster-model-sidecar", "format_version": 3,
            "networks": [["file": "m.onnx", "sha256": sha]],
            "input": ["name": "image", "shape": "2d", "spacing": NSNull(),
                      "intensity": ["kind": "windows", "channels": [
                          ["name": "brain", "window_width": 80, "window_level": 40],
                          ["name": "subdural", "window_width": 200, "window_level": 80],
                          ["name": "blood", "window_width": 40, "window_level": 60]]]] as [String: Any],
            "tiling": ["patch": patch, "step": 0.5, "mirror_axes": mirror],
            "outputs": ["segmentation": ["name": "seg_logits", "channels": ["background", "EPH", "SDH", "SAH", "IPH", "IVH"]]],
        ]
        extra(&s)
        return s
    }

    /// A model folder with the fixture network and a format-3 `model.json`.
    static func folder(_ edit: (String) -> [String: Any]) throws -> String {
        let folder = NSTemporaryDirectory() + "hemo-v3-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: TinyModelFiles.onnxPath, toPath: folder + "/m.onnx")
        let sha = try Manifest.sha256(ofFile: folder + "/m.onnx")
        try JSONSerialization.data(withJSONObject: edit(sha)).write(to: URL(fileURLWithPath: folder + "/model.json"))
        return folder
    }

    @Test func tiledMirroredPredictionEqualsOneWholeSliceRun() throws {
        let folder = try Self.folder { Self.sidecar(sha: $0) }
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let model = try PseudoLabelModel(onnxPath: folder)
        guard case .volumetric(let rules) = model.rules else { Issue.record("not format 3"); return }
        // 3 slices of 40 × 36 with a bright blob.
        let (i, j, k) = (36, 40, 3)
        var hu = [Float](repeating: 20, count: i * j * k)
        for z in 0..<k { for y in 10..<25 { for x in 5..<20 { hu[(z * j + y) * i + x] = 70 + Float(x + z) } } }
        let ct = Volume<Float>(geometry: Geometry(size: GridSize(i, j, k), spacing: SIMD3<Double>(1, 1, 2)), voxels: hu)
        var times = StageTimes()
        let prediction = try model.predict(ct, threads: 1, keepProbabilities: true, times: &times)
        let p = try #require(prediction.channelProbabilities)
        #expect(p.channels == 6)
        // The reference: each whole slice windowed and run at once, softmax per pixel.
        for z in 0..<k {
            let slice = Array(hu[(z * j * i)..<((z + 1) * j * i)])
            let input = rules.intensity.apply(slice)
            let out = try model.onnxModels[0].run(["image": Tensor(shape: [1, 3, j, i], data: input)], threads: 1)["seg_logits"]!
            var logits = out.data
            VolumetricSteps.softmax(&logits, channels: 6, count: j * i)
            var worst: Float = 0
            for c in 0..<6 { for v in 0..<(j * i) { worst = max(worst, abs(logits[c * j * i + v] - p.values[c * i * j * k + z * j * i + v])) } }
            #expect(worst < 1e-5, "slice \(z): \(worst)")
        }
        // Labels are the argmax of the probabilities.
        for v in stride(from: 0, to: i * j * k, by: 7) {
            let best = (0..<6).max { p.values[$0 * i * j * k + v] < p.values[$1 * i * j * k + v] }!
            #expect(prediction.labels.voxels[v] == UInt8(best))
        }
        #expect(model.sha256 == rules.ensembleDigest)
        if case .object(let fields) = model.provenance { #expect(fields.contains { $0.0 == "networks" }) }
    }

    @Test func theResultDoesNotDependOnTheThreadCount() throws {
        let folder = try Self.folder { Self.sidecar(sha: $0, patch: [24, 24]) }
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let model = try PseudoLabelModel(onnxPath: folder)
        let hu: [Float] = (0..<1800).map { (n: Int) -> Float in Float((n * 37) % 120) - 20 }
        let ct = Volume<Float>(geometry: Geometry(size: GridSize(30, 30, 2), spacing: SIMD3<Double>(1, 1, 1)), voxels: hu)
        var t = StageTimes()
        let one = try model.predict(ct, threads: 1, keepProbabilities: true, times: &t)
        let two = try model.predict(ct, threads: 2, keepProbabilities: true, times: &t)
        #expect(one.labels == two.labels && one.channelProbabilities?.values == two.channelProbabilities?.values)
    }

    @Test func aModelSpacingResamplesThereAndBack() throws {
        // 2-D model at 0.5 mm in-plane on a 1 mm CT with a zero border: crop, 2× resampling, back.
        let folder = try Self.folder { sha in
            Self.sidecar(sha: sha, patch: [32, 32]) { s in
                var input = s["input"] as! [String: Any]
                input["spacing"] = [9.0, 0.5, 0.5]
                input["crop_to_nonzero"] = true
                input["resampling"] = ["image": "linear", "logits": "linear", "separate_z": true]
                s["input"] = input
            }
        }
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let model = try PseudoLabelModel(onnxPath: folder)
        let (i, j, k) = (20, 18, 2)
        var hu = [Float](repeating: 0, count: i * j * k)
        for z in 0..<k { for y in 2..<16 { for x in 3..<18 { hu[(z * j + y) * i + x] = (x > 8 && y > 6) ? 75 : 25 } } }
        let ct = Volume<Float>(geometry: Geometry(size: GridSize(i, j, k), spacing: SIMD3<Double>(1, 1, 3)), voxels: hu)
        var times = StageTimes()
        let prediction = try model.predict(ct, threads: 1, keepProbabilities: true, times: &times)
        let p = try #require(prediction.channelProbabilities)
        #expect(prediction.labels.geometry == ct.geometry && p.values.count == 6 * i * j * k)
        // Outside the crop box: background with probability 1; inside, probabilities sum to 1.
        #expect(p.values[0] == 1 && prediction.labels.voxels[0] == 0)
        let inside = (1 * j + 10) * i + 12
        let sum = (0..<6).reduce(Float(0)) { $0 + p.values[$1 * i * j * k + inside] }
        #expect(abs(sum - 1) < 1e-5)
    }

    @Test(arguments: [
        ("networks", "\"networks\" must list"),
        ("sha", "has SHA-256"),
        ("shape", "\"input.shape\" 4d is not supported"),
        ("patch", "\"tiling.patch\" must be 2 sizes"),
        ("mirror", "\"tiling.mirror_axes\" must be distinct axes"),
        ("channels", "must start with \"background\""),
        ("intensity", "\"input.intensity.kind\" histogram is not supported"),
        ("output", "\"outputs.segmentation.name\" nope is not an output"),
        ("accumulation", "\"tiling.accumulation\" float8"),
    ])
    func badSidecarsAreRefusedNamingTheField(_ field: String, _ message: String) throws {
        let folder = try Self.folder { sha in
            Self.sidecar(sha: sha) { s in
                switch field {
                case "networks": s["networks"] = []
                case "sha": s["networks"] = [["file": "m.onnx", "sha256": String(repeating: "0", count: 64)]]
                case "shape": var i = s["input"] as! [String: Any]; i["shape"] = "4d"; s["input"] = i
                case "patch": s["tiling"] = ["patch": [16, 16, 16]]
                case "mirror": s["tiling"] = ["patch": [16, 16], "mirror_axes": [0, 0]]
                case "channels": s["outputs"] = ["segmentation": ["name": "seg_logits", "channels": ["EPH", "background"]]]
                case "intensity": var i = s["input"] as! [String: Any]; i["intensity"] = ["kind": "histogram"]; s["input"] = i
                case "output": s["outputs"] = ["segmentation": ["name": "nope", "channels": ["background", "EPH", "SDH", "SAH", "IPH", "IVH"]]]
                default: s["tiling"] = ["patch": [16, 16], "accumulation": "float8"]
                }
            }
        }
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect {
            _ = try PseudoLabelModel(onnxPath: folder)
        } throws: { error in
            "\(error)".contains(message)
        }
    }

    @Test func aFolderWithAFormatTwoSidecarIsRefused() throws {
        let folder = NSTemporaryDirectory() + "hemo-v2-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.copyItem(atPath: PseudoLabelModel.sidecarPath(for: TinyModelFiles.onnxPath), toPath: folder + "/model.json")
        #expect(throws: ModelLoadError.self) { _ = try PseudoLabelModel(onnxPath: folder) }
    }
}

/// `hemo model import nnunet`'s pure half: plans.json + dataset.json → model.json.
struct NNUNetImportTests {
    nonisolated(unsafe) static let plans: [String: Any] = [
        "dataset_name": "Dataset001_X", "plans_name": "nnUNetPlans", "transpose_forward": [0, 1, 2],
        "original_median_spacing_after_transp": [5.0, 0.45, 0.45],
        "foreground_intensity_properties_per_channel": ["0": ["percentile_00_5": -5.0, "percentile_99_5": 95.0, "mean": 48.5, "std": 17.25]],
        "configurations": [
            "3d_fullres": ["patch_size": [40, 192, 160], "spacing": [5.0, 0.45, 0.45], "normalization_schemes": ["CTNormalization"],
                           "use_mask_for_norm": [false]],
            "3d_lowres": ["inherits_from": "3d_fullres", "spacing": [5.0, 0.9, 0.9]],
            "2d": ["patch_size": [512, 448], "spacing": [0.45, 0.45], "normalization_schemes": ["ZScoreNormalization"], "use_mask_for_norm": [false]],
        ] as [String: Any],
    ]
    nonisolated(unsafe) static let dataset: [String: Any] = ["channel_names": ["0": "CT"], "labels": ["background": 0, "bleed": 1, "SDH": 2]]

    @Test func theSidecarCarriesThePlansRules() throws {
        let s = try NNUNetImport.sidecar(plans: Self.plans, dataset: Self.dataset, configuration: "3d_lowres", mirrorAxes: [0, 1, 2],
                                         networks: [("fold_0.onnx", String(repeating: "a", count: 64))], labelMap: ["bleed": "IPH"])
        let input = s["input"] as! [String: Any]
        #expect(input["spacing"] as? [Double] == [5.0, 0.9, 0.9])
        #expect((input["intensity"] as! [String: Any])["clip_upper"] as? Double == 95.0)
        #expect((s["tiling"] as! [String: Any])["patch"] as? [Int] == [40, 192, 160])
        #expect(((s["outputs"] as! [String: Any])["segmentation"] as! [String: Any])["channels"] as? [String] == ["background", "IPH", "SDH"])
        // It parses as a valid format-3 sidecar.
        let v = try VolumetricSidecar.parse(s, path: "model.json")
        #expect(v.channelLabels == [0, 4, 2] && v.shape == .volume && v.mirrorAxes == [0, 1, 2] && v.halfPrecisionAccumulation)
        let two = try NNUNetImport.sidecar(plans: Self.plans, dataset: Self.dataset, configuration: "2d", mirrorAxes: [0, 1, 2],
                                           networks: [("fold_0.onnx", String(repeating: "a", count: 64))])
        let v2 = try VolumetricSidecar.parse(two, path: "model.json")
        #expect(v2.shape == .slices && v2.mirrorAxes == [0, 1] && v2.intensity == .zScore && v2.spacing == [5.0, 0.45, 0.45])
        #expect(v2.channelLabels == [0, 0, 2])
    }

    @Test func unsupportedPlansAreRefused() {
        var plans = Self.plans
        plans["transpose_forward"] = [2, 0, 1]
        #expect(throws: NNUNetImport.Failure.self) {
            _ = try NNUNetImport.sidecar(plans: plans, dataset: Self.dataset, configuration: "3d_fullres", mirrorAxes: [], networks: [])
        }
        #expect(throws: NNUNetImport.Failure.self) {
            _ = try NNUNetImport.sidecar(plans: Self.plans, dataset: ["channel_names": ["0": "CT"], "labels": ["background": 0, "tumour": 1]],
                                         configuration: "3d_fullres", mirrorAxes: [], networks: [])
        }
        #expect(throws: NNUNetImport.Failure.self) { _ = try NNUNetImport.parseLabelMap("bleed=XYZ") }
    }
}

/// 2.5-D inputs and classifier-only sidecars.
@Suite(.serialized) struct StackedAndClassifierTests {
    @Test func aStackedModelSeesItsNeighboursWithEdgeReplication() throws {
        // One window, K = 3: the fixture's 3 input channels are slices k − 1, k, k + 1 (clamped).
        let folder = try VolumetricModelTests.folder { sha in
            VolumetricModelTests.sidecar(sha: sha, patch: [16, 16]) { s in
                var input = s["input"] as! [String: Any]
                input["shape"] = "2.5d"
                input["slices"] = 3
                input["intensity"] = ["kind": "windows", "channels": [["name": "blood", "window_width": 40, "window_level": 60]]]
                s["input"] = input
            }
        }
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let model = try PseudoLabelModel(onnxPath: folder)
        guard case .volumetric(let rules) = model.rules else { Issue.record("not format 3"); return }
        #expect(rules.shape == .stacked && rules.neighbours == 3 && rules.inputChannelCount == 3)
        let (i, j, k) = (20, 18, 4)
        let hu: [Float] = (0..<(i * j * k)).map { n in Float((n * 31 + (n / (i * j)) * 17) % 90) + 20 }
        let ct = Volume<Float>(geometry: Geometry(size: GridSize(i, j, k), spacing: SIMD3<Double>(1, 1, 1)), voxels: hu)
        var times = StageTimes()
        let p = try #require(try model.predict(ct, threads: 1, keepProbabilities: true, times: &times).channelProbabilities)
        let plane = i * j
        func window(_ z: Int) -> [Float] { rules.intensity.apply(Array(hu[(z * plane)..<((z + 1) * plane)])) }
        for z in 0..<k {
            let input = window(max(z - 1, 0)) + window(z) + window(min(z + 1, k - 1))
            var logits = try model.onnxModels[0].run(["image": Tensor(shape: [1, 3, j, i], data: input)], threads: 1)["seg_logits"]!.data
            VolumetricSteps.softmax(&logits, channels: 6, count: plane)
            var worst: Float = 0
            for c in 0..<6 { for v in 0..<plane { worst = max(worst, abs(logits[c * plane + v] - p.values[c * plane * k + z * plane + v])) } }
            #expect(worst < 1e-5, "slice \(z): \(worst)")
        }
    }

    static func classifier(_ edit: (inout [String: Any]) -> Void = { _ in }) -> [String: Any] {
        var s: [String: Any] = [
            "format": "hemocluster-model-sidecar", "format_version": 3,
            "networks": [["file": "m.onnx", "sha256": String(repeating: "a", count: 64)]],
            "input": ["name": "image", "shape": "2.5d", "slices": 3, "size": [64, 64],
                      "intensity": ["kind": "windows", "channels": [["name": "brain", "window_width": 80, "window_level": 40]]]] as [String: Any],
            "outputs": ["classification": ["name": "logits", "activation": "sigmoid", "channels": ["any", "EPH", "SDH", "SAH", "IPH", "IVH"],
                                           "thresholds": ["any": 0.4, "SDH": 0.7]] as [String: Any]],
        ]
        edit(&s)
        return s
    }

    @Test func aClassifierSidecarParses() throws {
        let v = try VolumetricSidecar.parse(Self.classifier(), path: "model.json")
        let c = try #require(v.classification)
        #expect(v.isClassifierOnly && v.inputSize == [64, 64] && v.neighbours == 3 && v.inputChannelCount == 3)
        #expect(v.ensemble == .meanProbabilities && c.thresholds == [0.4, 0.5, 0.7, 0.5, 0.5, 0.5])
        #expect(c.targets == [0, 1, 2, 3, 4, 5])
    }

    @Test func aSliceAndExamClassifierParses() throws {
        let v = try VolumetricSidecar.parse(Self.classifier { s in
            let slice = (s["outputs"] as! [String: Any])["classification"] as! [String: Any]
            s["outputs"] = ["classification": [
                ["name": "exam_logits", "level": "exam", "activation": "softmax", "channels": ["background", "SDH", "IPH"],
                 "thresholds": ["SDH": 0.3]] as [String: Any],
                slice,
            ]]
        }, path: "model.json")
        let slice = try #require(v.classification), exam = try #require(v.examClassification)
        #expect(v.isClassifierOnly && v.inputSize == [64, 64])
        #expect(slice.output == "logits" && slice.thresholds == [0.4, 0.5, 0.7, 0.5, 0.5, 0.5])
        #expect(exam.output == "exam_logits" && exam.activation == .softmax && exam.targets == [nil, 2, 4])
        #expect(exam.thresholds == [0.5, 0.5, 0.3, 0.5, 0.5, 0.5])
        // The slice-level list form alone is the object form.
        let alone = try VolumetricSidecar.parse(Self.classifier { s in
            s["outputs"] = ["classification": [(s["outputs"] as! [String: Any])["classification"]!]]
        }, path: "model.json")
        #expect(alone == (try VolumetricSidecar.parse(Self.classifier(), path: "model.json")))
    }

    @Test func sigmoidAndSoftmaxRulesGiveProbabilitiesAndLabels() throws {
        let sigmoid = try #require(try VolumetricSidecar.parse(Self.classifier(), path: "m").classification)
        let p = sigmoid.reported([0.3, 0.1, 0.69, 0.5, 0.2, 0.0])
        #expect(p == [0.3, 0.1, 0.69, 0.5, 0.2, 0.0])
        var d = sigmoid.decide(p)
        #expect(d.subtypes == [.sah] && d.any) // SAH at its threshold 0.5 makes any, though p_any < 0.4
        d = sigmoid.decide([0.45, 0.1, 0.1, 0.1, 0.1, 0.1])
        #expect(d.subtypes.isEmpty && d.any)
        d = sigmoid.decide([0.35, 0.1, 0.1, 0.1, 0.1, 0.1])
        #expect(d.subtypes.isEmpty && !d.any)
        // Softmax over background, SDH, other: p_any = the subtype channels' sum; absent subtypes 0.
        let softmax = try #require(try VolumetricSidecar.parse(Self.classifier { s in
            s["outputs"] = ["classification": ["name": "logits", "activation": "softmax", "channels": ["background", "SDH", "other"]]]
        }, path: "m").classification)
        let q = softmax.reported(PseudoLabelModel.activate([0, Float(log(3.0)), 0], .softmax))
        #expect(abs(q[0] - 0.6) < 1e-6 && abs(q[2] - 0.6) < 1e-6 && q[1] == 0 && q[5] == 0)
        #expect(softmax.decide(q).subtypes == [.sdh])
    }

    @Test(arguments: [
        ("size", "\"input.size\" must be [height, width]"),
        ("slices", "\"input.slices\" must be an odd number"),
        ("slices2d", "\"input.slices\" 3 needs \"input.shape\" \"2.5d\""),
        ("noslices", "\"input.slices\" is missing"),
        ("threshold", "\"outputs.classification.thresholds.SDH\" must be a probability"),
        ("thresholdkey", "\"outputs.classification.thresholds.XYZ\" is not"),
        ("level", "an exam-level \"outputs.classification\" needs a slice-level one beside it"),
        ("levelname", "\"outputs.classification.level\" patient is not \"slice\" or \"exam\""),
        ("twoexams", "lists two exam-level outputs"),
        ("samename", "the slice-level and exam-level outputs are both logits"),
        ("examnosize", "needs a slice-level one beside it in a whole-slice model"),
        ("examthreshold", "\"outputs.classification[1].thresholds.SDH\" must be a probability"),
        ("softmaxany", "of a softmax output cannot hold \"any\""),
        ("beside", "beside \"outputs.segmentation\" needs \"input.size\""),
        ("besideensemble", "of a whole-slice segmentation model must be one network"),
        ("tiling", "\"tiling\" does not apply to a classifier-only model"),
        ("intensity", "must be windows for a classifier-only model"),
        ("activation", "\"outputs.classification.activation\" relu"),
        ("ensemble", "\"ensemble\" of classifiers must be mean_probabilities"),
        ("none", "names none of any, EPH"),
    ])
    func badClassifierSidecarsAreRefusedNamingTheField(_ field: String, _ message: String) {
        let s = Self.classifier { s in
            var input = s["input"] as! [String: Any]
            var out = (s["outputs"] as! [String: Any])["classification"] as! [String: Any]
            switch field {
            case "size": input["size"] = [64]
            case "slices": input["slices"] = 4
            case "slices2d": input["shape"] = "2d"
            case "noslices": input["slices"] = nil
            case "threshold": out["thresholds"] = ["SDH": 1.5]
            case "thresholdkey": out["thresholds"] = ["XYZ": 0.5]
            case "level": out["level"] = "exam"
            case "levelname": out["level"] = "patient"
            case "twoexams", "samename", "examnosize", "examthreshold":
                var exam = out
                exam["level"] = "exam"
                exam["name"] = field == "samename" ? "logits" : "exam_logits"
                if field == "examthreshold" { exam["thresholds"] = ["SDH": 2] }
                if field == "examnosize" { input["size"] = nil; input["spacing"] = [1, 1, 1] }
                s["outputs"] = ["classification": field == "twoexams" ? [exam, exam] : [out, exam]]
            case "softmaxany": out["activation"] = "softmax"
            case "beside":
                input["size"] = nil
                s["outputs"] = ["classification": out, "segmentation": ["name": "seg", "channels": ["background", "EPH"]]]
            case "besideensemble":
                s["networks"] = [["file": "a.onnx", "sha256": String(repeating: "a", count: 64)], ["file": "b.onnx", "sha256": String(repeating: "b", count: 64)]]
                s["outputs"] = ["classification": out, "segmentation": ["name": "seg", "channels": ["background", "EPH"]]]
            case "tiling": s["tiling"] = ["patch": [64, 64]]
            case "intensity": input["intensity"] = ["kind": "zscore"]
            case "activation": out["activation"] = "relu"
            case "ensemble":
                s["networks"] = [["file": "a.onnx", "sha256": String(repeating: "a", count: 64)], ["file": "b.onnx", "sha256": String(repeating: "b", count: 64)]]
                s["ensemble"] = "mean_logits"
            default: out["channels"] = ["x", "y"]
            }
            s["input"] = input
            if !field.hasPrefix("beside"), !["twoexams", "samename", "examnosize", "examthreshold"].contains(field) {
                s["outputs"] = ["classification": out]
            }
        }
        #expect {
            _ = try VolumetricSidecar.parse(s, path: "model.json")
        } throws: { error in
            "\(error)".contains(message) && "\(error)".contains("model.json")
        }
    }
}

/// A whole-slice format-3 model (segmentation and classification outputs, `input.size`) is the
/// formats 1–2 rule: the default model described in format 3 predicts what its format-2 sidecar does.
@Suite(.serialized) struct WholeSliceTests {
    @Test func theDefaultModelInFormatThreeEqualsItsFormatTwoPrediction() throws {
        let reference = try PseudoLabelModel.loadDefault()
        let two = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: reference.sidecarPath))) as! [String: Any]
        let input2 = two["input"] as! [String: Any]
        let folder = NSTemporaryDirectory() + "hemo-whole-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.copyItem(atPath: reference.onnxPath, toPath: folder + "/m.onnx")
        let three: [String: Any] = [
            "format": "hemocluster-model-sidecar", "format_version": 3,
            "networks": [["file": "m.onnx", "sha256": try Manifest.sha256(ofFile: folder + "/m.onnx")]],
            "input": ["name": input2["name"]!, "shape": "2d", "size": [256, 256],
                      "intensity": ["kind": "windows", "channels": input2["channels"]!]] as [String: Any],
            "outputs": ["segmentation": ["name": "seg_logits", "activation": "softmax", "channels": ["background", "EPH", "SDH", "SAH", "IPH", "IVH"]],
                        "classification": ["name": "cls_logits", "activation": "sigmoid", "channels": ["any", "EPH", "SDH", "SAH", "IPH", "IVH"]]],
            "postprocess": (two["postprocess"] as! [String: Any]).filter { $0.key == "filter" },
        ]
        try JSONSerialization.data(withJSONObject: three).write(to: URL(fileURLWithPath: folder + "/model.json"))
        let model = try PseudoLabelModel(onnxPath: folder)
        guard case .volumetric(let rules) = model.rules else { Issue.record("not format 3"); return }
        #expect(rules.isWholeSlice && !rules.isClassifierOnly && model.writesMasks)
        #expect(rules.filter == reference.sidecar?.filter)
        // 9 slices of 150 × 130 (not a power-of-two resize) with a bright crescent and a blob.
        let (i, j, k) = (130, 150, 9)
        var hu = [Float](repeating: 30, count: i * j * k)
        for z in 0..<k { for y in 20..<130 { for x in 10..<120 {
            let d = (Float(x) - 65) * (Float(x) - 65) / 3000 + (Float(y) - 75) * (Float(y) - 75) / 3500
            if d > 0.8 && d < 1 { hu[(z * j + y) * i + x] = 75 }
            if z > 2, (Float(x) - 80) * (Float(x) - 80) + (Float(y) - 60) * (Float(y) - 60) < 150 { hu[(z * j + y) * i + x] = 70 + Float(z) }
        } } }
        let ct = Volume<Float>(geometry: Geometry(size: GridSize(i, j, k), spacing: SIMD3<Double>(0.5, 0.5, 5)), voxels: hu)
        var times = StageTimes()
        let expected = try reference.predict(ct, threads: 1, times: &times)
        let got = try model.predict(ct, threads: 1, times: &times)
        #expect(got.sliceDecisions == nil)
        #expect(got.labels == expected.labels && got.scores == expected.scores)
        #expect(got.sliceProbabilities.count == k)
        for z in 0..<k { for c in 0..<6 { #expect(abs(got.sliceProbabilities[z][c] - expected.sliceProbabilities[z][c]) < 1e-7) } }
        #expect(expected.labels.voxels.contains { $0 != 0 }, "the comparison should see some foreground")
    }
}
