import HemoCore
import HemoTransforms

/// Which annotation form a build reads when a case delivers several.
public enum AnnotationSource: String, CaseIterable, Sendable {
    /// The richest form present: per-subtype masks, else the label map, else polygons.
    case auto
    /// The multi-label NIfTI (`labelmap.nii.gz`).
    case labelmap
    /// One binary NIfTI per subtype (`masks/<SUBTYPE>.nii.gz`).
    case subtypeMasks = "subtype-masks"
    /// Per-slice 2D polygons (`polygons.json`).
    case polygons
}

/// The target grid of a build.
public enum SpacingChoice: Sendable, Hashable, CustomStringConvertible {
    /// Keep each exam's own grid.
    case native
    /// Resample to this spacing in millimetres (i, j, k).
    case millimetres(SIMD3<Double>)

    public var description: String {
        switch self {
        case .native: "native"
        case .millimetres(let s): "\(formatFixed(s.x, decimals: 4)),\(formatFixed(s.y, decimals: 4)),\(formatFixed(s.z, decimals: 4))"
        }
    }
}

/// How a release stores each exam's CT (`--images`).
public enum ImageMode: String, Sendable, CaseIterable {
    /// Write `imagesTr/<case>_0000.nii.gz` (the CT on the released grid, re-encoded).
    case copy
    /// Hard-link the input CT into `imagesTr` when its bytes are exactly what ``copy`` would write
    /// (a symbolic link to it across file systems); otherwise write it as ``copy`` does.
    case link
    /// A labels-only release: no `imagesTr`; `images.sha256` names each released exam's input CT
    /// (cohort-relative path) by SHA-256. Needs the native grid.
    case omit
}

/// Every option that shapes a release's bytes. All of them are written to `provenance.json`.
public struct ReleaseOptions: Sendable {
    /// Target grid.
    public var spacing: SpacingChoice = .native

    /// Whether the options change the CT's grid (reorientation or resampling): then the released
    /// CT differs from the input's, and a cluster worker sends it; otherwise the coordinator
    /// writes it from the input itself.
    public var transformsGrid: Bool {
        if canonical { return true }
        if case .millimetres = spacing { return true }
        return false
    }
    /// Interpolation for the CT when resampling (masks always use nearest neighbour).
    public var interpolation: Interpolation = .linear
    /// Reorient to canonical RAS (axis permutations and flips only) before anything else.
    public var canonical: Bool = false
    /// gzip level of the NIfTI files (0–9). The default, 1, compresses several times faster than
    /// level 6 for files a few percent larger (the measurement: scripts/bench/README.md).
    public var gzipLevel: Int = 1
    /// Seed of the patient-level split.
    public var splitSeed: String = "hemocluster"
    /// Which annotation form to read.
    public var annotations: AnnotationSource = .auto
    /// Largest CT the build accepts, in voxels.
    public var maxVoxels: Int = 1 << 28
    /// Tolerance in millimetres when checking that annotations sit on the CT grid.
    public var gridTolerance: Double = 1e-3
    /// How the release stores the CTs (listed in the provenance for ``ImageMode/omit`` only).
    public var images: ImageMode = .copy

    /// Why these options cannot go together, or `nil`: a labels-only release (``ImageMode/omit``)
    /// names the input CTs, so its labels must lie on their grid.
    public var imagesConflict: String? {
        images == .omit && transformsGrid
            ? "--images omit keeps only the input CTs' SHA-256, so the labels must stay on their grid: drop --spacing and --canonical, or use --images copy"
            : nil
    }
    /// DICOM series rules (`--series-select`, e.g. `thickness=2-5,kernel=H30`); empty: the default choice.
    public var seriesSelect: String = ""
    /// DICOM: fail an exam with uneven slice spacing instead of resampling it (`--strict`).
    public var strictSpacing: Bool = false
    /// DICOM: the salt of the UID hashes in provenance, `series.csv` and study-hash case names.
    /// Not written to the release; pass a secret one to keep releases from being linked.
    public var uidSalt: String = "hemocluster"
    /// How slice labels are keyed (`--slice-key`).
    public var sliceKey: SliceKey = .slice
    /// How cases are named (`--case-ids`).
    public var caseIDs: CaseIDSource = .folder
    /// Whether the release holds masks (`labelsTr/`, `masks3d/`, `masks2d/`). False for a
    /// classifier-only model's pseudo-labels: slice and patient labels with their probabilities,
    /// no masks, no boxes (`"masks": "none"` in the provenance's options and in `dataset.json`).
    public var writesMasks: Bool = true
    /// Pseudo-labels: also release per-subtype probability maps (`--probabilities`, ``ProbabilityMaps``).
    public var probabilities: Bool = false

    /// The defaults.
    public init() {}

    /// The options as provenance JSON, keys in a fixed order.
    public var provenance: JSONValue {
        // `images` appears only for omit: link stores the very bytes copy writes, so both give one release.
        // `masks` and `probabilities` appear only when they differ from the default, so every
        // other release keeps its bytes.
        .object((images == .omit ? baseProvenance + [("images", .string(images.rawValue))] : baseProvenance)
            + (writesMasks ? [] : [("masks", .string(ReleaseFormat.noMasks))])
            + (probabilities ? [("probabilities", .bool(true))] : []))
    }

    private var baseProvenance: [(String, JSONValue)] {
        [
            ("spacing", .string(spacing.description)),
            ("interpolation", .string(interpolation.rawValue)),
            ("canonical", .bool(canonical)),
            ("gzip_level", .int(gzipLevel)),
            ("split_seed", .string(splitSeed)),
            ("annotations", .string(annotations.rawValue)),
            ("max_voxels", .int(maxVoxels)),
            ("grid_tolerance_mm", .number(gridTolerance, decimals: 6)),
        ] + dicomProvenance
    }

    /// DICOM options, only when one differs from its default (NIfTI releases keep their bytes).
    var dicomProvenance: [(String, JSONValue)] {
        guard !seriesSelect.isEmpty || strictSpacing || sliceKey != .slice || caseIDs != .folder else { return [] }
        return [("series_select", .string(seriesSelect)), ("strict_spacing", .bool(strictSpacing)),
                ("slice_key", .string(sliceKey.rawValue)), ("case_ids", .string(caseIDs.rawValue))]
    }
}
