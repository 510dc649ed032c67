import CNIfTI
import HemoCore

/// The NIfTI format version of a file.
public enum NIfTIVersion: Int, Sendable, Codable {
    /// NIfTI-1: 348-byte header, 16-bit extents, 32-bit floats in the header.
    case nifti1 = 1
    /// NIfTI-2: 540-byte header, 64-bit extents, 64-bit floats in the header.
    case nifti2 = 2

    /// Bytes in the fixed header.
    public var headerSize: Int { self == .nifti1 ? 348 : 540 }
    /// Where voxels start in a file this module writes: header plus the 4-byte extension flag.
    public var minimumVoxOffset: Int { headerSize + 4 }
}

/// The byte order of a file's header and voxels.
public enum NIfTIByteOrder: String, Sendable, Codable {
    /// Least significant byte first (x86, ARM; what this module writes).
    case littleEndian
    /// Most significant byte first.
    case bigEndian
}

/// Linear scaling from stored values to real values: `real = stored × slope + intercept`
/// (NIfTI `scl_slope`, `scl_inter`).
public struct NIfTIScaling: Sendable, Hashable {
    /// Multiplier (never 0, always finite).
    public var slope: Double
    /// Offset added after the multiplication (always finite).
    public var intercept: Double

    /// A scaling `stored × slope + intercept`.
    public init(slope: Double, intercept: Double) {
        self.slope = slope
        self.intercept = intercept
    }

    /// Whether this scaling leaves values unchanged (slope 1, intercept 0).
    public var isIdentity: Bool { slope == 1 && intercept == 0 }
}

/// A NIfTI header extension: its `ecode` and its `esize − 8` bytes of content (padding
/// included), as nibabel's `Nifti1Extension` holds it.
public struct NIfTIExtension: Sendable, Equatable {
    /// `ecode` (e.g. 4 AFNI, 6 comment, 32 CIFTI).
    public var code: Int
    /// The content, without the 8 bytes of `esize` and `ecode`.
    public var content: [UInt8]

    /// An extension.
    public init(code: Int, content: [UInt8]) {
        self.code = code
        self.content = content
    }

    /// Decodes the bytes that follow a header up to `vox_offset` (the 4-byte extension flag first);
    /// stops at the first extension whose `esize` is below 8, not a multiple of 8 or past the end,
    /// as nibabel does.
    static func decode(_ bytes: [UInt8], byteOrder: NIfTIByteOrder) -> [NIfTIExtension] {
        guard bytes.count >= 4, bytes[0] != 0 else { return [] }
        func int32(_ at: Int) -> Int {
            let b = bytes[at..<at + 4].map(UInt32.init)
            let v = byteOrder == .littleEndian ? b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24 : b[3] | b[2] << 8 | b[1] << 16 | b[0] << 24
            return Int(Int32(bitPattern: v))
        }
        var out: [NIfTIExtension] = []
        var at = 4
        while at + 8 <= bytes.count {
            let size = int32(at), code = int32(at + 4)
            guard size >= 8, size % 8 == 0, at + size <= bytes.count else { break }
            out.append(NIfTIExtension(code: code, content: Array(bytes[at + 8..<at + size])))
            at += size
        }
        return out
    }

    /// The extension flag and the extensions as written after a header (little-endian), each
    /// padded with zeros to a multiple of 16 bytes.
    static func encode(_ extensions: [NIfTIExtension]) -> [UInt8] {
        guard !extensions.isEmpty else { return [0, 0, 0, 0] }
        func le(_ v: Int) -> [UInt8] { let u = UInt32(bitPattern: Int32(truncatingIfNeeded: v)); return (0..<4).map { UInt8(truncatingIfNeeded: u >> (8 * $0)) } }
        var out: [UInt8] = [1, 0, 0, 0]
        for e in extensions {
            let size = (e.content.count + 8 + 15) / 16 * 16
            out += le(size) + le(e.code) + e.content + [UInt8](repeating: 0, count: size - 8 - e.content.count)
        }
        return out
    }
}

/// A parsed and validated NIfTI-1 or NIfTI-2 header, with the voxel-to-world affine
/// resolved the way nibabel resolves it (see the module's documentation article).
public struct NIfTIHeader: Sendable, Equatable {
    /// NIfTI-1 or NIfTI-2.
    public var version: NIfTIVersion
    /// Byte order of the header and voxels on disk.
    public var byteOrder: NIfTIByteOrder
    /// Whether the file is gzip-compressed. Known only after content was read; ``NIfTIFile``
    /// fills it in.
    public var isCompressed: Bool
    /// Extents `dim[1...dim[0]]`, all ≥ 1.
    public var dimensions: [Int]
    /// The NIfTI datatype code (`2` uint8, `4` int16, `512` uint16, `8` int32, `16` float32, `64` float64).
    public var datatypeCode: Int
    /// The voxel type the datatype code stands for.
    public var voxelType: VoxelType
    /// `bitpix` as stored (not trusted: the datatype decides the voxel width).
    public var bitsPerVoxel: Int
    /// `pixdim[0...7]` as stored.
    public var pixdim: [Double]
    /// Voxel sizes along i, j, k after nibabel's fixes (absolute values, 0 read as 1).
    public var spacing: SIMD3<Double>
    /// `qform_code` (0...5; codes outside that range read as 0, as nibabel does).
    public var qformCode: Int
    /// `sform_code` (0...5; codes outside that range read as 0, as nibabel does).
    public var sformCode: Int
    /// The qform quaternion's (b, c, d).
    public var quaternion: SIMD3<Double>
    /// `qoffset_x`, `qoffset_y`, `qoffset_z`.
    public var quaternionOffset: SIMD3<Double>
    /// `pixdim[0]` read as the qform's handedness: −1 when it is exactly −1, else 1.
    public var qfac: Double
    /// The qform matrix, when `qform_code` is not 0.
    public var qform: Affine?
    /// The sform matrix (`srow_x`, `srow_y`, `srow_z`), when `sform_code` is not 0.
    public var sform: Affine?
    /// The voxel-to-world affine: sform if coded, else qform if coded, else nibabel's
    /// centred, x-flipped `pixdim` diagonal.
    public var affine: Affine
    /// `scl_slope` as stored (may be 0 or NaN, meaning no scaling).
    public var sclSlope: Double
    /// `scl_inter` as stored.
    public var sclInter: Double
    /// The scaling to apply, or `nil` when `scl_slope` is 0 or not finite.
    public var scaling: NIfTIScaling?
    /// Byte offset of the first voxel in the (uncompressed) content.
    public var voxOffset: Int
    /// `descrip`, up to its first NUL.
    public var descrip: String
    /// `intent_code`.
    public var intentCode: Int
    /// `xyzt_units`.
    public var xyztUnits: Int
    /// The header extensions between the header and `vox_offset`, in file order (filled in when
    /// the file is read, empty for a header read alone).
    public var extensions: [NIfTIExtension] = []

    /// The 3D grid: `dim[1]`, `dim[2]`, `dim[3]` (1 for missing dimensions).
    public var gridSize: GridSize {
        GridSize(dimensions[0], dimensions.count > 1 ? dimensions[1] : 1, dimensions.count > 2 ? dimensions[2] : 1)
    }
    /// Extent of the fourth dimension (1 for 3D and lower).
    public var frames: Int { dimensions.count > 3 ? dimensions[3] : 1 }
    /// Voxels in the file (all frames).
    public var voxelCount: Int { dimensions.reduce(1, *) }
    /// Bytes of voxel data in the file.
    public var dataByteCount: Int { voxelCount * voxelType.byteWidth }
    /// Size, spacing, affine and codes as a ``Geometry``.
    public var geometry: Geometry {
        Geometry(size: gridSize, spacing: spacing, affine: affine, qformCode: qformCode, sformCode: sformCode)
    }
}

// MARK: - Parsing

/// The NIfTI datatype code of each voxel type.
extension VoxelType {
    /// The NIfTI datatype code (`DT_*`).
    public var niftiDatatypeCode: Int {
        switch self {
        case .uint8: Int(NIFTI_TYPE_UINT8)
        case .int16: Int(NIFTI_TYPE_INT16)
        case .uint16: Int(NIFTI_TYPE_UINT16)
        case .int32: Int(NIFTI_TYPE_INT32)
        case .float32: Int(NIFTI_TYPE_FLOAT32)
        case .float64: Int(NIFTI_TYPE_FLOAT64)
        }
    }

    /// The voxel type of a NIfTI datatype code, if this module supports it.
    public init?(niftiDatatypeCode code: Int) {
        guard let match = VoxelType.allCases.first(where: { $0.niftiDatatypeCode == code }) else { return nil }
        self = match
    }
}

/// The fields both header versions share, widened to Swift types, before validation.
struct RawHeaderFields {
    var version: NIfTIVersion
    var byteOrder: NIfTIByteOrder
    var magic: [UInt8]
    var dim: [Int]
    var datatype: Int
    var bitpix: Int
    var pixdim: [Double]
    var voxOffset: Double
    var sclSlope: Double
    var sclInter: Double
    var qformCode: Int
    var sformCode: Int
    var quatern: SIMD3<Double>
    var qoffset: SIMD3<Double>
    var srow: [Double]
    var descrip: String
    var intentCode: Int
    var xyztUnits: Int
}

/// The elements of a fixed-size C array (imported as a tuple).
func cArrayElements<Tuple, Element>(_ tuple: Tuple, as: Element.Type) -> [Element] {
    withUnsafeBytes(of: tuple) { Array($0.bindMemory(to: Element.self)) }
}

/// A NUL-terminated C character array as a String (invalid UTF-8 repaired).
func cArrayString<Tuple>(_ tuple: Tuple) -> String {
    let bytes = cArrayElements(tuple, as: UInt8.self)
    let end = bytes.firstIndex(of: 0) ?? bytes.count
    return String(decoding: bytes[..<end], as: UTF8.self)
}

enum HeaderParser {
    /// Sizes of libnifti's header structs in this build; decoding copies file bytes into them,
    /// so they must be the on-disk 348 and 540.
    static var headerStructSizes: (Int, Int) { (MemoryLayout<nifti_1_header>.size, MemoryLayout<nifti_2_header>.size) }

    /// Which header `sizeof_hdr` (the first four bytes) announces, or `nil`.
    static func detect(_ first4: [UInt8]) -> (NIfTIVersion, NIfTIByteOrder)? {
        let little = Int32(first4[0]) | Int32(first4[1]) << 8 | Int32(first4[2]) << 16 | Int32(first4[3]) << 24
        let big = little.byteSwapped
        switch (little, big) {
        case (348, _): return (.nifti1, nativeIsLittle ? .littleEndian : .bigEndian)
        case (540, _): return (.nifti2, nativeIsLittle ? .littleEndian : .bigEndian)
        case (_, 348): return (.nifti1, nativeIsLittle ? .bigEndian : .littleEndian)
        case (_, 540): return (.nifti2, nativeIsLittle ? .bigEndian : .littleEndian)
        default: return nil
        }
    }

    static var nativeIsLittle: Bool { 1.littleEndian == 1 }

    /// Decodes the fixed header through libnifti's header structs and byte-swappers.
    static func decode(_ bytes: [UInt8], version: NIfTIVersion, byteOrder: NIfTIByteOrder) -> RawHeaderFields {
        let swap = (byteOrder == .littleEndian) != nativeIsLittle
        switch version {
        case .nifti1:
            var h = nifti_1_header()
            withUnsafeMutableBytes(of: &h) { $0.copyBytes(from: bytes[0..<348]) }
            if swap { nifti_swap_as_nifti1(&h) }
            return RawHeaderFields(
                version: .nifti1, byteOrder: byteOrder,
                magic: cArrayElements(h.magic, as: UInt8.self),
                dim: cArrayElements(h.dim, as: Int16.self).map(Int.init),
                datatype: Int(h.datatype), bitpix: Int(h.bitpix),
                pixdim: cArrayElements(h.pixdim, as: Float.self).map(Double.init),
                voxOffset: Double(h.vox_offset),
                sclSlope: Double(h.scl_slope), sclInter: Double(h.scl_inter),
                qformCode: Int(h.qform_code), sformCode: Int(h.sform_code),
                quatern: SIMD3(Double(h.quatern_b), Double(h.quatern_c), Double(h.quatern_d)),
                qoffset: SIMD3(Double(h.qoffset_x), Double(h.qoffset_y), Double(h.qoffset_z)),
                srow: (cArrayElements(h.srow_x, as: Float.self) + cArrayElements(h.srow_y, as: Float.self)
                       + cArrayElements(h.srow_z, as: Float.self)).map(Double.init),
                descrip: cArrayString(h.descrip),
                intentCode: Int(h.intent_code), xyztUnits: Int(UInt8(bitPattern: h.xyzt_units)))
        case .nifti2:
            var h = nifti_2_header()
            withUnsafeMutableBytes(of: &h) { $0.copyBytes(from: bytes[0..<540]) }
            if swap { nifti_swap_as_nifti2(&h) }
            return RawHeaderFields(
                version: .nifti2, byteOrder: byteOrder,
                magic: cArrayElements(h.magic, as: UInt8.self),
                dim: cArrayElements(h.dim, as: Int64.self).map { Int($0) },
                datatype: Int(h.datatype), bitpix: Int(h.bitpix),
                pixdim: cArrayElements(h.pixdim, as: Double.self),
                voxOffset: Double(h.vox_offset),
                sclSlope: h.scl_slope, sclInter: h.scl_inter,
                qformCode: Int(h.qform_code), sformCode: Int(h.sform_code),
                quatern: SIMD3(h.quatern_b, h.quatern_c, h.quatern_d),
                qoffset: SIMD3(h.qoffset_x, h.qoffset_y, h.qoffset_z),
                srow: cArrayElements(h.srow_x, as: Double.self) + cArrayElements(h.srow_y, as: Double.self)
                    + cArrayElements(h.srow_z, as: Double.self),
                descrip: cArrayString(h.descrip),
                intentCode: Int(h.intent_code), xyztUnits: Int(h.xyzt_units))
        }
    }

    /// Validates the raw fields and resolves geometry and scaling; throws the first problem found.
    static func validate(_ raw: RawHeaderFields, path: String, maxVoxels: Int) throws(NIfTIError) -> NIfTIHeader {
        func fail(_ code: NIfTIError.Code, _ reason: String) -> NIfTIError { NIfTIError(code, path: path, reason: reason) }

        // Magic.
        switch raw.version {
        case .nifti1:
            let m = raw.magic
            if m == [0x6E, 0x69, 0x31, 0] { // "ni1"
                throw fail(.unsupportedFormat, "is the header of a NIfTI-1 .hdr/.img pair; convert it to a single .nii file first")
            }
            if m != [0x6E, 0x2B, 0x31, 0] { // "n+1"
                throw fail(.badMagic, "magic is \(printable(m)), not \"n+1\": not a single-file NIfTI-1 image (Analyze 7.5 is not supported)")
            }
        case .nifti2:
            let m = raw.magic
            if m == [0x6E, 0x69, 0x32, 0, 0x0D, 0x0A, 0x1A, 0x0A] {
                throw fail(.unsupportedFormat, "is the header of a NIfTI-2 .hdr/.img pair; convert it to a single .nii file first")
            }
            // nibabel accepts an all-zero end-of-line check (older libnifti writes one) and
            // refuses anything else but \r\n\x1a\n.
            let eolOK = m[4...] == [0x0D, 0x0A, 0x1A, 0x0A] || m[4...] == [0, 0, 0, 0]
            if m[0..<4] != [0x6E, 0x2B, 0x32, 0] || !eolOK {
                throw fail(.badMagic, "magic is \(printable(m)), not \"n+2\\0\\r\\n\\x1a\\n\": not a NIfTI-2 image, or it was altered by a text-mode transfer")
            }
        }

        // Dimensions.
        let ndim = raw.dim[0]
        guard (1...7).contains(ndim) else {
            throw fail(.badDimensions, "dim[0] is \(ndim); it must be between 1 and 7")
        }
        let extents = Array(raw.dim[1...ndim])
        if let bad = extents.firstIndex(where: { $0 < 1 }) {
            throw fail(.badDimensions, "dim[\(bad + 1)] is \(extents[bad]); every extent must be at least 1")
        }
        if ndim > 4, extents[4...].contains(where: { $0 > 1 }) {
            throw fail(.badDimensions, "has \(ndim) dimensions (\(extents.map(String.init).joined(separator: "×"))); only 3D volumes and 4D series are supported")
        }
        let dimensions = extents // kept as written, trailing singleton axes included (as nibabel)
        var count = 1
        for extent in dimensions {
            let (product, overflow) = count.multipliedReportingOverflow(by: extent)
            if overflow {
                throw fail(.tooManyVoxels, "dimensions \(dimensions.map(String.init).joined(separator: "×")) overflow the voxel count")
            }
            count = product
        }
        if count > maxVoxels {
            throw fail(.tooManyVoxels, "has \(count) voxels, more than the limit of \(maxVoxels); raise NIfTIReadOptions.maxVoxels if the file is trusted")
        }

        // Datatype.
        guard let voxelType = VoxelType(niftiDatatypeCode: raw.datatype) else {
            if let name = nifti_datatype_to_string(Int32(truncatingIfNeeded: raw.datatype)).map({ String(cString: $0) }),
               name != "DT_UNKNOWN", nifti_is_valid_datatype(Int32(truncatingIfNeeded: raw.datatype)) != 0 {
                throw fail(.unsupportedDatatype, "datatype \(raw.datatype) (\(name)) is not supported; convert to uint8, int16, uint16, int32, float32 or float64")
            }
            throw fail(.unsupportedDatatype, "datatype code \(raw.datatype) is not a NIfTI datatype")
        }
        let (_, bytesOverflow) = count.multipliedReportingOverflow(by: voxelType.byteWidth)
        if bytesOverflow { throw fail(.tooManyVoxels, "the voxel data size overflows") }

        // Voxel offset: 0 means "right after the header"; nibabel refuses offsets inside the header.
        guard raw.voxOffset.isFinite, raw.voxOffset >= 0, raw.voxOffset < 9.0e15 else {
            throw fail(.badVoxOffset, "vox_offset is \(raw.voxOffset); it must be a finite, non-negative byte offset")
        }
        var voxOffset = Int(raw.voxOffset)
        if voxOffset == 0 { voxOffset = raw.version.minimumVoxOffset }
        if voxOffset < raw.version.minimumVoxOffset {
            throw fail(.badVoxOffset, "vox_offset is \(voxOffset), inside the \(raw.version.minimumVoxOffset)-byte header of a single-file NIfTI-\(raw.version.rawValue)")
        }

        // Scaling (nibabel: slope 0 or not finite means none; a valid slope with a bad intercept is an error).
        var scaling: NIfTIScaling?
        if raw.sclSlope != 0 && raw.sclSlope.isFinite {
            guard raw.sclInter.isFinite else {
                throw fail(.badScaling, "scl_slope is \(raw.sclSlope) but scl_inter is \(raw.sclInter); the intercept must be finite")
            }
            scaling = NIfTIScaling(slope: raw.sclSlope, intercept: raw.sclInter)
        }

        // Geometry, as nibabel's Nifti1Header.get_best_affine after its header fixes.
        let validCodes = 0...5
        let qformCode = validCodes.contains(raw.qformCode) ? raw.qformCode : 0
        let sformCode = validCodes.contains(raw.sformCode) ? raw.sformCode : 0
        let storedSpacing = Array(raw.pixdim[1...3])
        guard storedSpacing.allSatisfy(\.isFinite) else {
            throw fail(.nonFiniteAffine, "voxel sizes pixdim[1...3] = \(storedSpacing) are not all finite")
        }
        let fixedSpacing = storedSpacing.map { $0 == 0 ? 1 : abs($0) }
        let spacing = SIMD3(fixedSpacing[0], fixedSpacing[1], fixedSpacing[2])
        let qfac: Double = raw.pixdim[0] == -1 ? -1 : 1

        var qform: Affine?
        if qformCode != 0 {
            let params = [raw.quatern.x, raw.quatern.y, raw.quatern.z, raw.qoffset.x, raw.qoffset.y, raw.qoffset.z]
            guard params.allSatisfy(\.isFinite) else {
                throw fail(.nonFiniteAffine, "qform parameters (quatern_b/c/d, qoffset_x/y/z) = \(params) are not all finite")
            }
            let threshold = raw.version == .nifti1 ? 3 * Double(Float.ulpOfOne) : 3 * Double.ulpOfOne
            guard let matrix = qformMatrix(quaternion: raw.quatern, offset: raw.qoffset, spacing: spacing,
                                           qfac: qfac, threshold: threshold) else {
                throw fail(.badQuaternion, "qform quaternion (b, c, d) = \(raw.quatern) has norm above 1, so it is not a rotation")
            }
            qform = matrix
        }
        var sform: Affine?
        if sformCode != 0 {
            guard raw.srow.allSatisfy(\.isFinite) else {
                throw fail(.nonFiniteAffine, "sform rows srow_x/y/z = \(raw.srow) are not all finite")
            }
            sform = Affine(rowMajor: raw.srow + [0, 0, 0, 1])
        }
        let affine = sform ?? qform ?? baseAffine(extents: extents, ndim: ndim, spacing: fixedSpacing)

        return NIfTIHeader(
            version: raw.version, byteOrder: raw.byteOrder, isCompressed: false,
            dimensions: dimensions, datatypeCode: raw.datatype, voxelType: voxelType, bitsPerVoxel: raw.bitpix,
            pixdim: raw.pixdim, spacing: spacing, qformCode: qformCode, sformCode: sformCode,
            quaternion: raw.quatern, quaternionOffset: raw.qoffset, qfac: qfac, qform: qform, sform: sform,
            affine: affine, sclSlope: raw.sclSlope, sclInter: raw.sclInter, scaling: scaling,
            voxOffset: voxOffset, descrip: raw.descrip, intentCode: raw.intentCode, xyztUnits: raw.xyztUnits)
    }

    /// nibabel's qform: rotation from the quaternion (w filled in as √(1 − b² − c² − d²), 0 when
    /// within `threshold` of 0), times diag(spacing) with the k column multiplied by `qfac`,
    /// plus the offset. `nil` when b² + c² + d² exceeds 1 by more than `threshold`.
    static func qformMatrix(quaternion q: SIMD3<Double>, offset: SIMD3<Double>, spacing: SIMD3<Double>,
                            qfac: Double, threshold: Double) -> Affine? {
        let w2 = 1 - (q * q).sum()
        let w: Double
        if abs(w2) < threshold { w = 0 } else if w2 < 0 { return nil } else { w = w2.squareRoot() }
        let x = q.x, y = q.y, z = q.z
        let nq = w * w + x * x + y * y + z * z
        var r: [Double] = [1, 0, 0, 0, 1, 0, 0, 0, 1]
        if nq >= Double.ulpOfOne {
            let s = 2 / nq
            let xs = x * s, ys = y * s, zs = z * s
            let wx = w * xs, wy = w * ys, wz = w * zs
            let xx = x * xs, xy = x * ys, xz = x * zs
            let yy = y * ys, yz = y * zs, zz = z * zs
            r = [1 - (yy + zz), xy - wz, xz + wy,
                 xy + wz, 1 - (xx + zz), yz - wx,
                 xz - wy, yz + wx, 1 - (xx + yy)]
        }
        let zoom = SIMD3(spacing.x, spacing.y, spacing.z * qfac)
        var m = [Double](repeating: 0, count: 16)
        for row in 0..<3 {
            for col in 0..<3 { m[4 * row + col] = r[3 * row + col] * zoom[col] }
        }
        m[3] = offset.x; m[7] = offset.y; m[11] = offset.z; m[15] = 1
        return Affine(rowMajor: m)
    }

    /// nibabel's fallback when neither form is coded (`get_base_affine`): voxel sizes on the
    /// diagonal with x negated (radiological assumption), the grid centred on the origin.
    static func baseAffine(extents: [Int], ndim: Int, spacing: [Double]) -> Affine {
        var m = [Double](repeating: 0, count: 16)
        for axis in 0..<3 {
            let n = axis < ndim ? Double(extents[axis]) : 1
            var zoom = axis < ndim ? spacing[axis] : 1
            if axis == 0 { zoom = -zoom }
            m[5 * axis] = zoom
            m[4 * axis + 3] = -((n - 1) / 2) * zoom
        }
        m[15] = 1
        return Affine(rowMajor: m)
    }

    /// The magic bytes as a readable quoted string.
    static func printable(_ bytes: [UInt8]) -> String {
        "\"" + bytes.map { (0x20..<0x7F).contains($0) ? String(UnicodeScalar($0)) : String(format: $0) }.joined() + "\""
    }
}

private extension String {
    init(format byte: UInt8) {
        let hex = String(byte, radix: 16)
        self = "\\x" + (hex.count == 1 ? "0" + hex : hex)
    }
}
