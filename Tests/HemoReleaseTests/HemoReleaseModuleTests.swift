import Testing
@testable import HemoRelease

@Test func moduleLinks() { #expect(HemoReleaseModule.self == HemoReleaseModule.self) }
