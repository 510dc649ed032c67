import CZeroMQ
import Foundation

/// A libzmq context (`zmq_ctx_new`): the owner of I/O threads and of every ``Socket`` made from it.
///
/// The context keeps a count of its open sockets. ``terminate()`` refuses (throws
/// ``ZeroMQError/Code/socketsStillOpen``) while any is open, because `zmq_ctx_term` would block
/// until they are closed — the classic "context terminated while sockets live" hang. Each
/// ``Socket`` holds a strong reference to its context, so the context's `deinit` (which terminates
/// it) can only run after every socket has been closed and released: dropping references in any
/// order is safe.
///
/// A context may be used from any thread (libzmq contexts are thread-safe); sockets may not
/// (see ``Socket``).
public final class Context: @unchecked Sendable {
    /// The `void *` from `zmq_ctx_new`; valid until terminated.
    let handle: UnsafeMutableRawPointer
    private let lock = NSLock()
    private var openSocketCount = 0
    private var terminated = false

    /// Creates a context with `ioThreads` background I/O threads (`ZMQ_IO_THREADS`).
    public init(ioThreads: Int = 1) throws(ZeroMQError) {
        guard let raw = zmq_ctx_new() else { throw ZeroMQError.current("zmq_ctx_new") }
        handle = raw
        try zmqCall("zmq_ctx_set(ZMQ_IO_THREADS)") { zmq_ctx_set(raw, ZMQ_IO_THREADS, Int32(clamping: ioThreads)) }
    }

    /// Opens a socket of `type` (`zmq_socket`) with its linger period set explicitly
    /// (`ZMQ_LINGER`; `.zero` discards unsent messages on close, `nil` waits forever).
    public func socket(_ type: SocketType, linger: Duration? = .zero) throws(ZeroMQError) -> Socket {
        lock.lock()
        defer { lock.unlock() }
        guard !terminated else {
            throw ZeroMQError(code: .contextTerminated, message: "the context was terminated", operation: "zmq_socket")
        }
        guard let raw = zmq_socket(handle, type.rawValue) else { throw ZeroMQError.current("zmq_socket") }
        openSocketCount += 1
        let socket = Socket(handle: raw, type: type, context: self)
        try socket.set(.linger(linger))
        return socket
    }

    /// Sockets made from this context that are not yet closed.
    public var openSockets: Int {
        lock.lock()
        defer { lock.unlock() }
        return openSocketCount
    }

    /// Called by ``Socket/close()`` once its `zmq_close` succeeded.
    func socketDidClose() {
        lock.lock()
        openSocketCount -= 1
        lock.unlock()
    }

    /// Makes every blocking call on this context's sockets (in any thread) return
    /// ``ZeroMQError/Code/contextTerminated`` (`zmq_ctx_shutdown`). The owners must then close their
    /// sockets before ``terminate()``.
    public func shutdown() throws(ZeroMQError) {
        lock.lock()
        defer { lock.unlock() }
        guard !terminated else { return }
        try zmqCall("zmq_ctx_shutdown") { zmq_ctx_shutdown(handle) }
    }

    /// Terminates the context (`zmq_ctx_term`, `EINTR` retried). Throws
    /// ``ZeroMQError/Code/socketsStillOpen`` instead of hanging when sockets are still open.
    /// Calling it again is a no-op.
    public func terminate() throws(ZeroMQError) {
        lock.lock()
        defer { lock.unlock() }
        guard !terminated else { return }
        guard openSocketCount == 0 else {
            throw ZeroMQError(code: .socketsStillOpen,
                              message: "\(openSocketCount) socket(s) are still open; close them before terminating",
                              operation: "zmq_ctx_term")
        }
        try zmqCall("zmq_ctx_term") { zmq_ctx_term(handle) }
        terminated = true
    }

    deinit {
        // Every socket holds a strong reference to its context, so none is open here.
        if !terminated { _ = try? zmqCall("zmq_ctx_term") { zmq_ctx_term(handle) } }
    }
}
