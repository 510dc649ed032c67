import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An error from libzmq or from this wrapper: the `errno` code, libzmq's message for it,
/// the operation that failed and, when there is one, the endpoint it concerned.
public struct ZeroMQError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An `errno` value as libzmq reports it (`zmq_errno()`), with names for the ones callers act on.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The raw `errno` value.
        public let rawValue: Int32
        /// Wraps a raw `errno` value.
        public init(rawValue: Int32) { self.rawValue = rawValue }

        /// `EAGAIN`: a non-blocking call would block, or a send/receive timeout expired.
        public static let wouldBlock = Code(rawValue: EAGAIN)
        /// `ETERM`: the socket's context was terminated or shut down.
        public static let contextTerminated = Code(rawValue: ETERM_VALUE)
        /// `EINTR`: a signal interrupted the call (retried internally; seen only if retries give up).
        public static let interrupted = Code(rawValue: EINTR)
        /// `EHOSTUNREACH`: a ROUTER with `routerMandatory` could not route to the given peer.
        public static let hostUnreachable = Code(rawValue: EHOSTUNREACH)
        /// `EADDRINUSE`: the endpoint is already bound.
        public static let addressInUse = Code(rawValue: EADDRINUSE)
        /// `EINVAL`: an invalid argument (bad option value, malformed endpoint, wrong key length).
        public static let invalidArgument = Code(rawValue: EINVAL)
        /// `ENOENT`: the endpoint is not bound/connected (unbind, disconnect).
        public static let noSuchEndpoint = Code(rawValue: ENOENT)
        /// `EPROTONOSUPPORT`: the transport is not supported.
        public static let protocolNotSupported = Code(rawValue: EPROTONOSUPPORT)
        /// Not an `errno`: the context still has open sockets, so terminating it would hang.
        public static let socketsStillOpen = Code(rawValue: -1001)
        /// Not an `errno`: a received message had more frames than the caller's limit.
        public static let tooManyFrames = Code(rawValue: -1002)
        /// Not an `errno`: the socket was already closed by this wrapper.
        public static let socketClosed = Code(rawValue: -1003)
        /// Not an `errno`: a CURVE key or Z85 text had the wrong length or characters.
        public static let invalidKey = Code(rawValue: -1004)

        /// The symbolic name when known, else the number.
        public var description: String {
            switch self {
            case .wouldBlock: "EAGAIN"
            case .contextTerminated: "ETERM"
            case .interrupted: "EINTR"
            case .hostUnreachable: "EHOSTUNREACH"
            case .addressInUse: "EADDRINUSE"
            case .invalidArgument: "EINVAL"
            case .noSuchEndpoint: "ENOENT"
            case .protocolNotSupported: "EPROTONOSUPPORT"
            case .socketsStillOpen: "sockets-still-open"
            case .tooManyFrames: "too-many-frames"
            case .socketClosed: "socket-closed"
            case .invalidKey: "invalid-key"
            default: "errno \(rawValue)"
            }
        }
    }

    /// What went wrong, as an `errno` code.
    public var code: Code
    /// A sentence describing the failure (libzmq's `zmq_strerror` text for `errno` codes).
    public var message: String
    /// The libzmq call or wrapper operation that failed, e.g. `zmq_bind`.
    public var operation: String
    /// The endpoint involved, when the operation concerned one.
    public var endpoint: String?

    /// Builds an error from its parts.
    public init(code: Code, message: String, operation: String, endpoint: String? = nil) {
        self.code = code
        self.message = message
        self.operation = operation
        self.endpoint = endpoint
    }

    /// `operation (endpoint): message [code]`.
    public var description: String {
        let place = endpoint.map { " (\($0))" } ?? ""
        return "\(operation)\(place): \(message) [\(code)]"
    }

    /// The error for the current `zmq_errno()`.
    static func current(_ operation: String, endpoint: String? = nil) -> ZeroMQError {
        let errnoValue = zmq_errno()
        return ZeroMQError(code: Code(rawValue: errnoValue), message: String(cString: zmq_strerror(errnoValue)),
                           operation: operation, endpoint: endpoint)
    }
}

/// Like ``zmqCall(_:endpoint:_:)`` but returns `nil` for `EAGAIN` without building an error
/// (the hot path of non-blocking sends and receives).
func zmqCallUnlessWouldBlock(_ operation: String, endpoint: String? = nil,
                             _ body: () -> Int32) throws(ZeroMQError) -> Int32? {
    while true {
        let result = body()
        if result != -1 { return result }
        let errnoValue = zmq_errno()
        if errnoValue == EINTR { continue }
        if errnoValue == EAGAIN { return nil }
        throw ZeroMQError(code: .init(rawValue: errnoValue), message: String(cString: zmq_strerror(errnoValue)),
                          operation: operation, endpoint: endpoint)
    }
}

/// libzmq's `ETERM` (`ZMQ_HAUSNUMERO + 53`), which Swift does not import as a constant.
let ETERM_VALUE: Int32 = 156_384_712 + 53

/// The one funnel every libzmq call returning `int` goes through: retries `EINTR`
/// and turns `-1` into a ``ZeroMQError``.
@discardableResult
func zmqCall(_ operation: String, endpoint: String? = nil, _ body: () -> Int32) throws(ZeroMQError) -> Int32 {
    while true {
        let result = body()
        if result != -1 { return result }
        let error = ZeroMQError.current(operation, endpoint: endpoint)
        if error.code == .interrupted { continue }
        throw error
    }
}
