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
    /// A BatchNormalization (and the ReLU fused into it) of the input, applied as the GEMM packs
    /// the input instead of by a step of its own (1×1 convolutions that alone read it).
    var inputAffine: InputAffine? = nil
}

/// Per-channel `y = x·scale[c] + shift[c]`, then ReLU when `relu` (``ChannelAffineStep`` with
/// the identity or ReLU), folded into the input of the convolution that alone reads it.
struct InputAffine: Sendable {
    var scale: [Float], shift: [Float]
    var relu: Bool
}

/// Element-wise binary operation with broadcasting, coalesced to at most a few axes.
/// Comparisons and logical operators write 1 or 0 (booleans are floats at run time).
struct BinaryStep: Sendable {
    enum Kind: Sendable {
        case add, sub, mul, div, pow, min, max, equal, less, greater, lessOrEqual, greaterOrEqual, and, or, xor
        /// PRelu: `a < 0 ? a·b : a`.
        case prelu
        /// Mod with the sign of the divisor (`fmod` 0), or C's fmod (`fmod` 1).
        case mod, fmod
    }
    var kind: Kind
    var a: Operand, b: Operand, output: Operand
    /// Where only: the condition; `a` is taken where it is non-zero, `b` elsewhere.
    var condition: Operand? = nil
    var conditionStrides: [Int] = []
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
    /// When set, the offsets of A and B per batch (broadcast batch axes); otherwise
    /// `batch · aBatchStride` and `batch · bBatchStride`.
    var aOffsets: [Int]? = nil, bOffsets: [Int]? = nil
}

/// Softmax over the middle axis of `[outer, extent, inner]`.
struct SoftmaxStep: Sendable {
    var input: Operand, output: Operand
    var outer: Int, extent: Int, inner: Int
}

/// Per-channel `y = activation(x·scale[c] + shift[c])` (BatchNormalization not folded into a
/// convolution, with the activation that follows it fused).
struct ChannelAffineStep: Sendable {
    var input: Operand, output: Operand
    var batch: Int, channels: Int, spatial: Int
    var scale: [Float], shift: [Float]
    var activation: Activation = .identity
}

/// A 3-D convolution (NCDHW): implicit im2col in column chunks through the packed GEMM, or for
/// ConvTranspose a GEMM followed by a col2im scatter.
struct Convolution3DStep: Sendable {
    var convolution: PreparedConvolution
    var input: Operand
    var output: Operand
    var batch: Int
    /// Depth, height, width.
    var inputExtents: [Int]
    var outputExtents: [Int]
    var strides: [Int]
    /// Begin padding per spatial axis.
    var pads: [Int]
    var dilations: [Int]
}

/// Max or average pooling over 1, 2 or 3 spatial axes (as depth, height, width; missing ones are 1).
struct PoolNDStep: Sendable {
    var kind: PoolStep.Kind
    var input: Operand, output: Operand
    var planes: Int
    var inputExtents: [Int], outputExtents: [Int]
    var kernel: [Int], strides: [Int], dilations: [Int]
    var padBegin: [Int], padEnd: [Int]
    var countIncludePad: Bool
}

/// Element-wise unary operators that are not fused activations.
struct UnaryStep: Sendable {
    enum Kind: Sendable {
        case exp, log, sqrt, reciprocal, neg, abs, erf, gelu, geluTanh, softplus, mish, not, floor, ceil, sign, round
        case elu(Float), selu(Float, Float), softsign, sin, cos
        /// Cast to an integer type: truncation toward zero. Cast to bool: `x != 0`.
        case truncate, isNonZero
    }
    var kind: Kind
    var input: Operand, output: Operand
    var count: Int
}

/// A reduction: each output element combines the input elements at `base(output) + reducedOffsets`.
struct ReduceStep: Sendable {
    enum Kind: Sendable { case mean, sum, max, min, l2, l1, sumSquare, prod, logSumExp }
    var kind: Kind
    var input: Operand, output: Operand
    /// The kept axes (extent and input stride), outermost first; the output is their row-major order.
    var keptShape: [Int], keptStrides: [Int]
    /// Input offsets of the reduced elements, relative to each output's base, in row-major order.
    var reducedOffsets: [Int]
}

/// Normalisation of rows: `y = (x − mean)/sqrt(var + ε) · scale[i] + bias[i]`, then `activation`,
/// over `rows` contiguous rows of `extent` values, with
/// `i = ((row % rowPeriod) · extent + e) / block` (InstanceNormalization: per channel;
/// GroupNormalization: per channel within the group; LayerNormalization: per element).
struct NormalizeStep: Sendable {
    var input: Operand, output: Operand
    var rows: Int, extent: Int
    var rowPeriod: Int, block: Int
    var epsilon: Float
    var scale: [Float], bias: [Float]
    var activation: Activation
}

/// Pad (constant, reflect, edge, wrap): per output axis, the input index each output index reads
/// (-1: the constant value).
struct PadStep: Sendable {
    var input: Operand, output: Operand
    var outputShape: [Int]
    var inputStrides: [Int]
    var sources: [[Int]]
    var value: Float
}

/// Resampling along one axis of `[outer, inExtent, inner]` → `[outer, outExtent, inner]`: each
/// output index is `Σ weights[o·taps + t] · input[indices[o·taps + t]]` (nearest: one tap,
/// linear: two, cubic: four). Resize runs one such step per resized axis.
struct ResampleStep: Sendable {
    var input: Operand, output: Operand
    var outer: Int, inExtent: Int, outExtent: Int, inner: Int
    var taps: Int
    var indices: [Int]
    var weights: [Float]
}

/// A general Einsum of one or two operands: for each output element, the sum over the
/// contracted indices of the product of the operands' elements.
struct EinsumStep: Sendable {
    var inputs: [Operand], output: Operand
    /// Extents of the output indices, then of the contracted ones.
    var outputShape: [Int], contractedShape: [Int]
    /// Per operand: its stride for each output index and each contracted index.
    var outputStrides: [[Int]], contractedStrides: [[Int]]
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
    case convolution3D(Convolution3DStep)
    case poolND(PoolNDStep)
    case unary(UnaryStep)
    case reduce(ReduceStep)
    case normalize(NormalizeStep)
    case pad(PadStep)
    case resample(ResampleStep)
    case einsum(EinsumStep)
}
