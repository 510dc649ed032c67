import CZeroMQ

/// Events to poll for or that are ready (`ZMQ_POLLIN`, `ZMQ_POLLOUT`).
public struct PollEvents: OptionSet, Sendable, Hashable {
    /// The libzmq bit mask.
    public let rawValue: Int16
    /// Wraps a bit mask.
    public init(rawValue: Int16) { self.rawValue = rawValue }
    /// `ZMQ_POLLIN`: a message can be received without blocking.
    public static let readable = PollEvents(rawValue: Int16(ZMQ_POLLIN))
    /// `ZMQ_POLLOUT`: a message can be sent without blocking.
    public static let writable = PollEvents(rawValue: Int16(ZMQ_POLLOUT))
}

/// Waits on several sockets (and raw file descriptors, such as an eventfd another thread signals)
/// at once (`zmq_poll`). Like its sockets, a poller belongs to one thread.
///
/// ```swift
/// var poller = Poller()
/// let routerIndex = poller.add(router)
/// let ready = try poller.poll(timeout: .milliseconds(250))
/// if ready[routerIndex].contains(.readable) { … }
/// ```
public struct Poller {
    private enum Item {
        case socket(Socket)
        case descriptor(Int32)
    }

    private var sockets: [Item] = []
    private var interests: [PollEvents] = []

    /// An empty poller.
    public init() {}

    /// Adds `socket`, returning its index in the result of ``poll(timeout:)``.
    @discardableResult
    public mutating func add(_ socket: Socket, events: PollEvents = .readable) -> Int {
        sockets.append(.socket(socket))
        interests.append(events)
        return sockets.count - 1
    }

    /// Adds a raw file descriptor (`zmq_pollitem_t.fd`, polled as by `poll(2)`; the poller does not
    /// own it), returning its index in the result of ``poll(timeout:)``.
    @discardableResult
    public mutating func add(fileDescriptor: Int32, events: PollEvents = .readable) -> Int {
        sockets.append(.descriptor(fileDescriptor))
        interests.append(events)
        return sockets.count - 1
    }

    /// Number of sockets and descriptors polled.
    public var count: Int { sockets.count }

    /// Waits until a socket has an event of interest or `timeout` passes (`nil` waits forever,
    /// `.zero` only checks). `EINTR` is retried with the remaining time.
    /// - Returns: per socket or descriptor (in the order added) the events that are ready; all empty on timeout.
    public func poll(timeout: Duration?) throws(ZeroMQError) -> [PollEvents] {
        var items: [zmq_pollitem_t] = []
        items.reserveCapacity(sockets.count)
        for (item, events) in zip(sockets, interests) {
            switch item {
            case .socket(let socket):
                items.append(zmq_pollitem_t(socket: try socket.pollHandle(), fd: 0, events: events.rawValue, revents: 0))
            case .descriptor(let fd):
                items.append(zmq_pollitem_t(socket: nil, fd: fd, events: events.rawValue, revents: 0))
            }
        }
        let clock = ContinuousClock()
        let deadline = timeout.map { clock.now + $0 }
        while true {
            var milliseconds: Int = -1
            if let deadline {
                let remaining = deadline - clock.now
                milliseconds = remaining <= .zero ? 0 : Int(SocketOption.milliseconds(remaining))
                // Round a sub-millisecond remainder up so a short timeout still waits.
                if milliseconds == 0 && remaining > .zero { milliseconds = 1 }
            }
            let count = items.count
            let result = items.withUnsafeMutableBufferPointer { zmq_poll($0.baseAddress, Int32(count), milliseconds) }
            if result >= 0 { break }
            let error = ZeroMQError.current("zmq_poll")
            if error.code == .interrupted { continue }
            throw error
        }
        return items.map { PollEvents(rawValue: $0.revents).intersection([.readable, .writable]) }
    }
}
