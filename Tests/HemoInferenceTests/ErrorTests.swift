import Foundation
import Testing
@testable import HemoInference

@Suite("Load and run errors")
struct ErrorTests {
    @Test func unsupportedOperatorNamesNodeAndOperatorAtLoad() {
        let path = Fixtures.path("error_unsupported_operator.onnx")
        #expect(throws: InferenceError.unsupportedOperator(path: path, node: "hardmax_after_conv", op: "Hardmax", domain: "")) {
            try ONNXModel(path: path)
        }
        let message = (try? ONNXModel(path: path)).map { _ in "" } ?? String(describing: catchError { try ONNXModel(path: path) })
        #expect(message.contains("hardmax_after_conv") && message.contains("Hardmax") && message.contains(path))
    }

    @Test func unsupportedOpsetIsRejectedAtLoad() {
        let path = Fixtures.path("error_unsupported_opset.onnx")
        #expect(throws: InferenceError.unsupportedOpset(path: path, domain: "", version: 30, supported: ModelGraph.supportedOpsets)) {
            try ONNXModel(path: path)
        }
    }

    @Test func dataDependentShapeIsRejectedAtLoad() {
        let path = Fixtures.path("error_data_dependent_shape.onnx")
        let error = catchError { try ONNXModel(path: path) }
        guard case .dynamicShape(let file, let node, let op, _)? = error else {
            Issue.record("expected dynamicShape, got \(String(describing: error))")
            return
        }
        #expect(file == path && node == "reshape_by_values" && op == "Reshape")
    }

    @Test(arguments: [0.5, 0.9, 0.97])
    func truncatedFileIsACorruptModel(fraction: Double) throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("unet_convtranspose.onnx")))
        let path = Fixtures.temporaryPath(".onnx")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try bytes.prefix(Int(Double(bytes.count) * fraction)).write(to: URL(fileURLWithPath: path))
        let error = catchError { try ONNXModel(path: path) }
        guard case .corruptModel(let file, _)? = error else {
            Issue.record("expected corruptModel, got \(String(describing: error))")
            return
        }
        #expect(file == path)
    }

    @Test func randomBytesAreACorruptModel() throws {
        var generator = SystemRandomNumberGenerator()
        let path = Fixtures.temporaryPath(".onnx")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data((0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }).write(to: URL(fileURLWithPath: path))
        let error = catchError { try ONNXModel(path: path) }
        guard case .corruptModel(let file, _)? = error else {
            Issue.record("expected corruptModel, got \(String(describing: error))")
            return
        }
        #expect(file == path)
    }

    @Test func missingFileIsUnreadable() {
        let error = catchError { try ONNXModel(path: "/nonexistent/model.onnx") }
        guard case .unreadableFile(let file, _)? = error else {
            Issue.record("expected unreadableFile, got \(String(describing: error))")
            return
        }
        #expect(file == "/nonexistent/model.onnx")
    }

    @Test func wrongInputsAreRejectedWithTheirName() throws {
        let model = try ONNXModel(path: Fixtures.path("depthwise_classifier.onnx"))
        #expect(throws: InferenceError.self) { try model.run([:], threads: 1) }
        let wrongSize = Tensor(shape: [1, 3, 16, 16], repeating: 0)
        let error = catchError { try model.run(["input": wrongSize], threads: 1) }
        guard case .inputMismatch(_, let input, _)? = error else {
            Issue.record("expected inputMismatch, got \(String(describing: error))")
            return
        }
        #expect(input == "input")
        let wrongChannels = Tensor(shape: [1, 4, 32, 32], repeating: 0)
        #expect(throws: InferenceError.self) { try model.run(["input": wrongChannels], threads: 1) }
    }

    @Test func tooSmallInputIsAClearError() throws {
        let model = try ONNXModel(path: Fixtures.path("odd_sizes.onnx"))
        let error = catchError { try model.run(["input": Tensor(shape: [1, 3, 2, 2], repeating: 1)], threads: 1) }
        #expect(error != nil)
    }
}

/// The `InferenceError` thrown by `body`, or nil.
func catchError<T>(_ body: () throws -> T) -> InferenceError? {
    do {
        _ = try body()
        return nil
    } catch let error as InferenceError {
        return error
    } catch {
        return nil
    }
}
