import CNIfTI
import HemoCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// libnifti prints diagnostics to stderr by default; this module reports through errors instead.
/// Evaluated once, thread-safely, before the first libnifti call that could print.
let libniftiSilenced: Void = { nifti_set_debug_level(0) }()

/// Writing: libnifti turns the geometry into a header (qform quaternion by polar decomposition,
/// sform rows, units, magic), then the header and voxels go, gzip-compressed on several threads
/// for `.nii.gz` (``ParallelGzip``), into a temporary file beside the target, which is renamed
/// into place only when complete.
enum NIfTIWriter {
    /// The output kind a file name asks for.
    static func isCompressed(_ path: String) throws(NIfTIError) -> Bool {
        if path.hasSuffix(".nii.gz") { return true }
        if path.hasSuffix(".nii") { return false }
        throw NIfTIError(.badFileName, path: path, reason: "the output name must end in .nii or .nii.gz")
    }

    /// Writes `voxels` (native byte order, `voxelType`) with `geometry` and `frames` to `path`.
    static func write(voxels: UnsafeRawBufferPointer, voxelType: VoxelType, geometry: Geometry, frames: Int,
                      to path: String, options: NIfTIWriteOptions) throws(NIfTIError) {
        let (compressed, header) = try prepare(voxelType: voxelType, geometry: geometry, frames: frames, name: path, options: options)
        let temporary = temporaryPath(for: path, compressed: compressed)
        do throws(NIfTIError) {
            let sink = try FileSink(creating: temporary)
            try emit(header: header, voxels: voxels, compressed: compressed, gzipLevel: options.gzipLevel, into: sink)
            try sink.finish(synchronize: options.synchronize)
            if rename(temporary, path) != 0 {
                let code = errno
                throw NIfTIError(.writeFailed, path: path, reason: "cannot move the finished file into place: \(String(cString: strerror(code)))")
            }
            if options.synchronize { synchronizeDirectory(of: path) }
        } catch {
            unlink(temporary)
            throw NIfTIError(error.code, path: path, reason: error.reason)
        }
    }

    /// The bytes ``write(voxels:voxelType:geometry:frames:to:options:)`` would write to a file
    /// named `name` (`.nii` or `.nii.gz`), in memory.
    static func encode(voxels: UnsafeRawBufferPointer, voxelType: VoxelType, geometry: Geometry, frames: Int,
                       name: String, options: NIfTIWriteOptions) throws(NIfTIError) -> [UInt8] {
        let (compressed, header) = try prepare(voxelType: voxelType, geometry: geometry, frames: frames, name: name, options: options)
        let sink = MemorySink(path: name, reservingCapacity: compressed ? voxels.count / 2 : header.count + voxels.count)
        try emit(header: header, voxels: voxels, compressed: compressed, gzipLevel: options.gzipLevel, into: sink)
        return sink.bytes
    }

    /// Checks the name and options and builds the header: whether the output is gzipped, and its
    /// header bytes.
    static func prepare(voxelType: VoxelType, geometry: Geometry, frames: Int, name: String,
                        options: NIfTIWriteOptions) throws(NIfTIError) -> (compressed: Bool, header: [UInt8]) {
        let compressed = try isCompressed(name)
        guard (0...9).contains(options.gzipLevel) else {
            throw NIfTIError(.invalidOption, path: name, reason: "gzip level \(options.gzipLevel) is outside 0...9")
        }
        guard options.sclSlope.isFinite, options.sclInter.isFinite else {
            throw NIfTIError(.invalidOption, path: name,
                             reason: "scl_slope \(options.sclSlope) and scl_inter \(options.sclInter) must be finite (slope 0 means no scaling)")
        }
        return (compressed, try headerBytes(voxelType: voxelType, geometry: geometry, frames: frames, path: name, options: options))
    }

    /// The header and the voxels into `sink`, as one gzip member or plain.
    static func emit(header: [UInt8], voxels: UnsafeRawBufferPointer, compressed: Bool, gzipLevel: Int,
                     into sink: some ByteSink) throws(NIfTIError) {
        if compressed {
            let headerBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: header.count, alignment: 8)
            defer { headerBuffer.deallocate() }
            headerBuffer.copyBytes(from: header)
            try ParallelGzip.compress([UnsafeRawBufferPointer(headerBuffer), voxels], level: gzipLevel, into: sink)
        } else {
            try sink.write(header)
            try sink.write(voxels)
        }
    }

    /// Makes the rename durable: `fsync` of the folder holding `path` (best effort; some file
    /// systems refuse it on directories).
    static func synchronizeDirectory(of path: String) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    /// `dir/.name.tmp-<pid>-<random>.nii[.gz]`: same folder (so `rename` is atomic), hidden, and
    /// still ending in the suffix that says which format it is.
    static func temporaryPath(for path: String, compressed: Bool) -> String {
        let suffix = compressed ? ".nii.gz" : ".nii"
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? ""
        let name = String(path[(slash.map { path.index(after: $0) } ?? path.startIndex)...].dropLast(suffix.count))
        let tag = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        return "\(directory).\(name).tmp-\(getpid())-\(tag)\(suffix)"
    }

    /// The header, the 4-byte extension flag (no extensions) and nothing else: `vox_offset` bytes.
    static func headerBytes(voxelType: VoxelType, geometry: Geometry, frames: Int, path: String,
                            options: NIfTIWriteOptions) throws(NIfTIError) -> [UInt8] {
        _ = libniftiSilenced
        let affine = geometry.affine
        guard affine.isFinite else {
            throw NIfTIError(.nonFiniteAffine, path: path, reason: "the volume's affine has NaN or infinite entries:\n\(affine)")
        }
        let extents = [geometry.size.i, geometry.size.j, geometry.size.k, frames]
        guard extents.allSatisfy({ $0 >= 1 }) else {
            throw NIfTIError(.badDimensions, path: path, reason: "extents \(extents) must all be at least 1")
        }
        if options.version == .nifti1, let big = extents.first(where: { $0 > Int(Int16.max) }) {
            throw NIfTIError(.unrepresentable, path: path,
                             reason: "an extent of \(big) does not fit NIfTI-1's 16-bit dimensions; write NIfTI-2 (NIfTIWriteOptions.version = .nifti2)")
        }
        var written = frames > 1 ? extents : Array(extents.prefix(3))
        if let kept = options.dimensions {
            let padded = kept + [Int](repeating: 1, count: max(0, 3 - kept.count))
            guard (1...7).contains(kept.count), kept.allSatisfy({ $0 >= 1 }),
                  Array(padded.prefix(3)) == Array(extents.prefix(3)), padded.dropFirst(3).reduce(1, *) == frames else {
                throw NIfTIError(.badDimensions, path: path,
                                 reason: "dimensions \(kept) to write do not match the volume's \(extents.prefix(3).map(String.init).joined(separator: "×")) grid with \(frames) frames")
            }
            written = kept
        }
        if options.version == .nifti1, let big = written.first(where: { $0 > Int(Int16.max) }) {
            throw NIfTIError(.unrepresentable, path: path,
                             reason: "an extent of \(big) does not fit NIfTI-1's 16-bit dimensions; write NIfTI-2 (NIfTIWriteOptions.version = .nifti2)")
        }
        if let extra = options.extraPixdim, extra.count != 4 || !extra.allSatisfy(\.isFinite) {
            throw NIfTIError(.invalidOption, path: path, reason: "pixdim[4...7] must be 4 finite numbers, not \(extra)")
        }
        let extensionBytes = NIfTIExtension.encode(options.extensions)
        var dims: [Int64] = [frames > 1 ? 4 : 3] + extents.map(Int64.init) + [1, 1, 1]
        guard let nim = nifti_make_new_nim(&dims, Int32(voxelType.niftiDatatypeCode), 0) else {
            throw NIfTIError(.writeFailed, path: path, reason: "libnifti could not build a header for these dimensions")
        }
        defer { nifti_image_free(nim) }

        // Orientation: sform exactly the affine; qform its closest rotation × zooms (libnifti's
        // polar decomposition), the same matrix whenever the affine has no shear.
        var matrix = nifti_dmat44()
        withUnsafeMutableBytes(of: &matrix.m) { raw in
            let m = raw.bindMemory(to: Double.self)
            for (n, value) in affine.rowMajor.enumerated() { m[n] = value }
        }
        var qb = 0.0, qc = 0.0, qd = 0.0, qx = 0.0, qy = 0.0, qz = 0.0, dx = 0.0, dy = 0.0, dz = 0.0, qfac = 0.0
        nifti_dmat44_to_quatern(matrix, &qb, &qc, &qd, &qx, &qy, &qz, &dx, &dy, &dz, &qfac)
        let codes = writtenCodes(geometry)
        nim.pointee.qform_code = Int32(codes.qform)
        nim.pointee.sform_code = Int32(codes.sform)
        nim.pointee.quatern_b = qb; nim.pointee.quatern_c = qc; nim.pointee.quatern_d = qd
        nim.pointee.qoffset_x = qx; nim.pointee.qoffset_y = qy; nim.pointee.qoffset_z = qz
        nim.pointee.qfac = qfac
        nim.pointee.sto_xyz = matrix
        // Voxel sizes are the affine's column norms, as nibabel writes them.
        let norms = affine.columnNorms
        nim.pointee.dx = norms.x; nim.pointee.dy = norms.y; nim.pointee.dz = norms.z; nim.pointee.dt = 1
        nim.pointee.xyz_units = Int32(NIFTI_UNITS_MM)
        nim.pointee.time_units = frames > 1 ? Int32(NIFTI_UNITS_SEC) : 0
        nim.pointee.scl_slope = options.sclSlope
        nim.pointee.scl_inter = options.sclSlope == 0 ? 0 : options.sclInter
        nim.pointee.iname_offset = Int64(options.version.headerSize + extensionBytes.count)
        withUnsafeMutableBytes(of: &nim.pointee.descrip) { raw in
            let text = Array(options.description.utf8.prefix(79))
            raw.copyBytes(from: text)
            for n in text.count..<raw.count { raw[n] = 0 }
        }

        var bytes: [UInt8]
        switch options.version {
        case .nifti1:
            nim.pointee.nifti_type = Int32(NIFTI_FTYPE_NIFTI1_1)
            var header = nifti_1_header()
            guard nifti_convert_nim2n1hdr(nim, &header) == 0 else {
                throw NIfTIError(.unrepresentable, path: path, reason: "libnifti could not encode a NIfTI-1 header for this volume")
            }
            patch(&header.dim, as: Int16.self, [written.count] + written)
            if let extra = options.extraPixdim { patch(&header.pixdim, as: Float.self, from: 4, extra.map { Float($0) }) }
            if let q = options.quaternionForm {
                header.quatern_b = Float(q.quaternion.x); header.quatern_c = Float(q.quaternion.y); header.quatern_d = Float(q.quaternion.z)
                header.qoffset_x = Float(q.offset.x); header.qoffset_y = Float(q.offset.y); header.qoffset_z = Float(q.offset.z)
                patch(&header.pixdim, as: Float.self, from: 0, [q.qfac, q.pixdim.x, q.pixdim.y, q.pixdim.z].map { Float($0) })
            }
            if let units = options.xyztUnits { header.xyzt_units = Int8(truncatingIfNeeded: units) }
            bytes = withUnsafeBytes(of: header) { Array($0) }
        case .nifti2:
            nim.pointee.nifti_type = Int32(NIFTI_FTYPE_NIFTI2_1)
            var header = nifti_2_header()
            guard nifti_convert_nim2n2hdr(nim, &header) == 0 else {
                throw NIfTIError(.unrepresentable, path: path, reason: "libnifti could not encode a NIfTI-2 header for this volume")
            }
            patch(&header.dim, as: Int64.self, [written.count] + written)
            if let extra = options.extraPixdim { patch(&header.pixdim, as: Double.self, from: 4, extra) }
            if let q = options.quaternionForm {
                header.quatern_b = q.quaternion.x; header.quatern_c = q.quaternion.y; header.quatern_d = q.quaternion.z
                header.qoffset_x = q.offset.x; header.qoffset_y = q.offset.y; header.qoffset_z = q.offset.z
                patch(&header.pixdim, as: Double.self, from: 0, [q.qfac, q.pixdim.x, q.pixdim.y, q.pixdim.z])
            }
            if let units = options.xyztUnits { header.xyzt_units = Int32(units) }
            bytes = withUnsafeBytes(of: header) { Array($0) }
            // libnifti 3.0.1 leaves the magic's end-of-line check zero; write the standard one.
            bytes.replaceSubrange(4..<12, with: [0x6E, 0x2B, 0x32, 0, 0x0D, 0x0A, 0x1A, 0x0A])
        }
        bytes += extensionBytes // the extension flag (0 when none follow) and the extensions
        return bytes
    }

    /// Sets `dim[0...]` (or another fixed array of the header struct) from `values`, the rest 1.
    static func patch<Tuple, T: BinaryInteger>(_ tuple: inout Tuple, as: T.Type, _ values: [Int]) {
        withUnsafeMutableBytes(of: &tuple) { raw in
            let a = raw.bindMemory(to: T.self)
            for n in 0..<a.count { a[n] = n < values.count ? T(values[n]) : 1 }
        }
    }

    /// Sets `pixdim[start...]` of the header struct from `values`.
    static func patch<Tuple, T: BinaryFloatingPoint>(_ tuple: inout Tuple, as: T.Type, from start: Int, _ values: [T]) {
        withUnsafeMutableBytes(of: &tuple) { raw in
            let a = raw.bindMemory(to: T.self)
            for (n, v) in values.enumerated() where start + n < a.count { a[start + n] = v }
        }
    }

    /// The codes written: the volume's own, or scanner (1) for both when it has neither.
    static func writtenCodes(_ geometry: Geometry) -> (qform: Int, sform: Int) {
        let q = (0...5).contains(geometry.qformCode) ? geometry.qformCode : 0
        let s = (0...5).contains(geometry.sformCode) ? geometry.sformCode : 0
        if q == 0 && s == 0 { return (1, 1) }
        return (q, s)
    }
}
