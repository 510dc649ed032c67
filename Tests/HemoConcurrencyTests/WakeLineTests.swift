import Foundation
import HemoConcurrency
import Testing

/// The wake line: signals from other threads wake a poll, coalesce, and stop at close.
@Suite struct WakeLineTests {
    @Test func aSignalFromAnotherThreadWakesTheWaitAndSignalsCoalesce() throws {
        let line = try WakeLine()
        #expect(!line.wait(timeout: .milliseconds(20)), "nothing was signalled")
        let t = Thread { for _ in 0..<1000 { line.signal() } }
        t.start()
        #expect(line.wait(timeout: .seconds(10)))
        // A thousand signals (written before or after the first drain) leave at most one more wake-up.
        while line.wait(timeout: .milliseconds(50)) {}
        #expect(!line.drain())
    }

    @Test func pollReportsTheReadableDescriptorsOnly() throws {
        let a = try WakeLine(), b = try WakeLine()
        #expect(WakeLine.poll([a.fileDescriptor, b.fileDescriptor], timeout: .milliseconds(10)).isEmpty)
        b.signal()
        #expect(WakeLine.poll([a.fileDescriptor, b.fileDescriptor], timeout: .seconds(5)) == [1])
        #expect(b.drain())
        #expect(!b.drain())
    }

    @Test func aClosedLineIgnoresSignals() throws {
        let line = try WakeLine()
        line.close()
        line.signal()
        line.close()
        #expect(!line.drain())
    }
}
