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
        try NIfTIReader.open(GzipReadStream(path: path), path: path, options: options)
    }

    /// Reads and validates only the header of a `.nii` or `.nii.gz` file held in memory;
    /// `name` stands for the file in errors.
    public static func readHeader(bytes: [UInt8], name: String, options: NIfTIReadOptions = .init()) throws(NIfTIError) -> NIfTIHeader {
        try decoding(bytes) { stream throws(NIfTIError) in try NIfTIReader.open(stream, path: name, options: options) }
    }

    /// Reads a whole image with its voxels in the stored type (or scaled, when
    /// ``NIfTIReadOptions/applyScaling`` is set and the file has a scaling other than the identity).
    public static func read(_ path: String, options: NIfTIReadOptions = .init()) throws(NIfTIError) -> NIfTIImage {
        try decodeImage(GzipReadStream(path: path), name: path, options: options)
    }

    /// Like ``read(_:options:)``, also returning the hex SHA-256 of the file's bytes, hashed
    /// while the file is decoded: the file is read from disk once (for provenance without a
    /// second pass). Memory: the image plus a 256 KiB input buffer.
    public static func readHashed(_ path: String, options: NIfTIReadOptions = .init()) throws(NIfTIError)
        -> (image: NIfTIImage, sha256: String)
    {
        let stream = try GzipReadStream(path: path, computeDigest: true)
        let image = try decodeImage(stream, name: path, options: options)
        return (image, try digest(of: stream, path: path))
    }

    /// Decodes a whole `.nii` or `.nii.gz` file held in memory (gzip is recognised from the
    /// bytes), as ``read(_:options:)`` decodes it from disk; `name` stands for the file in errors.
    ///
    /// Every size the header declares is checked against `bytes.count` before anything large is
    /// allocated, as for files.
    public static func read(bytes: [UInt8], name: String, options: NIfTIReadOptions = .init()) throws(NIfTIError) -> NIfTIImage {
        try decoding(bytes) { stream throws(NIfTIError) in try decodeImage(stream, name: name, options: options) }
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
        try decodeScaled(GzipReadStream(path: path), name: path, as: T.self, options: options)
    }

    /// Like ``readScaledImage(_:as:options:)``, also returning the hex SHA-256 of the file's
    /// bytes, hashed while the file is decoded, so the file is read from disk once.
    public static func readScaledImageHashed<T: BinaryFloatingPoint & VoxelScalar>(
        _ path: String, as: T.Type = Float.self, options: NIfTIReadOptions = .init()
    ) throws(NIfTIError) -> (header: NIfTIHeader, volume: Volume<T>, sha256: String) {
        let stream = try GzipReadStream(path: path, computeDigest: true)
        let (header, volume) = try decodeScaled(stream, name: path, as: T.self, options: options)
        return (header, volume, try digest(of: stream, path: path))
    }

    /// Decodes the real values of a `.nii` or `.nii.gz` file held in memory, as
    /// ``readScaledImage(_:as:options:)`` decodes them from disk; `name` stands for the file in errors.
    public static func readScaledImage<T: BinaryFloatingPoint & VoxelScalar>(
        bytes: [UInt8], name: String, as: T.Type = Float.self, options: NIfTIReadOptions = .init()
    ) throws(NIfTIError) -> (header: NIfTIHeader, volume: Volume<T>) {
        try decoding(bytes) { stream throws(NIfTIError) in try decodeScaled(stream, name: name, as: T.self, options: options) }
    }

    // MARK: Decoding a stream

    /// Runs `body` on a stream over `bytes`; the stream borrows them and must not outlive `body`.
    private static func decoding<R>(_ bytes: [UInt8], _ body: (GzipReadStream) throws(NIfTIError) -> R) throws(NIfTIError) -> R {
        var result: Result<R, NIfTIError>?
        bytes.withUnsafeBytes { raw in
            let stream = GzipReadStream(borrowing: raw)
            do throws(NIfTIError) { result = .success(try body(stream)) } catch { result = .failure(error) }
        }
        return try result!.get()
    }

    /// The SHA-256 of a hashing stream's whole file, reading whatever follows the content.
    private static func digest(of stream: GzipReadStream, path: String) throws(NIfTIError) -> String {
        let hex: String?
        do throws(StreamReadFailure) { hex = try stream.finishDigest() } catch {
            throw NIfTIReader.mapFailure(error, path: path, part: "bytes after the image")
        }
        guard let hex else { throw NIfTIError(.unreadable, path: path, reason: "the reader was not asked to hash the file") }
        return hex
    }

    private static func decodeImage(_ stream: GzipReadStream, name path: String, options: NIfTIReadOptions) throws(NIfTIError) -> NIfTIImage {
        var header = try NIfTIReader.open(stream, path: path, options: options)
        try NIfTIReader.skipToVoxels(stream, header: &header, path: path)
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

    private static func decodeScaled<T: BinaryFloatingPoint & VoxelScalar>(
        _ stream: GzipReadStream, name path: String, as: T.Type, options: NIfTIReadOptions
    ) throws(NIfTIError) -> (header: NIfTIHeader, volume: Volume<T>) {
        var header = try NIfTIReader.open(stream, path: path, options: options)
        try NIfTIReader.skipToVoxels(stream, header: &header, path: path)
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
