import ArgumentParser
import Foundation
import HemoCore
import NIfTI
import DICOM

/// `hemo convert IN OUT [--datatype T] [--gzip-level N]`: rewrite a NIfTI file, or convert a DICOM
/// study folder (any nesting) to NIfTI the way `hemo build` reads it.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Read a NIfTI file (or a DICOM study folder) and write it as NIfTI (.nii or .nii.gz by the output's name), keeping geometry and real values.",
        discussion: """
            Without --datatype the stored values and scl_slope/scl_inter are kept. With float32 or \
            float64 the real (scaled) values are written. With an integer type every real value must \
            be a whole number in range, or the conversion is refused. The output is written to a \
            temporary file beside it and renamed into place, so it is never half-written.

            When IN is a folder it is read as one DICOM study: the CT series is chosen as `hemo build` \
            chooses it (--series-select), slices sorted along the normal, rescaled to HU, gantry tilt \
            corrected and uneven spacing resampled (or refused with --strict), in dcm2niix's layout; \
            written as float32 unless --datatype says otherwise (int16 when every value is whole).
            """
    )

    @Argument(help: "The NIfTI file to read.")
    var input: String

    @Argument(help: "The file to write; must end in .nii or .nii.gz.")
    var output: String

    @Option(help: "Voxel type to write: \(VoxelType.allCases.map(\.rawValue).joined(separator: ", ")). Default: the input's stored type.")
    var datatype: String?

    @Option(help: "gzip level 0-9 for .nii.gz output (1 fastest, 9 smallest).")
    var gzipLevel: Int = NIfTIWriteOptions.defaultGzipLevel

    @Option(help: "Refuse inputs declaring more voxels than this (protects against hostile headers).")
    var maxVoxels: Int = NIfTIReadOptions().maxVoxels

    @Option(help: "For a DICOM study: series rules, e.g. thickness=2-5,kernel=H30,description=head.")
    var seriesSelect: String?

    @Flag(help: "For a DICOM study: fail on uneven slice spacing instead of resampling it.")
    var strict = false

    @Flag(help: "Print read and write wall and CPU times in milliseconds to stderr (used by scripts/bench/nifti_io.sh).")
    var timing = false

    func validate() throws {
        if let datatype, VoxelType(rawValue: datatype) == nil {
            throw ValidationError("Unknown --datatype '\(datatype)'; use one of \(VoxelType.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        guard (0...9).contains(gzipLevel) else {
            throw ValidationError("--gzip-level must be between 0 and 9, not \(gzipLevel).")
        }
        guard output.hasSuffix(".nii") || output.hasSuffix(".nii.gz") else {
            throw ValidationError("The output '\(output)' must end in .nii or .nii.gz, which decides the format.")
        }
        guard maxVoxels > 0 else { throw ValidationError("--max-voxels must be a positive number of voxels.") }
    }

    func run() throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: input, isDirectory: &isDir), isDir.boolValue {
            try convertStudy()
            return
        }
        do {
            let report = try NIfTIConversion.convert(
                input: input, output: output, datatype: datatype.flatMap(VoxelType.init(rawValue:)),
                gzipLevel: gzipLevel, readOptions: NIfTIReadOptions(maxVoxels: maxVoxels))
            if timing {
                let line = String(format: "read_ms %.3f write_ms %.3f read_cpu_ms %.3f write_cpu_ms %.3f\n",
                                  report.readSeconds * 1000, report.writeSeconds * 1000,
                                  report.readCPUSeconds * 1000, report.writeCPUSeconds * 1000)
                FileHandle.standardError.write(Data(line.utf8))
            }
        } catch {
            CommandLineErrors.report(error)
            throw ExitCode.failure
        }
    }

    /// DICOM study → NIfTI.
    func convertStudy() throws {
        do {
            var o = DICOMReadOptions()
            o.strict = strict
            o.maxVoxels = maxVoxels
            if let seriesSelect { o.rules = try SeriesSelectionRules(parsing: seriesSelect) }
            let clock = ContinuousClock()
            let start = clock.now
            let v = try DICOMStudy.read(input, options: o)
            let readTime = clock.now - start
            let w = NIfTIWriteOptions(gzipLevel: gzipLevel)
            let t1 = clock.now
            switch datatype.flatMap(VoxelType.init(rawValue:)) {
            case .int16?: try NIfTIFile.write(v.volume.converted(to: Int16.self), to: output, options: w)
            case .float64?: try NIfTIFile.write(v.volume.converted(to: Double.self), to: output, options: w)
            case .float32?, nil: try NIfTIFile.write(v.volume, to: output, options: w)
            case let other?: throw ValidationError("--datatype \(other.rawValue) is not offered for DICOM input; use int16, float32 or float64.")
            }
            let sel = v.selected
            FileHandle.standardError.write(Data("note: selected series \(sel.seriesNumber.map(String.init) ?? "-") (\(sel.images) images, \(sel.columns)×\(sel.rows))\n".utf8))
            for n in v.notes { FileHandle.standardError.write(Data("note: \(n)\n".utf8)) }
            if timing {
                func ms(_ d: Duration) -> Double { Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15 }
                FileHandle.standardError.write(Data(String(format: "read_ms %.3f write_ms %.3f\n", ms(readTime), ms(clock.now - t1)).utf8))
            }
        } catch let e as DICOMError {
            FileHandle.standardError.write(Data("error: \(e.description)\n".utf8))
            throw ExitCode.failure
        }
    }
}
