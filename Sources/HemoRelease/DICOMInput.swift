import DICOM
import Foundation
import HemoCore

/// How released slice labels are keyed (`--slice-key`).
public enum SliceKey: String, Sendable, CaseIterable {
    /// By case and slice index only (`labels/slice_labels.csv`).
    case slice
    /// Also `labels/slice_labels_sop.csv`, one row per slice read from a DICOM instance, keyed by its SOPInstanceUID.
    case sop
}

/// How cases are named (`--case-ids`).
public enum CaseIDSource: String, Sendable, CaseIterable {
    /// By the case folder's name (or `cohort.csv`'s `case` column).
    case folder
    /// DICOM cases by `study-` and 16 hex digits of the salted SHA-256 of their StudyInstanceUID.
    case studyHash = "study-hash"
}

/// Salted hashes of DICOM UIDs: the only form in which a UID other than a slice's SOPInstanceUID
/// reaches a release.
public enum UIDHash {
    /// 16 hex digits of SHA-256(`salt` + "|" + `uid`).
    public static func hash(_ uid: String, salt: String) -> String {
        String(SHA256.hex(of: Array((salt + "|" + uid).utf8)).prefix(16))
    }
}

/// The DICOM instance of one released slice.
public struct SliceInstance: Sendable, Hashable, Codable {
    /// SOP Instance UID.
    public var sopInstanceUID: String
    /// Instance Number, when the file had one.
    public var instanceNumber: Int?

    /// A slice instance.
    public init(sopInstanceUID: String, instanceNumber: Int?) {
        self.sopInstanceUID = sopInstanceUID; self.instanceNumber = instanceNumber
    }
}

/// One row of `series.csv`: a series of a DICOM exam and the selection's verdict.
public struct SeriesRow: Sendable, Hashable, Codable {
    /// Salted hashes of the Study and Series Instance UIDs.
    public var studyHash: String, seriesHash: String
    /// Series Number, when present.
    public var seriesNumber: Int?
    /// Modality, Image Type (values joined by `\`), convolution kernel.
    public var modality: String, imageType: String, kernel: String
    /// Image files, rows and columns of the first image.
    public var images: Int, rows: Int, columns: Int
    /// Slice thickness (mm) and gantry tilt (degrees) of the first image.
    public var thickness: Double?, tilt: Double
    /// Whether this series was read.
    public var selected: Bool
    /// Why not (empty for the selected series).
    public var reason: String
    /// Corrections applied to the selected series (tilt, uneven spacing, quirks), `; `-separated.
    public var notes: String
}

/// What a release keeps of a DICOM-sourced exam: hashed series rows and the instance of each released slice.
public struct DICOMCaseInfo: Sendable, Hashable, Codable {
    /// Every series of the study, in Series Instance UID order (of the unhashed UIDs).
    public var series: [SeriesRow]
    /// For each released k-slice, the instance it was read from (nil when made by resampling).
    public var slices: [SliceInstance?]

    /// An info record.
    public init(series: [SeriesRow], slices: [SliceInstance?]) {
        self.series = series; self.slices = slices
    }
}

/// A DICOM study as read by the pipeline, before the release's transforms.
public struct DICOMSourceRead: Sendable {
    /// The study's volume and selection (from the `DICOM` module).
    public var study: DICOMVolume
    /// The hashed series rows.
    public var series: [SeriesRow]

    /// The instance of each k-slice of `grid` (the released grid): a slice maps to the source
    /// instance whose position along the normal it shares (within 1 µm per mm of spacing);
    /// none when the grid's k axis no longer runs along the slice normal.
    public func sliceInstances(on grid: Geometry) -> [SliceInstance?] {
        let n = study.normal
        let cols = grid.affine.linearColumns
        let kLPS = SIMD3(-cols[2].x, -cols[2].y, cols[2].z)
        let kLen = (kLPS * kLPS).sum().squareRoot()
        var out = [SliceInstance?](repeating: nil, count: grid.size.k)
        guard kLen > 0, abs((kLPS * n).sum()) / kLen > 0.999 else { return out }
        let positions = study.slicePositions
        let spacing = max(1e-6, positions.count > 1 ? abs(positions[1] - positions[0]) : 1)
        let tol = 1e-3 * spacing + 1e-4
        for k in 0..<grid.size.k {
            let w = grid.world(atIndex: SIMD3(Double(grid.size.i - 1) / 2, Double(grid.size.j - 1) / 2, Double(k)))
            let d = (SIMD3(-w.x, -w.y, w.z) * n).sum()
            // positions ascend: binary search for the nearest.
            var lo = 0, hi = positions.count - 1
            while lo < hi {
                let mid = (lo + hi) / 2
                if positions[mid] < d { lo = mid + 1 } else { hi = mid }
            }
            for cand in [lo - 1, lo] where cand >= 0 && cand < positions.count {
                if abs(positions[cand] - d) <= tol, let s = study.sliceSources[cand] {
                    out[k] = SliceInstance(sopInstanceUID: s.sopInstanceUID, instanceNumber: s.instanceNumber)
                }
            }
        }
        return out
    }
}

extension CohortCase {
    /// Whether the case's CT is a DICOM study folder rather than a NIfTI file.
    public var isDICOM: Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: ct, isDirectory: &d) && d.boolValue
    }
}

extension CasePipeline {
    /// The DICOM read options `options` imply.
    static func dicomReadOptions(_ options: ReleaseOptions) throws -> DICOMReadOptions {
        var o = DICOMReadOptions()
        o.strict = options.strictSpacing
        o.maxVoxels = options.maxVoxels
        if !options.seriesSelect.isEmpty { o.rules = try SeriesSelectionRules(parsing: options.seriesSelect) }
        return o
    }

    /// Reads a DICOM case: the selected series in HU, one provenance entry per image file
    /// (named by the salted hash of its SOPInstanceUID, never by its path, which may hold names),
    /// and the hashed series rows.
    static func readDICOM(_ c: CohortCase, options: ReleaseOptions) throws -> (ct: Volume<Float>, inputs: [InputFile], source: DICOMSourceRead) {
        do {
            let v = try DICOMStudy.read(c.ct, options: try dicomReadOptions(options))
            let salt = options.uidSalt
            let series = v.series.map { s in
                SeriesRow(studyHash: UIDHash.hash(s.studyInstanceUID, salt: salt), seriesHash: UIDHash.hash(s.seriesInstanceUID, salt: salt),
                          seriesNumber: s.seriesNumber, modality: s.modality, imageType: s.imageType, kernel: s.kernel,
                          images: s.images, rows: s.rows, columns: s.columns, thickness: s.thickness, tilt: s.tilt,
                          selected: s.selected, reason: s.reason, notes: s.selected ? v.notes.joined(separator: "; ") : "")
            }
            let inputs = v.fileDigests.map { f in
                InputFile(path: "\(c.id.rawValue)/dicom/\(UIDHash.hash(f.sopInstanceUID, salt: salt)).dcm", sha256: f.sha256)
            }.sorted { Array($0.path.utf8).lexicographicallyPrecedes($1.path.utf8) }
            return (v.volume, inputs, DICOMSourceRead(study: v, series: series))
        } catch let e as DICOMError {
            throw CaseFailure(stage: "read", reason: relativeMessage(e.description, c))
        }
    }
}
