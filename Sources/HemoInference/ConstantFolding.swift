/// Evaluates shape-computing nodes whose inputs are all known before the run.
enum ConstantFolding {
    /// The value `node` computes from the constant `inputs` (nil for omitted optional inputs).
    static func evaluate(_ node: GraphNode, inputs: [HostTensor?], opset: Int) throws -> HostTensor {
        let a = node.attributes
        func input(_ index: Int) throws -> HostTensor {
            guard index < inputs.count, let value = inputs[index] else { throw a.invalid("input \(index) is missing") }
            return value
        }
        switch node.op {
        case "Identity", "Dropout":
            return try input(0)
        case "Cast":
            let x = try input(0)
            switch try a.int("to", default: 1) {
            case 1, 10, 11: return HostTensor(shape: x.shape, floats: x.floats)
            case 9: return HostTensor(shape: x.shape, ints: x.floats.map { $0 != 0 ? 1 : 0 })
            default: return HostTensor(shape: x.shape, ints: x.ints)
            }
        case "Reshape":
            let x = try input(0)
            guard let shape = ShapeRules.reshape(x.shape, to: try input(1).ints, allowZero: try a.int("allowzero", default: 0) != 0) else {
                throw a.invalid("cannot reshape \(x.shape) to \(try input(1).ints)")
            }
            return HostTensor(shape: shape, elements: x.elements)
        case "Flatten":
            let x = try input(0)
            return HostTensor(shape: try flattenShape(x.shape, a), elements: x.elements)
        case "Unsqueeze", "Squeeze":
            let x = try input(0)
            let axes = opset >= 13 ? (inputs.count > 1 ? inputs[1]?.ints : nil) : try a.ints("axes")
            let shape = node.op == "Unsqueeze" ? try unsqueezeShape(x.shape, axes: axes ?? [], a)
                                               : try squeezeShape(x.shape, axes: axes, a)
            return HostTensor(shape: shape, elements: x.elements)
        case "ConstantOfShape":
            let shape = try input(0).ints
            let count = shape.reduce(1, *)
            if case .tensor(let value)? = a.values["value"] {
                switch value.elements {
                case .float(let v): return HostTensor(shape: shape, floats: [Float](repeating: v.first ?? 0, count: count))
                case .int(let v): return HostTensor(shape: shape, ints: [Int](repeating: v.first ?? 0, count: count))
                }
            }
            return HostTensor(shape: shape, floats: [Float](repeating: 0, count: count))
        case "Concat":
            let values = inputs.compactMap { $0 }
            guard let first = values.first else { throw a.invalid("Concat has no inputs") }
            guard let axis = ShapeRules.normalize(axis: try a.int("axis", default: 0), rank: first.shape.count) else {
                throw a.invalid("axis out of range for rank \(first.shape.count)")
            }
            let outer = first.shape[..<axis].reduce(1, *)
            var shape = first.shape
            shape[axis] = values.reduce(0) { $0 + $1.shape[axis] }
            let integers = values.allSatisfy(\.isInteger)
            var floats: [Float] = [], ints: [Int] = []
            for o in 0..<outer {
                for value in values {
                    let chunk = value.shape[axis...].reduce(1, *)
                    if integers { ints += value.ints[(o * chunk)..<((o + 1) * chunk)] }
                    else { floats += value.floats[(o * chunk)..<((o + 1) * chunk)] }
                }
            }
            return integers ? HostTensor(shape: shape, ints: ints) : HostTensor(shape: shape, floats: floats)
        case "Gather":
            let x = try input(0), indices = try input(1)
            guard let axis = ShapeRules.normalize(axis: try a.int("axis", default: 0), rank: x.shape.count) else {
                throw a.invalid("axis out of range for rank \(x.shape.count)")
            }
            let plan = try gatherPlan(shape: x.shape, axis: axis, indices: indices, a)
            switch x.elements {
            case .float(let v): return HostTensor(shape: plan.shape, floats: plan.sources.map { v[$0] })
            case .int(let v): return HostTensor(shape: plan.shape, ints: plan.sources.map { v[$0] })
            }
        case "Slice":
            let x = try input(0)
            let ranges = try sliceRanges(node, shape: x.shape, inputs: inputs, opset: opset)
            let sources = stridedSources(shape: x.shape, ranges: ranges)
            let shape = ranges.map(\.count)
            switch x.elements {
            case .float(let v): return HostTensor(shape: shape, floats: sources.map { v[$0] })
            case .int(let v): return HostTensor(shape: shape, ints: sources.map { v[$0] })
            }
        case "Add", "Sub", "Mul", "Div":
            let x = try input(0), y = try input(1)
            guard let shape = ShapeRules.broadcast(x.shape, y.shape) else {
                throw a.invalid("shapes \(x.shape) and \(y.shape) do not broadcast")
            }
            let sx = ShapeRules.broadcastStrides(x.shape, to: shape), sy = ShapeRules.broadcastStrides(y.shape, to: shape)
            let count = shape.reduce(1, *)
            let outStrides = ShapeRules.strides(shape)
            func offsets(_ strides: [Int]) -> [Int] {
                (0..<count).map { flat in
                    var rest = flat, offset = 0
                    for axis in shape.indices { offset += (rest / outStrides[axis]) * strides[axis]; rest %= outStrides[axis] }
                    return offset
                }
            }
            let ox = offsets(sx), oy = offsets(sy)
            if x.isInteger && y.isInteger {
                let u = x.ints, v = y.ints
                let values: [Int] = (0..<count).map { i in
                    switch node.op {
                    case "Add": return u[ox[i]] + v[oy[i]]
                    case "Sub": return u[ox[i]] - v[oy[i]]
                    case "Mul": return u[ox[i]] * v[oy[i]]
                    default: return v[oy[i]] == 0 ? 0 : u[ox[i]] / v[oy[i]]
                    }
                }
                return HostTensor(shape: shape, ints: values)
            }
            let u = x.floats, v = y.floats
            let values: [Float] = (0..<count).map { i in
                switch node.op {
                case "Add": return u[ox[i]] + v[oy[i]]
                case "Sub": return u[ox[i]] - v[oy[i]]
                case "Mul": return u[ox[i]] * v[oy[i]]
                default: return u[ox[i]] / v[oy[i]]
                }
            }
            return HostTensor(shape: shape, floats: values)
        default:
            if let value = try evaluateMore(node, inputs: inputs, opset: opset) { return value }
            throw a.invalid("cannot be evaluated before the run")
        }
    }

    // MARK: Shared shape helpers

    static func flattenShape(_ shape: [Int], _ a: Attributes) throws -> [Int] {
        let axisAttribute = try a.int("axis", default: 1)
        let axis = axisAttribute < 0 ? axisAttribute + shape.count : axisAttribute
        guard axis >= 0 && axis <= shape.count else { throw a.invalid("axis \(axisAttribute) out of range for rank \(shape.count)") }
        return [shape[..<axis].reduce(1, *), shape[axis...].reduce(1, *)]
    }

    static func unsqueezeShape(_ shape: [Int], axes: [Int], _ a: Attributes) throws -> [Int] {
        let rank = shape.count + axes.count
        let normalized = try axes.map { axis -> Int in
            guard let value = ShapeRules.normalize(axis: axis, rank: rank) else { throw a.invalid("axis \(axis) out of range") }
            return value
        }.sorted()
        var result = shape
        for axis in normalized { result.insert(1, at: axis) }
        return result
    }

    static func squeezeShape(_ shape: [Int], axes: [Int]?, _ a: Attributes) throws -> [Int] {
        guard let axes else { return shape.filter { $0 != 1 } }
        let normalized = try Set(axes.map { axis -> Int in
            guard let value = ShapeRules.normalize(axis: axis, rank: shape.count), shape[value] == 1 else {
                throw a.invalid("cannot squeeze axis \(axis) of shape \(shape)")
            }
            return value
        })
        return shape.enumerated().filter { !normalized.contains($0.offset) }.map(\.element)
    }

    /// For each output element of a Gather, the flat index it reads.
    static func gatherPlan(shape: [Int], axis: Int, indices: HostTensor, _ a: Attributes) throws -> (shape: [Int], sources: [Int]) {
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *)
        let extent = shape[axis]
        let resolved = try indices.ints.map { index -> Int in
            let value = index < 0 ? index + extent : index
            guard value >= 0 && value < extent else { throw a.invalid("index \(index) out of range for extent \(extent)") }
            return value
        }
        var sources: [Int] = []
        sources.reserveCapacity(outer * resolved.count * inner)
        for o in 0..<outer {
            for index in resolved {
                for i in 0..<inner { sources.append((o * extent + index) * inner + i) }
            }
        }
        return (Array(shape[..<axis]) + indices.shape + Array(shape[(axis + 1)...]), sources)
    }

    static func sliceRanges(_ node: GraphNode, shape: [Int], inputs: [HostTensor?], opset: Int) throws -> [(start: Int, step: Int, count: Int)] {
        let a = node.attributes
        let starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?
        if opset < 10 {
            starts = try a.ints("starts") ?? []
            ends = try a.ints("ends") ?? []
            axes = try a.ints("axes")
            steps = nil
        } else {
            func value(_ index: Int) -> [Int]? { index < inputs.count ? inputs[index]?.ints : nil }
            guard let s = value(1), let e = value(2) else { throw a.invalid("starts and ends must be known before the run") }
            starts = s
            ends = e.map { min($0, Int(Int32.max) * 4) }
            axes = value(3)
            steps = value(4)
        }
        guard let ranges = ShapeRules.slice(shape: shape, starts: starts, ends: ends, axes: axes, steps: steps) else {
            throw a.invalid("invalid starts \(starts), ends \(ends), axes \(axes ?? []), steps \(steps ?? []) for shape \(shape)")
        }
        return ranges
    }

    /// Flat source index of every output element of a strided view.
    static func stridedSources(shape: [Int], ranges: [(start: Int, step: Int, count: Int)]) -> [Int] {
        let strides = ShapeRules.strides(shape)
        var sources = [0]
        for axis in shape.indices {
            let range = ranges[axis]
            var next: [Int] = []
            next.reserveCapacity(sources.count * range.count)
            for base in sources {
                for i in 0..<range.count { next.append(base + (range.start + i * range.step) * strides[axis]) }
            }
            sources = next
        }
        return sources
    }
}
