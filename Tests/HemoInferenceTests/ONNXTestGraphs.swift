import Foundation
@testable import HemoInference

/// Pieces of hand-built ONNX graphs for the engine's tests.
enum ONNXTestGraphs {
    /// A float32 initializer `name` of shape `dims` holding `values`.
    static func tensor(_ name: String, _ dims: [Int], _ values: [Float]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = dims.map(Int64.init)
        t.dataType = 1
        t.floatData = values
        return t
    }

    /// A float32 graph input or output `name`; a `nil` extent is the symbolic batch `N`.
    static func port(_ name: String, _ dims: [Int?]) -> Onnx_ValueInfoProto {
        var v = Onnx_ValueInfoProto()
        v.name = name
        var type = Onnx_TypeProto.Tensor()
        type.elemType = 1
        var shape = Onnx_TensorShapeProto()
        shape.dim = dims.map { extent in
            var d = Onnx_TensorShapeProto.Dimension()
            if let extent { d.dimValue = Int64(extent) } else { d.dimParam = "N" }
            return d
        }
        type.shape = shape
        v.type.tensorType = type
        return v
    }

    /// Writes `graph` as an opset-17 model to a fresh file in the temporary directory named
    /// `hemo-<stem>-<UUID>.onnx`, and returns its path.
    static func write(_ graph: Onnx_GraphProto, stem: String) throws -> String {
        var model = Onnx_ModelProto()
        model.irVersion = 8
        var opset = Onnx_OperatorSetIdProto()
        opset.version = 17
        model.opsetImport = [opset]
        model.graph = graph
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hemo-\(stem)-\(UUID().uuidString).onnx").path
        let bytes: [UInt8] = try model.serializedBytes()
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }
}
