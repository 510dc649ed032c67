import Foundation
import Testing
@testable import HemoInference

@Suite("Parity with onnxruntime")
struct ParityTests {
    @Test func manifestListsTheReferenceModels() {
        #expect(Fixtures.cases.count >= 9)
    }

    @Test("outputs match onnxruntime within 1e-4 · max(1, |ort|)", arguments: Fixtures.cases)
    func matchesOnnxRuntime(_ parity: ParityCase) throws {
        let model = try ONNXModel(path: Fixtures.path(parity.model))
        var inputs: [String: Tensor] = [:]
        for (name, file) in parity.inputs { inputs[name] = try NumPyFile.read(path: Fixtures.path(file)) }
        let results = try model.run(inputs, threads: 1)
        #expect(Set(results.keys) == Set(parity.outputs.keys))
        for (name, file) in parity.outputs {
            let reference = try NumPyFile.read(path: Fixtures.path(file))
            let ours = try #require(results[name])
            #expect(ours.shape == reference.shape, "\(parity.case) \(name)")
            let worst = worstRelativeError(ours, reference)
            #expect(worst <= 1e-4, "\(parity.case) \(name): worst relative error \(worst)")
        }
    }

    @Test("results are bit-identical for 1, 2 and 3 threads", arguments: Fixtures.cases.filter { !$0.case.hasPrefix("resize") })
    func deterministicAcrossThreadCounts(_ parity: ParityCase) throws {
        let model = try ONNXModel(path: Fixtures.path(parity.model))
        var inputs: [String: Tensor] = [:]
        for (name, file) in parity.inputs { inputs[name] = try NumPyFile.read(path: Fixtures.path(file)) }
        let single = try model.run(inputs, threads: 1)
        for threads in [2, 3] {
            let parallel = try model.run(inputs, threads: threads)
            for (name, tensor) in single {
                #expect(parallel[name]?.data.map(\.bitPattern) == tensor.data.map(\.bitPattern), "\(name) with \(threads) threads")
            }
        }
    }

    @Test func oneLoadedModelServesSeveralInputSizes() throws {
        let variants = Fixtures.cases.filter { $0.model == "unet_resize.onnx" }
        #expect(variants.count == 2)
        let model = try ONNXModel(path: Fixtures.path("unet_resize.onnx"))
        for parity in variants {
            let input = try NumPyFile.read(path: Fixtures.path(parity.inputs["input"]!))
            let reference = try NumPyFile.read(path: Fixtures.path(parity.outputs["logits"]!))
            let output = try #require(try model.run(["input": input], threads: 2)["logits"])
            #expect(output.shape == reference.shape)
            #expect(worstRelativeError(output, reference) <= 1e-4)
        }
    }

    @Test func batchNormalizationIsFoldedAndActivationsFused() throws {
        let model = try ONNXModel(path: Fixtures.path("unet_linear_batchnorm.onnx"))
        #expect(model.operatorCounts["BatchNormalization", default: 0] > 0)
        #expect(!model.graph.nodes.contains { $0.op == "BatchNormalization" || $0.op == "Relu" })
        let fused = model.graph.nodes.compactMap(\.convolution).filter { $0.activation == .relu }
        #expect(fused.count >= 4)
    }

    @Test func describesInputsOutputsAndParameters() throws {
        let model = try ONNXModel(path: Fixtures.path("depthwise_classifier.onnx"))
        #expect(model.inputs.map(\.description) == ["input: float32[N, 3, 32, 32]"])
        #expect(model.outputs.map(\.name) == ["probabilities"])
        #expect(model.parameterCount > 1000)
        #expect(model.operatorCounts["Gemm"] == 1)
        #expect(model.opsetVersion == 17)
    }
}
