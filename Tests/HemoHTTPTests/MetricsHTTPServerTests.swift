import Foundation
import HemoHTTP
import HemoTestKit
import Testing

/// The HTTP listener and the exposition parser, over real loopback sockets.
@Suite struct MetricsHTTPServerTests {
    @Test func servesTheExpositionAtMetricsAndRefusesOtherPaths() throws {
        let server = try MetricsHTTPServer(host: "127.0.0.1", port: 0) { Array("# HELP hemo_x An x.\n# TYPE hemo_x counter\nhemo_x 3\n".utf8) }
        defer { server.stop() }
        #expect(server.port != 0)
        let ok = try MetricsHTTPClient.get(host: "127.0.0.1", port: server.port)
        #expect(ok.status == 200)
        let text = try PrometheusText(ok.body)
        #expect(text.value("hemo_x") == 3)
        #expect(text.types["hemo_x"] == "counter")
        #expect(text.help["hemo_x"] == "An x.")
        #expect(try MetricsHTTPClient.get(host: "127.0.0.1", port: server.port, path: "/").status == 404)
        #expect(try MetricsHTTPClient.get(host: "127.0.0.1", port: server.port, method: "POST").status == 405)
        #expect(server.requestsServed == 3)
    }

    @Test func aNonNumericBindAddressIsRefusedWithItsName() {
        #expect(throws: MetricsSocketError.self) { _ = try MetricsHTTPServer(host: "metrics.example", port: 0) { [] } }
        do { _ = try MetricsHTTPServer(host: "metrics.example", port: 0) { [] } } catch {
            #expect(error.description.contains("metrics.example"))
        }
    }

    @Test func aBusyPortIsRefusedNamingTheAddress() throws {
        let first = try MetricsHTTPServer(host: "127.0.0.1", port: 0) { [] }
        defer { first.stop() }
        do {
            _ = try MetricsHTTPServer(host: "127.0.0.1", port: first.port) { [] }
            Issue.record("a second bind of the same port succeeded")
        } catch {
            #expect(error.operation == "bind")
            #expect(error.description.contains("127.0.0.1:\(first.port)"))
        }
    }

    @Test func parsesLabelsEscapesAndSpecialValues() throws {
        let text = try PrometheusText("""
        # TYPE h histogram
        h_bucket{stage="read",le="0.5"} 2
        h_bucket{stage="read",le="+Inf"} 3
        h_sum{stage="a \\"q\\""} 1.5
        g NaN
        """)
        #expect(text.value("h_bucket", ["stage": "read", "le": "+Inf"]) == 3)
        #expect(text.value("h_sum", ["stage": "a \"q\""]) == 1.5)
        #expect(text.value("g")?.isNaN == true)
        #expect(text.sum("h_bucket") == 5)
        #expect(throws: PrometheusText.ParseError.self) { _ = try PrometheusText("bad{stage=\"x\" 1") }
        #expect(throws: PrometheusText.ParseError.self) { _ = try PrometheusText("ok 1\nnot_a_number abc") }
    }
}
