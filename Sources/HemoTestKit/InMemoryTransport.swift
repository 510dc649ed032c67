import Foundation

/// An in-memory stand-in for one ZeroMQ ROUTER and its DEALERs, for tests of the cluster's policy
/// without sockets: messages are frame lists, queued in order per direction, routed by the
/// dealer's routing ID; a link can be cut (messages either way are dropped, like a dead TCP link)
/// and restored. Thread-safe; nothing blocks (receive returns `nil` when nothing is queued).
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
    private var dropped = 0

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

    /// The ROUTER end: receives `(route, frames)` from any dealer, sends to one by route.
    public struct Router: Sendable {
        let network: InMemoryNetwork
        /// Queues `frames` for the dealer `route`; false (dropped) when its link is cut.
        @discardableResult
        public func send(_ frames: [[UInt8]], to route: [UInt8]) -> Bool {
            network.lock.withLock {
                guard !network.cut.contains(route) else { network.dropped += 1; return false }
                network.toDealer[route, default: []].append(frames)
                return true
            }
        }
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
}
