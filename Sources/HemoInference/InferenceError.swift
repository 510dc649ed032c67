/// Every failure of loading or running an ONNX model, or of reading and writing `.npy` files.
///
/// Each case names the file and, where there is one, the graph node and its operator.
public enum InferenceError: Error, Equatable, CustomStringConvertible {
    /// The file could not be read (missing, unreadable).
    case unreadableFile(path: String, reason: String)
    /// The file is not a valid ONNX protobuf (truncated, corrupt, inconsistent graph).
    case corruptModel(path: String, reason: String)
    /// A node uses an operator this engine does not implement.
    case unsupportedOperator(path: String, node: String, op: String, domain: String)
    /// The model imports an operator set version outside the supported range.
    case unsupportedOpset(path: String, domain: String, version: Int, supported: ClosedRange<Int>)
    /// A node's attributes or inputs are invalid or use a variant this engine does not implement.
    case invalidNode(path: String, node: String, op: String, reason: String)
    /// A node needs a value (a shape, scales, axes) that depends on the data, not only on input shapes.
    case dynamicShape(path: String, node: String, op: String, reason: String)
    /// The tensors passed to `run` do not match the graph (missing, wrong rank, incompatible size).
    case inputMismatch(path: String, input: String, reason: String)
    /// A `.npy` file is malformed or not little-endian float32 in C order, or could not be written.
    case numpyFile(path: String, reason: String)

    /// A sentence naming the file, node, operator and reason.
    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason):
            return "\(path): cannot read the file: \(reason)"
        case .corruptModel(let path, let reason):
            return "\(path): not a valid ONNX model: \(reason)"
        case .unsupportedOperator(let path, let node, let op, let domain):
            let qualified = domain.isEmpty || domain == "ai.onnx" ? op : "\(domain).\(op)"
            return "\(path): node '\(node)' uses operator \(qualified), which HemoInference does not support"
        case .unsupportedOpset(let path, let domain, let version, let supported):
            let name = domain.isEmpty ? "ai.onnx" : domain
            return "\(path): the model imports opset \(name) version \(version); supported: \(supported.lowerBound)...\(supported.upperBound) (re-export with torch.onnx.export(opset_version=17))"
        case .invalidNode(let path, let node, let op, let reason):
            return "\(path): node '\(node)' (\(op)): \(reason)"
        case .dynamicShape(let path, let node, let op, let reason):
            return "\(path): node '\(node)' (\(op)) has a data-dependent shape: \(reason)"
        case .inputMismatch(let path, let input, let reason):
            return "\(path): input '\(input)': \(reason)"
        case .numpyFile(let path, let reason):
            return "\(path): \(reason)"
        }
    }
}
