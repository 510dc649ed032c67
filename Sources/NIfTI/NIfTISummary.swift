import Foundation
import HemoCore

/// What `hemo inspect` reports about a NIfTI file: the header facts and statistics of the
/// real (scaled) voxel values.
public struct NIfTISummary: Sendable {
    /// The file inspected.
    public var path: String
    /// Its parsed header.
    public var header: NIfTIHeader
    /// Smallest finite real value, `nil` when there is none.
    public var minimum: Double?
    /// Largest finite real value, `nil` when there is none.
    public var maximum: Double?
    /// Mean of the finite real values, `nil` when there are none.
    public var mean: Double?
    /// Voxels that are NaN or infinite (float files only).
    public var nonFiniteCount: Int

    /// Reads `path` and computes the statistics over all frames.
    ///
    /// Statistics are taken over the stored values and then mapped through the scaling, which
    /// is exact for minimum and maximum and equal to the mean of the scaled values up to rounding.
    public static func inspect(_ path: String, options: NIfTIReadOptions = .init()) throws(NIfTIError) -> NIfTISummary {
        var plain = options
        plain.applyScaling = false
        let image = try NIfTIFile.read(path, options: plain)
        let stats: StoredStatistics = switch image.volume {
        case .uint8(let v): StoredStatistics(v.voxels)
        case .int16(let v): StoredStatistics(v.voxels)
        case .uint16(let v): StoredStatistics(v.voxels)
        case .int32(let v): StoredStatistics(v.voxels)
        case .float32(let v): StoredStatistics(v.voxels)
        case .float64(let v): StoredStatistics(v.voxels)
        }
        var summary = NIfTISummary(path: path, header: image.header, minimum: nil, maximum: nil, mean: nil,
                                   nonFiniteCount: stats.nonFinite)
        if stats.finite > 0 {
            let slope = image.header.scaling?.slope ?? 1, intercept = image.header.scaling?.intercept ?? 0
            let a = stats.minimum * slope + intercept, b = stats.maximum * slope + intercept
            summary.minimum = min(a, b)
            summary.maximum = max(a, b)
            summary.mean = (stats.sum / Double(stats.finite)) * slope + intercept
        }
        return summary
    }

    /// The summary as JSON: one object with sorted keys `affine` (4 rows of 4), `byte_order`,
    /// `compressed`, `datatype`, `descrip`, `dims`, `max`, `mean`, `min`, `non_finite_count`,
    /// `qform_code`, `scl_inter`, `scl_slope`, `sform_code`, `spacing`, `version`, `vox_offset`.
    /// Values JSON cannot hold (NaN slope, no finite voxel) are `null`.
    public func json() -> String {
        func number(_ value: Double?) -> Any { value.flatMap { $0.isFinite ? $0 : nil } ?? NSNull() }
        let h = header
        let object: [String: Any] = [
            "path": path,
            "dims": h.dimensions,
            "datatype": h.voxelType.rawValue,
            "spacing": [h.spacing.x, h.spacing.y, h.spacing.z],
            "affine": h.affine.rows.map { [$0.x, $0.y, $0.z, $0.w] },
            "qform_code": h.qformCode,
            "sform_code": h.sformCode,
            "scl_slope": number(h.sclSlope),
            "scl_inter": number(h.sclInter),
            "scaling_applied": h.scaling.map { !$0.isIdentity } ?? false,
            "min": number(minimum),
            "max": number(maximum),
            "mean": number(mean),
            "non_finite_count": nonFiniteCount,
            "version": h.version.rawValue,
            "byte_order": h.byteOrder == .littleEndian ? "little" : "big",
            "compressed": h.isCompressed,
            "vox_offset": h.voxOffset,
            "descrip": h.descrip,
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// A few lines for a person.
    public var text: String {
        let h = header
        func fmt(_ v: Double?) -> String { v.map { String(format: "%.6g", $0) } ?? "n/a" }
        var lines = [
            "file        \(path)",
            "format      NIfTI-\(h.version.rawValue), \(h.byteOrder == .littleEndian ? "little" : "big")-endian\(h.isCompressed ? ", gzip" : ""), vox_offset \(h.voxOffset)",
            "dimensions  \(h.dimensions.map(String.init).joined(separator: " × "))",
            "datatype    \(h.voxelType.rawValue) (code \(h.datatypeCode))",
            "spacing     \(fmt(h.spacing.x)) × \(fmt(h.spacing.y)) × \(fmt(h.spacing.z)) mm",
            "codes       qform \(h.qformCode) (\(Self.codeName(h.qformCode))), sform \(h.sformCode) (\(Self.codeName(h.sformCode)))",
            "affine      (\(h.sformCode != 0 ? "sform" : h.qformCode != 0 ? "qform" : "pixdim fallback"))",
        ]
        lines += h.affine.rows.map { row in "            " + [row.x, row.y, row.z, row.w].map { String(format: "%11.5f", $0) }.joined(separator: " ") }
        if let s = h.scaling, !s.isIdentity {
            lines.append("scaling     value × \(fmt(s.slope)) + \(fmt(s.intercept))")
        } else {
            lines.append("scaling     none")
        }
        lines.append("values      min \(fmt(minimum)), max \(fmt(maximum)), mean \(fmt(mean))"
                     + (nonFiniteCount > 0 ? ", \(nonFiniteCount) NaN/infinite" : ""))
        if !h.descrip.isEmpty { lines.append("descrip     \(h.descrip)") }
        return lines.joined(separator: "\n")
    }

    /// NIfTI's name for an xform code.
    static func codeName(_ code: Int) -> String {
        ["unknown", "scanner", "aligned", "talairach", "mni", "template"][(0...5).contains(code) ? code : 0]
    }
}

/// Minimum, maximum and sum of the finite stored values in one pass.
struct StoredStatistics {
    var minimum = Double.infinity, maximum = -Double.infinity, sum = 0.0
    var finite = 0, nonFinite = 0

    init<T: VoxelScalar>(_ voxels: [T]) {
        for v in voxels {
            let d = v.doubleValue
            if d.isFinite {
                minimum = Swift.min(minimum, d)
                maximum = Swift.max(maximum, d)
                sum += d
                finite += 1
            } else {
                nonFinite += 1
            }
        }
    }
}
