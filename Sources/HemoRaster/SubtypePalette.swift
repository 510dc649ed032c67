import HemoCore

/// The one colour per hemorrhage subtype that every picture HemoCluster draws uses: synthetic
/// preview sheets and QC montages alike.
///
/// EPH red, SDH orange, SAH yellow, IPH green, IVH blue.
public enum SubtypePalette {
    /// The outline colour of `subtype`.
    public static func colour(_ subtype: Subtype) -> RGBColour {
        switch subtype {
        case .eph: RGBColour(235, 40, 40)
        case .sdh: RGBColour(255, 140, 0)
        case .sah: RGBColour(255, 230, 0)
        case .iph: RGBColour(40, 210, 60)
        case .ivh: RGBColour(40, 120, 255)
        }
    }
}

/// The brain window (W80/L40) every picture of a CT slice uses.
public enum BrainWindow {
    /// Window centre, in HU.
    public static let level: Float = 40
    /// Window width, in HU.
    public static let width: Float = 80

    /// The grey level (0 black … 255 white) of `hu` in the window; NaN is black.
    @inlinable
    public static func grey(_ hu: Float) -> UInt8 {
        let v = (hu - (level - width / 2)) / width * 255
        return UInt8(max(0, min(255, v.isNaN ? 0 : v.rounded())))
    }
}
