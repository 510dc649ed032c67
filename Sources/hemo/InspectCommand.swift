import ArgumentParser
import Foundation
import HemoCore
import NIfTI

/// `hemo inspect FILE [--json]`: header facts and value statistics of a NIfTI file.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a NIfTI file's dimensions, datatype, spacing, affine, codes, scaling and value range.",
        discussion: """
            The affine is resolved as nibabel resolves it: the sform if sform_code is set, else the \
            qform if qform_code is set, else the voxel sizes on the diagonal (x flipped, centred). \
            min/max/mean are over the real values (after scl_slope/scl_inter), ignoring NaN and infinities.
            """
    )

    @Argument(help: "The NIfTI file to inspect (.nii or .nii.gz, NIfTI-1 or NIfTI-2).")
    var file: String

    @Flag(help: "Print one JSON object with sorted keys instead of text.")
    var json = false

    @Option(help: "Refuse files declaring more voxels than this (protects against hostile headers).")
    var maxVoxels: Int = NIfTIReadOptions().maxVoxels

    func validate() throws {
        guard maxVoxels > 0 else { throw ValidationError("--max-voxels must be a positive number of voxels.") }
    }

    func run() throws {
        do {
            let summary = try NIfTISummary.inspect(file, options: NIfTIReadOptions(maxVoxels: maxVoxels))
            print(json ? summary.json() : summary.text)
        } catch {
            CommandLineErrors.report(error)
            throw ExitCode.failure
        }
    }
}

/// Prints errors the way every `hemo` subcommand does: one line on stderr.
enum CommandLineErrors {
    static func report(_ error: any Error) {
        let hint: String
        switch (error as? NIfTIError)?.code {
        case .tooManyVoxels?: hint = " Use --max-voxels to raise the limit if the file is trusted."
        default: hint = ""
        }
        FileHandle.standardError.write(Data("hemo: error: \(error)\(hint)\n".utf8))
    }
}
