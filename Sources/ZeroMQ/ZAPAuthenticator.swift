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
/// Call ``stop()`` before terminating the context: the handler's socket counts as open.
///
/// ```swift
/// let auth = try ZAPAuthenticator(context: context, domain: "hemo", allowedClientKeys: [worker.publicKey])
/// router.set(.zapDomain("hemo")); router.set(.curveServer(true)); router.set(.curveSecretKey(server.secretKey))
/// …
/// auth.stop()
/// ```
public final class ZAPAuthenticator: @unchecked Sendable {
    /// The ZAP domain this handler admits clients for.
    public let domain: String
    /// The endpoint libzmq sends ZAP requests to.
    public static let endpoint = "inproc://zeromq.zap.01"

    private let lock = NSLock()
    private var allowed: Set<CurveKey>
    private var stopRequested = false
    private var accepted = 0
    private var rejected = 0
    private let finished = DispatchSemaphore(value: 0)
    private var running = false

    /// Binds the handler in `context` and starts its thread; returns once it is listening.
    /// - Throws: the bind's ``ZeroMQError`` (e.g. `EADDRINUSE` when the context already has a handler).
    public init(context: Context, domain: String, allowedClientKeys: Set<CurveKey>) throws(ZeroMQError) {
        self.domain = domain
        self.allowed = allowedClientKeys
        let started = DispatchSemaphore(value: 0)
        let startError = ErrorBox()
        let thread = Thread { [self] in
            let socket: Socket
            do throws(ZeroMQError) {
                socket = try context.socket(.rep, linger: .zero)
                try socket.bind(Self.endpoint)
            } catch {
                startError.error = error
                started.signal()
                finished.signal()
                return
            }
            started.signal()
            serve(socket)
            socket.close()
            finished.signal()
        }
        thread.name = "ZAPAuthenticator(\(domain))"
        thread.start()
        started.wait()
        if let error = startError.error { throw error }
        running = true
    }

    deinit { stop() }

    /// Replaces the allowed client keys (applies to connections authenticated from now on).
    public func allow(_ keys: Set<CurveKey>) {
        lock.lock(); allowed = keys; lock.unlock()
    }

    /// Requests answered with 200.
    public var acceptedCount: Int { lock.lock(); defer { lock.unlock() }; return accepted }
    /// Requests answered with 400.
    public var rejectedCount: Int { lock.lock(); defer { lock.unlock() }; return rejected }

    /// Stops the thread and closes the handler's socket; waits for both. Idempotent.
    public func stop() {
        lock.lock()
        let wasRunning = running && !stopRequested
        stopRequested = true
        lock.unlock()
        if wasRunning { finished.wait() }
    }

    private var shouldStop: Bool { lock.lock(); defer { lock.unlock() }; return stopRequested }

    private func serve(_ socket: Socket) {
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
            let reply = answer(request)
            _ = try? socket.send(reply)
        }
    }

    /// RFC 27 request: version "1.0", request id, domain, address, identity, mechanism, credentials…
    /// Reply: version "1.0", request id, status code, status text, user id, metadata.
    func answer(_ frames: [[UInt8]]) -> [[UInt8]] {
        let requestID = frames.count > 1 ? frames[1] : []
        func reply(_ code: String, _ text: String, user: String = "") -> [[UInt8]] {
            [Array("1.0".utf8), requestID, Array(code.utf8), Array(text.utf8), Array(user.utf8), []]
        }
        guard frames.count >= 6, frames[0] == Array("1.0".utf8) else {
            lock.lock(); rejected += 1; lock.unlock()
            return reply("400", "malformed ZAP request")
        }
        let requestDomain = String(decoding: frames[2], as: UTF8.self)
        let mechanism = String(decoding: frames[5], as: UTF8.self)
        guard requestDomain == domain else {
            lock.lock(); rejected += 1; lock.unlock()
            return reply("400", "unknown domain")
        }
        guard mechanism == "CURVE", frames.count >= 7, let key = try? CurveKey(bytes: frames[6]) else {
            lock.lock(); rejected += 1; lock.unlock()
            return reply("400", "CURVE required")
        }
        lock.lock()
        let ok = allowed.contains(key)
        if ok { accepted += 1 } else { rejected += 1 }
        lock.unlock()
        return ok ? reply("200", "OK", user: key.z85) : reply("400", "client key not allowed")
    }
}

/// Carries a start-up error out of the handler's thread.
private final class ErrorBox: @unchecked Sendable {
    var error: ZeroMQError?
}
