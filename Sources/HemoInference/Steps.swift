/// Where a step reads or writes: a region of the run's arena (by storage id) or a plan constant.
enum Operand: Sendable {
    case storage(Int)
    case constant(Int)
}

/// Geometry of one convolution for one input shape.
struct ConvolutionStep: Sendable {
    var convolution: PreparedConvolution
    var input: Operand
    var output: Operand
    var batch: Int
    var inputHeight: Int, inputWidth: Int
    var outputHeight: Int, outputWidth: Int
    var strideHeight: Int, strideWidth: Int
    var padTop: Int, padLeft: Int
    var dilationHeight: Int, dilationWidth: Int
}

/// Element-wise binary operation with broadcasting, coalesced to at most a few axes.
struct BinaryStep: Sendable {
    enum Kind: Sendable { case add, sub, mul, div }
    var kind: Kind
    var a: Operand, b: Operand, output: Operand
    /// Output shape after merging contiguous axes; the last axis is the inner loop.
    var shape: [Int]
    var aStrides: [Int], bStrides: [Int]
}

/// Copies a strided view (Transpose, Slice): `output[i…] = input[base + Σ index·stride]`.
struct StridedCopyStep: Sendable {
    var input: Operand, output: Operand
    var shape: [Int]
    var strides: [Int]
    var base: Int
}

/// Concatenation: each output "row" (product of the axes before `axis`) is the inputs' chunks in order.
struct ConcatStep: Sendable {
    var inputs: [Operand]
    var chunkSizes: [Int]
    var outer: Int
    var output: Operand
    /// Inputs their producer already wrote in place into the output (not copied).
    var inPlace: [Bool]
}

/// Max or average pooling over planes of `N·C`.
struct PoolStep: Sendable {
    enum Kind: Sendable { case max, average }
    var kind: Kind
    var input: Operand, output: Operand
    var planes: Int
    var inputHeight: Int, inputWidth: Int, outputHeight: Int, outputWidth: Int
    var kernelHeight: Int, kernelWidth: Int
    var strideHeight: Int, strideWidth: Int
    var padTop: Int, padLeft: Int, padBottom: Int, padRight: Int
    var dilationHeight: Int, dilationWidth: Int
    var countIncludePad: Bool
}

/// 2-D resize of each plane of `N·C` with precomputed source indices and weights.
struct ResizeStep: Sendable {
    var input: Operand, output: Operand
    var planes: Int
    var inputHeight: Int, inputWidth: Int, outputHeight: Int, outputWidth: Int
    var linear: Bool
    /// Nearest: source row/column per output row/column. Linear: the lower neighbour.
    var rows0: [Int], columns0: [Int]
    /// Linear only: the upper neighbour and its weight.
    var rows1: [Int], columns1: [Int]
    var rowWeights: [Float], columnWeights: [Float]
}

/// Batched matrix product `Y = alpha·op(A)·op(B) + beta·C` (Gemm, MatMul).
struct MatMulStep: Sendable {
    var a: Operand, b: Operand, c: Operand?
    var output: Operand
    var batch: Int
    var m: Int, k: Int, n: Int
    var aBatchStride: Int, bBatchStride: Int
    var aRowStride: Int, aDepthStride: Int
    var bDepthStride: Int, bColumnStride: Int
    var cRowStride: Int, cColumnStride: Int
    var alpha: Float, beta: Float
}

/// Softmax over the middle axis of `[outer, extent, inner]`.
struct SoftmaxStep: Sendable {
    var input: Operand, output: Operand
    var outer: Int, extent: Int, inner: Int
}

/// Per-channel `y = x·scale[c] + shift[c]` (BatchNormalization not folded into a convolution).
struct ChannelAffineStep: Sendable {
    var input: Operand, output: Operand
    var batch: Int, channels: Int, spatial: Int
    var scale: [Float], shift: [Float]
}

/// One unit of work of an execution plan.
enum Step: Sendable {
    case convolution(ConvolutionStep)
    case binary(BinaryStep)
    case activation(Activation, input: Operand, output: Operand, count: Int)
    case stridedCopy(StridedCopyStep)
    case gather(input: Operand, output: Operand, sources: [Int])
    case concat(ConcatStep)
    case pool(PoolStep)
    case resize(ResizeStep)
    case matmul(MatMulStep)
    case softmax(SoftmaxStep)
    case channelAffine(ChannelAffineStep)
    case copy(input: Operand, output: Operand, count: Int)
}
