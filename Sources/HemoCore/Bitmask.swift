extension SubtypeMasks {
    /// All subtype masks in one byte per voxel: bit `v − 1` is set where subtype `v` is.
    ///
    /// Lossless where subtypes overlap (unlike ``labelMap``), and one nearest-neighbour
    /// resampling or reorientation of the bitmask transforms every subtype at once.
    public var bitmask: Volume<UInt8> {
        var out = [UInt8](repeating: 0, count: geometry.size.count)
        for s in Subtype.allCases {
            guard let m = masks[s] else { continue }
            let bit = UInt8(1) << (s.rawValue - 1)
            m.bits.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    for i in 0..<src.count where src[i] != 0 { dst[i] |= bit }
                }
            }
        }
        return Volume(geometry: geometry, voxels: out)
    }

    /// Splits a bitmask volume (bit `v − 1` = subtype `v`) into per-subtype masks.
    /// Bits 5–7 are ignored.
    public init(bitmask: Volume<UInt8>) {
        self.init(geometry: bitmask.geometry)
        for s in Subtype.allCases {
            let bit = UInt8(1) << (s.rawValue - 1)
            var any = false
            let bits = bitmask.voxels.map { v -> UInt8 in
                if v & bit != 0 { any = true; return 1 }
                return 0
            }
            if any { self[s] = Mask(geometry: bitmask.geometry, bits: bits) }
        }
    }
}
