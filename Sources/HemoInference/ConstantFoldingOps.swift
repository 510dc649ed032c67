#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Constant folding of the element-wise, comparison, reduction and data-movement operators
/// exporters apply to weights (`DequantizeLinear`) and to shapes (`Range`, `Where`, `Equal`…).
extension ConstantFolding {
    /// The value of `node` on constant inputs, or nil when `node.op` is not handled here.
    static func evaluateMore(_ node: GraphNode, inputs: [HostTensor?], opset: Int) throws -> HostTensor? {
        let a = node.attributes
        func input(_ index: Int) throws -> HostTensor {
            guard index < inputs.count, let value = inputs[index] else { throw a.invalid("input \(index) is missing") }
            return value
        }
        switch node.op {
        case "DequantizeLinear":
            let x = try input(0), scale = try input(1)
            let zero = inputs.count > 2 ? inputs[2] : nil
            let xs = x.ints, scales = scale.floats, zeros = zero?.ints ?? [Int](repeating: 0, count: scale.count)
            if scale.count == 1 {
                return HostTensor(shape: x.shape, floats: xs.map { Float($0 - zeros[0]) * scales[0] })
            }
            guard let axis = ShapeRules.normalize(axis: try a.int("axis", default: 1), rank: x.shape.count),
                  x.shape[axis] == scale.count else {
                throw a.invalid("per-axis scales \(scale.shape) do not match input \(x.shape)")
            }
            let inner = x.shape[(axis + 1)...].reduce(1, *), extent = x.shape[axis]
            return HostTensor(shape: x.shape, floats: xs.enumerated().map { index, value in
                let channel = (index / inner) % extent
                return Float(value - zeros[channel]) * scales[channel]
            })
        case "Range":
            let start = try input(0), limit = try input(1), delta = try input(2)
            if start.isInteger && limit.isInteger && delta.isInteger {
                let (s, l, d) = (start.ints[0], limit.ints[0], delta.ints[0])
                guard d != 0 else { throw a.invalid("delta is 0") }
                let count = max(0, (l - s + d + (d > 0 ? -1 : 1)) / d)
                return HostTensor(shape: [count], ints: (0..<count).map { s + $0 * d })
            }
            let (s, l, d) = (start.floats[0], limit.floats[0], delta.floats[0])
            guard d != 0 else { throw a.invalid("delta is 0") }
            let count = max(0, Int(((l - s) / d).rounded(.up)))
            return HostTensor(shape: [count], floats: (0..<count).map { s + Float($0) * d })
        case "Size":
            return HostTensor(shape: [], ints: [try input(0).count])
        case "Shape":
            let shape = try input(0).shape
            let rank = shape.count
            let start = try a.int("start", default: 0), end = try a.int("end", default: rank)
            let lower = Swift.min(Swift.max(start < 0 ? start + rank : start, 0), rank)
            let upper = Swift.min(Swift.max(end < 0 ? end + rank : end, 0), rank)
            let kept = lower < upper ? Array(shape[lower..<upper]) : []
            return HostTensor(shape: [kept.count], ints: kept)
        case "Not", "Neg", "Abs", "Sqrt", "Floor", "Ceil", "Exp", "Log", "Reciprocal", "Sign", "Round":
            let x = try input(0)
            if x.isInteger, ["Not", "Neg", "Abs", "Sign"].contains(node.op) {
                let values: [Int] = x.ints.map { v in
                    switch node.op {
                    case "Not": return v == 0 ? 1 : 0
                    case "Neg": return -v
                    case "Abs": return abs(v)
                    default: return v.signum()
                    }
                }
                return HostTensor(shape: x.shape, ints: values)
            }
            return HostTensor(shape: x.shape, floats: x.floats.map { v in
                switch node.op {
                case "Not": return v == 0 ? 1 : 0
                case "Neg": return -v
                case "Abs": return abs(v)
                case "Sqrt": return v.squareRoot()
                case "Floor": return v.rounded(.down)
                case "Ceil": return v.rounded(.up)
                case "Round": return v.rounded(.toNearestOrEven)
                case "Exp": return expf(v)
                case "Log": return logf(v)
                case "Sign": return v > 0 ? 1 : (v < 0 ? -1 : 0)
                default: return 1 / v
                }
            })
        case "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Min", "Max", "Pow", "Where", "Mod":
            let values = try inputs.indices.map { try input($0) }
            guard var shape = values.first?.shape else { throw a.invalid("no inputs") }
            for value in values.dropFirst() {
                guard let next = ShapeRules.broadcast(shape, value.shape) else {
                    throw a.invalid("shapes \(values.map(\.shape)) do not broadcast")
                }
                shape = next
            }
            let indices = values.map { broadcastIndices($0.shape, to: shape) }
            let count = shape.reduce(1, *)
            let comparison = ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or"].contains(node.op)
            if node.op == "Where" {
                let condition = values[0].ints
                if values[1].isInteger && values[2].isInteger {
                    let x = values[1].ints, y = values[2].ints
                    return HostTensor(shape: shape, ints: (0..<count).map {
                        condition[indices[0][$0]] != 0 ? x[indices[1][$0]] : y[indices[2][$0]]
                    })
                }
                let x = values[1].floats, y = values[2].floats
                return HostTensor(shape: shape, floats: (0..<count).map {
                    condition[indices[0][$0]] != 0 ? x[indices[1][$0]] : y[indices[2][$0]]
                })
            }
            if values.allSatisfy(\.isInteger) && node.op != "Pow" {
                let lists = values.map(\.ints)
                return HostTensor(shape: shape, ints: (0..<count).map { i in
                    var result = lists[0][indices[0][i]]
                    for (list, index) in zip(lists.dropFirst(), indices.dropFirst()) {
                        let v = list[index[i]]
                        switch node.op {
                        case "Equal": result = result == v ? 1 : 0
                        case "Less": result = result < v ? 1 : 0
                        case "Greater": result = result > v ? 1 : 0
                        case "LessOrEqual": result = result <= v ? 1 : 0
                        case "GreaterOrEqual": result = result >= v ? 1 : 0
                        case "And": result = (result != 0 && v != 0) ? 1 : 0
                        case "Or": result = (result != 0 || v != 0) ? 1 : 0
                        case "Min": result = Swift.min(result, v)
                        case "Mod": result = Self.modulo(result, v, fmod: (try? a.int("fmod", default: 0)) == 1)
                        default: result = Swift.max(result, v)
                        }
                    }
                    return result
                })
            }
            let lists = values.map(\.floats)
            let floats: [Float] = (0..<count).map { i in
                var result = lists[0][indices[0][i]]
                for (list, index) in zip(lists.dropFirst(), indices.dropFirst()) {
                    let v = list[index[i]]
                    switch node.op {
                    case "Equal": result = result == v ? 1 : 0
                    case "Less": result = result < v ? 1 : 0
                    case "Greater": result = result > v ? 1 : 0
                    case "LessOrEqual": result = result <= v ? 1 : 0
                    case "GreaterOrEqual": result = result >= v ? 1 : 0
                    case "And": result = (result != 0 && v != 0) ? 1 : 0
                    case "Or": result = (result != 0 || v != 0) ? 1 : 0
                    case "Min": result = Swift.min(result, v)
                    case "Max": result = Swift.max(result, v)
                    case "Mod":
                        let r = fmodf(result, v)
                        result = (try? a.int("fmod", default: 0)) == 1 || r == 0 || (r < 0) == (v < 0) ? r : r + v
                    default: result = powf(result, v)
                    }
                }
                return result
            }
            return comparison ? HostTensor(shape: shape, ints: floats.map { Int($0) }) : HostTensor(shape: shape, floats: floats)
        case "Expand":
            let x = try input(0)
            guard let shape = ShapeRules.broadcast(x.shape, try input(1).ints) else {
                throw a.invalid("cannot expand \(x.shape) to \(try input(1).ints)")
            }
            return x.gathered(shape: shape, sources: broadcastIndices(x.shape, to: shape))
        case "Tile":
            let x = try input(0)
            let repeats = try input(1).ints
            guard repeats.count == x.shape.count else { throw a.invalid("repeats \(repeats) do not match rank \(x.shape.count)") }
            let shape = zip(x.shape, repeats).map { $0 * $1 }
            let strides = ShapeRules.strides(x.shape), outStrides = ShapeRules.strides(shape)
            let count = shape.reduce(1, *)
            let sources = (0..<count).map { flat -> Int in
                var rest = flat, offset = 0
                for axis in shape.indices {
                    let index = rest / outStrides[axis]
                    rest %= outStrides[axis]
                    offset += (index % x.shape[axis]) * strides[axis]
                }
                return offset
            }
            return x.gathered(shape: shape, sources: sources)
        case "Transpose":
            let x = try input(0)
            let perm = try a.ints("perm") ?? Array((0..<x.shape.count).reversed())
            let strides = ShapeRules.strides(x.shape)
            let shape = perm.map { x.shape[$0] }
            let ranges = shape.indices.map { (start: 0, step: 1, count: shape[$0]) }
            // Sources of the permuted view: walk the output in order with the permuted strides.
            var sources = [0]
            for (axis, range) in ranges.enumerated() {
                var next: [Int] = []
                for base in sources { for i in 0..<range.count { next.append(base + i * strides[perm[axis]]) } }
                sources = next
            }
            return x.gathered(shape: shape, sources: sources)
        case "ReduceProd", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceMean":
            let x = try input(0)
            let axesInput = inputs.count > 1 ? inputs[1]?.ints : nil
            let axes = try a.ints("axes") ?? axesInput ?? []
            let keep = try a.int("keepdims", default: 1) != 0
            let noop = try a.int("noop_with_empty_axes", default: 0) != 0
            let all = axes.isEmpty && !noop
            let rank = x.shape.count
            let reduced = Set(all ? Array(0..<rank) : axes.map { $0 < 0 ? $0 + rank : $0 })
            var outShape: [Int] = []
            for axis in 0..<rank {
                if reduced.contains(axis) { if keep { outShape.append(1) } } else { outShape.append(x.shape[axis]) }
            }
            let keptShape = (0..<rank).map { reduced.contains($0) ? 1 : x.shape[$0] }
            let keptStrides = ShapeRules.strides(keptShape)
            let count = keptShape.reduce(1, *)
            var accumulators = [Double](repeating: node.op == "ReduceProd" ? 1 : (node.op == "ReduceMax" ? -.infinity : (node.op == "ReduceMin" ? .infinity : 0)), count: count)
            let values = x.floats
            let strides = ShapeRules.strides(x.shape)
            for flat in 0..<values.count {
                var rest = flat, target = 0
                for axis in 0..<rank {
                    let index = rest / strides[axis]
                    rest %= strides[axis]
                    if !reduced.contains(axis) { target += index * keptStrides[axis] }
                }
                let v = Double(values[flat])
                switch node.op {
                case "ReduceProd": accumulators[target] *= v
                case "ReduceMax": accumulators[target] = Swift.max(accumulators[target], v)
                case "ReduceMin": accumulators[target] = Swift.min(accumulators[target], v)
                default: accumulators[target] += v
                }
            }
            let reducedCount = Double(Swift.max(1, x.count / Swift.max(count, 1)))
            if node.op == "ReduceMean" { accumulators = accumulators.map { $0 / reducedCount } }
            if x.isInteger { return HostTensor(shape: outShape, ints: accumulators.map { Int($0) }) }
            return HostTensor(shape: outShape, floats: accumulators.map { Float($0) })
        default:
            return nil
        }
    }

    /// ONNX Mod of integers: the sign of the divisor (Python's %), or of the dividend with `fmod`.
    static func modulo(_ x: Int, _ y: Int, fmod: Bool) -> Int {
        guard y != 0 else { return 0 }
        let r = x % y
        return fmod || r == 0 || (r < 0) == (y < 0) ? r : r + y
    }

    /// For each element of `output` (row-major), the flat index of `shape` broadcast to it.
    static func broadcastIndices(_ shape: [Int], to output: [Int]) -> [Int] {
        let strides = ShapeRules.broadcastStrides(shape, to: output)
        let outStrides = ShapeRules.strides(output)
        let count = output.reduce(1, *)
        return (0..<count).map { flat in
            var rest = flat, offset = 0
            for axis in output.indices {
                offset += (rest / outStrides[axis]) * strides[axis]
                rest %= outStrides[axis]
            }
            return offset
        }
    }
}

extension HostTensor {
    /// A tensor of `shape` whose elements are this one's at `sources`.
    func gathered(shape: [Int], sources: [Int]) -> HostTensor {
        switch elements {
        case .float(let values): return HostTensor(shape: shape, floats: sources.map { values[$0] })
        case .int(let values): return HostTensor(shape: shape, ints: sources.map { values[$0] })
        }
    }
}
