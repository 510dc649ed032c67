import ArgumentParser
import HemoCore

/// `hemo-bench`: the benchmarks and simulators behind scripts/bench/, kept out of the product
/// binary so that `hemo --help` lists only what users run.
@main
struct HemoBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hemo-bench",
        abstract: "HemoCluster's benchmarks and simulators, run by scripts/bench/ against their peers.",
        version: HemoVersion.string,
        subcommands: [
            DispatchBenchCommand.self,
            ScaleBenchCommand.self,
            ResampleBench.self,
            ComponentsBench.self,
            AnalyseBench.self,
            DICOMReadBench.self,
            DICOMFuzzBench.self,
        ]
    )
}
