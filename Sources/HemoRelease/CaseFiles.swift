import Foundation
import HemoCore
import NIfTI
import PNG

/// The per-case files of a release: the CT, the label map, the subtype bitmask and one PNG per slice.
public enum CaseFiles {
    /// Release-relative paths of the per-case volumes.
    public static func imagePath(_ id: CaseID) -> String { "imagesTr/\(id.rawValue)_0000.nii.gz" }
    /// The single-label map.
    public static func labelPath(_ id: CaseID) -> String { "labelsTr/\(id.rawValue).nii.gz" }
    /// The per-subtype bitmask (format 1.1 extension).
    public static func bitmaskPath(_ id: CaseID) -> String { "masks3d/\(id.rawValue).nii.gz" }
    /// A slice PNG.
    public static func slicePath(_ id: CaseID, _ name: String) -> String { "masks2d/\(id.rawValue)/\(name).png" }

    /// The NIfTI write options of a release: fixed description, gzip at the chosen level.
    static func niftiOptions(gzipLevel: Int) -> NIfTIWriteOptions {
        var o = NIfTIWriteOptions()
        o.gzipLevel = gzipLevel
        o.description = "HemoCluster \(ReleaseFormat.version)"
        return o
    }

    /// Every release-relative path ``write(_:record:into:gzipLevel:)`` writes for `record`.
    public static func paths(of record: CaseRecord) -> [String] {
        [imagePath(record.id), labelPath(record.id), bitmaskPath(record.id)]
            + (0..<record.sliceCount).map { slicePath(record.id, record.sliceName($0)) }
    }

    /// Writes the case's volumes and slice PNGs into `staging`.
    public static func write(_ product: CaseProduct, record: CaseRecord, into staging: ReleaseStaging, gzipLevel: Int) throws {
        let o = niftiOptions(gzipLevel: gzipLevel)
        let labels = product.masks.labelMap
        do {
            try NIfTIFile.write(product.ct, to: try staging.prepare(imagePath(product.id)), options: o)
            try NIfTIFile.write(labels, to: try staging.prepare(labelPath(product.id)), options: o)
            try NIfTIFile.write(product.masks.bitmask, to: try staging.prepare(bitmaskPath(product.id)), options: o)
        } catch let e as NIfTIError {
            throw CaseFailure(stage: "write", reason: e.description.replacingOccurrences(of: staging.folder + "/", with: ""))
        }
        for k in 0..<record.sliceCount {
            try staging.write(try slicePNG(labels, slice: k), to: slicePath(product.id, record.sliceName(k)))
        }
    }

    /// The 8-bit grayscale PNG of slice `k` of a label map (values 0...5; x = i, y = j).
    public static func slicePNG(_ labels: Volume<UInt8>, slice k: Int) throws -> [UInt8] {
        try PNGEncoder.encode(width: labels.size.i, height: labels.size.j, colorType: .grayscale,
                              pixels: Array(labels.slice(k)), compressionLevel: 6)
    }
}
