import ArgumentParser
import HemoCore

/// The `hemo` command: every HemoCluster tool as a subcommand.
@main
struct Hemo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hemo",
        abstract: "Build, pseudo-label, distribute and verify head-CT hemorrhage datasets.",
        version: HemoVersion.string,
        subcommands: [
            DemoCommand.self,
            BuildCommand.self,
            InferCommand.self,
            ReleaseCommand.self,
            InspectCommand.self,
            ConvertCommand.self,
            SynthCommand.self,
            EvalCommand.self,
            ModelCommand.self,
            QCCommand.self,
            RunCommand.self,
            CoordinatorCommand.self,
            WorkerCommand.self,
            StatusCommand.self,
            KeygenCommand.self,
        ]
    )
}
