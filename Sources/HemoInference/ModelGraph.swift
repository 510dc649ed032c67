import Foundation
import SwiftProtobuf

/// A graph input or output: the value it names and its declared type.
struct GraphPort: Sendable {
    var id: Int
    var info: TensorInfo
}

/// A node after loading: value ids instead of names, decoded attributes and, for convolutions,
/// packed weights with folded batch normalisation and a fused activation.
struct GraphNode: Sendable {
    var name: String
    var op: String
    /// Value ids; `nil` for an omitted optional input.
    var inputs: [Int?]
    var outputs: [Int]
    var attributes: Attributes
    var convolution: PreparedConvolution?
    /// An activation fused into a normalisation node's store.
    var fusedActivation: Activation? = nil

    func input(_ index: Int) -> Int? { index < inputs.count ? inputs[index] : nil }
}

/// The weights of a `Conv` or `ConvTranspose`, prepared once at load.
struct PreparedConvolution: Sendable {
    enum Weights: Sendable {
        /// One packed matrix per group. Conv: `M = Cout/g`, `K = Cin/g·kh·kw`.
        /// ConvTranspose: `M = Cout/g·kh·kw`, `K = Cin/g`.
        case gemm([PackedMatrix])
        /// One input channel per group: the raw `[Cout, 1, kh, kw]` weights for the direct kernel.
        case depthwise(FloatStorage)
        /// 3×3, stride 1, one group: the 16 Winograd-transformed `Cout × Cin` matrices (see ``Winograd``).
        case winograd([PackedMatrix])
    }
    var transposed: Bool
    var weights: Weights
    var bias: FloatStorage?
    var inputChannels: Int
    var outputChannels: Int
    var groups: Int
    var kernelHeight: Int
    var kernelWidth: Int
    var activation: Activation
    /// 1 for 1-D and 2-D convolutions.
    var kernelDepth: Int = 1
    /// Spatial axes of the weights (1, 2 or 3): 1-D convolutions run as 2-D ones of height 1.
    var spatialRank: Int = 2
    var multiplyAdds: Int { outputChannels * (inputChannels / groups) * kernelDepth * kernelHeight * kernelWidth }
}

/// A loaded, validated ONNX graph: the input of planning.
struct ModelGraph: Sendable {
    static let supportedOpsets = 7...21

    /// Operators that run on activations or fold on constants.
    static let supportedOperators: Set<String> = [
        "Conv", "ConvTranspose", "BatchNormalization", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip",
        "HardSwish", "HardSigmoid", "Softmax", "Add", "Mul", "Sub", "Div", "Concat", "MaxPool",
        "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Resize", "Upsample", "Gemm", "MatMul",
        "Flatten", "Reshape", "Transpose", "Identity", "Constant", "Shape", "Gather", "Unsqueeze",
        "Squeeze", "Cast", "Slice", "Dropout", "ConstantOfShape",
        // Normalisation, element-wise, reductions, data movement (see PlannerOps.swift).
        "InstanceNormalization", "LayerNormalization", "GroupNormalization", "PRelu",
        "Erf", "Gelu", "Mish", "Softplus", "Exp", "Log", "Sqrt", "Reciprocal", "Neg", "Abs", "Not", "Floor",
        "Ceil", "Sign", "Elu", "Selu", "Softsign", "Sin", "Cos", "Round",
        "Pow", "Min", "Max", "Sum", "Mean", "Where", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual",
        "And", "Or", "Xor", "Mod",
        "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL2", "ReduceSumSquare", "ReduceProd",
        "ReduceL1", "ReduceLogSumExp",
        "Pad", "Split", "Expand", "Tile", "Range", "Einsum", "DequantizeLinear", "Size",
    ]
    /// Operators that fold to a constant when all their inputs are known before the run.
    static let foldableOperators: Set<String> = [
        "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Slice", "Reshape", "Identity",
        "ConstantOfShape", "Add", "Sub", "Mul", "Div", "Flatten", "Dropout",
        "DequantizeLinear", "Range", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Where",
        "Not", "And", "Or", "Neg", "Abs", "Sqrt", "Min", "Max", "Expand", "Tile", "Floor", "Ceil",
        "Pow", "Exp", "Log", "Reciprocal", "Size", "Sign", "Transpose", "Round",
        "ReduceProd", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceMean", "Mod",
    ]
    /// Inputs (by position) that must be known before the run: shapes, axes, scales, weights.
    static let staticInputs: [String: [Int]] = [
        "Reshape": [1], "Resize": [1, 2, 3], "Upsample": [1], "Slice": [1, 2, 3, 4], "Unsqueeze": [1],
        "Squeeze": [1], "ConstantOfShape": [0], "Clip": [1, 2], "Gather": [1],
        "Conv": [1, 2], "ConvTranspose": [1, 2], "BatchNormalization": [1, 2, 3, 4],
        "InstanceNormalization": [1, 2], "LayerNormalization": [1, 2], "GroupNormalization": [1, 2],
        "Pad": [1, 2, 3], "Split": [1], "Expand": [1], "Tile": [1], "Range": [0, 1, 2],
        "ReduceMean": [1], "ReduceSum": [1], "ReduceMax": [1], "ReduceMin": [1], "ReduceL2": [1],
        "ReduceSumSquare": [1], "ReduceProd": [1], "ReduceL1": [1], "ReduceLogSumExp": [1],
    ]

    var path: String
    var opset: Int
    var valueNames: [String]
    var constants: [Int: HostTensor]
    var inputs: [GraphPort]
    var outputs: [GraphPort]
    var nodes: [GraphNode]
    var parameterCount: Int
    var producerName: String
    /// Operator type → number of nodes using it, as in the file (before folding and fusion).
    var operatorCounts: [String: Int] = [:]
}

// MARK: - Loading

extension ModelGraph {
    /// Reads, decodes and validates the model at `path`, then prepares its convolutions.
    init(path: String) throws {
        // The file's bytes are released once decoded, and the decoded protobuf (which holds
        // the weights' raw bytes) before the weights are packed: the raw weights, the protobuf
        // and the packed copies are never all resident at once (the peak RSS of a load).
        try self.init(model: Self.decode(path: path), path: path)
        try prepareConvolutions()
    }

    /// The decoded protobuf of the file at `path`.
    static func decode(path: String) throws -> Onnx_ModelProto {
        let bytes: Data
        do {
            bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw InferenceError.unreadableFile(path: path, reason: error.localizedDescription)
        }
        do {
            return try Onnx_ModelProto(serializedBytes: bytes)
        } catch {
            throw InferenceError.corruptModel(path: path, reason: "protobuf decoding failed (\(error)); the file is truncated or not an ONNX model")
        }
    }

    /// Decodes and validates a model's graph (convolutions not yet prepared).
    init(model: Onnx_ModelProto, path: String) throws {
        func corrupt(_ reason: String) -> InferenceError { .corruptModel(path: path, reason: reason) }
        guard model.hasGraph else { throw corrupt("the file has no graph") }
        let graph = model.graph
        guard !graph.output.isEmpty else { throw corrupt("the graph declares no outputs") }
        guard let opsetImport = model.opsetImport.first(where: { $0.domain.isEmpty || $0.domain == "ai.onnx" }) else {
            throw corrupt("the model imports no ai.onnx operator set")
        }
        let opset = Int(opsetImport.version)
        guard Self.supportedOpsets.contains(opset) else {
            throw InferenceError.unsupportedOpset(path: path, domain: opsetImport.domain, version: opset,
                                                  supported: Self.supportedOpsets)
        }

        var ids: [String: Int] = [:]
        var names: [String] = []
        func define(_ name: String) -> Int {
            let id = names.count
            names.append(name)
            ids[name] = id
            return id
        }

        var constants: [Int: HostTensor] = [:]
        var parameterCount = 0
        for initializer in graph.initializer {
            let tensor = try Self.hostTensor(initializer, path: path, what: "initializer '\(initializer.name)'",
                                             directory: URL(fileURLWithPath: path).deletingLastPathComponent())
            constants[define(initializer.name)] = tensor
            parameterCount += tensor.count
        }

        var inputs: [GraphPort] = []
        for value in graph.input where ids[value.name] == nil || constants[ids[value.name]!] == nil {
            guard ids[value.name] == nil else { throw corrupt("graph input '\(value.name)' is declared twice") }
            let info = Self.tensorInfo(value)
            guard info.elementType == "float32" else {
                throw InferenceError.inputMismatch(path: path, input: value.name,
                                                   reason: "element type \(info.elementType) is not supported (float32 only)")
            }
            inputs.append(GraphPort(id: define(value.name), info: info))
        }

        var nodes: [GraphNode] = []
        var staticValues = Set(constants.keys)
        for (index, proto) in graph.node.enumerated() {
            let name = proto.name.isEmpty ? "#\(index)" : proto.name
            let op = proto.opType
            guard proto.domain.isEmpty || proto.domain == "ai.onnx", Self.supportedOperators.contains(op) else {
                throw InferenceError.unsupportedOperator(path: path, node: name, op: op, domain: proto.domain)
            }
            var values: [String: AttributeValue] = [:]
            for attribute in proto.attribute {
                values[attribute.name] = try Self.attributeValue(attribute, path: path, node: name, op: op)
            }
            let attributes = Attributes(values: values, path: path, node: name, op: op)
            var inputIDs: [Int?] = []
            for input in proto.input {
                if input.isEmpty { inputIDs.append(nil); continue }
                guard let id = ids[input] else {
                    throw corrupt("node '\(name)' (\(op)) reads '\(input)', which no graph input, initializer or earlier node defines")
                }
                inputIDs.append(id)
            }
            var outputIDs: [Int] = []
            for output in proto.output {
                guard ids[output] == nil else { throw corrupt("value '\(output)' is defined twice (node '\(name)')") }
                outputIDs.append(define(output.isEmpty ? "\(name):unused\(outputIDs.count)" : output))
            }
            guard !outputIDs.isEmpty else { throw corrupt("node '\(name)' (\(op)) has no outputs") }

            if op == "Constant" {
                constants[outputIDs[0]] = try Self.constantValue(attributes)
                staticValues.insert(outputIDs[0])
                continue
            }
            for position in Self.staticInputs[op] ?? [] {
                guard position < inputIDs.count, let id = inputIDs[position] else { continue }
                guard staticValues.contains(id) else {
                    throw InferenceError.dynamicShape(
                        path: path, node: name, op: op,
                        reason: "input \(position) ('\(names[id])') is computed from the data at run time; it must be an initializer, a Constant or derived from input shapes only")
                }
            }
            let present = inputIDs.compactMap { $0 }
            // Nodes on initializers and Constants alone (weights reached through Identity, Cast or
            // DequantizeLinear, constant arithmetic) become constants now, so convolutions and
            // normalisations see their weights.
            if Self.foldableOperators.contains(op), outputIDs.count == 1,
               present.allSatisfy({ constants[$0] != nil }) {
                let node = GraphNode(name: name, op: op, inputs: inputIDs, outputs: outputIDs, attributes: attributes,
                                     convolution: nil)
                constants[outputIDs[0]] = try ConstantFolding.evaluate(node, inputs: inputIDs.map { $0.flatMap { constants[$0] } },
                                                                       opset: opset)
                staticValues.insert(outputIDs[0])
                continue
            }
            if op == "Shape" || op == "Size" || (Self.foldableOperators.contains(op) && present.allSatisfy(staticValues.contains)) {
                staticValues.formUnion(outputIDs)
            }
            nodes.append(GraphNode(name: name, op: op, inputs: inputIDs, outputs: outputIDs,
                                   attributes: attributes, convolution: nil))
        }

        var outputs: [GraphPort] = []
        for value in graph.output {
            guard let id = ids[value.name] else { throw corrupt("graph output '\(value.name)' is never computed") }
            outputs.append(GraphPort(id: id, info: Self.tensorInfo(value)))
        }

        self.path = path
        self.opset = opset
        self.valueNames = names
        self.constants = constants
        self.inputs = inputs
        self.outputs = outputs
        self.nodes = nodes
        self.parameterCount = parameterCount
        self.producerName = model.producerName
        for node in graph.node { operatorCounts[node.opType, default: 0] += 1 }
    }

    // MARK: Protobuf decoding

    static func tensorInfo(_ value: Onnx_ValueInfoProto) -> TensorInfo {
        let tensorType = value.type.tensorType
        let shape: [TensorDimension]? = tensorType.hasShape
            ? tensorType.shape.dim.map { dimension in
                switch dimension.value {
                case .dimValue(let extent)?: return .fixed(Int(extent))
                case .dimParam(let symbol)?: return .symbolic(symbol)
                case nil: return .symbolic("")
                }
            }
            : nil
        return TensorInfo(name: value.name, elementType: elementTypeName(tensorType.elemType), shape: shape)
    }

    static func elementTypeName(_ code: Int32) -> String {
        switch code {
        case 1: return "float32"
        case 2: return "uint8"
        case 3: return "int8"
        case 4: return "uint16"
        case 5: return "int16"
        case 6: return "int32"
        case 7: return "int64"
        case 8: return "string"
        case 9: return "bool"
        case 10: return "float16"
        case 11: return "float64"
        case 12: return "uint32"
        case 13: return "uint64"
        case 16: return "bfloat16"
        default: return "type\(code)"
        }
    }

    /// Decodes a `TensorProto` (float32/float64 to floats; integer and bool types to integers).
    static func hostTensor(_ proto: Onnx_TensorProto, path: String, what: String, directory: URL? = nil) throws -> HostTensor {
        func corrupt(_ reason: String) -> InferenceError { .corruptModel(path: path, reason: "\(what): \(reason)") }
        let shape = proto.dims.map { Int($0) }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw corrupt("negative dimension in \(shape)") }
        let count = shape.reduce(1, *)
        var raw = [UInt8](proto.rawData)
        var hasRaw = proto.hasRawData
        if proto.dataLocation == .external || !proto.externalData.isEmpty {
            raw = try externalBytes(proto, path: path, directory: directory, corrupt: corrupt)
            hasRaw = true
        }
        func fromRaw<T>(_ type: T.Type) throws -> [T] {
            guard raw.count == count * MemoryLayout<T>.size else {
                throw corrupt("raw data holds \(raw.count) bytes, expected \(count * MemoryLayout<T>.size) for shape \(shape)")
            }
            return raw.withUnsafeBytes { bytes in (0..<count).map { bytes.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self) } }
        }
        func checked<T>(_ values: [T]) throws -> [T] {
            guard values.count == count else { throw corrupt("holds \(values.count) values, expected \(count) for shape \(shape)") }
            return values
        }
        switch proto.dataType {
        case 1:
            return HostTensor(shape: shape, floats: hasRaw ? try fromRaw(Float.self) : try checked(proto.floatData))
        case 10:
            // float16: raw little-endian halves, or one half per int32_data entry.
            let bits = hasRaw ? try fromRaw(UInt16.self) : try checked(proto.int32Data).map { UInt16(truncatingIfNeeded: $0) }
            return HostTensor(shape: shape, floats: bits.map { Self.halfToFloat($0) })
        case 4:
            let values = hasRaw ? try fromRaw(UInt16.self).map { Int($0) } : try checked(proto.int32Data).map { Int($0) }
            return HostTensor(shape: shape, ints: values)
        case 5:
            let values = hasRaw ? try fromRaw(Int16.self).map { Int($0) } : try checked(proto.int32Data).map { Int($0) }
            return HostTensor(shape: shape, ints: values)
        case 12:
            let values = hasRaw ? try fromRaw(UInt32.self).map { Int($0) } : try checked(proto.uint64Data).map { Int($0) }
            return HostTensor(shape: shape, ints: values)
        case 11:
            let values = hasRaw ? try fromRaw(Double.self) : try checked(proto.doubleData)
            return HostTensor(shape: shape, floats: values.map { Float($0) })
        case 7:
            let values = hasRaw ? try fromRaw(Int64.self) : try checked(proto.int64Data)
            return HostTensor(shape: shape, ints: values.map { Int($0) })
        case 6:
            let values = hasRaw ? try fromRaw(Int32.self) : try checked(proto.int32Data)
            return HostTensor(shape: shape, ints: values.map { Int($0) })
        case 2, 9:
            let values = hasRaw ? try fromRaw(UInt8.self).map { Int($0) } : try checked(proto.int32Data).map { Int($0) }
            return HostTensor(shape: shape, ints: values)
        case 3:
            let values = hasRaw ? try fromRaw(Int8.self).map { Int($0) } : try checked(proto.int32Data).map { Int($0) }
            return HostTensor(shape: shape, ints: values)
        default:
            throw corrupt("element type \(elementTypeName(proto.dataType)) is not supported (float16/32/64, int8/16/32/64, uint8/16/32, bool)")
        }
    }

    /// The bytes of a tensor stored in an ONNX external-data file (`location`, `offset`, `length`
    /// entries), resolved beside the model file.
    static func externalBytes(_ proto: Onnx_TensorProto, path: String, directory: URL?,
                              corrupt: (String) -> InferenceError) throws -> [UInt8] {
        var entries: [String: String] = [:]
        for entry in proto.externalData { entries[entry.key] = entry.value }
        guard let location = entries["location"], !location.isEmpty else { throw corrupt("external data without a 'location'") }
        guard !location.hasPrefix("/"), !location.split(separator: "/").contains("..") else {
            throw corrupt("external data location '\(location)' must be a relative path beside the model")
        }
        guard let directory else { throw corrupt("external data '\(location)' cannot be resolved here") }
        let file = directory.appendingPathComponent(location).path
        guard let handle = FileHandle(forReadingAtPath: file) else {
            throw corrupt("cannot open the external data file \(file)")
        }
        defer { try? handle.close() }
        let offset = UInt64(entries["offset"] ?? "0") ?? 0
        do {
            try handle.seek(toOffset: offset)
            let data: Data
            if let lengthText = entries["length"], let length = Int(lengthText) {
                data = try handle.read(upToCount: length) ?? Data()
                guard data.count == length else {
                    throw corrupt("external data file \(file) holds \(data.count) of the \(length) bytes at offset \(offset)")
                }
            } else {
                data = try handle.readToEnd() ?? Data()
            }
            return [UInt8](data)
        } catch let error as InferenceError {
            throw error
        } catch {
            throw corrupt("cannot read the external data file \(file): \(error.localizedDescription)")
        }
    }

    /// IEEE 754 half → float.
    static func halfToFloat(_ bits: UInt16) -> Float {
        let sign = UInt32(bits >> 15) << 31
        let exponent = Int((bits >> 10) & 0x1F)
        let mantissa = UInt32(bits & 0x3FF)
        if exponent == 0 {
            let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign != 0 ? -magnitude : magnitude
        }
        if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
    }

    static func attributeValue(_ proto: Onnx_AttributeProto, path: String, node: String, op: String) throws -> AttributeValue {
        switch proto.type {
        case .int: return .int(Int(proto.i))
        case .ints: return .ints(proto.ints.map { Int($0) })
        case .float: return .float(proto.f)
        case .floats: return .floats(proto.floats)
        case .string: return .string(String(decoding: proto.s, as: UTF8.self))
        case .strings: return .strings(proto.strings.map { String(decoding: $0, as: UTF8.self) })
        case .tensor:
            return .tensor(try hostTensor(proto.t, path: path, what: "node '\(node)' (\(op)) attribute '\(proto.name)'"))
        default:
            // Older exporters leave `type` unset; infer from the populated field.
            if proto.hasT { return .tensor(try hostTensor(proto.t, path: path, what: "node '\(node)' attribute '\(proto.name)'")) }
            if !proto.ints.isEmpty { return .ints(proto.ints.map { Int($0) }) }
            if !proto.floats.isEmpty { return .floats(proto.floats) }
            if proto.hasI { return .int(Int(proto.i)) }
            if proto.hasF { return .float(proto.f) }
            if proto.hasS { return .string(String(decoding: proto.s, as: UTF8.self)) }
            return .other("\(proto.type)")
        }
    }

    static func constantValue(_ attributes: Attributes) throws -> HostTensor {
        switch attributes.values["value"] ?? attributes.values["value_float"] ?? attributes.values["value_floats"]
            ?? attributes.values["value_int"] ?? attributes.values["value_ints"] {
        case .tensor(let tensor)?: return tensor
        case .float(let value)?: return HostTensor(shape: [], floats: [value])
        case .floats(let values)?: return HostTensor(shape: [values.count], floats: values)
        case .int(let value)?: return HostTensor(shape: [], ints: [value])
        case .ints(let values)?: return HostTensor(shape: [values.count], ints: values)
        default: throw attributes.invalid("Constant needs a 'value', 'value_float(s)' or 'value_int(s)' attribute")
        }
    }
}
