import ArgumentParser
import Foundation
import HemoCluster
import HemoHTTP
import HemoMetrics

/// `--metrics-port` and `--metrics-address`, shared by `hemo coordinator`, `hemo run` and `hemo worker`.
struct MetricsOptionGroup: ParsableArguments {
    @Option(help: "Serve Prometheus metrics over HTTP at /metrics on this port (0: a free port, announced on standard error). Off when not given.")
    var metricsPort: Int?

    @Option(help: "The numeric IPv4 or IPv6 address the metrics listener binds (0.0.0.0 for every interface).")
    var metricsAddress: String = "127.0.0.1"

    func validate() throws {
        if let port = metricsPort, !(0...65535).contains(port) {
            throw ValidationError("--metrics-port must be 0...65535 (0 picks a free port)")
        }
    }

    /// Whether metrics were asked for.
    var enabled: Bool { metricsPort != nil }

    /// Starts the listener when `--metrics-port` was given and announces its URL on standard error
    /// as `<label>: metrics on http://…/metrics`.
    func serve(label: String, exposition: @escaping @Sendable () -> [UInt8]) throws -> MetricsHTTPServer? {
        guard let port = metricsPort else { return nil }
        do {
            let server = try MetricsHTTPServer(host: metricsAddress, port: UInt16(port),
                                               log: { printError("\(label): \($0)") }, exposition: exposition)
            printError("\(label): metrics on \(server.url)")
            return server
        } catch {
            printError("error: --metrics-port/--metrics-address: \(error)")
            throw ExitCode(1)
        }
    }

    /// Coordinator metrics installed into `settings` when enabled (inert otherwise).
    func coordinatorMetrics(installedInto settings: inout CoordinatorSettings) -> CoordinatorMetrics? {
        guard enabled else { return nil }
        let metrics = CoordinatorMetrics()
        metrics.install(into: &settings)
        return metrics
    }

    /// Serves `metrics` of `coordinator` (when enabled).
    func serve(_ metrics: CoordinatorMetrics?, of coordinator: Coordinator, label: String) throws -> MetricsHTTPServer? {
        guard let metrics else { return nil }
        metrics.statusSource = { [weak coordinator] in coordinator?.status }
        return try serve(label: label) { metrics.exposition() }
    }
}
