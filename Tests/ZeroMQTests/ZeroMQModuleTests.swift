import Testing
@testable import ZeroMQ

@Test func moduleLinks() { #expect(ZeroMQModule.self == ZeroMQModule.self) }
