import Testing
@testable import HemoScheduler

@Test func moduleLinks() { #expect(HemoSchedulerModule.self == HemoSchedulerModule.self) }
