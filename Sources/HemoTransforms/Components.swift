import HemoConcurrency
import HemoCore

/// A horizontal run of set voxels: `length` consecutive voxels along i starting at linear `offset`
/// (NIfTI order, i fastest) in the volume.
public struct VoxelRun: Hashable, Sendable {
    /// Linear offset of the first voxel of the run in the whole volume.
    public var offset: Int
    /// Number of voxels in the run (≥ 1).
    public var length: Int

    /// A run of `length` voxels from `offset`.
    public init(offset: Int, length: Int) {
        self.offset = offset; self.length = length
    }

    /// The linear offsets of the run's voxels.
    public var offsets: Range<Int> { offset..<(offset + length) }
}

/// One connected component of a 3D mask (26-connectivity).
public struct Component3D: Hashable, Sendable {
    /// 1-based component number, in order of each component's first voxel in NIfTI memory order.
    public var label: Int
    /// Bounding box in voxel indices, min inclusive, max exclusive.
    public var box: BoundingBox3D
    /// Number of voxels.
    public var voxels: Int
    /// Mean voxel index (i, j, k): exact integer sums divided by ``voxels``.
    public var centroid: SIMD3<Double>
}

/// One connected component of one slice of a mask (8-connectivity in the plane k = const).
public struct Component2D: Hashable, Sendable {
    /// 1-based component number within its slice, in order of first pixel (x fastest, then y).
    public var label: Int
    /// The slice (k index).
    public var slice: Int
    /// Bounding box, x = i and y = j, min inclusive, max exclusive.
    public var box: BoundingBox2D
    /// Number of pixels.
    public var pixels: Int
    /// Mean pixel index (x = i, y = j): exact integer sums divided by ``pixels``.
    public var centroid: SIMD2<Double>
}

/// Connected components with their membership stored as runs.
///
/// Runs are grouped by component (component `c`, 1-based, owns `runs(of: c)`), and within a component
/// they are in NIfTI memory order.
public struct ComponentRuns: Sendable, Equatable {
    /// The grid the components live on.
    public let size: GridSize
    /// Every run, grouped by component.
    public let allRuns: [VoxelRun]
    /// `runStart[c - 1] ..< runStart[c]` are the runs of component `c`.
    public let runStart: [Int]

    /// Number of components.
    public var count: Int { runStart.count - 1 }

    /// The runs of component `label` (1-based).
    public func runs(of label: Int) -> ArraySlice<VoxelRun> { allRuns[runStart[label - 1]..<runStart[label]] }

    /// The linear offsets (NIfTI order, in the whole volume) of the voxels of component `label`, ascending.
    public func offsets(of label: Int) -> [Int] { runs(of: label).flatMap { $0.offsets } }

    /// A label image on `size`: 0 for background, the component number elsewhere
    /// (what `scipy.ndimage.label` returns, in NIfTI order).
    public func labelImage() -> [Int32] {
        var image = [Int32](repeating: 0, count: size.count)
        image.withUnsafeMutableBufferPointer { out in
            for c in stride(from: 1, through: count, by: 1) {
                for run in runs(of: c) {
                    for o in run.offsets { out[o] = Int32(c) }
                }
            }
        }
        return image
    }
}

/// The 3D components of a mask: per-component summaries and membership.
public struct Components3D: Sendable, Equatable {
    /// Components in label order (element `c - 1` is label `c`).
    public let components: [Component3D]
    /// Membership of each component.
    public let membership: ComponentRuns
}

/// The 2D components of one slice of a mask: per-component summaries and membership.
public struct Components2D: Sendable, Equatable {
    /// The slice (k index).
    public let slice: Int
    /// Components in label order (element `c - 1` is label `c`).
    public let components: [Component2D]
    /// Membership of each component, as runs with offsets in the whole volume.
    public let membership: ComponentRuns
}

/// Connected-component labelling of masks, numbered as `scipy.ndimage.label` numbers them.
///
/// - 3D: 26-connectivity (`structure=np.ones((3, 3, 3))`).
/// - 2D: 8-connectivity within each slice k (`structure=np.ones((3, 3))` on the plane x = i, y = j).
///
/// Components are numbered in order of their first voxel in NIfTI memory order (i fastest, then j, then
/// k), which is scipy's numbering of the array of shape (k, j, i) in C order; bounding boxes equal
/// `scipy.ndimage.find_objects`.
///
/// The labeller scans each row into runs of set voxels (skipping empty stretches eight bytes at a time),
/// joins runs of neighbouring rows that touch (diagonals included) with a union-find whose root is the
/// earliest run, and numbers the roots in scan order. Everything is sequential and integer, so results are
/// deterministic.
public enum ConnectedComponents {
    /// The 26-connected components of `mask`.
    public static func components3D(_ mask: Mask) -> Components3D {
        mask.bits.withUnsafeBufferPointer { bits in
            let runs = label(bits, base: 0, rowLength: mask.geometry.size.i, rows: mask.geometry.size.j,
                             slices: mask.geometry.size.k, size: mask.geometry.size, across3D: true)
            return Components3D(components: summarise3D(runs), membership: runs)
        }
    }

    /// The 8-connected components of slice `k` of `mask`.
    public static func components2D(_ mask: Mask, slice k: Int) -> Components2D {
        let size = mask.geometry.size
        precondition(k >= 0 && k < size.k, "slice \(k) outside 0..<\(size.k)")
        return mask.bits.withUnsafeBufferPointer { bits in
            let base = k * size.sliceCount
            let slice = UnsafeBufferPointer(rebasing: bits[base..<(base + size.sliceCount)])
            let runs = label(slice, base: base, rowLength: size.i, rows: size.j, slices: 1, size: size,
                             across3D: false)
            return Components2D(slice: k, components: summarise2D(runs, slice: k), membership: runs)
        }
    }

    /// The 8-connected components of every slice of `mask`, in slice order, computed on `threads` threads.
    public static func componentsPerSlice(_ mask: Mask, threads: Int = 1) -> [Components2D] {
        let k = mask.geometry.size.k
        var result = [Components2D?](repeating: nil, count: k)
        result.withUnsafeMutableBufferPointer { out in
            let shared = SharedMutablePointer(out.baseAddress!)
            Parallel.forEachRange(k, threads: threads) { slices in
                for s in slices { (shared.base + s).initialize(to: components2D(mask, slice: s)) }
            }
        }
        return result.map { $0! }
    }

    // MARK: - Labelling core

    /// Labels the set voxels of `bits` (a block of `slices × rows × rowLength` voxels starting at linear
    /// offset `base` of a volume of `size`).
    static func label(_ bits: UnsafeBufferPointer<UInt8>, base: Int, rowLength nx: Int, rows ny: Int,
                      slices nz: Int, size: GridSize, across3D: Bool) -> ComponentRuns {
        let rowCount = ny * nz
        guard nx > 0, rowCount > 0, let p = bits.baseAddress else {
            return ComponentRuns(size: size, allRuns: [], runStart: [0])
        }
        var starts = [Int32]()
        var ends = [Int32]()
        var rowFirst = [Int](repeating: 0, count: rowCount + 1)
        starts.reserveCapacity(1024)
        ends.reserveCapacity(1024)
        // 1. Runs per row.
        for row in 0..<rowCount {
            rowFirst[row] = starts.count
            let r = p + row * nx
            var i = 0
            while i < nx {
                // Skip zeros, eight at a time where aligned words fit.
                while i + 8 <= nx, UnsafeRawPointer(r + i).loadUnaligned(as: UInt64.self) == 0 { i += 8 }
                while i < nx, r[i] == 0 { i += 1 }
                guard i < nx else { break }
                let s = i
                while i + 8 <= nx, UnsafeRawPointer(r + i).loadUnaligned(as: UInt64.self) == 0x0101_0101_0101_0101 {
                    i += 8
                }
                while i < nx, r[i] != 0 { i += 1 }
                starts.append(Int32(s))
                ends.append(Int32(i))
            }
        }
        rowFirst[rowCount] = starts.count
        let runCount = starts.count
        // 2. Union-find over runs; the root of a set is its earliest run.
        var parent = [Int32](unsafeUninitializedCapacity: runCount) { buffer, n in
            for r in 0..<runCount { buffer[r] = Int32(r) }
            n = runCount
        }
        parent.withUnsafeMutableBufferPointer { parent in
            starts.withUnsafeBufferPointer { starts in
                ends.withUnsafeBufferPointer { ends in
                    @inline(__always) func find(_ x: Int32) -> Int32 {
                        var x = x
                        while parent[Int(x)] != x {
                            let g = parent[Int(parent[Int(x)])]
                            parent[Int(x)] = g
                            x = g
                        }
                        return x
                    }
                    @inline(__always) func union(_ a: Int, _ b: Int) {
                        let ra = find(Int32(a)), rb = find(Int32(b))
                        if ra < rb { parent[Int(rb)] = ra } else if rb < ra { parent[Int(ra)] = rb }
                    }
                    // Joins every run of `row` with the runs of `other` that touch it (diagonals included).
                    @inline(__always) func join(_ row: Int, _ other: Int) {
                        var q0 = rowFirst[other]
                        let qEnd = rowFirst[other + 1]
                        guard q0 < qEnd else { return }
                        for a in rowFirst[row]..<rowFirst[row + 1] {
                            let s = starts[a], e = ends[a]
                            while q0 < qEnd && ends[q0] < s { q0 += 1 }
                            var q = q0
                            while q < qEnd && starts[q] <= e {
                                union(a, q)
                                q += 1
                            }
                        }
                    }
                    for row in 0..<rowCount where rowFirst[row] < rowFirst[row + 1] {
                        let j = row % ny, k = row / ny
                        if j > 0 { join(row, row - 1) }
                        if across3D && k > 0 {
                            let below = row - ny
                            if j > 0 { join(row, below - 1) }
                            join(row, below)
                            if j + 1 < ny { join(row, below + 1) }
                        }
                    }
                    // Flatten: every run points at its root.
                    for r in 0..<runCount { parent[r] = find(Int32(r)) }
                }
            }
        }
        // 3. Number roots in scan order; group runs by component (counting sort, stable).
        var componentOfRun = [Int32](repeating: 0, count: runCount)
        var count = 0
        var runsPerComponent = [Int]()
        for r in 0..<runCount {
            let root = Int(parent[r])
            if root == r {
                count += 1
                componentOfRun[r] = Int32(count)
                runsPerComponent.append(0)
            } else {
                componentOfRun[r] = componentOfRun[root]
            }
            runsPerComponent[Int(componentOfRun[r]) - 1] += 1
        }
        var runStart = [Int](repeating: 0, count: count + 1)
        for c in 0..<count { runStart[c + 1] = runStart[c] + runsPerComponent[c] }
        var cursor = Array(runStart.dropLast())
        var grouped = [VoxelRun](repeating: VoxelRun(offset: 0, length: 0), count: runCount)
        var row = 0
        for r in 0..<runCount {
            while rowFirst[row + 1] <= r { row += 1 }
            let c = Int(componentOfRun[r]) - 1
            grouped[cursor[c]] = VoxelRun(offset: base + row * nx + Int(starts[r]), length: Int(ends[r] - starts[r]))
            cursor[c] += 1
        }
        return ComponentRuns(size: size, allRuns: grouped, runStart: runStart)
    }

    static func summarise3D(_ runs: ComponentRuns) -> [Component3D] {
        let size = runs.size
        return (0..<runs.count).map { c in
            var lo = SIMD3<Int>(repeating: Int.max), hi = SIMD3<Int>(repeating: Int.min)
            var n = 0, si = 0, sj = 0, sk = 0
            for run in runs.runs(of: c + 1) {
                let i = run.offset % size.i, j = (run.offset / size.i) % size.j, k = run.offset / size.sliceCount
                let e = i + run.length
                lo = pointwiseMin(lo, SIMD3(i, j, k))
                hi = pointwiseMax(hi, SIMD3(e, j + 1, k + 1))
                n += run.length
                si += (i + e - 1) * run.length / 2
                sj += j * run.length
                sk += k * run.length
            }
            let nd = Double(n)
            return Component3D(label: c + 1, box: BoundingBox3D(min: lo, max: hi), voxels: n,
                               centroid: SIMD3(Double(si) / nd, Double(sj) / nd, Double(sk) / nd))
        }
    }

    static func summarise2D(_ runs: ComponentRuns, slice: Int) -> [Component2D] {
        let size = runs.size
        return (0..<runs.count).map { c in
            var x0 = Int.max, y0 = Int.max, x1 = Int.min, y1 = Int.min
            var n = 0, sx = 0, sy = 0
            for run in runs.runs(of: c + 1) {
                let i = run.offset % size.i, j = (run.offset / size.i) % size.j
                let e = i + run.length
                x0 = min(x0, i); x1 = max(x1, e); y0 = min(y0, j); y1 = max(y1, j + 1)
                n += run.length
                sx += (i + e - 1) * run.length / 2
                sy += j * run.length
            }
            let nd = Double(n)
            return Component2D(label: c + 1, slice: slice, box: BoundingBox2D(xMin: x0, yMin: y0, xMax: x1, yMax: y1),
                               pixels: n, centroid: SIMD2(Double(sx) / nd, Double(sy) / nd))
        }
    }
}
