import Foundation
import Testing
import HemoTestKit
@testable import ZeroMQ

@Suite("Z85 and CURVE keys")
struct Z85Tests {
    @Test func z85MatchesTheSpecificationVector() throws {
        // ZeroMQ RFC 32's example.
        let bytes: [UInt8] = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]
        #expect(try z85Encode(bytes) == "HelloWorld")
        #expect(try z85Decode("HelloWorld") == bytes)
    }

    @Test func z85RejectsBadLengthsAndCharacters() {
        #expect(throws: ZeroMQError.self) { try z85Encode([1, 2, 3]) }
        #expect(throws: ZeroMQError.self) { try z85Decode("Hell") }
        #expect(throws: ZeroMQError.self) { try z85Decode("Hello World") }
        #expect(throws: ZeroMQError.self) { try CurveKey(bytes: [1, 2]) }
        #expect(throws: ZeroMQError.self) { try CurveKey(z85: "short") }
    }

    @Test(.enabled(if: CurveKeyPair.isSupported || !SkipPolicy.maySkip("swift-curve")))
    func generatedKeyPairsRoundTripThroughZ85() throws {
        let pair = try CurveKeyPair.generate()
        #expect(pair.publicKey.z85.utf8.count == 40)
        #expect(try CurveKey(z85: pair.publicKey.z85) == pair.publicKey)
        #expect(pair.publicKey != pair.secretKey)
        #expect(try CurveKeyPair.generate().publicKey != pair.publicKey)
    }
}

@Suite("CURVE with a ZAP allow-list", .enabled(if: CurveKeyPair.isSupported || !SkipPolicy.maySkip("swift-curve")))
struct CurveAuthenticationTests {
    /// A CURVE ROUTER server guarded by a ZAP handler, and one client with `clientKeys`.
    /// Returns what the server received within `wait`, and the handler's counts.
    static func exchange(clientKeys: CurveKeyPair, allowed: Set<CurveKey>,
                         wait: Duration) throws -> (received: [[UInt8]]?, accepted: Int, rejected: Int) {
        let context = try Context()
        defer { try? context.terminate() }
        let server = try CurveKeyPair.generate()
        let auth = try ZAPAuthenticator(context: context, domain: "hemo", allowedClientKeys: allowed)
        defer { auth.stop() }

        let router = try context.socket(.router)
        defer { router.close() }
        try router.set(.zapDomain("hemo"))
        try router.set(.curveServer(true))
        try router.set(.curveSecretKey(server.secretKey))
        try router.bind("tcp://127.0.0.1:*")
        let endpoint = try router.lastEndpoint

        let dealer = try context.socket(.dealer)
        defer { dealer.close() }
        try dealer.set(.curveServerKey(server.publicKey))
        try dealer.set(.curvePublicKey(clientKeys.publicKey))
        try dealer.set(.curveSecretKey(clientKeys.secretKey))
        try dealer.set(.routingID("client".bytes))
        try dealer.connect(endpoint)
        _ = try dealer.send(["READY".bytes], dontWait: true)

        var received: [[UInt8]]?
        if try router.wait(for: .readable, timeout: wait) {
            received = try router.receive(dontWait: true)
        }
        // Let the handler's counters settle (the ZAP exchange precedes any delivery).
        let deadline = ContinuousClock.now + .seconds(10)
        while auth.acceptedCount + auth.rejectedCount == 0 && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.01)
        }
        return (received, auth.acceptedCount, auth.rejectedCount)
    }

    @Test func anAllowedClientTalks() async throws {
        let result = try await onDedicatedThread(timeout: 30) {
            let client = try CurveKeyPair.generate()
            return try Self.exchange(clientKeys: client, allowed: [client.publicKey], wait: .seconds(10))
        }
        #expect(result.received == ["client".bytes, "READY".bytes])
        #expect(result.accepted >= 1)
        #expect(result.rejected == 0)
    }

    @Test func anUnknownClientKeyIsRejectedAndNothingArrives() async throws {
        let result = try await onDedicatedThread(timeout: 30) {
            let known = try CurveKeyPair.generate()
            let stranger = try CurveKeyPair.generate()
            return try Self.exchange(clientKeys: stranger, allowed: [known.publicKey], wait: .milliseconds(600))
        }
        #expect(result.received == nil)
        #expect(result.rejected >= 1)
        #expect(result.accepted == 0)
    }

    @Test func aSecondHandlerInTheSameContextFailsToBind() async throws {
        try await onDedicatedThread {
            let context = try Context()
            defer { try? context.terminate() }
            let first = try ZAPAuthenticator(context: context, domain: "a", allowedClientKeys: [])
            defer { first.stop() }
            let error = #expect(throws: ZeroMQError.self) {
                _ = try ZAPAuthenticator(context: context, domain: "b", allowedClientKeys: [])
            }
            #expect(error?.code == .addressInUse)
        }
    }

    @Test func malformedZAPRequestsGet400() async throws {
        try await onDedicatedThread {
            let context = try Context()
            defer { try? context.terminate() }
            let auth = try ZAPAuthenticator(context: context, domain: "hemo", allowedClientKeys: [])
            defer { auth.stop() }
            let reply = auth.answer([Array("1.0".utf8)])
            #expect(reply.count == 6)
            #expect(reply[2] == Array("400".utf8))
            let nullMechanism = auth.answer([Array("1.0".utf8), [9], Array("hemo".utf8), [], [], Array("NULL".utf8)])
            #expect(nullMechanism[1] == [9])
            #expect(nullMechanism[2] == Array("400".utf8))
        }
    }
}


@Suite("ZAP handler lifetime")
struct ZAPLifetimeTests {
    @Test func releasingTheAuthenticatorStopsItSoTheContextTerminates() async throws {
        try await onDedicatedThread(timeout: 10) {
            let context = try Context()
            do {
                let auth = try ZAPAuthenticator(context: context, domain: "d", allowedClientKeys: [])
                #expect(context.openSockets == 1)
                _ = auth
            }
            #expect(context.openSockets == 0)
            try context.terminate()
        }
    }
}
