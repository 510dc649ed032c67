import Testing
@testable import HemoSynth

@Test func moduleLinks() { #expect(HemoSynthModule.self == HemoSynthModule.self) }
