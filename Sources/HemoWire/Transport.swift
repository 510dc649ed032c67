// The seam between the cluster's shells and the network: the coordinator owns one
// ``RouterTransport``, a worker one ``DealerConnector`` that opens a ``DealerTransport`` per
// connection. Messages are lists of frames (the HEMO wire frames of ``WireMessage``).
//
// Two implementations exist: ZeroMQ sockets (a ROUTER and DEALERs, in `HemoCluster`) and
// `HemoTestKit`'s `InMemoryNetwork`, on which the real `Coordinator` and `ClusterWorker` run in
// tests without sockets. Each end belongs to one thread (the shell's poll loop); only the wake
// descriptor is touched by other threads.
//
// Waking: ``RouterTransport/poll(wake:timeout:)`` also watches a readable file descriptor (a
// `WakeLine` of `HemoConcurrency`), so the loop wakes when another thread has work for it.

/// What a transport's poll found.
public struct TransportReadiness: Sendable, Equatable {
    /// A message can be received without waiting.
    public var message: Bool
    /// The wake descriptor is readable (the caller drains it).
    public var woken: Bool

    /// A readiness.
    public init(message: Bool, woken: Bool) {
        self.message = message
        self.woken = woken
    }
}

/// A transport refused or dropped a message.
public struct TransportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: Sendable, Equatable {
        /// A message had more frames than the receiver allows; it was read whole and dropped.
        case tooManyFrames
        /// The end (or its peer, for a test transport) is gone.
        case closed
    }

    /// The kind of failure.
    public var code: Code
    /// A sentence (for ZeroMQ, the library's error with its operation).
    public var message: String

    /// An error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The sentence.
    public var description: String { message }
}

/// The coordinator's end: one bound endpoint, messages from and to any number of peers, each
/// named by its route (the first frame of a received message; ZeroMQ's routing ID).
public protocol RouterTransport {
    /// The endpoint peers connect to (for ZeroMQ the bound address with its port).
    var endpoint: String { get }
    /// Queues `frames` for the peer `route` without blocking; `false` when it was dropped (no such
    /// peer, or a link that is down).
    func send(_ frames: [[UInt8]], to route: [UInt8]) throws -> Bool
    /// The oldest waiting message as `[route] + frames`, or `nil` when none waits; never blocks.
    /// - Throws: ``TransportError`` with ``TransportError/Code/tooManyFrames`` for a message of more
    ///   than `maxFrames` frames (dropped; the next call reads on); other errors end the transport.
    func receive(maxFrames: Int) throws -> [[UInt8]]?
    /// Waits until a message waits, `wake` (a file descriptor) is readable, or `timeout` passes
    /// (`nil`: forever).
    func poll(wake: Int32?, timeout: Duration?) throws -> TransportReadiness
    /// Closes the end (queued messages get the transport's linger).
    func close()
}

/// One connection of a worker to the coordinator.
public protocol DealerTransport {
    /// Queues `frames` for the coordinator without blocking; `false` when it was dropped.
    func send(_ frames: [[UInt8]]) throws -> Bool
    /// The oldest message from the coordinator, or `nil`; never blocks. Throws as
    /// ``RouterTransport/receive(maxFrames:)``.
    func receive(maxFrames: Int) throws -> [[UInt8]]?
    /// Waits until a message waits, `wake` is readable, or `timeout` passes (`nil`: forever).
    func poll(wake: Int32?, timeout: Duration?) throws -> TransportReadiness
    /// Closes the connection; `abandoning` drops what is still queued at once (a worker giving up a
    /// silent coordinator must not deliver stale READYs later), else it lingers to be delivered.
    func close(abandoning: Bool)
}

/// Opens a worker's connections (all under the worker's routing ID).
public protocol DealerConnector {
    /// A new connection to the coordinator.
    func connect() throws -> any DealerTransport
    /// Ends the connector once its last connection is closed: waits for lingering messages to go
    /// out (ZeroMQ: terminates the context).
    func close()
}
