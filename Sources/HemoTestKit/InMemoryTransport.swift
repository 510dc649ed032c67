import Foundation
import HemoConcurrency
import HemoWire

/// An in-memory stand-in for one ZeroMQ ROUTER and its DEALERs, for tests of the cluster's policy
/// without sockets: messages are frame lists, queued in order per direction, routed by the
/// dealer's routing ID; a link can be cut (messages either way are dropped, like a dead TCP link)
/// and restored, and a dealer killed (its process gone). Thread-safe; receive never blocks (it
/// returns `nil` when nothing is queued).
///
/// The ends are the cluster's transports (``RouterTransport``, ``DealerTransport``,
/// ``DealerConnector``), so the real `Coordinator` and `ClusterWorker` run on it: each queue has a
/// ``WakeLine`` signalled when a message arrives, which `poll(wake:timeout:)` waits on with the
/// shell's own wake descriptor.
///
/// ```swift
/// let net = InMemoryNetwork()
/// let w = net.dealer("w1")
/// w.send([Array("READY".utf8)])
/// let (route, frames) = net.router.receive()!
/// ```
public final class InMemoryNetwork: @unchecked Sendable {
    private let lock = NSLock()
    private var toRouter: [(route: [UInt8], frames: [[UInt8]])] = []
    private var toDealer: [[UInt8]: [[[UInt8]]]] = [:]
    private var cut: Set<[UInt8]> = []
    private var killed: Set<[UInt8]> = []
    private var dropped = 0
    /// Signalled when a message is queued for the router.
    private let routerLine = InMemoryNetwork.makeLine()
    /// Signalled when a message is queued for a dealer (created on first use).
    private var dealerLines: [[UInt8]: WakeLine] = [:]

    private static func makeLine() -> WakeLine {
        do { return try WakeLine() } catch { preconditionFailure("InMemoryNetwork: \(error)") }
    }

    /// The line of `route` (the lock is held).
    private func dealerLine(_ route: [UInt8]) -> WakeLine {
        if let line = dealerLines[route] { return line }
        let line = InMemoryNetwork.makeLine()
        dealerLines[route] = line
        return line
    }

    /// An empty network.
    public init() {}

    /// The ROUTER side.
    public var router: Router { Router(network: self) }

    /// A DEALER with this routing ID (its queue is created on first use).
    public func dealer(_ routingID: String) -> Dealer { Dealer(network: self, route: Array(routingID.utf8)) }

    /// Cuts the link of `routingID`: messages either way are dropped until ``restore(_:)``.
    public func cut(_ routingID: String) { lock.withLock { _ = cut.insert(Array(routingID.utf8)) } }

    /// Restores a cut link.
    public func restore(_ routingID: String) { lock.withLock { _ = cut.remove(Array(routingID.utf8)) } }

    /// Messages dropped on cut links so far.
    public var droppedMessages: Int { lock.withLock { dropped } }

    /// Kills the dealer `routingID` as a SIGKILL kills a worker process: its link is cut for good
    /// and every later call on its ends (or its connector) throws, so a `ClusterWorker.run()` on it
    /// ends with an error; the router hears nothing more from it.
    public func kill(_ routingID: String) {
        lock.withLock {
            let route = Array(routingID.utf8)
            killed.insert(route)
            cut.insert(route)
            dealerLine(route).signal()
        }
    }

    /// A worker's ``DealerConnector`` for the dealer `routingID`: each connection is that dealer
    /// with its queue emptied (a new socket), as ZeroMQ's DEALER with the worker's routing ID.
    public func connector(_ routingID: String) -> Connector { Connector(dealer: dealer(routingID)) }

    /// Waits on `line` (and `wake`) unless `pending()` already holds; then drains `line`.
    private static func poll(_ line: WakeLine, pending: () -> Bool, wake: Int32?, timeout: Duration?) -> TransportReadiness {
        var descriptors = [line.fileDescriptor]
        if let wake { descriptors.append(wake) }
        let ready = WakeLine.poll(descriptors, timeout: pending() ? .zero : timeout)
        line.drain()
        return TransportReadiness(message: pending(), woken: ready.contains(1))
    }

    private func tooMany(_ frames: [[UInt8]], _ maxFrames: Int) throws(TransportError) {
        if frames.count > maxFrames {
            throw TransportError(.tooManyFrames, "message had \(frames.count) frames, more than the limit \(maxFrames)")
        }
    }

    /// The ROUTER end: receives `(route, frames)` from any dealer, sends to one by route.
    public struct Router: RouterTransport, Sendable {
        let network: InMemoryNetwork
        /// Queues `frames` for the dealer `route`; false (dropped) when its link is cut.
        @discardableResult
        public func send(_ frames: [[UInt8]], to route: [UInt8]) -> Bool {
            network.lock.withLock {
                guard !network.cut.contains(route) else { network.dropped += 1; return false }
                network.toDealer[route, default: []].append(frames)
                network.dealerLine(route).signal()
                return true
            }
        }
        /// A name for logs.
        public var endpoint: String { "inmemory://router" }
        /// The oldest message as `[route] + frames`, or `nil`.
        public func receive(maxFrames: Int) throws -> [[UInt8]]? {
            guard let (route, frames) = receive() else { return nil }
            try network.tooMany(frames, maxFrames)
            return [route] + frames
        }
        /// Waits for a message for the router or `wake`.
        public func poll(wake: Int32?, timeout: Duration?) -> TransportReadiness {
            InMemoryNetwork.poll(network.routerLine, pending: { network.lock.withLock { !network.toRouter.isEmpty } },
                                 wake: wake, timeout: timeout)
        }
        /// Nothing to release.
        public func close() {}
        /// The oldest message from any dealer, or `nil`.
        public func receive() -> (route: [UInt8], frames: [[UInt8]])? {
            network.lock.withLock { network.toRouter.isEmpty ? nil : network.toRouter.removeFirst() }
        }
    }

    /// A DEALER end.
    public struct Dealer: Sendable {
        let network: InMemoryNetwork
        /// The routing ID.
        public let route: [UInt8]
        /// Queues `frames` for the router; false (dropped) when the link is cut.
        @discardableResult
        public func send(_ frames: [[UInt8]]) -> Bool {
            network.lock.withLock {
                guard !network.cut.contains(route) else { network.dropped += 1; return false }
                network.toRouter.append((route, frames))
                network.routerLine.signal()
                return true
            }
        }
        /// The oldest message for this dealer, or `nil`.
        public func receive() -> [[UInt8]]? {
            network.lock.withLock {
                guard var q = network.toDealer[route], !q.isEmpty else { return nil }
                let m = q.removeFirst()
                network.toDealer[route] = q
                return m
            }
        }
        /// Drops everything queued for this dealer (a socket closed and reopened).
        public func reset() { network.lock.withLock { network.toDealer[route] = nil } }
    }

    /// A ``DealerConnector`` over one dealer (see ``InMemoryNetwork/connector(_:)``).
    public struct Connector: DealerConnector, Sendable {
        let dealer: Dealer
        /// The dealer with its queue emptied, wrapped as a ``DealerTransport``.
        public func connect() throws -> any DealerTransport {
            try dealer.network.checkAlive(dealer.route)
            dealer.reset()
            return Connection(dealer: dealer)
        }
        /// Nothing to release.
        public func close() {}
    }

    /// One connection of a ``Connector``: throws once its dealer is killed.
    struct Connection: DealerTransport {
        let dealer: Dealer
        var network: InMemoryNetwork { dealer.network }
        func send(_ frames: [[UInt8]]) throws -> Bool {
            try network.checkAlive(dealer.route)
            return dealer.send(frames)
        }
        func receive(maxFrames: Int) throws -> [[UInt8]]? {
            try network.checkAlive(dealer.route)
            guard let frames = dealer.receive() else { return nil }
            try network.tooMany(frames, maxFrames)
            return frames
        }
        func poll(wake: Int32?, timeout: Duration?) throws -> TransportReadiness {
            try network.checkAlive(dealer.route)
            let line = network.lock.withLock { network.dealerLine(dealer.route) }
            let route = dealer.route
            return InMemoryNetwork.poll(line, pending: { network.lock.withLock { !(network.toDealer[route]?.isEmpty ?? true) || network.killed.contains(route) } },
                                        wake: wake, timeout: timeout)
        }
        func close(abandoning: Bool) { if abandoning { dealer.reset() } }
    }

    private func checkAlive(_ route: [UInt8]) throws(TransportError) {
        if lock.withLock({ killed.contains(route) }) {
            throw TransportError(.closed, "\(String(decoding: route, as: UTF8.self)) was killed")
        }
    }
}
