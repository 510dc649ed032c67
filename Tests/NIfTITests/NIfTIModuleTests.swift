import Testing
@testable import NIfTI

@Test func moduleLinks() { #expect(NIfTIModule.self == NIfTIModule.self) }
