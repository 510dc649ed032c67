import Testing
@testable import HemoWire

@Test func moduleLinks() { #expect(HemoWireModule.self == HemoWireModule.self) }
