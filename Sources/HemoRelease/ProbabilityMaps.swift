import Foundation
import HemoCore
import NIfTI

/// The per-subtype probability volumes of a pseudo-label release made with `--probabilities`:
/// `probabilities/<case>/<SUBTYPE>.nii.gz`, one per subtype EPH…IVH, on the released grid.
///
/// Quantisation: a probability `p` (the model's, before any component filter) is stored as the
/// byte `q = round(clamp(p, 0, 1) · 255)`, rounding halves away from zero (`floor(x + 0.5)`), NaN as 0;
/// the NIfTI file is uint8 with `scl_slope` = 1/255 and `scl_inter` = 0, so a reader that applies
/// the scaling (nibabel's `get_fdata`) gets `q / 255`, within 1/510 of `p`.
public enum ProbabilityMaps {
    /// The folder of the maps inside a release.
    public static let folder = "probabilities"
    /// `scl_slope` of every map.
    public static let slope = 1.0 / 255.0

    /// The release-relative path of one subtype's map.
    public static func path(_ id: CaseID, _ subtype: Subtype) -> String { "\(folder)/\(id.rawValue)/\(subtype.name).nii.gz" }

    /// The paths of a case's maps, in subtype order (EPH…IVH).
    public static func paths(_ id: CaseID) -> [String] { Subtype.allCases.map { path(id, $0) } }

    /// The stored byte of probability `p`: `round(clamp(p, 0, 1) · 255)`, halves away from zero, NaN → 0.
    @inline(__always)
    public static func quantise(_ p: Float) -> UInt8 {
        guard p > 0 else { return 0 } // also NaN
        guard p < 1 else { return 255 }
        return UInt8((Double(p) * 255 + 0.5).rounded(.down))
    }

    /// A map from probabilities on `geometry` (i fastest, as the grid's voxels).
    public static func quantised(_ probabilities: UnsafeBufferPointer<Float>, geometry: Geometry) -> Volume<UInt8> {
        precondition(probabilities.count == geometry.size.count)
        var bytes = [UInt8](repeating: 0, count: probabilities.count)
        bytes.withUnsafeMutableBufferPointer { out in
            for n in 0..<probabilities.count { out[n] = quantise(probabilities[n]) }
        }
        return Volume(geometry: geometry, voxels: bytes)
    }

    /// The NIfTI write options of a map.
    static func niftiOptions(gzipLevel: Int) -> NIfTIWriteOptions {
        var o = CaseFiles.niftiOptions(gzipLevel: gzipLevel)
        o.sclSlope = slope
        o.sclInter = 0
        return o
    }

    /// The case's map files, in subtype order; `maps` holds one volume per subtype EPH…IVH.
    /// - Throws: ``CaseFailure`` (stage `write`) naming the file, or when the maps are not five
    ///   volumes on the masks' grid.
    public static func encode(_ maps: [Volume<UInt8>], id: CaseID, geometry: Geometry, gzipLevel: Int) throws -> [(path: String, bytes: [UInt8])] {
        guard maps.count == Subtype.allCases.count else {
            throw CaseFailure(stage: "write", reason: "\(folder)/\(id.rawValue): \(maps.count) probability maps, one per subtype (5) expected")
        }
        let o = niftiOptions(gzipLevel: gzipLevel)
        var out: [(path: String, bytes: [UInt8])] = []
        for (subtype, map) in zip(Subtype.allCases, maps) {
            let p = path(id, subtype)
            guard map.geometry == geometry else {
                throw CaseFailure(stage: "write", reason: "\(p): the probability map's grid differs from the masks'")
            }
            do { out.append((p, try NIfTIFile.encode(map, name: p, options: o))) } catch {
                throw CaseFailure(stage: "write", reason: error.description)
            }
        }
        return out
    }

    /// Checks the maps of a release (``ReleaseVerifier``): with `expected`, each released case has
    /// all five, uint8, scaled by 1/255, on its masks' grid; no other file lies under
    /// `probabilities/`. Without, no file lies there.
    static func verify(root: String, files: [String], cases: [CaseID: Geometry], expected: Bool,
                       add: (String, String) -> Void) {
        let present = files.filter { $0.hasPrefix(folder + "/") }
        guard expected else {
            for f in present { add(f, "a probability map in a release made without --probabilities") }
            return
        }
        var wanted = Set<String>()
        for (id, geometry) in cases.sorted(by: { $0.key < $1.key }) {
            for subtype in Subtype.allCases {
                let p = path(id, subtype)
                wanted.insert(p)
                guard files.contains(p) else {
                    add(p, "missing: a release made with --probabilities holds one map per subtype and case"); continue
                }
                do {
                    let header = try NIfTIFile.readHeader(root + "/" + p, options: NIfTIReadOptions())
                    guard header.voxelType == .uint8 else { add(p, "datatype \(header.voxelType.rawValue), uint8 expected"); continue }
                    guard let s = header.scaling, abs(s.slope - slope) < 1e-9, s.intercept == 0 else {
                        add(p, "scl_slope \(header.sclSlope) and scl_inter \(header.sclInter); 1/255 and 0 expected"); continue
                    }
                    let volume = try NIfTIFile.read(root + "/" + p, options: NIfTIReadOptions()).volume
                    if volume.geometry.size != geometry.size || volume.geometry.affine.maxAbsoluteDifference(to: geometry.affine) > 1e-4 {
                        add(p, "grid differs from the masks'")
                    }
                } catch {
                    add(p, "unreadable: \(error)")
                }
            }
        }
        for f in present where !wanted.contains(f) { add(f, "not the probability map of a released case and subtype") }
    }
}
