import Testing
@testable import HemoTransforms

@Test func moduleLinks() { #expect(HemoTransformsModule.self == HemoTransformsModule.self) }
