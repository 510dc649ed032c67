import Foundation
import Testing
@testable import HemoInference

/// The model-zoo fixtures (Fixtures/zoo, written by scripts/fixtures/make-model-zoo-fixtures.py): timm,
/// segmentation_models_pytorch, nnU-Net and MONAI architectures exported by torch.onnx.export,
/// with onnxruntime's outputs as the reference.
enum ZooFixtures {
    struct Manifest: Codable {
        var versions: [String: String]
        var cases: [ParityCase]
    }

    static var directory: URL { Fixtures.directory.appendingPathComponent("zoo") }

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    static let manifest: Manifest? = {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent("manifest.json")) else { return nil }
        return try? JSONDecoder().decode(Manifest.self, from: data)
    }()

    static var cases: [ParityCase] { manifest?.cases ?? [] }

    static func inputs(_ parity: ParityCase) throws -> [String: Tensor] {
        var inputs: [String: Tensor] = [:]
        for (name, file) in parity.inputs { inputs[name] = try NumPyFile.read(path: path(file)) }
        return inputs
    }
}

@Suite("Model zoo: parity with onnxruntime")
struct ModelZooTests {
    @Test func manifestListsEveryFamily() throws {
        let models = Set(ZooFixtures.cases.map(\.model))
        for family in ["resnet9ch", "efficientnet_b0", "mobilevit", "smp_unet", "nnunet_2d", "nnunet_3d",
                       "monai_unet_3d", "monai_segresnet_3d"] {
            #expect(models.contains { $0.hasPrefix(family) }, "no fixture of \(family)")
        }
        // Batch 1 and 2 of each model.
        #expect(ZooFixtures.cases.count == 2 * models.count)
    }

    @Test("outputs match onnxruntime within 1e-4 · max(1, |ort|)", arguments: ZooFixtures.cases)
    func matchesOnnxRuntime(_ parity: ParityCase) throws {
        let model = try ONNXModel(path: ZooFixtures.path(parity.model))
        let results = try model.run(try ZooFixtures.inputs(parity), threads: 1)
        #expect(Set(results.keys) == Set(parity.outputs.keys))
        for (name, file) in parity.outputs {
            let reference = try NumPyFile.read(path: ZooFixtures.path(file))
            let ours = try #require(results[name])
            #expect(ours.shape == reference.shape, "\(parity.case) \(name)")
            let worst = worstRelativeError(ours, reference)
            #expect(worst <= 1e-4, "\(parity.case) \(name): worst relative error \(worst)")
        }
    }

    @Test("results are bit-identical for 1 and 2 threads", arguments: ZooFixtures.cases.filter { $0.case.hasSuffix(".b2") })
    func deterministicAcrossThreadCounts(_ parity: ParityCase) throws {
        let model = try ONNXModel(path: ZooFixtures.path(parity.model))
        let inputs = try ZooFixtures.inputs(parity)
        let single = try model.run(inputs, threads: 1)
        let parallel = try model.run(inputs, threads: 2)
        for (name, tensor) in single {
            #expect(parallel[name]?.data.map(\.bitPattern) == tensor.data.map(\.bitPattern), "\(parity.case) \(name)")
        }
    }

    @Test func weightsBehindDequantizeLinearCastAndExternalDataAreConstantsAtLoad() throws {
        for name in ["smp_unet_resnet18.onnx", "resnet9ch_opset11.onnx", "nnunet_3d.onnx"] {
            let model = try ONNXModel(path: ZooFixtures.path(name))
            #expect(!model.graph.nodes.contains { ["DequantizeLinear", "Cast", "Identity"].contains($0.op) && $0.inputs.allSatisfy { $0.map { model.graph.constants[$0] != nil } ?? true } },
                    "\(name) keeps a weight node")
            #expect(model.graph.nodes.contains { $0.convolution != nil })
        }
        #expect(FileManager.default.fileExists(atPath: ZooFixtures.path("nnunet_3d.weights")))
    }

    @Test func normalisationsFuseTheirActivation() throws {
        let model = try ONNXModel(path: ZooFixtures.path("nnunet_3d.onnx"))
        let normalisations = model.graph.nodes.filter { $0.op == "InstanceNormalization" }
        #expect(!normalisations.isEmpty)
        #expect(normalisations.allSatisfy { $0.fusedActivation != nil })
        #expect(!model.graph.nodes.contains { $0.op == "LeakyRelu" })
    }

    @Test func siluFusesIntoConvolutions() throws {
        let model = try ONNXModel(path: ZooFixtures.path("efficientnet_b0.onnx"))
        #expect(model.operatorCounts["Sigmoid", default: 0] > 0)
        let fused = model.graph.nodes.compactMap(\.convolution).filter { $0.activation == .silu }
        #expect(fused.count >= 10)
        // The squeeze-excitation gates (a Sigmoid whose input feeds nothing else) stay sigmoids.
        #expect(model.graph.nodes.compactMap(\.convolution).contains { $0.activation == .sigmoid })
        #expect(!model.graph.nodes.contains { $0.op == "Sigmoid" || $0.op == "HemoSilu" })
    }

    @Test func missingExternalDataFileIsNamed() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hemo-zoo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let copy = directory.appendingPathComponent("nnunet_3d.onnx").path
        try FileManager.default.copyItem(atPath: ZooFixtures.path("nnunet_3d.onnx"), toPath: copy)
        #expect {
            _ = try ONNXModel(path: copy)
        } throws: { error in
            "\(error)".contains("nnunet_3d.weights") && "\(error)".contains(copy)
        }
    }
}
