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
    /// A record without masks (a classifier's) has the CT alone.
    public static func paths(of record: CaseRecord) -> [String] {
        guard record.hasMasks else { return [imagePath(record.id)] }
        return [imagePath(record.id), labelPath(record.id), bitmaskPath(record.id)]
            + (0..<record.sliceCount).map { slicePath(record.id, record.sliceName($0)) }
    }

    /// The case's release files, encoded in memory, in the order of ``paths(of:)``: the bytes
    /// ``write(_:record:into:gzipLevel:)`` stores. ``encodeImage(_:id:gzipLevel:)`` followed by
    /// ``encodeMasks(_:record:gzipLevel:)``, which a cluster's coordinator calls apart.
    /// - Throws: ``CaseFailure`` (stage `write`) naming the file.
    public static func encode(_ product: CaseProduct, record: CaseRecord, gzipLevel: Int) throws -> [(path: String, bytes: [UInt8])] {
        [(imagePath(product.id), try encodeImage(product.ct, id: product.id, gzipLevel: gzipLevel))]
            + (try encodeMasks(product.masks, record: record, gzipLevel: gzipLevel))
    }

    /// The case's CT file (`imagesTr/<case>_0000.nii.gz`) from its CT on the released grid.
    /// - Throws: ``CaseFailure`` (stage `write`) naming the file.
    public static func encodeImage(_ ct: Volume<Int16>, id: CaseID, gzipLevel: Int) throws -> [UInt8] {
        do {
            return try NIfTIFile.encode(ct, name: imagePath(id), options: niftiOptions(gzipLevel: gzipLevel))
        } catch {
            throw CaseFailure(stage: "write", reason: error.description)
        }
    }

    /// The case's label files from its masks: the label map (`labelsTr`), the bitmask (`masks3d`)
    /// and one PNG per slice (`masks2d`), in the order of ``paths(of:)``. None for a record without
    /// masks (``CaseRecord/hasMasks``: a classifier's).
    /// - Throws: ``CaseFailure`` (stage `write`) naming the file.
    public static func encodeMasks(_ masks: SubtypeMasks, record: CaseRecord, gzipLevel: Int) throws -> [(path: String, bytes: [UInt8])] {
        guard record.hasMasks else { return [] }
        let o = niftiOptions(gzipLevel: gzipLevel)
        let labels = masks.labelMap
        var out: [(path: String, bytes: [UInt8])] = []
        do {
            out.append((labelPath(record.id), try NIfTIFile.encode(labels, name: labelPath(record.id), options: o)))
            out.append((bitmaskPath(record.id), try NIfTIFile.encode(masks.bitmask, name: bitmaskPath(record.id), options: o)))
        } catch {
            throw CaseFailure(stage: "write", reason: error.description)
        }
        for k in 0..<record.sliceCount {
            out.append((slicePath(record.id, record.sliceName(k)), try slicePNG(labels, slice: k)))
        }
        return out
    }

    /// Writes the case's volumes and slice PNGs into `staging`, each file atomically.
    public static func write(_ product: CaseProduct, record: CaseRecord, into staging: ReleaseStaging, gzipLevel: Int) throws {
        for file in try encode(product, record: record, gzipLevel: gzipLevel) {
            try staging.write(file.bytes, to: file.path)
        }
    }

    /// The 8-bit grayscale PNG of slice `k` of a label map (values 0...5; x = i, y = j).
    public static func slicePNG(_ labels: Volume<UInt8>, slice k: Int) throws -> [UInt8] {
        try PNGEncoder.encode(width: labels.size.i, height: labels.size.j, colorType: .grayscale,
                              pixels: Array(labels.slice(k)), compressionLevel: 6)
    }
}
