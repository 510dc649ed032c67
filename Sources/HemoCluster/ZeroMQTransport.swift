import Foundation
import HemoWire
import ZeroMQ

/// The coordinator's ``RouterTransport`` over libzmq: a ROUTER bound to the settings' endpoint
/// (CURVE and its ZAP handler when configured), in a context of its own. Made and used on the
/// coordinator's poll thread.
final class ZeroMQRouterTransport: RouterTransport {
    private let context: Context
    private let router: Socket
    private let auth: ZAPAuthenticator?
    let endpoint: String

    /// Binds a ROUTER as `settings` say.
    init(settings: CoordinatorSettings) throws {
        context = try Context()
        if let curve = settings.curve {
            auth = try ZAPAuthenticator(context: context, domain: "hemo", allowedClientKeys: curve.allowedKeys)
        } else {
            auth = nil
        }
        router = try context.socket(.router, linger: .milliseconds(500))
        try router.set(.maxMessageSize(WireProtocol.recommendedMaxMessageSize))
        try router.set(.sendHighWaterMark(0))
        // A worker reconnecting after a link cut comes back under its routing ID while its old
        // TCP connection may still look open here (half-open until a retransmission fails): the
        // newest connection must own the ID, or the worker's new messages are silently ignored.
        try router.set(.routerHandover(true))
        if let curve = settings.curve {
            try router.set(.zapDomain("hemo"))
            try router.set(.curveServer(true))
            try router.set(.curveSecretKey(curve.keyPair.secretKey))
        }
        try router.bind(settings.endpoint)
        endpoint = try router.lastEndpoint
    }

    func send(_ frames: [[UInt8]], to route: [UInt8]) throws -> Bool {
        try router.send([route] + frames, dontWait: true)
    }

    func receive(maxFrames: Int) throws -> [[UInt8]]? {
        try receiveMapped(router, maxFrames: maxFrames)
    }

    func poll(wake: Int32?, timeout: Duration?) throws -> TransportReadiness {
        try pollMapped(router, wake: wake, timeout: timeout)
    }

    /// Closes the ROUTER (its linger delivers the last DISCONNECTs), stops ZAP, terminates the context.
    func close() {
        router.close()
        auth?.stop()
        try? context.terminate()
    }
}

/// A worker's ``DealerConnector`` over libzmq: one context, a DEALER per connection with the
/// worker's routing ID (and CURVE keys when configured).
final class ZeroMQDealerConnector: DealerConnector {
    private let context: Context
    private let settings: WorkerSettings

    /// A context for `settings`' connections.
    init(settings: WorkerSettings) throws {
        context = try Context()
        self.settings = settings
    }

    func connect() throws -> any DealerTransport {
        let socket = try context.socket(.dealer, linger: .seconds(2))
        try socket.set(.routingID(Array(settings.workerID.utf8)))
        try socket.set(.maxMessageSize(WireProtocol.recommendedMaxMessageSize))
        try socket.set(.sendHighWaterMark(0))
        if let curve = settings.curve { try curve.apply(to: socket) }
        try socket.connect(settings.endpoint)
        return ZeroMQDealerTransport(socket: socket)
    }

    /// Terminates (not just shuts down) the context once the DEALERs are closed: `zmq_ctx_term`
    /// waits out their linger, so the last results and DISCONNECT reach the coordinator before the
    /// process exits.
    func close() { try? context.terminate() }
}

/// One DEALER of ``ZeroMQDealerConnector``.
final class ZeroMQDealerTransport: DealerTransport {
    private let socket: Socket

    init(socket: Socket) { self.socket = socket }

    func send(_ frames: [[UInt8]]) throws -> Bool { try socket.send(frames, dontWait: true) }

    func receive(maxFrames: Int) throws -> [[UInt8]]? { try receiveMapped(socket, maxFrames: maxFrames) }

    func poll(wake: Int32?, timeout: Duration?) throws -> TransportReadiness {
        try pollMapped(socket, wake: wake, timeout: timeout)
    }

    func close(abandoning: Bool) {
        if abandoning { try? socket.set(.linger(.zero)) }
        socket.close()
    }
}

/// A non-blocking receive; an oversized message becomes ``TransportError/Code/tooManyFrames``.
private func receiveMapped(_ socket: Socket, maxFrames: Int) throws -> [[UInt8]]? {
    do {
        return try socket.receive(dontWait: true, maxFrames: maxFrames)
    } catch where error.code == .tooManyFrames {
        throw TransportError(.tooManyFrames, error.description)
    }
}

/// `zmq_poll` on the socket and, when given, the wake descriptor.
private func pollMapped(_ socket: Socket, wake: Int32?, timeout: Duration?) throws -> TransportReadiness {
    var poller = Poller()
    poller.add(socket)
    if let wake { poller.add(fileDescriptor: wake) }
    let events = try poller.poll(timeout: timeout)
    return TransportReadiness(message: events[0].contains(.readable), woken: events.count > 1 && events[1].contains(.readable))
}
