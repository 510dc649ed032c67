import ArgumentParser
import HemoCore

/// `hemo-bench`: the benchmarks and simulators behind scripts/bench/, kept out of the product
/// binary so that `hemo --help` lists only what users run.
@main
struct HemoBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hemo-bench",
        abstract: "HemoCluster's benchmarks and simulators (scripts/bench/dispatch.sh, scale.sh).",
        version: HemoVersion.string,
        subcommands: [
            DispatchBenchCommand.self,
            ScaleBenchCommand.self,
        ]
    )
}
