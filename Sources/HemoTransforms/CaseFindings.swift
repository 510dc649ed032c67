import HemoConcurrency
import HemoCore

/// The labels of one slice (plane k = const): which subtypes have at least one voxel in it.
public struct SliceLabels: Hashable, Sendable {
    /// The slice (0-based k index).
    public let slice: Int
    /// Subtypes present in the slice, in label-value order.
    public let subtypes: [Subtype]

    /// A slice's labels.
    public init(slice: Int, subtypes: [Subtype]) {
        self.slice = slice
        self.subtypes = subtypes.sorted()
    }

    /// Whether any subtype is present (the `any` column).
    public var any: Bool { !subtypes.isEmpty }
    /// Whether `subtype` is present.
    public func contains(_ subtype: Subtype) -> Bool { subtypes.contains(subtype) }
}

/// One 8-connected component of one subtype's mask in one slice: a row of `boxes2d.csv`.
public struct Lesion2D: Hashable, Sendable {
    /// The subtype whose mask the component belongs to.
    public let subtype: Subtype
    /// The slice (0-based k index).
    public let slice: Int
    /// Box in the slice, x = i, y = j, min inclusive, max exclusive.
    public let box: BoundingBox2D
    /// Number of pixels.
    public let pixels: Int
    /// Membership as runs of linear offsets in the whole volume (NIfTI order, ascending).
    public let runs: [VoxelRun]

    /// The linear offsets (in the whole volume) of the component's pixels, ascending.
    public var offsets: [Int] { runs.flatMap { $0.offsets } }

    /// Mean of `values` (a volume-sized array in NIfTI order, e.g. a probability map) over the component,
    /// summed in Double in ascending offset order.
    public func mean(of values: [Float]) -> Double { meanOver(runs, values, count: pixels) }
}

/// One 26-connected component of one subtype's 3D mask: a row of `lesions3d.csv`.
public struct Lesion3D: Hashable, Sendable {
    /// The subtype whose mask the component belongs to.
    public let subtype: Subtype
    /// 1-based number in the case, in release order: by subtype, then component order.
    public let index: Int
    /// Number of voxels.
    public let voxels: Int
    /// Volume in millilitres: `voxels × spacing.x × spacing.y × spacing.z / 1000`.
    public let ml: Double
    /// Box in voxel indices, min inclusive, max exclusive.
    public let box: BoundingBox3D
    /// Mean voxel index (i, j, k).
    public let centroidIndex: SIMD3<Double>
    /// The centroid in world millimetres: the affine applied to ``centroidIndex``.
    public let centroidWorld: SIMD3<Double>
    /// Membership as runs of linear offsets (NIfTI order, ascending).
    public let runs: [VoxelRun]

    /// The linear offsets of the component's voxels, ascending.
    public var offsets: [Int] { runs.flatMap { $0.offsets } }

    /// Mean of `values` (volume-sized, NIfTI order) over the component, summed in Double in ascending order.
    public func mean(of values: [Float]) -> Double { meanOver(runs, values, count: voxels) }
}

/// Patient-wise labels of a case: a row of `patient_labels.csv`.
public struct PatientLabels: Hashable, Sendable {
    /// Subtypes with at least one voxel, in label-value order.
    public let subtypes: [Subtype]
    /// Number of slices of the volume.
    public let slices: Int
    /// Number of slices with at least one voxel of any subtype.
    public let positiveSlices: Int
    /// Voxel count of each subtype's mask (0 for absent subtypes).
    public let voxels: [Subtype: Int]
    /// Volume of each subtype's mask in millilitres (0 for absent subtypes).
    public let ml: [Subtype: Double]

    /// Whether any subtype is present.
    public var any: Bool { !subtypes.isEmpty }
    /// Whether `subtype` is present.
    public func contains(_ subtype: Subtype) -> Bool { subtypes.contains(subtype) }
}

/// Everything the release writer derives from a case's per-subtype masks: slice and patient labels,
/// 2D boxes (8-connected per slice and subtype) and 3D lesions (26-connected per subtype).
///
/// Each subtype is analysed on its own mask, so overlapping subtypes are all reported. Orders:
/// ``slices`` by k; ``lesions2D`` by slice, then subtype, then component number in the slice;
/// ``lesions3D`` by subtype, then component number. All values are independent of `threads`.
public struct CaseFindings: Sendable, Equatable {
    /// The grid the masks live on.
    public let geometry: Geometry
    /// One entry per slice, k = 0 ..< size.k.
    public let slices: [SliceLabels]
    /// 2D components, by slice, subtype, component number.
    public let lesions2D: [Lesion2D]
    /// 3D components, by subtype, component number; ``Lesion3D/index`` numbers them 1...
    public let lesions3D: [Lesion3D]
    /// Patient-wise labels.
    public let patient: PatientLabels

    /// Analyses `masks`, spreading slices and subtypes over `threads` threads.
    public static func analyse(_ masks: SubtypeMasks, threads: Int = 1) -> CaseFindings {
        let geometry = masks.geometry
        let size = geometry.size
        let present = masks.presentSubtypes
        let subtypeMasks = present.map { masks[$0] }

        // 2D: one job per (subtype, slice) that has pixels.
        var jobs = [(s: Int, k: Int)]()
        for (s, mask) in subtypeMasks.enumerated() {
            for k in 0..<size.k where sliceHasVoxels(mask, k) { jobs.append((s, k)) }
        }
        var perJob = [[Lesion2D]](repeating: [], count: jobs.count)
        perJob.withUnsafeMutableBufferPointer { out in
            let shared = SharedMutablePointer(out.baseAddress!)
            Parallel.forEachRange(jobs.count, threads: threads) { range in
                for n in range {
                    let (s, k) = jobs[n]
                    let comps = ConnectedComponents.components2D(subtypeMasks[s], slice: k)
                    shared.base[n] = comps.components.map { c in
                        Lesion2D(subtype: present[s], slice: k, box: c.box, pixels: c.pixels,
                                 runs: Array(comps.membership.runs(of: c.label)))
                    }
                }
            }
        }
        var bySlice = [[Lesion2D]](repeating: [], count: size.k)
        var sliceSubtypes = [[Subtype]](repeating: [], count: size.k)
        for (n, job) in jobs.enumerated() {
            bySlice[job.k] += perJob[n]
            sliceSubtypes[job.k].append(present[job.s])
        }
        let lesions2D = bySlice.flatMap { $0 }
        let slices = (0..<size.k).map { SliceLabels(slice: $0, subtypes: sliceSubtypes[$0]) }

        // 3D: one job per subtype.
        var perSubtype = [Components3D?](repeating: nil, count: present.count)
        perSubtype.withUnsafeMutableBufferPointer { out in
            let shared = SharedMutablePointer(out.baseAddress!)
            Parallel.forEachRange(present.count, threads: threads) { range in
                for s in range { (shared.base + s).initialize(to: ConnectedComponents.components3D(subtypeMasks[s])) }
            }
        }
        var lesions3D = [Lesion3D]()
        let voxelML = geometry.voxelVolumeML
        var voxels = [Subtype: Int]()
        var ml = [Subtype: Double]()
        for s in Subtype.allCases { voxels[s] = 0; ml[s] = 0 }
        for (s, comps) in perSubtype.enumerated() {
            let components = comps!
            var total = 0
            for c in components.components {
                total += c.voxels
                lesions3D.append(Lesion3D(subtype: present[s], index: lesions3D.count + 1, voxels: c.voxels,
                                          ml: Double(c.voxels) * voxelML, box: c.box, centroidIndex: c.centroid,
                                          centroidWorld: geometry.affine.apply(c.centroid),
                                          runs: Array(components.membership.runs(of: c.label))))
            }
            voxels[present[s]] = total
            ml[present[s]] = Double(total) * voxelML
        }
        let patient = PatientLabels(subtypes: present, slices: size.k,
                                    positiveSlices: slices.filter(\.any).count, voxels: voxels, ml: ml)
        return CaseFindings(geometry: geometry, slices: slices, lesions2D: lesions2D, lesions3D: lesions3D,
                            patient: patient)
    }
}

/// Mean of `values` over `runs`, summed in ascending offset order in Double.
func meanOver(_ runs: [VoxelRun], _ values: [Float], count: Int) -> Double {
    guard count > 0 else { return 0 }
    var sum = 0.0
    for run in runs { for o in run.offsets { sum += Double(values[o]) } }
    return sum / Double(count)
}

/// Whether slice `k` of `mask` has a set voxel (scans eight bytes at a time).
func sliceHasVoxels(_ mask: Mask, _ k: Int) -> Bool {
    let n = mask.geometry.size.sliceCount
    return mask.bits.withUnsafeBytes { raw in
        let base = raw.baseAddress! + k * n
        var o = 0
        while o + 8 <= n {
            if base.loadUnaligned(fromByteOffset: o, as: UInt64.self) != 0 { return true }
            o += 8
        }
        while o < n {
            if base.load(fromByteOffset: o, as: UInt8.self) != 0 { return true }
            o += 1
        }
        return false
    }
}
