import ArgumentParser
import Foundation
import HemoCluster
import HemoWire
import ZeroMQ

/// `hemo status`: ask a running coordinator what it is doing.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a running coordinator's exams and workers."
    )

    @Argument(help: "The coordinator's endpoint, e.g. tcp://127.0.0.1:5555.")
    var endpoint: String

    @Option(help: "Seconds to wait for the answer.")
    var timeout: Double = 3

    @Option(help: "The coordinator's public key file (CURVE).")
    var curveServerKey: String?

    @Option(help: "This client's secret key file (CURVE; its public key must be allowed).")
    var curveSecret: String?

    func run() throws {
        var curve: CurveClientConfig?
        if let key = curveServerKey, let secret = curveSecret {
            do {
                guard let server = try ClusterKeys.readPublicKeys(key).first else { throw ClusterError(key, "holds no key") }
                curve = CurveClientConfig(serverKey: server, keyPair: try ClusterKeys.readKeyPair(secret))
            } catch {
                printError("error: \(error)")
                throw ExitCode(1)
            }
        }
        do {
            let reply = try StatusClient.ask(endpoint: endpoint, curve: curve, timeout: .milliseconds(Int64(timeout * 1000)))
            print(StatusClient.render(reply))
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
    }
}
