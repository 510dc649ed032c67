import HemoCore

/// Reading a NIfTI file and writing it back, possibly as another voxel type, so that nibabel's
/// `get_fdata()` of the output equals that of the input (NaN included). The logic behind
/// `hemo convert`.
public enum NIfTIConversion {
    /// What a conversion did and how long its halves took.
    public struct Report: Sendable {
        /// The input's header.
        public var inputHeader: NIfTIHeader
        /// The voxel type written.
        public var outputType: VoxelType
        /// Seconds spent reading (and converting) the input.
        public var readSeconds: Double
        /// Seconds spent writing the output.
        public var writeSeconds: Double
        /// CPU seconds (all threads) spent reading.
        public var readCPUSeconds: Double
        /// CPU seconds (all threads) spent writing.
        public var writeCPUSeconds: Double
    }

    /// Converts `input` to `output` (`.nii` or `.nii.gz` by name).
    ///
    /// - Without `datatype` (or with the stored type) the stored values and `scl_slope`/`scl_inter`
    ///   are kept: lossless and fast.
    /// - With `float32`/`float64` the real (scaled) values are written, unscaled.
    /// - With an integer type the real values must all be whole numbers within that type's range;
    ///   otherwise the conversion is refused rather than rounding or clamping silently.
    ///
    /// The output keeps the input's NIfTI version, geometry and codes, its extents as written
    /// (trailing singleton axes included), `pixdim[4...7]`, `xyzt_units` and header extensions.
    public static func convert(input: String, output: String, datatype: VoxelType? = nil,
                               gzipLevel: Int = NIfTIWriteOptions.defaultGzipLevel,
                               readOptions: NIfTIReadOptions = .init()) throws(NIfTIError) -> Report {
        _ = try NIfTIWriter.isCompressed(output) // refuse a bad output name before reading anything
        let clock = ContinuousClock()
        let start = clock.now
        let startCPU = ProcessInfoLite.cpuSeconds
        var header: NIfTIHeader
        var volume: AnyVolume
        var options = NIfTIWriteOptions(gzipLevel: gzipLevel)

        var plain = readOptions
        plain.applyScaling = false
        let storedType = try NIfTIFile.readHeader(input, options: plain).voxelType
        switch datatype ?? storedType {
        case storedType:
            let image = try NIfTIFile.read(input, options: plain)
            header = image.header
            volume = image.volume
            options.sclSlope = header.scaling?.slope ?? 1
            options.sclInter = header.scaling?.intercept ?? 0
        case .float32:
            let image = try NIfTIFile.readScaledImage(input, as: Float.self, options: plain)
            header = image.header
            volume = .float32(image.volume)
        case .float64:
            let image = try NIfTIFile.readScaledImage(input, as: Double.self, options: plain)
            header = image.header
            volume = .float64(image.volume)
        case let integer:
            let image = try NIfTIFile.readScaledImage(input, as: Double.self, options: plain)
            header = image.header
            volume = try integerVolume(image.volume, as: integer, input: input)
        }
        options.version = header.version
        // Kept as the input has them: extents (trailing singleton axes too), pixdim[4...7], units
        // and header extensions.
        options.dimensions = header.dimensions
        options.extraPixdim = Array(header.pixdim[4...7])
        options.xyztUnits = header.xyztUnits
        options.extensions = header.extensions
        if header.qformCode > 0 {
            options.quaternionForm = NIfTIQuaternionForm(quaternion: header.quaternion, offset: header.quaternionOffset, qfac: header.pixdim[0],
                                                         pixdim: SIMD3(header.pixdim[1], header.pixdim[2], header.pixdim[3]))
        }
        let afterRead = clock.now
        let afterReadCPU = ProcessInfoLite.cpuSeconds
        try NIfTIFile.write(volume, to: output, options: options)
        let end = clock.now
        let endCPU = ProcessInfoLite.cpuSeconds
        return Report(inputHeader: header, outputType: volume.voxelType,
                      readSeconds: seconds(afterRead - start), writeSeconds: seconds(end - afterRead),
                      readCPUSeconds: afterReadCPU - startCPU, writeCPUSeconds: endCPU - afterReadCPU)
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    /// The real values as an integer type, or an error saying why they do not fit.
    static func integerVolume(_ real: Volume<Double>, as type: VoxelType, input: String) throws(NIfTIError) -> AnyVolume {
        let range: ClosedRange<Double> = switch type {
        case .uint8: 0...255
        case .int16: -32768...32767
        case .uint16: 0...65535
        default: -2_147_483_648...2_147_483_647
        }
        var low = Double.infinity, high = -Double.infinity
        for v in real.voxels {
            guard v.isFinite else {
                throw NIfTIError(.unrepresentable, path: input,
                                 reason: "has NaN or infinite values, which \(type.rawValue) cannot hold; convert to float32 instead")
            }
            guard v.rounded() == v else {
                throw NIfTIError(.unrepresentable, path: input,
                                 reason: "has fractional values (e.g. \(v)), which \(type.rawValue) would round; convert to float32 or keep the stored type")
            }
            low = min(low, v)
            high = max(high, v)
        }
        if !real.voxels.isEmpty && (low < range.lowerBound || high > range.upperBound) {
            throw NIfTIError(.unrepresentable, path: input,
                             reason: "values range from \(low) to \(high), outside \(type.rawValue)'s \(Int(range.lowerBound))...\(Int(range.upperBound)); choose a wider --datatype")
        }
        return switch type {
        case .uint8: .uint8(real.converted())
        case .int16: .int16(real.converted())
        case .uint16: .uint16(real.converted())
        default: .int32(real.converted())
        }
    }
}
