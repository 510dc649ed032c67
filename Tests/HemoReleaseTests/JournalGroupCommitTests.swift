import HemoConcurrency
import Foundation
import Testing
import HemoCore
@testable import HemoRelease

/// The journal's group commit: threads appending at once share fsyncs, every append returns only
/// once its line is on disk, lines keep their queueing order, and a reopened journal reads them all.
@Suite struct JournalGroupCommitTests {
    static func failure(_ n: Int) -> JournalEntry {
        JournalEntry(caseName: String(format: "case_%04d", n), record: nil, inputs: nil,
                     failure: FailureRow(caseName: String(format: "case_%04d", n), stage: "read", reason: "drill \(n)"))
    }

    @Test func concurrentAppendsShareFsyncsAndAreAllDurableOnReturn() throws {
        let path = NSTemporaryDirectory() + "hemo-journal-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (journal, previous, _) = try ReleaseJournal.open(path: path, fingerprint: "f")
        #expect(previous.isEmpty)
        let threads = 8, perThread = 40
        let durableOnReturn = Locked(0)
        // Eight OS threads of their own (Dispatch would run only as many as there are cores),
        // released together, so appends really arrive while another thread's fsync is under way.
        let started = Locked(0)
        Parallel.onDedicatedThreads(count: threads, threads: threads) { t in
            started.withLock { $0 += 1 }
            while started.withLock({ $0 }) < threads { usleep(100) }
            for i in 0..<perThread {
                let n = t * perThread + i
                try? journal.append(Self.failure(n))
                // On return the line is in the file (written, then fsync'd, before append returns).
                let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
                if text.contains(String(format: "case_%04d", n)) { durableOnReturn.withLock { $0 += 1 } }
            }
        }
        #expect(durableOnReturn.withLock { $0 } == threads * perThread)
        #expect(journal.syncs < threads * perThread, "appends at once share fsyncs")
        let (_, reread, problems) = try ReleaseJournal.open(path: path, fingerprint: "f")
        #expect(problems.isEmpty)
        #expect(Set(reread.map(\.caseName)).count == threads * perThread)
    }

    @Test func oneWaitMakesABatchDurableWithOneFsyncInQueueingOrder() throws {
        let path = NSTemporaryDirectory() + "hemo-journal-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (journal, _, _) = try ReleaseJournal.open(path: path, fingerprint: "f")
        let tickets = try (0..<50).map { try journal.enqueue(Self.failure($0)) }
        let before = try String(contentsOfFile: path, encoding: .utf8)
        #expect(!before.contains("case_0000"), "queued lines are not written before a wait")
        try journal.waitUntilDurable(tickets[49])
        #expect(journal.syncs == 1)
        try journal.waitUntilDurable(tickets[3])
        #expect(journal.syncs == 1, "an earlier ticket is already durable")
        let (_, reread, _) = try ReleaseJournal.open(path: path, fingerprint: "f")
        #expect(reread.map(\.caseName) == (0..<50).map { String(format: "case_%04d", $0) })
    }
}
