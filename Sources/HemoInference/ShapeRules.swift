/// Shape arithmetic shared by constant folding and planning (ONNX semantics).
enum ShapeRules {
    /// Row-major strides of `shape`.
    static func strides(_ shape: [Int]) -> [Int] {
        var result = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in shape.indices.reversed() {
            result[axis] = running
            running *= shape[axis]
        }
        return result
    }

    /// `axis` in `-rank..<rank` mapped to `0..<rank`, or nil when out of range.
    static func normalize(axis: Int, rank: Int) -> Int? {
        let value = axis < 0 ? axis + rank : axis
        return value >= 0 && value < rank ? value : nil
    }

    /// The NumPy broadcast of two shapes, or nil when incompatible.
    static func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
        let rank = max(a.count, b.count)
        var result = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            let x = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let y = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            if x == y || y == 1 { result[i] = x } else if x == 1 { result[i] = y } else { return nil }
        }
        return result
    }

    /// Strides to read an operand of `shape` broadcast to `output` (0 along broadcast axes).
    static func broadcastStrides(_ shape: [Int], to output: [Int]) -> [Int] {
        let own = strides(shape)
        let offset = output.count - shape.count
        return output.indices.map { axis in
            axis < offset ? 0 : (shape[axis - offset] == 1 && output[axis] != 1 ? 0 : own[axis - offset])
        }
    }

    /// The shape `Reshape` produces (0 copies the input extent unless `allowZero`, -1 is inferred).
    static func reshape(_ input: [Int], to requested: [Int], allowZero: Bool) -> [Int]? {
        var shape = requested
        var inferred: Int? = nil
        for (axis, extent) in requested.enumerated() {
            if extent == 0 && !allowZero {
                guard axis < input.count else { return nil }
                shape[axis] = input[axis]
            } else if extent == -1 {
                guard inferred == nil else { return nil }
                inferred = axis
            } else if extent < 0 {
                return nil
            }
        }
        let total = input.reduce(1, *)
        if let axis = inferred {
            let known = shape.enumerated().filter { $0.offset != axis }.reduce(1) { $0 * $1.element }
            guard known > 0, total % known == 0 else { return nil }
            shape[axis] = total / known
        }
        return shape.reduce(1, *) == total ? shape : nil
    }

    /// Per-axis (start, step, count) of an ONNX `Slice` with clamping.
    static func slice(shape: [Int], starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?) -> [(start: Int, step: Int, count: Int)]? {
        var result = shape.map { (start: 0, step: 1, count: $0) }
        let axisList = axes ?? Array(0..<starts.count)
        guard starts.count == ends.count, axisList.count == starts.count else { return nil }
        for (i, rawAxis) in axisList.enumerated() {
            guard let axis = normalize(axis: rawAxis, rank: shape.count) else { return nil }
            let extent = shape[axis]
            let step = steps.map { $0[i] } ?? 1
            guard step != 0 else { return nil }
            var start = starts[i] < 0 ? starts[i] + extent : starts[i]
            var end = ends[i] < 0 ? ends[i] + extent : ends[i]
            if step > 0 {
                start = min(max(start, 0), extent)
                end = min(max(end, 0), extent)
                result[axis] = (start, step, max(0, (end - start + step - 1) / step))
            } else {
                start = min(max(start, -1), extent - 1)
                end = min(max(end, -1), extent - 1)
                result[axis] = (start, step, max(0, (start - end + (-step) - 1) / (-step)))
            }
        }
        return result
    }
}
