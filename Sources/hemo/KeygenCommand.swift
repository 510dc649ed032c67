import ArgumentParser
import Foundation
import HemoCluster
import ZeroMQ

/// `hemo keygen`: a CURVE key pair for a coordinator or a worker.
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Write a CURVE key pair: NAME.secret (mode 0600) and NAME.public.",
        discussion: "Give the coordinator its NAME.secret (--curve-secret) and a file listing the workers' public keys (--allowed-keys); give each worker its own NAME.secret and the coordinator's NAME.public (--curve-server-key)."
    )

    @Option(help: "Path prefix of the two files.")
    var out: String

    func run() throws {
        guard CurveKeyPair.isSupported else {
            printError("error: this libzmq was built without CURVE support")
            throw ExitCode(1)
        }
        do {
            let pair = try CurveKeyPair.generate()
            try ClusterKeys.write(pair, secretPath: out + ".secret", publicPath: out + ".public")
            print("public key: \(pair.publicKey.z85)\nwrote \(out).secret and \(out).public")
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
    }
}
