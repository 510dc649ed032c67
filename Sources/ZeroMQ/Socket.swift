import CZeroMQ
import Foundation

/// The libzmq socket types (`ZMQ_ROUTER`, `ZMQ_DEALER`, …).
public enum SocketType: Sendable, Hashable, CaseIterable {
    /// `ZMQ_PAIR`: exclusive pair (inproc signalling).
    case pair
    /// `ZMQ_PUB`: publisher.
    case pub
    /// `ZMQ_SUB`: subscriber.
    case sub
    /// `ZMQ_REQ`: strict request/reply client.
    case req
    /// `ZMQ_REP`: strict request/reply server.
    case rep
    /// `ZMQ_DEALER`: asynchronous client (workers).
    case dealer
    /// `ZMQ_ROUTER`: addressed asynchronous server (the coordinator).
    case router
    /// `ZMQ_PULL`: pipeline sink.
    case pull
    /// `ZMQ_PUSH`: pipeline source.
    case push

    /// The libzmq constant.
    public var rawValue: Int32 {
        switch self {
        case .pair: ZMQ_PAIR
        case .pub: ZMQ_PUB
        case .sub: ZMQ_SUB
        case .req: ZMQ_REQ
        case .rep: ZMQ_REP
        case .dealer: ZMQ_DEALER
        case .router: ZMQ_ROUTER
        case .pull: ZMQ_PULL
        case .push: ZMQ_PUSH
        }
    }
}

/// A socket option to set with ``Socket/set(_:)``. Each case names the libzmq option it stands for.
public enum SocketOption: Sendable, Hashable {
    /// `ZMQ_LINGER`: how long unsent messages are kept after close; `nil` forever, `.zero` none.
    case linger(Duration?)
    /// `ZMQ_RCVTIMEO`: a blocking receive gives up after this (returns `nil`); `nil` waits forever.
    case receiveTimeout(Duration?)
    /// `ZMQ_SNDTIMEO`: a blocking send gives up after this (returns `false`); `nil` waits forever.
    case sendTimeout(Duration?)
    /// `ZMQ_MAXMSGSIZE`: inbound messages larger than this many bytes drop the peer's connection; `nil` no limit.
    case maxMessageSize(Int?)
    /// `ZMQ_ROUTING_ID`: this socket's identity as seen by a ROUTER peer (1...255 bytes, not starting with 0).
    case routingID([UInt8])
    /// `ZMQ_ROUTER_MANDATORY`: a ROUTER send to an unknown peer fails with `EHOSTUNREACH` instead of dropping.
    case routerMandatory(Bool)
    /// `ZMQ_ROUTER_HANDOVER`: a new connection claiming a routing ID already in use takes it over
    /// (the old connection keeps a generated ID); by default the newcomer is silently ignored.
    case routerHandover(Bool)
    /// `ZMQ_HEARTBEAT_IVL`: ZMTP-level PING interval.
    case heartbeatInterval(Duration)
    /// `ZMQ_HEARTBEAT_TIMEOUT`: the connection is closed if no traffic arrives this long after a PING.
    case heartbeatTimeout(Duration)
    /// `ZMQ_HEARTBEAT_TTL`: tells the peer to time out this connection after this long without traffic.
    case heartbeatTTL(Duration)
    /// `ZMQ_IMMEDIATE`: queue messages only to completed connections.
    case immediate(Bool)
    /// `ZMQ_SNDHWM`: outbound high-water mark, in messages (0 = none).
    case sendHighWaterMark(Int)
    /// `ZMQ_RCVHWM`: inbound high-water mark, in messages (0 = none).
    case receiveHighWaterMark(Int)
    /// `ZMQ_CURVE_SERVER`: act as CURVE server (needs ``curveSecretKey(_:)``).
    case curveServer(Bool)
    /// `ZMQ_CURVE_PUBLICKEY`: this socket's long-term public key.
    case curvePublicKey(CurveKey)
    /// `ZMQ_CURVE_SECRETKEY`: this socket's long-term secret key.
    case curveSecretKey(CurveKey)
    /// `ZMQ_CURVE_SERVERKEY`: (client) the server's public key; makes the socket a CURVE client.
    case curveServerKey(CurveKey)
    /// `ZMQ_ZAP_DOMAIN`: the authentication domain sent to the ZAP handler.
    case zapDomain(String)
    /// `ZMQ_SUBSCRIBE`: (SUB) receive messages starting with this prefix; empty = all.
    case subscribe([UInt8])
    /// `ZMQ_UNSUBSCRIBE`: (SUB) drop a subscription.
    case unsubscribe([UInt8])

    /// Milliseconds for a libzmq `int` time option: `nil` → -1 (infinite).
    static func milliseconds(_ duration: Duration?) -> Int32 {
        guard let duration else { return -1 }
        let (seconds, attoseconds) = duration.components
        let ms = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return Int32(clamping: max(0, ms))
    }
}

/// A libzmq socket (`zmq_socket`), closed (`zmq_close`) by ``close()`` or on `deinit`.
///
/// **Ownership rule.** A socket is not thread-safe: create, use and close it on one thread — the
/// thread that runs its poll loop — and hand work to and from other threads through queues
/// (e.g. an inproc PAIR socket or a `DispatchQueue`). The type is deliberately not `Sendable`.
/// Never call its blocking methods on the Swift concurrency pool; run poll loops on a dedicated
/// `Thread`.
///
/// Messages are lists of frames (`[[UInt8]]`) sent and received whole, frame by frame with
/// `zmq_msg_*`, so a frame of any size is read completely (never truncated into a fixed buffer).
public final class Socket {
    /// The `void *` from `zmq_socket`, `nil` once closed.
    private(set) var handle: UnsafeMutableRawPointer?
    /// The socket type.
    public let type: SocketType
    /// The context this socket was made from (kept alive while the socket lives).
    public let context: Context

    init(handle: UnsafeMutableRawPointer, type: SocketType, context: Context) {
        self.handle = handle
        self.type = type
        self.context = context
    }

    deinit { close() }

    /// Closes the socket (`zmq_close`); unsent messages are kept for the linger period.
    /// Calling it again is a no-op.
    public func close() {
        guard let raw = handle else { return }
        handle = nil
        _ = zmq_close(raw)
        context.socketDidClose()
    }

    /// Whether ``close()`` has been called.
    public var isClosed: Bool { handle == nil }

    private func open(_ operation: String, endpoint: String? = nil) throws(ZeroMQError) -> UnsafeMutableRawPointer {
        guard let raw = handle else {
            throw ZeroMQError(code: .socketClosed, message: "the socket is closed", operation: operation, endpoint: endpoint)
        }
        return raw
    }

    // MARK: Endpoints

    /// Binds to `endpoint` (`zmq_bind`), e.g. `tcp://127.0.0.1:*` or `inproc://name`.
    /// Read the port actually chosen from ``lastEndpoint``.
    public func bind(_ endpoint: String) throws(ZeroMQError) {
        let raw = try open("zmq_bind", endpoint: endpoint)
        try zmqCall("zmq_bind", endpoint: endpoint) { zmq_bind(raw, endpoint) }
    }

    /// Connects to `endpoint` (`zmq_connect`); the connection is made in the background.
    public func connect(_ endpoint: String) throws(ZeroMQError) {
        let raw = try open("zmq_connect", endpoint: endpoint)
        try zmqCall("zmq_connect", endpoint: endpoint) { zmq_connect(raw, endpoint) }
    }

    /// Stops listening on `endpoint` (`zmq_unbind`; for wildcard binds pass ``lastEndpoint``).
    public func unbind(_ endpoint: String) throws(ZeroMQError) {
        let raw = try open("zmq_unbind", endpoint: endpoint)
        try zmqCall("zmq_unbind", endpoint: endpoint) { zmq_unbind(raw, endpoint) }
    }

    /// Drops the connection to `endpoint` (`zmq_disconnect`).
    public func disconnect(_ endpoint: String) throws(ZeroMQError) {
        let raw = try open("zmq_disconnect", endpoint: endpoint)
        try zmqCall("zmq_disconnect", endpoint: endpoint) { zmq_disconnect(raw, endpoint) }
    }

    /// The endpoint last bound or connected (`ZMQ_LAST_ENDPOINT`), with the real port of a `*` bind.
    public var lastEndpoint: String {
        get throws(ZeroMQError) {
            let bytes = try bytesOption(ZMQ_LAST_ENDPOINT, name: "ZMQ_LAST_ENDPOINT", capacity: 1024)
            let text = bytes.prefix { $0 != 0 }
            return String(decoding: text, as: UTF8.self)
        }
    }

    // MARK: Options

    /// Sets one option (`zmq_setsockopt`).
    public func set(_ option: SocketOption) throws(ZeroMQError) {
        switch option {
        case .linger(let d): try setInt(ZMQ_LINGER, "ZMQ_LINGER", SocketOption.milliseconds(d))
        case .receiveTimeout(let d): try setInt(ZMQ_RCVTIMEO, "ZMQ_RCVTIMEO", SocketOption.milliseconds(d))
        case .sendTimeout(let d): try setInt(ZMQ_SNDTIMEO, "ZMQ_SNDTIMEO", SocketOption.milliseconds(d))
        case .maxMessageSize(let n):
            var value = Int64(n ?? -1)
            try setRaw(ZMQ_MAXMSGSIZE, "ZMQ_MAXMSGSIZE", &value, MemoryLayout<Int64>.size)
        case .routingID(let id): try setBytes(ZMQ_ROUTING_ID, "ZMQ_ROUTING_ID", id)
        case .routerMandatory(let on): try setInt(ZMQ_ROUTER_MANDATORY, "ZMQ_ROUTER_MANDATORY", on ? 1 : 0)
        case .routerHandover(let on): try setInt(ZMQ_ROUTER_HANDOVER, "ZMQ_ROUTER_HANDOVER", on ? 1 : 0)
        case .heartbeatInterval(let d): try setInt(ZMQ_HEARTBEAT_IVL, "ZMQ_HEARTBEAT_IVL", SocketOption.milliseconds(d))
        case .heartbeatTimeout(let d): try setInt(ZMQ_HEARTBEAT_TIMEOUT, "ZMQ_HEARTBEAT_TIMEOUT", SocketOption.milliseconds(d))
        case .heartbeatTTL(let d): try setInt(ZMQ_HEARTBEAT_TTL, "ZMQ_HEARTBEAT_TTL", SocketOption.milliseconds(d))
        case .immediate(let on): try setInt(ZMQ_IMMEDIATE, "ZMQ_IMMEDIATE", on ? 1 : 0)
        case .sendHighWaterMark(let n): try setInt(ZMQ_SNDHWM, "ZMQ_SNDHWM", Int32(clamping: n))
        case .receiveHighWaterMark(let n): try setInt(ZMQ_RCVHWM, "ZMQ_RCVHWM", Int32(clamping: n))
        case .curveServer(let on): try setInt(ZMQ_CURVE_SERVER, "ZMQ_CURVE_SERVER", on ? 1 : 0)
        case .curvePublicKey(let key): try setBytes(ZMQ_CURVE_PUBLICKEY, "ZMQ_CURVE_PUBLICKEY", key.bytes)
        case .curveSecretKey(let key): try setBytes(ZMQ_CURVE_SECRETKEY, "ZMQ_CURVE_SECRETKEY", key.bytes)
        case .curveServerKey(let key): try setBytes(ZMQ_CURVE_SERVERKEY, "ZMQ_CURVE_SERVERKEY", key.bytes)
        case .zapDomain(let domain): try setBytes(ZMQ_ZAP_DOMAIN, "ZMQ_ZAP_DOMAIN", Array(domain.utf8))
        case .subscribe(let prefix): try setBytes(ZMQ_SUBSCRIBE, "ZMQ_SUBSCRIBE", prefix)
        case .unsubscribe(let prefix): try setBytes(ZMQ_UNSUBSCRIBE, "ZMQ_UNSUBSCRIBE", prefix)
        }
    }

    /// `ZMQ_LINGER` in milliseconds (-1 = forever).
    public var lingerMilliseconds: Int { get throws(ZeroMQError) { Int(try intOption(ZMQ_LINGER, name: "ZMQ_LINGER")) } }
    /// `ZMQ_RCVTIMEO` in milliseconds (-1 = forever).
    public var receiveTimeoutMilliseconds: Int { get throws(ZeroMQError) { Int(try intOption(ZMQ_RCVTIMEO, name: "ZMQ_RCVTIMEO")) } }
    /// `ZMQ_MAXMSGSIZE` in bytes (-1 = no limit).
    public var maxMessageSize: Int {
        get throws(ZeroMQError) {
            let raw = try open("zmq_getsockopt(ZMQ_MAXMSGSIZE)")
            var value: Int64 = 0
            var size = MemoryLayout<Int64>.size
            try zmqCall("zmq_getsockopt(ZMQ_MAXMSGSIZE)") { zmq_getsockopt(raw, ZMQ_MAXMSGSIZE, &value, &size) }
            return Int(value)
        }
    }
    /// `ZMQ_ROUTING_ID`: this socket's identity.
    public var routingID: [UInt8] { get throws(ZeroMQError) { try bytesOption(ZMQ_ROUTING_ID, name: "ZMQ_ROUTING_ID", capacity: 256) } }

    private func setRaw(_ option: Int32, _ name: String, _ value: UnsafeRawPointer?, _ size: Int) throws(ZeroMQError) {
        let raw = try open("zmq_setsockopt(\(name))")
        try zmqCall("zmq_setsockopt(\(name))") { zmq_setsockopt(raw, option, value, size) }
    }

    private func setInt(_ option: Int32, _ name: String, _ value: Int32) throws(ZeroMQError) {
        var value = value
        try setRaw(option, name, &value, MemoryLayout<Int32>.size)
    }

    private func setBytes(_ option: Int32, _ name: String, _ bytes: [UInt8]) throws(ZeroMQError) {
        let raw = try open("zmq_setsockopt(\(name))")
        try zmqCall("zmq_setsockopt(\(name))") {
            bytes.withUnsafeBytes { zmq_setsockopt(raw, option, $0.baseAddress, $0.count) }
        }
    }

    private func intOption(_ option: Int32, name: String) throws(ZeroMQError) -> Int32 {
        let raw = try open("zmq_getsockopt(\(name))")
        var value: Int32 = 0
        var size = MemoryLayout<Int32>.size
        try zmqCall("zmq_getsockopt(\(name))") { zmq_getsockopt(raw, option, &value, &size) }
        return value
    }

    private func bytesOption(_ option: Int32, name: String, capacity: Int) throws(ZeroMQError) -> [UInt8] {
        let raw = try open("zmq_getsockopt(\(name))")
        var buffer = [UInt8](repeating: 0, count: capacity)
        var size = capacity
        try zmqCall("zmq_getsockopt(\(name))") {
            buffer.withUnsafeMutableBytes { zmq_getsockopt(raw, option, $0.baseAddress, &size) }
        }
        return Array(buffer.prefix(max(0, min(size, capacity))))
    }

    // MARK: Messages

    /// Sends `frames` as one multipart message (`zmq_msg_send`, `ZMQ_SNDMORE` on all but the last).
    ///
    /// - Parameter dontWait: `ZMQ_DONTWAIT`: return `false` instead of blocking when the message
    ///   cannot be queued now (high-water mark, no peer). A send timeout also returns `false`.
    /// - Returns: `true` once the whole message is queued, `false` when nothing was sent (`EAGAIN`).
    /// - Throws: ``ZeroMQError`` for every other failure (e.g. `EHOSTUNREACH` with ``SocketOption/routerMandatory(_:)``).
    @discardableResult
    public func send(_ frames: [[UInt8]], dontWait: Bool = false) throws(ZeroMQError) -> Bool {
        let raw = try open("zmq_msg_send")
        guard !frames.isEmpty else {
            throw ZeroMQError(code: .invalidArgument, message: "a message needs at least one frame", operation: "zmq_msg_send")
        }
        for (index, frame) in frames.enumerated() {
            var flags: Int32 = index < frames.count - 1 ? ZMQ_SNDMORE : 0
            if dontWait { flags |= ZMQ_DONTWAIT }
            var message = zmq_msg_t()
            try zmqCall("zmq_msg_init_size") { zmq_msg_init_size(&message, frame.count) }
            if !frame.isEmpty, let destination = zmq_msg_data(&message) {
                frame.withUnsafeBytes { source in
                    if let base = source.baseAddress { destination.copyMemory(from: base, byteCount: source.count) }
                }
            }
            let sent: Int32?
            do {
                sent = try zmqCallUnlessWouldBlock("zmq_msg_send") { zmq_msg_send(&message, raw, flags) }
            } catch {
                zmq_msg_close(&message)
                throw error
            }
            if sent == nil {
                zmq_msg_close(&message)
                // EAGAIN can only happen on the first frame: later frames of a message are queued atomically.
                if index == 0 { return false }
                throw ZeroMQError(code: .wouldBlock, message: "a later frame could not be queued",
                                  operation: "zmq_msg_send")
            }
        }
        return true
    }

    /// Receives one whole multipart message (`zmq_msg_recv` per frame, following `ZMQ_RCVMORE`).
    ///
    /// - Parameters:
    ///   - dontWait: `ZMQ_DONTWAIT`: return `nil` instead of blocking when no message is waiting.
    ///   - maxFrames: a message with more frames is drained (so the socket stays in step) and
    ///     reported as ``ZeroMQError/Code/tooManyFrames``.
    /// - Returns: the frames, or `nil` when nothing arrived (`EAGAIN`: non-blocking or receive timeout).
    public func receive(dontWait: Bool = false, maxFrames: Int = 256) throws(ZeroMQError) -> [[UInt8]]? {
        let raw = try open("zmq_msg_recv")
        var frames: [[UInt8]] = []
        var extraFrames = 0
        while true {
            var message = zmq_msg_t()
            zmq_msg_init(&message)
            defer { zmq_msg_close(&message) }
            let flags: Int32 = (frames.isEmpty && extraFrames == 0 && dontWait) ? ZMQ_DONTWAIT : 0
            let got = try zmqCallUnlessWouldBlock("zmq_msg_recv") { zmq_msg_recv(&message, raw, flags) }
            if got == nil {
                if frames.isEmpty && extraFrames == 0 { return nil }
                throw ZeroMQError(code: .wouldBlock, message: "a later frame of a message did not arrive",
                                  operation: "zmq_msg_recv")
            }
            if frames.count < maxFrames {
                let size = zmq_msg_size(&message)
                if size > 0, let data = zmq_msg_data(&message) {
                    frames.append(Array(UnsafeRawBufferPointer(start: data, count: size)))
                } else {
                    frames.append([])
                }
            } else {
                extraFrames += 1
            }
            if zmq_msg_more(&message) == 0 { break }
        }
        if extraFrames > 0 {
            throw ZeroMQError(code: .tooManyFrames,
                              message: "message had \(frames.count + extraFrames) frames, more than the limit \(maxFrames)",
                              operation: "zmq_msg_recv")
        }
        return frames
    }

    /// Polls this socket alone for `events` (see ``Poller``); `true` when one of them is ready.
    public func wait(for events: PollEvents = .readable, timeout: Duration?) throws(ZeroMQError) -> Bool {
        var poller = Poller()
        poller.add(self, events: events)
        return !(try poller.poll(timeout: timeout)[0].isEmpty)
    }

    /// The raw handle for ``Poller``.
    func pollHandle() throws(ZeroMQError) -> UnsafeMutableRawPointer { try open("zmq_poll") }
}
