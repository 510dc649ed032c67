import ArgumentParser
import Foundation
import HemoRelease

/// `hemo release …`: commands on finished releases.
struct ReleaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Work with finished releases.",
        subcommands: [VerifyReleaseCommand.self]
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
