/// An axis-aligned 2D box in a slice: `x` = i (column), `y` = j (row); min inclusive, max exclusive.
public struct BoundingBox2D: Hashable, Sendable, Codable {
    /// First column inside the box.
    public var xMin: Int
    /// First row inside the box.
    public var yMin: Int
    /// One past the last column.
    public var xMax: Int
    /// One past the last row.
    public var yMax: Int

    /// A box from its inclusive minimum and exclusive maximum.
    public init(xMin: Int, yMin: Int, xMax: Int, yMax: Int) {
        self.xMin = xMin; self.yMin = yMin; self.xMax = xMax; self.yMax = yMax
    }

    /// Width in pixels.
    public var width: Int { xMax - xMin }
    /// Height in pixels.
    public var height: Int { yMax - yMin }
    /// Pixels covered by the box.
    public var area: Int { width * height }

    /// Intersection over union with `other`.
    public func iou(_ other: BoundingBox2D) -> Double {
        let w = max(0, min(xMax, other.xMax) - max(xMin, other.xMin))
        let h = max(0, min(yMax, other.yMax) - max(yMin, other.yMin))
        let inter = Double(w * h)
        let union = Double(area + other.area) - inter
        return union > 0 ? inter / union : 0
    }
}

/// An axis-aligned 3D box in voxel indices; min inclusive, max exclusive.
public struct BoundingBox3D: Hashable, Sendable, Codable {
    /// Inclusive lower corner (i, j, k).
    public var min: SIMD3<Int>
    /// Exclusive upper corner (i, j, k).
    public var max: SIMD3<Int>

    /// A box from its corners.
    public init(min: SIMD3<Int>, max: SIMD3<Int>) {
        self.min = min; self.max = max
    }

    /// Extent along each axis.
    public var extent: SIMD3<Int> { max &- min }
}
