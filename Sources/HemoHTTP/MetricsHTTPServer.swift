import Foundation

/// A tiny HTTP/1.1 server for Prometheus scrapes: `GET /metrics` answers the exposition text,
/// anything else 404 (or 405 for a method other than GET/HEAD). One connection at a time, each
/// closed after its answer, on one dedicated thread (never the Swift concurrency pool), with
/// 2-second socket time-outs so a stalled client cannot hold it.
///
/// ```swift
/// let server = try MetricsHTTPServer(host: "127.0.0.1", port: 0) { metrics.exposition() }
/// print(server.url)   // http://127.0.0.1:41234/metrics
/// server.stop()
/// ```
public final class MetricsHTTPServer: @unchecked Sendable {
    /// The numeric address it listens on.
    public let host: String
    /// The bound port (the free port picked when 0 was asked).
    public let port: UInt16
    private let listener: TCPSocket
    private let body: @Sendable () -> [UInt8]
    private let stopped = NSLock()
    private var stopRequested = false
    private let finished = DispatchSemaphore(value: 0)
    private let log: @Sendable (String) -> Void
    /// Requests answered (any path), counted before the answer is written, for tests and logs.
    public var requestsServed: Int { stopped.withLock { served } }
    private var served = 0

    /// The media type of the Prometheus text exposition format, version 0.0.4.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Binds `host:port` (port 0: a free port) and starts serving `exposition()` at `/metrics`.
    /// - Throws: ``MetricsSocketError`` naming the address when it is not numeric or cannot be bound.
    public init(host: String = "127.0.0.1", port: UInt16, log: @escaping @Sendable (String) -> Void = { _ in },
                exposition: @escaping @Sendable () -> [UInt8]) throws(MetricsSocketError) {
        let address = try SocketAddress(host: host, port: port)
        listener = try TCPSocket.listen(address)
        self.host = address.host
        self.port = try listener.localPort
        body = exposition
        self.log = log
        let thread = Thread { [self] in serve() }
        thread.name = "hemo-metrics-http"
        thread.start()
    }

    /// `http://host:port/metrics`.
    public var url: String {
        host.contains(":") ? "http://[\(host)]:\(port)/metrics" : "http://\(host):\(port)/metrics"
    }

    /// Stops accepting, waits for the serving thread to end and closes the listening socket.
    public func stop() {
        let first = stopped.withLock { () -> Bool in
            defer { stopRequested = true }
            return !stopRequested
        }
        guard first else { return }
        finished.wait()
    }

    deinit { stop() }

    private var shouldStop: Bool { stopped.withLock { stopRequested } }

    private func serve() {
        defer {
            listener.close()
            finished.signal()
        }
        while !shouldStop {
            do {
                guard try listener.waitReadable(milliseconds: 100), let connection = try listener.accept() else { continue }
                answer(connection)
            } catch {
                log("metrics listener \(host):\(port): \(error)")
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
    }

    private func answer(_ connection: TCPSocket) {
        defer { connection.close() }
        do {
            try connection.setTimeouts(seconds: 2)
            guard let request = try Self.readRequestHead(connection) else { return }
            let response: [UInt8]
            switch (request.method, request.path) {
            case ("GET", "/metrics"), ("HEAD", "/metrics"):
                let text = body()
                response = Self.response(status: "200 OK", type: Self.contentType, body: text, includeBody: request.method == "GET")
            case ("GET", _), ("HEAD", _):
                response = Self.response(status: "404 Not Found", type: "text/plain; charset=utf-8",
                                         body: Array("not found: this server answers GET /metrics\n".utf8), includeBody: request.method == "GET")
            default:
                response = Self.response(status: "405 Method Not Allowed", type: "text/plain; charset=utf-8",
                                         body: Array("method not allowed: use GET /metrics\n".utf8), includeBody: true, allow: true)
            }
            stopped.withLock { served += 1 }
            try connection.writeAll(response)
        } catch {
            log("metrics listener \(host):\(port): \(error)")
        }
    }

    /// The request line of an HTTP/1.x request (the headers are read and ignored), or `nil` when
    /// the client closed, sent more than 16 KiB of head, or something that is not HTTP.
    static func readRequestHead(_ connection: TCPSocket) throws(MetricsSocketError) -> (method: String, path: String)? {
        var head: [UInt8] = []
        let terminator: [UInt8] = Array("\r\n\r\n".utf8)
        while true {
            if let end = head.firstRange(of: terminator) {
                head.removeSubrange(end.lowerBound...)
                break
            }
            guard head.count < 16 << 10 else { return nil }
            let bytes = try connection.read(maximum: 4096)
            if bytes.isEmpty { return nil }
            head += bytes
        }
        guard let line = String(decoding: head, as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false).first else { return nil }
        let parts = line.split(separator: " ")
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else { return nil }
        var path = String(parts[1])
        if let query = path.firstIndex(of: "?") { path = String(path[..<query]) }
        return (String(parts[0]), path)
    }

    static func response(status: String, type: String, body: [UInt8], includeBody: Bool, allow: Bool = false) -> [UInt8] {
        var head = "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n"
        if allow { head += "Allow: GET, HEAD\r\n" }
        head += "\r\n"
        return Array(head.utf8) + (includeBody ? body : [])
    }
}

/// A plain HTTP/1.1 GET over loopback or a LAN, for tests, the scale benchmark and operators'
/// scripts that have no curl: blocking, so call it from a thread of your own.
public enum MetricsHTTPClient {
    /// The status code and body of `GET path` from `host:port`.
    /// - Throws: ``MetricsSocketError`` when the server cannot be reached or answers something that is not HTTP.
    public static func get(host: String, port: UInt16, path: String = "/metrics", method: String = "GET",
                           timeoutSeconds: Int = 5) throws(MetricsSocketError) -> (status: Int, body: String) {
        let address = try SocketAddress(host: host, port: port)
        let socket = try TCPSocket.connect(address, timeoutSeconds: timeoutSeconds)
        defer { socket.close() }
        try socket.writeAll(Array("\(method) \(path) HTTP/1.1\r\nHost: \(address)\r\nConnection: close\r\n\r\n".utf8))
        var bytes: [UInt8] = []
        while true {
            let chunk = try socket.read(maximum: 65536)
            if chunk.isEmpty { break }
            bytes += chunk
        }
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let end = bytes.firstRange(of: separator) else {
            throw MetricsSocketError("\(address)", "the answer to GET \(path) has no HTTP head")
        }
        let head = String(decoding: bytes[..<end.lowerBound], as: UTF8.self)
        let statusParts = head.split(separator: "\r\n").first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            throw MetricsSocketError("\(address)", "the answer to GET \(path) does not start with an HTTP status line")
        }
        return (status, String(decoding: bytes[end.upperBound...], as: UTF8.self))
    }
}
