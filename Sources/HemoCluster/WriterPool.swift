import Foundation
import HemoConcurrency
import HemoCore
import HemoRelease

/// Threads that write released cases, so the poll loop never blocks on disk.
final class WriterPool: @unchecked Sendable {
    struct Completion {
        var exam: CaseID
        var times: StageTimes
        var failure: String?
        /// The release's own storage failed (disk full, I/O error): not the exam's fault, so it is
        /// not journaled as failed and the run stops; a restart writes the exam again.
        var storageError: Error?
    }

    private let queue = Locked<(items: [CollectedCase], stopped: Bool)>(([], false))
    private let available = DispatchSemaphore(value: 0)
    private let completed = Locked<[Completion]>([])
    private let threads: Int
    private let assembly: ReleaseAssembly
    private let cases: [CaseID: CohortCase]
    private let options: ReleaseOptions

    init(threads: Int, assembly: ReleaseAssembly, cases: [CaseID: CohortCase], options: ReleaseOptions, wake: WakeLine,
         delay: Duration? = nil) {
        self.threads = max(1, threads)
        self.assembly = assembly
        self.cases = cases
        self.options = options
        for n in 0..<self.threads {
            let t = Thread { [self] in
                nameCurrentThread("hemo-writer")
                while true {
                    available.wait()
                    // Everything queued (up to a bound) in one go: the files of each exam are written,
                    // their journal lines queued, and one wait for the journal's group commit makes the
                    // whole batch durable (one fsync instead of one per exam) before any is reported.
                    let batch: [CollectedCase] = queue.withLock { q in
                        guard !q.stopped else { return [] }
                        let n = min(q.items.count, WriterPool.maxBatch)
                        defer { q.items.removeFirst(n) }
                        return Array(q.items.prefix(n))
                    }
                    guard !batch.isEmpty else {
                        if queue.withLock({ $0.stopped }) { return }
                        continue
                    }
                    var done: [Completion] = []
                    var ticket: ReleaseJournal.Ticket?
                    for result in batch {
                        let (completion, queued) = write(result, delay: delay)
                        done.append(completion)
                        if let queued { ticket = max(ticket ?? queued, queued) }
                    }
                    if let ticket {
                        do { try assembly.waitUntilDurable(ticket) } catch {
                            for i in done.indices where done[i].storageError == nil && done[i].failure == nil { done[i].storageError = error }
                        }
                    }
                    completed.withLock { $0.append(contentsOf: done) }
                    wake.signal()
                }
            }
            t.name = "hemo-writer-\(n)"
            t.start()
        }
    }

    /// Exams one writer takes at once (and makes durable with one journal fsync).
    static let maxBatch = 128

    /// Encodes and writes one exam's files and queues its journal line; the completion to report
    /// once the returned ticket is durable.
    private func write(_ result: CollectedCase, delay: Duration?) -> (Completion, ReleaseJournal.Ticket?) {
        let id = result.record.id
        if let delay { Thread.sleep(forTimeInterval: delay.seconds) }
        var times = StageTimes()
        var failure: String?
        var storageError: Error?
        var ticket: ReleaseJournal.Ticket?
        do {
            let files: [(path: String, bytes: [UInt8], sha256: String?)]
            do {
                files = try result.releaseFiles(cohortCase: cases[id], options: options, times: &times)
            } catch let caseFailure as CaseFailure {
                throw caseFailure
            } catch {
                // Reading the exam's input CT or encoding its files: this exam fails, the run goes on.
                throw CaseFailure(stage: "write", reason: "\(error)")
            }
            ticket = try assembly.releaseQueued(encodedFiles: files, record: result.record, inputs: result.inputs,
                                                inputCT: cases[id]?.ct, times: &times)
        } catch let caseFailure as CaseFailure {
            failure = "\(caseFailure)"
            try? assembly.fail(FailureRow(caseName: id.rawValue, stage: "write", reason: "\(caseFailure)"))
        } catch {
            storageError = error
        }
        return (Completion(exam: id, times: times, failure: failure, storageError: storageError), ticket)
    }

    func submit(_ result: CollectedCase) {
        queue.withLock { $0.items.append(result) }
        available.signal()
    }

    func takeCompleted() -> [Completion] { completed.withLock { c in defer { c = [] }; return c } }

    func stop() {
        queue.withLock { $0.stopped = true }
        for _ in 0..<threads { available.signal() }
    }
}
