/// A failure to read or write a NIfTI file, naming the file and the reason.
///
/// Like swift-nio's errors, the ``Code`` is an extensible set of static values, so new
/// reasons can be added without breaking `switch`es elsewhere (compare codes with `==`).
public struct NIfTIError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// A stable, lower-camel-case name of the code, e.g. `"badMagic"`.
        public let name: String
        /// A code with the given stable name.
        public init(_ name: String) { self.name = name }
        /// The stable name.
        public var description: String { name }

        /// The file does not exist.
        public static let notFound = Code("notFound")
        /// The file exists but could not be opened or read (permissions, a directory, an I/O error).
        public static let unreadable = Code("unreadable")
        /// The gzip stream is corrupt (bad compressed data or checksum).
        public static let corruptCompression = Code("corruptCompression")
        /// The file ends before the 348-byte (NIfTI-1) or 540-byte (NIfTI-2) header does.
        public static let truncatedHeader = Code("truncatedHeader")
        /// `sizeof_hdr` or the magic string is not NIfTI-1 single-file (`n+1`) or NIfTI-2 (`n+2`).
        public static let badMagic = Code("badMagic")
        /// A NIfTI variant this module does not handle (e.g. a `.hdr`/`.img` pair).
        public static let unsupportedFormat = Code("unsupportedFormat")
        /// `dim[0]` out of 1...7, a zero or negative extent, or a fifth dimension.
        public static let badDimensions = Code("badDimensions")
        /// The voxel count overflows or exceeds ``NIfTIReadOptions/maxVoxels``.
        public static let tooManyVoxels = Code("tooManyVoxels")
        /// The datatype code is unknown or not one of uint8, int16, uint16, int32, float32, float64.
        public static let unsupportedDatatype = Code("unsupportedDatatype")
        /// `vox_offset` is negative, not finite, or inside the header.
        public static let badVoxOffset = Code("badVoxOffset")
        /// `vox_offset` points past the end of the file.
        public static let voxOffsetPastEnd = Code("voxOffsetPastEnd")
        /// The file ends before all voxels are read.
        public static let truncatedData = Code("truncatedData")
        /// A qform or sform parameter, or a voxel size, that the affine needs is NaN or infinite.
        public static let nonFiniteAffine = Code("nonFiniteAffine")
        /// The qform quaternion (b, c, d) has a norm above 1, so it is not a rotation.
        public static let badQuaternion = Code("badQuaternion")
        /// `scl_slope` is valid but `scl_inter` is NaN or infinite (nibabel refuses this too).
        public static let badScaling = Code("badScaling")
        /// The output name does not end in `.nii` or `.nii.gz`.
        public static let badFileName = Code("badFileName")
        /// The volume cannot be stored in the requested format (e.g. an extent above 32767 in NIfTI-1).
        public static let unrepresentable = Code("unrepresentable")
        /// A write option is out of range (e.g. a gzip level outside 0...9).
        public static let invalidOption = Code("invalidOption")
        /// Creating, writing, compressing or renaming the output failed.
        public static let writeFailed = Code("writeFailed")
    }

    /// What kind of failure this is.
    public var code: Code
    /// The file being read or written.
    public var path: String
    /// A sentence saying what is wrong, for a person.
    public var reason: String

    /// An error of kind `code` for `path`.
    public init(_ code: Code, path: String, reason: String) {
        self.code = code
        self.path = path
        self.reason = reason
    }

    /// `"<path>: <reason>"`.
    public var description: String { "\(path): \(reason)" }
}
