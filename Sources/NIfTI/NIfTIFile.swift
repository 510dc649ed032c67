import HemoCore

/// Reading and writing single-file NIfTI-1 and NIfTI-2 images (`.nii`, `.nii.gz`).
///
/// Every function is synchronous and blocking (file I/O and zlib): call it from a thread or a
/// `DispatchQueue`, not from the Swift concurrency pool. Every failure is a ``NIfTIError``
/// naming the file and the reason; hostile or corrupt files never crash the process.
public enum NIfTIFile {
    /// Reads and validates only the header of `path`.
    ///
    /// For plain `.nii` files the size on disk is also checked against the header. For gzip
    /// files, truncation and a `vox_offset` past the end are found by ``read(_:options:)``.
    public static func readHeader(_ path: String, options: NIfTIReadOptions = .init()) throws(NIfTIError) -> NIfTIHeader {
        try NIfTIReader.open(path, options: options).1
    }

    /// Reads a whole image with its voxels in the stored type (or scaled, when
    /// ``NIfTIReadOptions/applyScaling`` is set and the file has a scaling other than the identity).
    public static func read(_ path: String, options: NIfTIReadOptions = .init()) throws(NIfTIError) -> NIfTIImage {
        let (stream, header) = try NIfTIReader.open(path, options: options)
        try NIfTIReader.skipToVoxels(stream, header: header, path: path)
        let geometry = header.geometry, frames = header.frames
        let volume: AnyVolume
        if options.applyScaling, let scaling = header.scaling, !scaling.isIdentity {
            if header.voxelType == .int32 || header.voxelType == .float64 {
                volume = .float64(Volume(geometry: geometry, frames: frames,
                                         voxels: try NIfTIReader.readScaled(stream, header: header, path: path, as: Double.self)))
            } else {
                volume = .float32(Volume(geometry: geometry, frames: frames,
                                         voxels: try NIfTIReader.readScaled(stream, header: header, path: path, as: Float.self)))
            }
        } else {
            func stored<T: VoxelScalar>(_: T.Type) throws(NIfTIError) -> Volume<T> {
                Volume(geometry: geometry, frames: frames,
                       voxels: try NIfTIReader.readStored(stream, header: header, path: path, as: T.self))
            }
            switch header.voxelType {
            case .uint8: volume = .uint8(try stored(UInt8.self))
            case .int16: volume = .int16(try stored(Int16.self))
            case .uint16: volume = .uint16(try stored(UInt16.self))
            case .int32: volume = .int32(try stored(Int32.self))
            case .float32: volume = .float32(try stored(Float.self))
            case .float64: volume = .float64(try stored(Double.self))
            }
        }
        try NIfTIReader.finish(stream, header: header, path: path)
        return NIfTIImage(header: header, volume: volume)
    }

    /// Reads the real values of `path` (`stored × scl_slope + scl_inter` when the file has a
    /// scaling) as `T`, e.g. a CT in Hounsfield units as `Float`. NaN and infinities in float
    /// files are kept, as nibabel's `get_fdata` keeps them.
    ///
    /// Arithmetic follows nibabel: in `T` for integer and float32 sources, in `Double` for
    /// float64 sources. Memory: the output plus a 1 MiB buffer.
    public static func readScaled<T: BinaryFloatingPoint & VoxelScalar>(
        _ path: String, as: T.Type = Float.self, options: NIfTIReadOptions = .init()
    ) throws(NIfTIError) -> Volume<T> {
        try readScaledImage(path, as: T.self, options: options).volume
    }

    /// Like ``readScaled(_:as:options:)``, also returning the header.
    public static func readScaledImage<T: BinaryFloatingPoint & VoxelScalar>(
        _ path: String, as: T.Type = Float.self, options: NIfTIReadOptions = .init()
    ) throws(NIfTIError) -> (header: NIfTIHeader, volume: Volume<T>) {
        let (stream, header) = try NIfTIReader.open(path, options: options)
        try NIfTIReader.skipToVoxels(stream, header: header, path: path)
        // Dispatch to a concrete type so the conversion loop is specialised (and vectorised)
        // even when the caller sits in another module.
        let volume: Volume<T>
        if T.self == Float.self {
            let voxels = try NIfTIReader.readScaled(stream, header: header, path: path, as: Float.self)
            volume = Volume<Float>(geometry: header.geometry, frames: header.frames, voxels: voxels) as! Volume<T>
        } else {
            let voxels = try NIfTIReader.readScaled(stream, header: header, path: path, as: Double.self)
            volume = Volume<Double>(geometry: header.geometry, frames: header.frames, voxels: voxels) as! Volume<T>
        }
        try NIfTIReader.finish(stream, header: header, path: path)
        return (header, volume)
    }

    /// Writes `volume` to `path` (`.nii` or `.nii.gz`, chosen by the name) atomically: into a
    /// temporary file in the same folder, renamed over `path` when complete, removed on error.
    ///
    /// qform and sform both describe the volume's affine, with its codes (scanner, 1, for both
    /// when it has neither). Voxel sizes (`pixdim`) are the affine's column norms. The bytes
    /// depend only on the volume and the options.
    public static func write<T: VoxelScalar>(_ volume: Volume<T>, to path: String,
                                             options: NIfTIWriteOptions = .init()) throws(NIfTIError) {
        var failure: NIfTIError?
        volume.voxels.withUnsafeBytes { bytes in
            do {
                try NIfTIWriter.write(voxels: bytes, voxelType: T.voxelType, geometry: volume.geometry,
                                      frames: volume.frames, to: path, options: options)
            } catch let error as NIfTIError {
                failure = error
            } catch {
                failure = NIfTIError(.writeFailed, path: path, reason: "\(error)")
            }
        }
        if let failure { throw failure }
    }

    /// The exact bytes ``write(_:to:options:)-(Volume<T>,_,_)`` writes for a file named `name`
    /// (`.nii` or `.nii.gz`, chosen by the name), built in memory: for sending a file over the
    /// network, or hashing it, without a round trip through the file system.
    public static func encode<T: VoxelScalar>(_ volume: Volume<T>, name: String,
                                              options: NIfTIWriteOptions = .init()) throws(NIfTIError) -> [UInt8] {
        var result: Result<[UInt8], NIfTIError> = .success([])
        volume.voxels.withUnsafeBytes { bytes in
            do throws(NIfTIError) {
                result = .success(try NIfTIWriter.encode(voxels: bytes, voxelType: T.voxelType, geometry: volume.geometry,
                                                         frames: volume.frames, name: name, options: options))
            } catch {
                result = .failure(error)
            }
        }
        return try result.get()
    }

    /// Writes a volume of any voxel type; see ``write(_:to:options:)-(Volume<T>,_,_)``.
    public static func write(_ volume: AnyVolume, to path: String, options: NIfTIWriteOptions = .init()) throws(NIfTIError) {
        switch volume {
        case .uint8(let v): try write(v, to: path, options: options)
        case .int16(let v): try write(v, to: path, options: options)
        case .uint16(let v): try write(v, to: path, options: options)
        case .int32(let v): try write(v, to: path, options: options)
        case .float32(let v): try write(v, to: path, options: options)
        case .float64(let v): try write(v, to: path, options: options)
        }
    }
}
