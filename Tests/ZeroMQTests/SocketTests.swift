import Foundation
import HemoConcurrency
import Testing
@testable import ZeroMQ

@Suite("ZeroMQ sockets over real loopback transports")
struct SocketTests {
    @Test func routerDealerMultipartRoundTripOverTCPWithLastEndpoint() async throws {
        try await onDedicatedThread {
            let context = try Context()
            defer { try? context.terminate() }
            let router = try context.socket(.router)
            defer { router.close() }
            try router.set(.receiveTimeout(.seconds(5)))
            try router.bind("tcp://127.0.0.1:*")
            let endpoint = try router.lastEndpoint
            #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
            #expect(!endpoint.hasSuffix(":*"))
            #expect(Int(endpoint.split(separator: ":").last ?? "") ?? 0 > 0)

            let dealer = try context.socket(.dealer)
            defer { dealer.close() }
            try dealer.set(.routingID("worker-1".bytes))
            try dealer.set(.receiveTimeout(.seconds(5)))
            #expect(try dealer.routingID == "worker-1".bytes)
            try dealer.connect(endpoint)

            let big = (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            #expect(try dealer.send(["HELLO".bytes, [], big]))
            let received = try #require(try router.receive())
            #expect(received == ["worker-1".bytes, "HELLO".bytes, [], big])

            try router.send(["worker-1".bytes, "ACK".bytes, [1, 2, 3]])
            let reply = try #require(try dealer.receive())
            #expect(reply == ["ACK".bytes, [1, 2, 3]])
        }
    }

    @Test func pairOverUniqueInprocName() async throws {
        try await onDedicatedThread {
            let context = try Context()
            defer { try? context.terminate() }
            let name = uniqueInproc("pair")
            let a = try context.socket(.pair)
            let b = try context.socket(.pair)
            defer { a.close(); b.close() }
            try a.bind(name)
            try b.connect(name)
            try b.set(.receiveTimeout(.seconds(5)))
            try a.send([[], "x".bytes])
            #expect(try b.receive() == [[], "x".bytes])
            #expect(try b.receive(dontWait: true) == nil, "nothing else is waiting")
        }
    }

    @Test func pollWatchesARawDescriptorBesideASocket() async throws {
        try await onDedicatedThread {
            let context = try Context()
            defer { try? context.terminate() }
            let name = uniqueInproc("poll-fd")
            let a = try context.socket(.pair)
            let b = try context.socket(.pair)
            defer { a.close(); b.close() }
            try a.bind(name)
            try b.connect(name)
            let line = try WakeLine()
            var poller = Poller()
            let socketIndex = poller.add(b)
            let lineIndex = poller.add(fileDescriptor: line.fileDescriptor)
            #expect(poller.count == 2)
            #expect(try poller.poll(timeout: .milliseconds(20)).allSatisfy { $0.isEmpty })
            // Signalled from another thread while the poll waits.
            let t = Thread { Thread.sleep(forTimeInterval: 0.05); line.signal() }
            t.start()
            let ready = try poller.poll(timeout: .seconds(10))
            #expect(ready[lineIndex].contains(.readable))
            #expect(ready[socketIndex].isEmpty)
            #expect(line.drain())
            try a.send(["ping".bytes])
            let afterSend = try poller.poll(timeout: .seconds(5))
            #expect(afterSend[socketIndex].contains(.readable))
            #expect(afterSend[lineIndex].isEmpty)
        }
    }

    @Test func pollReturnsNothingWhenTheTimeoutPasses() async throws {
        try await onDedicatedThread {
            let context = try Context()
            defer { try? context.terminate() }
            let name = uniqueInproc("poll")
            let a = try context.socket(.pair)
            let b = try context.socket(.pair)
            defer { a.close(); b.close() }
            try a.bind(name)
            try b.connect(name)
            var poller = Poller()
            let index = poller.add(b)
            let clock = ContinuousClock()
            let start = clock.now
            let ready = try poller.poll(timeout: .milliseconds(120))
            let elapsed = clock.now - start
            #expect(ready[index].isEmpty)
            #expect(elapsed >= .milliseconds(100))
            #expect(elapsed < .seconds(5))

            try a.send(["ping".bytes])
            let readyAfterSend = try poller.poll(timeout: .seconds(5))
            #expect(readyAfterSend[index].contains(.readable))
            #expect(try b.receive(dontWait: true) == ["ping".bytes])
        }
    }

    @Test func receiveTimeoutReturnsNil() async throws {
        try await onDedicatedThread {
            let context = try Context()
            defer { try? context.terminate() }
            let socket = try context.socket(.dealer)
            defer { socket.close() }
            try socket.set(.receiveTimeout(.milliseconds(50)))
            #expect(try socket.receiveTimeoutMilliseconds == 50)
            try socket.bind(uniqueInproc("timeout"))
            #expect(try socket.receive() == nil)
        }
    }

    @Test func maxMessageSizeDropsOversizeMessages() async throws {
        try await onDedicatedThread {
            let context = try Context()
            defer { try? context.terminate() }
            let router = try context.socket(.router)
            defer { router.close() }
            try router.set(.maxMessageSize(1000))
            #expect(try router.maxMessageSize == 1000)
            try router.bind("tcp://127.0.0.1:*")
            let endpoint = try router.lastEndpoint

            let dealer = try context.socket(.dealer)
            defer { dealer.close() }
            try dealer.set(.routingID("w".bytes))
            try dealer.connect(endpoint)
            try dealer.send([[UInt8](repeating: 7, count: 5000)])
            #expect(try router.wait(for: .readable, timeout: .milliseconds(400)) == false,
                    "an oversize frame must not be delivered")

            // The connection was dropped; the dealer reconnects and small messages flow again.
            var delivered: [[UInt8]]?
            let deadline = ContinuousClock.now + .seconds(10)
            while delivered == nil && ContinuousClock.now < deadline {
                try dealer.send(["small".bytes])
                if try router.wait(for: .readable, timeout: .milliseconds(200)) {
                    delivered = try router.receive(dontWait: true)
                }
            }
            #expect(delivered == ["w".bytes, "small".bytes])
        }
    }

    @Test func routerMandatoryReportsUnroutablePeers() async throws {
        try await onDedicatedThread {
            let context = try Context()
            defer { try? context.terminate() }
            let router = try context.socket(.router)
            defer { router.close() }
            try router.set(.routerMandatory(true))
            try router.bind(uniqueInproc("mandatory"))
            let error = #expect(throws: ZeroMQError.self) {
                try router.send(["nobody".bytes, "job".bytes])
            }
            #expect(error?.code == .hostUnreachable)
        }
    }

    /// A peer reconnecting under its routing ID while its old connection is still open (half-open
    /// after a link cut) is ignored by a plain ROUTER and takes the ID over with `routerHandover`.
    @Test(arguments: [false, true]) func routerHandoverGivesARoutingIDToTheNewestConnection(handover: Bool) async throws {
        try await onDedicatedThread {
            let context = try Context()
            defer { try? context.terminate() }
            let router = try context.socket(.router)
            defer { router.close() }
            try router.set(.routerHandover(handover))
            try router.set(.receiveTimeout(handover ? .seconds(5) : .milliseconds(500)))
            let name = uniqueInproc("handover")
            try router.bind(name)
            let old = try context.socket(.dealer)
            defer { old.close() }
            try old.set(.routingID("w1".bytes))
            try old.connect(name)
            try old.send(["READY old".bytes])
            #expect(try router.receive() == ["w1".bytes, "READY old".bytes])
            let new = try context.socket(.dealer)
            defer { new.close() }
            try new.set(.routingID("w1".bytes))
            try new.set(.receiveTimeout(.milliseconds(300)))
            try new.connect(name)
            try new.send(["READY new".bytes])
            let fromNew = try router.receive(dontWait: false)
            if handover {
                #expect(fromNew == ["w1".bytes, "READY new".bytes])
                try router.send(["w1".bytes, "JOB".bytes])
                #expect(try new.receive() == ["JOB".bytes], "the newest connection owns the routing ID")
            } else {
                #expect(fromNew == nil, "without handover the second connection under the same ID is ignored")
                try router.send(["w1".bytes, "JOB".bytes])
                #expect(try new.receive() == nil)
            }
        }
    }

    @Test func messagesWithTooManyFramesAreDrainedAndReported() async throws {
        try await onDedicatedThread {
            let context = try Context()
            defer { try? context.terminate() }
            let name = uniqueInproc("frames")
            let a = try context.socket(.pair)
            let b = try context.socket(.pair)
            defer { a.close(); b.close() }
            try a.bind(name)
            try b.connect(name)
            try b.set(.receiveTimeout(.seconds(5)))
            try a.send((0..<10).map { [UInt8($0)] })
            try a.send(["next".bytes])
            let error = #expect(throws: ZeroMQError.self) { try b.receive(maxFrames: 3) }
            #expect(error?.code == .tooManyFrames)
            #expect(try b.receive() == ["next".bytes], "the socket stays in step after a rejected message")
        }
    }

    @Test func errorsNameTheOperationAndEndpoint() async throws {
        try await onDedicatedThread {
            let context = try Context()
            defer { try? context.terminate() }
            let socket = try context.socket(.router)
            defer { socket.close() }
            let error = #expect(throws: ZeroMQError.self) { try socket.bind("nonsense://here") }
            #expect(error?.operation == "zmq_bind")
            #expect(error?.endpoint == "nonsense://here")
            #expect(error?.description.contains("nonsense://here") == true)

            let name = uniqueInproc("twice")
            try socket.bind(name)
            let other = try context.socket(.router)
            defer { other.close() }
            let inUse = #expect(throws: ZeroMQError.self) { try other.bind(name) }
            #expect(inUse?.code == .addressInUse)
        }
    }

    @Test func closedSocketsThrowInsteadOfCrashing() async throws {
        try await onDedicatedThread {
            let context = try Context()
            let socket = try context.socket(.dealer)
            socket.close()
            socket.close()
            #expect(socket.isClosed)
            let error = #expect(throws: ZeroMQError.self) { try socket.send(["x".bytes]) }
            #expect(error?.code == .socketClosed)
            try context.terminate()
        }
    }
}

@Suite("ZeroMQ context lifetime")
struct ContextTests {
    @Test func terminateRefusesWhileSocketsAreOpenThenSucceeds() async throws {
        try await onDedicatedThread(timeout: 10) {
            let context = try Context()
            let socket = try context.socket(.dealer)
            #expect(context.openSockets == 1)
            let error = #expect(throws: ZeroMQError.self) { try context.terminate() }
            #expect(error?.code == .socketsStillOpen)
            socket.close()
            #expect(context.openSockets == 0)
            try context.terminate()
            try context.terminate()
            let afterwards = #expect(throws: ZeroMQError.self) { _ = try context.socket(.dealer) }
            #expect(afterwards?.code == .contextTerminated)
        }
    }

    @Test func terminateDoesNotHangWithUnsentMessages() async throws {
        try await onDedicatedThread(timeout: 10) {
            let context = try Context()
            // Find a free port, then leave it unbound so the dealer's message stays queued.
            let probe = try context.socket(.router)
            try probe.bind("tcp://127.0.0.1:*")
            let endpoint = try probe.lastEndpoint
            try probe.unbind(endpoint)
            probe.close()
            let dealer = try context.socket(.dealer, linger: .zero)
            #expect(try dealer.lingerMilliseconds == 0)
            try dealer.connect(endpoint)
            _ = try dealer.send(["queued".bytes], dontWait: true)
            dealer.close()
            try context.terminate()
        }
    }

    @Test func shutdownWakesABlockedReceiveWithETERM() async throws {
        // Both threads are started from one dedicated thread: an `async let` child task may wait
        // for a free concurrency-pool thread for seconds while other tests block the pool.
        try await onDedicatedThread(timeout: 30) {
            let context = try Context()
            let name = uniqueInproc("shutdown")
            let bound = DispatchSemaphore(value: 0), finished = DispatchSemaphore(value: 0)
            let outcome = ReceiveOutcome()
            let receiver = Thread {
                defer { finished.signal() }
                do {
                    let socket = try context.socket(.pull)
                    defer { socket.close() }
                    try socket.bind(name)
                    bound.signal()
                    _ = try socket.receive()
                    outcome.set("received a message")
                } catch {
                    bound.signal()
                    outcome.set((error as? ZeroMQError)?.code == .contextTerminated ? "ETERM" : "\(error)")
                }
            }
            receiver.start()
            bound.wait()
            Thread.sleep(forTimeInterval: 0.1)
            try context.shutdown()
            #expect(finished.wait(timeout: .now() + 10) == .success, "the blocked receive did not wake")
            #expect(outcome.value == "ETERM")
            try context.terminate()
        }
    }

    @Test func droppingTheContextBeforeItsSocketsIsSafe() async throws {
        try await onDedicatedThread(timeout: 10) {
            var context: Context? = try Context()
            let socket = try context!.socket(.dealer)
            context = nil // the socket keeps it alive
            try socket.bind(uniqueInproc("order"))
            socket.close()
        }
    }
}

@Suite("ZeroMQ options and patterns")
struct OptionAndPatternTests {
    @Test func everyOptionIsAcceptedByLibzmq() async throws {
        try await onDedicatedThread {
            let context = try Context()
            defer { try? context.terminate() }
            let router = try context.socket(.router, linger: .milliseconds(250))
            defer { router.close() }
            #expect(try router.lingerMilliseconds == 250)
            let options: [SocketOption] = [
                .linger(nil), .receiveTimeout(nil), .sendTimeout(.milliseconds(10)), .maxMessageSize(nil),
                .routingID("coordinator".bytes), .routerMandatory(true),
                .heartbeatInterval(.seconds(1)), .heartbeatTimeout(.seconds(3)), .heartbeatTTL(.seconds(3)),
                .immediate(true), .sendHighWaterMark(5000), .receiveHighWaterMark(5000), .zapDomain("hemo"),
            ]
            for option in options { try router.set(option) }
            #expect(try router.lingerMilliseconds == -1)
            #expect(try router.maxMessageSize == -1)
            let bad = #expect(throws: ZeroMQError.self) { try router.set(.routingID([])) }
            #expect(bad?.operation == "zmq_setsockopt(ZMQ_ROUTING_ID)")
        }
    }

    @Test func publisherReachesASubscriberOfItsPrefix() async throws {
        try await onDedicatedThread {
            let context = try Context()
            defer { try? context.terminate() }
            let name = uniqueInproc("pubsub")
            let publisher = try context.socket(.pub)
            let subscriber = try context.socket(.sub)
            defer { publisher.close(); subscriber.close() }
            try publisher.bind(name)
            try subscriber.set(.subscribe("status".bytes))
            try subscriber.connect(name)
            // Subscriptions propagate asynchronously: publish until one arrives.
            var got: [[UInt8]]?
            let deadline = ContinuousClock.now + .seconds(5)
            while got == nil && ContinuousClock.now < deadline {
                try publisher.send(["other".bytes])
                try publisher.send(["status".bytes, "ok".bytes])
                if try subscriber.wait(for: .readable, timeout: .milliseconds(20)) { got = try subscriber.receive(dontWait: true) }
            }
            #expect(got == ["status".bytes, "ok".bytes])
        }
    }

    @Test func requestReplyAndDisconnect() async throws {
        try await onDedicatedThread {
            let context = try Context()
            defer { try? context.terminate() }
            let rep = try context.socket(.rep)
            let req = try context.socket(.req)
            defer { rep.close(); req.close() }
            try rep.bind("tcp://127.0.0.1:*")
            let endpoint = try rep.lastEndpoint
            try req.connect(endpoint)
            try rep.set(.receiveTimeout(.seconds(5)))
            try req.set(.receiveTimeout(.seconds(5)))
            try req.send(["STATUS".bytes])
            #expect(try rep.receive() == ["STATUS".bytes])
            try rep.send(["fine".bytes])
            #expect(try req.receive() == ["fine".bytes])
            try req.disconnect(endpoint)
            let again = #expect(throws: ZeroMQError.self) { try req.disconnect(endpoint) }
            #expect(again?.code == .noSuchEndpoint)
        }
    }
}

/// What the blocked receiver saw, set once from its thread.
final class ReceiveOutcome: @unchecked Sendable {
    private let lock = NSLock()
    private var text: String?
    func set(_ value: String) { lock.lock(); text = value; lock.unlock() }
    var value: String? { lock.lock(); defer { lock.unlock() }; return text }
}
