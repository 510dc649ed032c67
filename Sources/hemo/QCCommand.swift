import ArgumentParser
import Foundation
import HemoQC

/// `hemo qc`: a static, offline QC report of a release (montages per case and an index.html).
struct QCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qc",
        abstract: "Write a QC folder for a release: one PNG montage per case and a static index.html."
    )

    @Argument(help: "The release folder.")
    var release: String

    @Option(help: "The folder to write index.html and cases/<case>.png into.")
    var out: String

    @Option(help: "Threads used to render montages.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        let summary: QCSummary
        do { summary = try QualityControl.run(release: release, output: out, threads: threads) } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        for problem in summary.problems { printError("warning: \(problem)") }
        print("qc: \(summary.montages) montages and index.html in \(out)")
        if !summary.problems.isEmpty { throw ExitCode(1) }
    }
}
