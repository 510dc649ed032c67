// Linux only (Glibc), like the rest of HemoCluster's runtime.
import Glibc

/// A socket, a file name or an address the metrics listener cannot use, naming it and the reason.
public struct MetricsSocketError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What failed: the address (`127.0.0.1:9100`) or the peer.
    public var subject: String
    /// The C function that failed, or `""` for an error found in Swift.
    public var operation: String
    /// `errno` of the failure, 0 when none.
    public var code: Int32
    /// Why, as a sentence.
    public var reason: String

    /// An error about `subject`.
    public init(_ subject: String, operation: String = "", code: Int32 = 0, _ reason: String) {
        self.subject = subject
        self.operation = operation
        self.code = code
        self.reason = reason
    }

    /// An error from the current `errno` of `operation`.
    static func errno(_ subject: String, _ operation: String) -> MetricsSocketError {
        let e = currentErrno()
        return MetricsSocketError(subject, operation: operation, code: e, "\(operation) failed: \(String(cString: strerror(e)))")
    }

    /// `subject: reason`.
    public var description: String { "\(subject): \(reason)" }
}

private func currentErrno() -> Int32 { Glibc.errno }

/// An IPv4 or IPv6 address and port, parsed once, as the `sockaddr` the C calls take.
struct SocketAddress: Sendable, CustomStringConvertible {
    enum Storage: Sendable {
        case v4(sockaddr_in)
        case v6(sockaddr_in6)
    }
    let storage: Storage
    let host: String

    /// `host` must be a numeric IPv4 or IPv6 address (`localhost` means 127.0.0.1).
    init(host: String, port: UInt16) throws(MetricsSocketError) {
        let numeric = host == "localhost" ? "127.0.0.1" : host
        self.host = numeric
        var v4 = sockaddr_in()
        if inet_pton(AF_INET, numeric, &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = port.bigEndian
            storage = .v4(v4)
            return
        }
        var v6 = sockaddr_in6()
        if inet_pton(AF_INET6, numeric, &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = port.bigEndian
            storage = .v6(v6)
            return
        }
        throw MetricsSocketError(host, "not a numeric IPv4 or IPv6 address (give e.g. 127.0.0.1, 0.0.0.0 or ::1)")
    }

    var family: Int32 {
        switch storage {
        case .v4: AF_INET
        case .v6: AF_INET6
        }
    }

    var port: UInt16 {
        switch storage {
        case .v4(let a): UInt16(bigEndian: a.sin_port)
        case .v6(let a): UInt16(bigEndian: a.sin6_port)
        }
    }

    /// Calls `body` with the address as a `sockaddr` pointer and its length.
    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        switch storage {
        case .v4(var a):
            return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        case .v6(var a):
            return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        }
    }

    /// `127.0.0.1:9100` or `[::1]:9100`.
    var description: String {
        switch storage {
        case .v4: "\(host):\(port)"
        case .v6: "[\(host)]:\(port)"
        }
    }
}

/// One TCP socket file descriptor, owned: `deinit` closes it (once). Every C call of the metrics
/// listener and its client goes through this type, which retries `EINTR` and throws
/// ``MetricsSocketError`` naming the address.
final class TCPSocket {
    private(set) var descriptor: Int32
    /// The address it is bound or connected to, or the peer, for error messages.
    let subject: String

    private init(descriptor: Int32, subject: String) {
        self.descriptor = descriptor
        self.subject = subject
    }

    deinit { close() }

    /// Closes the descriptor now (later calls do nothing).
    func close() {
        if descriptor >= 0 {
            _ = systemClose(descriptor)
            descriptor = -1
        }
    }

    private static func open(family: Int32, subject: String) throws(MetricsSocketError) -> TCPSocket {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .errno(subject, "socket") }
        return TCPSocket(descriptor: fd, subject: subject)
    }

    /// A listening socket bound to `address` (port 0: any free port, see ``localPort``).
    static func listen(_ address: SocketAddress, backlog: Int32 = 64) throws(MetricsSocketError) -> TCPSocket {
        let s = try open(family: address.family, subject: address.description)
        var yes: Int32 = 1
        guard setsockopt(s.descriptor, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw .errno(s.subject, "setsockopt(SO_REUSEADDR)")
        }
        guard address.withSockAddr({ bind(s.descriptor, $0, $1) }) == 0 else { throw .errno(s.subject, "bind") }
        guard Glibc.listen(s.descriptor, backlog) == 0 else { throw .errno(s.subject, "listen") }
        return s
    }

    /// A socket connected to `address` (blocking; the caller's thread is its own).
    static func connect(_ address: SocketAddress, timeoutSeconds: Int = 5) throws(MetricsSocketError) -> TCPSocket {
        let s = try open(family: address.family, subject: address.description)
        try s.setTimeouts(seconds: timeoutSeconds)
        while address.withSockAddr({ Glibc.connect(s.descriptor, $0, $1) }) != 0 {
            if currentErrno() == EINTR { continue }
            throw .errno(s.subject, "connect")
        }
        return s
    }

    /// The port it is bound to (`getsockname`).
    var localPort: UInt16 {
        get throws(MetricsSocketError) {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let r = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
            }
            guard r == 0 else { throw .errno(subject, "getsockname") }
            let family = Int32(storage.ss_family)
            return withUnsafePointer(to: &storage) { p in
                if family == AF_INET6 {
                    return p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
                }
                return p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
            }
        }
    }

    /// Waits up to `milliseconds` for the socket to become readable (a connection to accept, or bytes).
    func waitReadable(milliseconds: Int32) throws(MetricsSocketError) -> Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        while true {
            let r = poll(&entry, 1, milliseconds)
            if r >= 0 { return r > 0 }
            if currentErrno() == EINTR { continue }
            throw .errno(subject, "poll")
        }
    }

    /// Accepts one connection, or `nil` when none is waiting (or the peer gave up first).
    func accept() throws(MetricsSocketError) -> TCPSocket? {
        while true {
            let fd = Glibc.accept(descriptor, nil, nil)
            if fd >= 0 {
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                return TCPSocket(descriptor: fd, subject: "a client of \(subject)")
            }
            switch currentErrno() {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK, ECONNABORTED, EPROTO: return nil
            default: throw .errno(subject, "accept")
            }
        }
    }

    /// Send and receive time-outs, so a slow or silent peer cannot hold the thread.
    func setTimeouts(seconds: Int) throws(MetricsSocketError) {
        var t = timeval(tv_sec: seconds, tv_usec: 0)
        for option in [SO_RCVTIMEO, SO_SNDTIMEO] {
            guard setsockopt(descriptor, SOL_SOCKET, option, &t, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
                throw .errno(subject, "setsockopt(SO_RCVTIMEO/SO_SNDTIMEO)")
            }
        }
    }

    /// Reads up to `maximum` bytes; an empty array at the end of the stream.
    func read(maximum: Int) throws(MetricsSocketError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: maximum)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, maximum, 0) }
            if n >= 0 { return Array(buffer.prefix(n)) }
            if currentErrno() == EINTR { continue }
            throw .errno(subject, "recv")
        }
    }

    /// Writes every byte (no SIGPIPE: a vanished peer is an error, not a signal).
    func writeAll(_ bytes: [UInt8]) throws(MetricsSocketError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { recvSendBuffer in
                send(descriptor, recvSendBuffer.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n > 0 { offset += n; continue }
            if n < 0 && currentErrno() == EINTR { continue }
            throw .errno(subject, "send")
        }
    }
}

/// `close(2)` under a name that does not clash with ``TCPSocket/close()``.
private func systemClose(_ fd: Int32) -> Int32 { Glibc.close(fd) }
