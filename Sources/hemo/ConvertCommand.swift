import ArgumentParser
import Foundation
import HemoCore
import NIfTI

/// `hemo convert IN OUT [--datatype T] [--gzip-level N]`: rewrite a NIfTI file.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Read a NIfTI file and write it back (.nii or .nii.gz by the output's name), keeping geometry and real values.",
        discussion: """
            Without --datatype the stored values and scl_slope/scl_inter are kept. With float32 or \
            float64 the real (scaled) values are written. With an integer type every real value must \
            be a whole number in range, or the conversion is refused. The output is written to a \
            temporary file beside it and renamed into place, so it is never half-written.
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
}
