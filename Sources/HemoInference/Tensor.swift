/// A dense float32 tensor in C (row-major) order: the values a model consumes and produces.
///
/// Image batches use NCHW: `shape == [batch, channels, height, width]`.
public struct Tensor: Sendable, Equatable {
    /// The extent of each dimension, outermost first.
    public var shape: [Int]
    /// The elements in C order; `data.count` is the product of `shape`.
    public var data: [Float]

    /// A tensor with the given shape and elements.
    ///
    /// - Precondition: `data.count` equals the product of `shape` and no extent is negative.
    public init(shape: [Int], data: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative extent in \(shape)")
        precondition(data.count == shape.reduce(1, *), "Tensor: \(data.count) elements for shape \(shape)")
        self.shape = shape
        self.data = data
    }

    /// A tensor of the given shape with every element equal to `value`.
    public init(shape: [Int], repeating value: Float) {
        self.init(shape: shape, data: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    /// The number of elements (the product of `shape`).
    public var elementCount: Int { shape.reduce(1, *) }
}

/// One dimension of a graph input or output as the model file declares it.
public enum TensorDimension: Sendable, Equatable, CustomStringConvertible {
    /// A fixed extent.
    case fixed(Int)
    /// An extent bound when the model runs (ONNX `dim_param`, e.g. "batch", or unnamed).
    case symbolic(String)

    /// `64`, or the symbol's name (`?` when unnamed).
    public var description: String {
        switch self {
        case .fixed(let extent): return String(extent)
        case .symbolic(let name): return name.isEmpty ? "?" : name
        }
    }
}

/// A named graph input or output: its element type and declared shape.
public struct TensorInfo: Sendable, Equatable, CustomStringConvertible {
    /// The value's name in the graph; `run` keys its inputs and outputs by it.
    public var name: String
    /// ONNX element type name, e.g. "float32".
    public var elementType: String
    /// The declared dimensions; `nil` when the file declares no shape.
    public var shape: [TensorDimension]?

    /// Creates the description of a graph input or output.
    public init(name: String, elementType: String, shape: [TensorDimension]?) {
        self.name = name
        self.elementType = elementType
        self.shape = shape
    }

    /// `name: float32[batch, 3, H, W]`.
    public var description: String {
        let dims = shape.map { "[" + $0.map(\.description).joined(separator: ", ") + "]" } ?? "[unknown shape]"
        return "\(name): \(elementType)\(dims)"
    }
}
