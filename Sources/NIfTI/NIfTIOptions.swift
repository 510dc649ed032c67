import HemoCore

/// Limits and choices for reading a NIfTI file.
public struct NIfTIReadOptions: Sendable {
    /// Largest voxel count (all frames) a file may declare; larger files are refused before
    /// anything is allocated. Default 2³⁰ (e.g. 1024 × 1024 × 1024).
    public var maxVoxels: Int
    /// Whether ``NIfTIFile/read(_:options:)`` applies `scl_slope`/`scl_inter`. When it does and the
    /// scaling is not the identity, the volume is float32 (float64 for int32 and float64 sources).
    public var applyScaling: Bool

    /// Options with the given limit and scaling choice.
    public init(maxVoxels: Int = 1 << 30, applyScaling: Bool = false) {
        self.maxVoxels = maxVoxels
        self.applyScaling = applyScaling
    }
}

/// Choices for writing a NIfTI file.
public struct NIfTIWriteOptions: Sendable {
    /// The gzip level this module uses unless told otherwise (zlib's own default).
    public static let defaultGzipLevel = 6
    /// The `descrip` text written unless told otherwise. Fixed, so equal volumes give equal bytes.
    public static let defaultDescription = "HemoCluster"

    /// gzip level 0...9 for `.nii.gz` outputs (ignored for `.nii`). Default ``defaultGzipLevel``.
    public var gzipLevel: Int
    /// NIfTI-1 (default) or NIfTI-2 (needed for extents above 32767).
    public var version: NIfTIVersion
    /// `scl_slope` to store: the voxels are stored values and `real = stored × slope + intercept`.
    /// 1 (with intercept 0) means the voxels are real values.
    public var sclSlope: Double
    /// `scl_inter` to store (see ``sclSlope``).
    public var sclInter: Double
    /// `descrip` text, ASCII, truncated to 79 bytes.
    public var description: String
    /// Whether to `fsync` the file before renaming it into place, and its folder after (durable
    /// against power loss; slower). Default `false`.
    public var synchronize: Bool
    /// The extents to write as `dim[1...dim[0]]`, when they must be kept as a source had them
    /// (trailing singleton axes, e.g. 128×128×10×1): the first three must be the volume's grid
    /// and the rest must multiply to its frame count. `nil` (default): 3 extents, 4 with frames.
    public var dimensions: [Int]?
    /// `pixdim[4...7]` (the time step and the 5th–7th axes' steps). `nil` (default): 1, 0, 0, 0.
    public var extraPixdim: [Double]?
    /// `xyzt_units` as a source had it. `nil` (default): millimetres, and seconds with frames.
    public var xyztUnits: Int?
    /// Header extensions written between the header and the voxels. Default none.
    public var extensions: [NIfTIExtension] = []
    /// The qform as a source stored it (quaternion, offset, `pixdim[0...3]`), written as it is
    /// instead of being derived from the affine. `nil` (default): derived from the affine.
    public var quaternionForm: NIfTIQuaternionForm?

    /// Options for writing; every default leaves the output reproducible byte for byte.
    public init(gzipLevel: Int = NIfTIWriteOptions.defaultGzipLevel, version: NIfTIVersion = .nifti1,
                sclSlope: Double = 1, sclInter: Double = 0,
                description: String = NIfTIWriteOptions.defaultDescription, synchronize: Bool = false) {
        self.gzipLevel = gzipLevel
        self.version = version
        self.sclSlope = sclSlope
        self.sclInter = sclInter
        self.description = description
        self.synchronize = synchronize
    }
}

/// A qform exactly as stored: `quatern_b/c/d`, `qoffset_x/y/z`, `pixdim[0]` (qfac) and `pixdim[1...3]`.
public struct NIfTIQuaternionForm: Sendable, Equatable {
    /// `quatern_b`, `quatern_c`, `quatern_d`.
    public var quaternion: SIMD3<Double>
    /// `qoffset_x`, `qoffset_y`, `qoffset_z`.
    public var offset: SIMD3<Double>
    /// `pixdim[0]`, the handedness (−1 or 1).
    public var qfac: Double
    /// `pixdim[1...3]`.
    public var pixdim: SIMD3<Double>

    /// A stored qform.
    public init(quaternion: SIMD3<Double>, offset: SIMD3<Double>, qfac: Double, pixdim: SIMD3<Double>) {
        self.quaternion = quaternion; self.offset = offset; self.qfac = qfac; self.pixdim = pixdim
    }
}

/// A NIfTI file's header together with its voxels.
public struct NIfTIImage: Sendable {
    /// The parsed header of the file.
    public var header: NIfTIHeader
    /// The voxels with the file's geometry (stored values unless scaling was requested).
    public var volume: AnyVolume

    /// An image from a header and a volume.
    public init(header: NIfTIHeader, volume: AnyVolume) {
        self.header = header
        self.volume = volume
    }
}
