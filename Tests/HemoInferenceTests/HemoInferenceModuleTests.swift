import Testing
@testable import HemoInference

@Test func moduleLinks() { #expect(HemoInferenceModule.self == HemoInferenceModule.self) }
