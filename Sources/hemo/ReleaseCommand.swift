import ArgumentParser
import Foundation
import HemoRelease

/// `hemo release …`: commands on finished releases.
struct ReleaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Work with finished releases.",
        subcommands: [VerifyReleaseCommand.self, MergeReleaseCommand.self]
    )
}

/// `hemo release verify`: the manifest and the tables against the masks.
struct VerifyReleaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a release's manifest and that its labels, boxes and lesion tables agree with its masks."
    )

    @Argument(help: "The release folder.")
    var release: String

    @Option(help: "Threads used to re-analyse cases.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "How many disagreements to list.")
    var show: Int = 20

    func run() throws {
        let report: VerificationReport
        do { report = try ReleaseVerifier(threads: threads).verify(release) } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        if report.ok {
            print("ok: \(report.filesChecked) files match MANIFEST.sha256; \(report.casesChecked) cases agree with their masks")
            return
        }
        printError("release verify: \(report.disagreements.count) disagreement(s):")
        for d in report.disagreements.prefix(show) { printError("  \(d)") }
        throw ExitCode(1)
    }
}

/// `hemo release merge`: the partial releases of a cohort's N parts into one release.
struct MergeReleaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Join the partial releases of all N parts of a cohort (built with --part K/N) into one release.",
        discussion: """
        The parts may be given in any order. The merge refuses, naming the part and the reason, when \
        a part is missing, given twice, unfinished, or of another cohort, or when parts overlap or \
        were made with other options, another model, kind or version. Per-case files are moved \
        (renamed) into a staging folder beside --out when on the same filesystem, copied otherwise; \
        tables, splits, provenance and the manifest are recomputed, and the release is renamed \
        into place: the same bytes as one `hemo build` (or `hemo infer`) of the whole cohort. \
        Parts whose files were moved are removed afterwards; --copy keeps them.
        """
    )

    @Argument(help: "The partial releases, one per part.")
    var parts: [String]

    @Option(help: "The release folder to create.")
    var out: String

    @Flag(help: "Replace --out if it exists.")
    var force = false

    @Flag(help: "Copy the per-case files and keep the parts, even on the same filesystem.")
    var copy = false

    func validate() throws {
        guard !parts.isEmpty else { throw ValidationError("give the partial releases to merge") }
    }

    func run() throws {
        let summary: MergeSummary
        do { summary = try ReleaseMerger(force: force, copy: copy).merge(parts: parts, destination: out) } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        print("release: \(summary.release)")
        print("parts: \(summary.parts), cases: \(summary.cases), failures: \(summary.failures), files moved: \(summary.moved), copied: \(summary.copied)")
    }
}
