import Testing
@testable import LZ4

@Test func moduleLinks() { #expect(LZ4Module.self == LZ4Module.self) }
