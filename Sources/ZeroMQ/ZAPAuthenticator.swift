import CZeroMQ
import Foundation

/// A ZAP handler (ZeroMQ RFC 27) admitting CURVE clients whose public key is in an allow-list.
///
/// It binds a REP socket to `inproc://zeromq.zap.01` in the given context — one handler per
/// context — and answers requests on its own dedicated `Thread` (never the Swift concurrency
/// pool). A request is accepted with status `200` when the mechanism is `CURVE`, the domain is
/// ``domain`` and the client's key is allowed; anything else gets `400`, and libzmq then drops the
/// connection before any message from that client is delivered.
///
/// The handler's socket counts as open in its context: call ``stop()`` (or release the
/// authenticator, whose `deinit` stops it) before terminating the context.
///
/// ```swift
/// let auth = try ZAPAuthenticator(context: context, domain: "hemo", allowedClientKeys: [worker.publicKey])
/// try router.set(.zapDomain("hemo"))
/// try router.set(.curveServer(true))
/// try router.set(.curveSecretKey(server.secretKey))
/// …
/// auth.stop()
/// ```
public final class ZAPAuthenticator: Sendable {
    /// The ZAP domain this handler admits clients for.
    public let domain: String
    /// The endpoint libzmq sends ZAP requests to.
    public static let endpoint = "inproc://zeromq.zap.01"

    private let state: ZAPState

    /// Binds the handler in `context` and starts its thread; returns once it is listening.
    /// - Throws: the bind's ``ZeroMQError`` (e.g. `EADDRINUSE` when the context already has a handler).
    public init(context: Context, domain: String, allowedClientKeys: Set<CurveKey>) throws(ZeroMQError) {
        self.domain = domain
        let state = ZAPState(domain: domain, allowed: allowedClientKeys)
        self.state = state
        let started = DispatchSemaphore(value: 0)
        let thread = Thread {
            let socket: Socket
            do throws(ZeroMQError) {
                socket = try context.socket(.rep, linger: .zero)
                try socket.bind(Self.endpoint)
            } catch {
                state.startError = error
                started.signal()
                state.finished.signal()
                return
            }
            started.signal()
            state.serve(socket)
            socket.close()
            state.finished.signal()
        }
        thread.name = "ZAPAuthenticator(\(domain))"
        thread.start()
        started.wait()
        if let error = state.startError {
            state.markStopped()
            throw error
        }
    }

    deinit { stop() }

    /// Replaces the allowed client keys (applies to connections authenticated from now on).
    public func allow(_ keys: Set<CurveKey>) { state.setAllowed(keys) }

    /// Requests answered with 200.
    public var acceptedCount: Int { state.counts.accepted }
    /// Requests answered with 400.
    public var rejectedCount: Int { state.counts.rejected }

    /// Stops the thread and closes the handler's socket; waits for both. Idempotent.
    public func stop() { state.stop() }

    /// The reply to one ZAP request (exposed for tests).
    func answer(_ frames: [[UInt8]]) -> [[UInt8]] { state.answer(frames) }
}

/// What the handler's thread shares with its owner, behind one lock.
private final class ZAPState: @unchecked Sendable {
    let domain: String
    let finished = DispatchSemaphore(value: 0)
    var startError: ZeroMQError?
    private let lock = NSLock()
    private var allowed: Set<CurveKey>
    private var stopRequested = false
    private var accepted = 0
    private var rejected = 0

    init(domain: String, allowed: Set<CurveKey>) {
        self.domain = domain
        self.allowed = allowed
    }

    func setAllowed(_ keys: Set<CurveKey>) { lock.lock(); allowed = keys; lock.unlock() }

    var counts: (accepted: Int, rejected: Int) { lock.lock(); defer { lock.unlock() }; return (accepted, rejected) }

    private var shouldStop: Bool { lock.lock(); defer { lock.unlock() }; return stopRequested }

    /// Marks the handler stopped without waiting (its thread already ended).
    func markStopped() { lock.lock(); stopRequested = true; lock.unlock() }

    func stop() {
        lock.lock()
        let wasRunning = !stopRequested
        stopRequested = true
        lock.unlock()
        if wasRunning { finished.wait() }
    }

    func serve(_ socket: Socket) {
        while !shouldStop {
            let request: [[UInt8]]?
            do {
                guard try socket.wait(for: .readable, timeout: .milliseconds(50)) else { continue }
                request = try socket.receive(dontWait: true, maxFrames: 16)
            } catch {
                if error.code == .contextTerminated { return }
                continue
            }
            guard let request else { continue }
            _ = try? socket.send(answer(request))
        }
    }

    /// RFC 27 request: version "1.0", request id, domain, address, identity, mechanism, credentials…
    /// Reply: version "1.0", request id, status code, status text, user id, metadata.
    func answer(_ frames: [[UInt8]]) -> [[UInt8]] {
        let requestID = frames.count > 1 ? frames[1] : []
        func reply(_ code: String, _ text: String, user: String = "") -> [[UInt8]] {
            [Array("1.0".utf8), requestID, Array(code.utf8), Array(text.utf8), Array(user.utf8), []]
        }
        func reject(_ text: String) -> [[UInt8]] {
            lock.lock(); rejected += 1; lock.unlock()
            return reply("400", text)
        }
        guard frames.count >= 6, frames[0] == Array("1.0".utf8) else { return reject("malformed ZAP request") }
        guard String(decoding: frames[2], as: UTF8.self) == domain else { return reject("unknown domain") }
        guard String(decoding: frames[5], as: UTF8.self) == "CURVE", frames.count >= 7,
              let key = try? CurveKey(bytes: frames[6]) else { return reject("CURVE required") }
        lock.lock()
        let ok = allowed.contains(key)
        if ok { accepted += 1 }
        lock.unlock()
        return ok ? reply("200", "OK", user: key.z85) : reject("client key not allowed")
    }
}
