/// A binary voxel mask on a grid: one byte per voxel, 0 or 1, NIfTI order.
public struct Mask: Sendable, Equatable {
    /// The grid the mask lives on.
    public var geometry: Geometry
    /// 0/1 values, i fastest.
    public var bits: [UInt8]

    /// An empty (all-zero) mask on `geometry`.
    public init(geometry: Geometry) {
        self.geometry = geometry
        bits = [UInt8](repeating: 0, count: geometry.size.count)
    }

    /// A mask from existing 0/1 values.
    public init(geometry: Geometry, bits: [UInt8]) {
        precondition(bits.count == geometry.size.count, "mask size does not match its grid")
        self.geometry = geometry
        self.bits = bits
    }

    /// Voxels set to 1.
    public var count: Int { bits.reduce(0) { $0 + Int($1 != 0 ? 1 : 0) } }
    /// Whether no voxel is set.
    public var isEmpty: Bool { !bits.contains { $0 != 0 } }

    /// Whether voxel (i, j, k) is set.
    @inlinable public subscript(i: Int, j: Int, k: Int) -> Bool {
        get { bits[geometry.size.offset(i, j, k)] != 0 }
        set { bits[geometry.size.offset(i, j, k)] = newValue ? 1 : 0 }
    }

    /// Voxels set in slice `k`.
    public func count(inSlice k: Int) -> Int {
        let n = geometry.size.sliceCount
        var c = 0
        for b in bits[(k * n)..<((k + 1) * n)] where b != 0 { c += 1 }
        return c
    }

    /// Volume of the set voxels in millilitres.
    public var volumeML: Double { Double(count) * geometry.voxelVolumeML }
}

/// One binary mask per subtype on a shared grid: what annotators draw and models predict.
public struct SubtypeMasks: Sendable, Equatable {
    /// The grid all masks share.
    public let geometry: Geometry
    /// Masks by subtype; a missing subtype is empty.
    public private(set) var masks: [Subtype: Mask]

    /// Empty masks on `geometry`.
    public init(geometry: Geometry) {
        self.geometry = geometry
        masks = [:]
    }

    /// The mask of `subtype` (empty when none was set).
    public subscript(subtype: Subtype) -> Mask {
        get { masks[subtype] ?? Mask(geometry: geometry) }
        set {
            precondition(newValue.geometry.size == geometry.size, "subtype mask on another grid")
            masks[subtype] = newValue
        }
    }

    /// Splits a single-label map (values 0...5) into per-subtype masks.
    public init(labelMap: Volume<UInt8>) {
        self.init(geometry: labelMap.geometry)
        var bits = [Subtype: [UInt8]]()
        for (offset, v) in labelMap.voxels.enumerated() where v != 0 {
            guard let s = Subtype(rawValue: v) else { continue }
            bits[s, default: [UInt8](repeating: 0, count: labelMap.voxels.count)][offset] = 1
        }
        for (s, b) in bits { masks[s] = Mask(geometry: geometry, bits: b) }
    }

    /// The single-label map: where subtypes overlap, the higher label value wins.
    public var labelMap: Volume<UInt8> {
        var out = [UInt8](repeating: 0, count: geometry.size.count)
        for s in Subtype.allCases {
            guard let m = masks[s] else { continue }
            let v = s.labelValue
            for idx in m.bits.indices where m.bits[idx] != 0 && out[idx] < v { out[idx] = v }
        }
        return Volume(geometry: geometry, voxels: out)
    }

    /// Subtypes with at least one voxel.
    public var presentSubtypes: [Subtype] { Subtype.allCases.filter { !(masks[$0]?.isEmpty ?? true) } }
}
