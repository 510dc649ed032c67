import Prometheus

/// Bytes and messages each way on one ZeroMQ socket: the same four counters for the coordinator
/// (`hemo_wire_…`, traffic with its workers) and a worker (`hemo_worker_…`, with its coordinator).
struct WireTrafficMetrics: Sendable {
    let bytesReceived, bytesSent, messagesReceived, messagesSent: Counter

    /// The counters `PREFIX_received_bytes_total` … `PREFIX_sent_messages_total`; `peer` and
    /// `note` complete their HELP texts.
    init(registry r: PrometheusCollectorRegistry, prefix: String, peer: String, note: String = "") {
        bytesReceived = r.hemoCounter(name: "\(prefix)_received_bytes_total", help: "Bytes of messages received from \(peer)\(note).")
        bytesSent = r.hemoCounter(name: "\(prefix)_sent_bytes_total", help: "Bytes of messages sent to \(peer)\(note).")
        messagesReceived = r.hemoCounter(name: "\(prefix)_received_messages_total", help: "Messages received from \(peer).")
        messagesSent = r.hemoCounter(name: "\(prefix)_sent_messages_total", help: "Messages sent to \(peer).")
    }

    /// A message of `bytes` arrived.
    func received(bytes: Int) {
        bytesReceived.increment(by: Int64(bytes))
        messagesReceived.increment()
    }

    /// A message of `bytes` was sent.
    func sent(bytes: Int) {
        bytesSent.increment(by: Int64(bytes))
        messagesSent.increment()
    }
}
