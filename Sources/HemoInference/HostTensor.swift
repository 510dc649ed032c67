/// A tensor known before the model runs: an initializer, a `Constant`, or a value folded from
/// shapes (the `Shape → Gather → Unsqueeze → Concat → Reshape` chains exporters emit).
struct HostTensor: Sendable, Equatable {
    /// The elements: float32 (also float64/float16 converted), or integers (int64, int32, bool…).
    enum Elements: Sendable, Equatable {
        case float([Float])
        case int([Int])
    }

    var shape: [Int]
    var elements: Elements

    init(shape: [Int], elements: Elements) {
        self.shape = shape
        self.elements = elements
    }

    init(shape: [Int], floats: [Float]) { self.init(shape: shape, elements: .float(floats)) }
    init(shape: [Int], ints: [Int]) { self.init(shape: shape, elements: .int(ints)) }

    var count: Int { shape.reduce(1, *) }
    var isInteger: Bool { if case .int = elements { return true } else { return false } }

    /// The elements as floats (integers converted).
    var floats: [Float] {
        switch elements {
        case .float(let values): return values
        case .int(let values): return values.map { Float($0) }
        }
    }

    /// The elements as integers (floats truncated toward zero).
    var ints: [Int] {
        switch elements {
        case .float(let values): return values.map { $0.isFinite ? Int($0) : 0 }
        case .int(let values): return values
        }
    }
}

/// One attribute of a node, decoded from `AttributeProto`.
enum AttributeValue: Sendable, Equatable {
    case int(Int)
    case ints([Int])
    case float(Float)
    case floats([Float])
    case string(String)
    case strings([String])
    case tensor(HostTensor)
    /// A kind this engine never reads (graphs, sparse tensors, type protos).
    case other(String)
}

/// The attributes of a node, with typed accessors that throw ``InferenceError/invalidNode``.
struct Attributes: Sendable {
    var values: [String: AttributeValue]
    var path: String
    var node: String
    var op: String

    func invalid(_ reason: String) -> InferenceError {
        .invalidNode(path: path, node: node, op: op, reason: reason)
    }

    func has(_ name: String) -> Bool { values[name] != nil }

    func int(_ name: String, default fallback: Int) throws -> Int {
        switch values[name] {
        case nil: return fallback
        case .int(let value)?: return value
        default: throw invalid("attribute '\(name)' should be an integer")
        }
    }

    func float(_ name: String, default fallback: Float) throws -> Float {
        switch values[name] {
        case nil: return fallback
        case .float(let value)?: return value
        case .int(let value)?: return Float(value)
        default: throw invalid("attribute '\(name)' should be a float")
        }
    }

    func ints(_ name: String) throws -> [Int]? {
        switch values[name] {
        case nil: return nil
        case .ints(let value)?: return value
        case .int(let value)?: return [value]
        default: throw invalid("attribute '\(name)' should be a list of integers")
        }
    }

    func floats(_ name: String) throws -> [Float]? {
        switch values[name] {
        case nil: return nil
        case .floats(let value)?: return value
        case .float(let value)?: return [value]
        default: throw invalid("attribute '\(name)' should be a list of floats")
        }
    }

    func string(_ name: String, default fallback: String) throws -> String {
        switch values[name] {
        case nil: return fallback
        case .string(let value)?: return value
        default: throw invalid("attribute '\(name)' should be a string")
        }
    }
}
