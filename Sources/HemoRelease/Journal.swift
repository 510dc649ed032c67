import Foundation
import HemoCore

/// One line of a release journal: a case released (with its record) or failed.
public struct JournalEntry: Codable, Sendable {
    /// The case (or rejected name).
    public var caseName: String
    /// The record of a released case.
    public var record: CaseRecord?
    /// Its input files.
    public var inputs: [InputFile]?
    /// The failure of a failed case.
    public var failure: FailureRow?
}

/// The append-only, fsync'd (group-committed) journal of a release under construction, beside its staging folder
/// (`.<name>.journal`). Each line is a JSON ``JournalEntry`` sealed with a checksum (a line
/// altered on disk is named and its exam done again); the first line fingerprints the options,
/// so a restarted run with other options does not reuse the work.
///
/// A case's files are written (atomically) before its journal line, so a journal line always
/// means the files are complete; a case whose line is missing is simply done again. Lines are
/// group-committed: threads appending at once share one fsync (``enqueue(_:)`` and
/// ``waitUntilDurable(_:)`` let one thread queue several exams and wait once), and ``append(_:)``
/// returns only once its line is on disk.
public final class ReleaseJournal: @unchecked Sendable {
    /// The journal file.
    public let path: String
    private let handle: FileHandle
    private let lock = NSLock()

    /// Opens (or creates) the journal at `path` for a run whose options render as `fingerprint`.
    /// - Returns: the journal, the entries of a previous run with the same fingerprint, and one
    ///   sentence per line that could not be read (torn by a kill, or corrupted): each names the
    ///   journal, the line and the case when it can be made out; those cases are simply redone.
    public static func open(path: String, fingerprint: String) throws -> (ReleaseJournal, [JournalEntry], [String]) {
        let fm = FileManager.default
        var previous: [JournalEntry] = []
        var problems: [String] = []
        let header = headerLine(fingerprint: fingerprint)
        if let data = fm.contents(atPath: path) {
            let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            if lines.first.map(String.init) == header {
                let decoder = JSONDecoder()
                for (n, line) in lines.enumerated().dropFirst() where !line.isEmpty {
                    if let json = verified(line), let e = try? decoder.decode(JournalEntry.self, from: Data(json.utf8)),
                       e.record.map({ $0.id.rawValue == e.caseName }) ?? true {
                        previous.append(e)
                    } else {
                        let torn = n == lines.count - 1 // no newline after it: cut short by a kill
                        let name = line.firstMatch(of: /"caseName":"([^"]*)"/).map { " (case \($0.1))" } ?? ""
                        problems.append("\(path) line \(n + 1)\(name) is \(torn ? "torn (the run was killed while writing it)" : "corrupt and cannot be read"); that exam is done again")
                    }
                }
            }
        }
        let tmp = path + ".rewrite"
        var text = Array((header + "\n").utf8)
        for e in previous { text += sealedLine(try JournalLineEncoder.encode(e)) }
        try AtomicFile.write(text, to: tmp)
        guard rename(tmp, path) == 0 else {
            throw ReleaseError(.io, path: path, reason: "cannot create the journal: \(String(cString: strerror(errno)))")
        }
        guard let h = FileHandle(forUpdatingAtPath: path) else {
            throw ReleaseError(.io, path: path, reason: "cannot open the journal for appending")
        }
        h.seekToEndOfFile()
        return (ReleaseJournal(path: path, handle: h), previous, problems)
    }

    /// The first line of a journal for runs whose options render as `fingerprint`.
    public static func headerLine(fingerprint: String) -> String {
        "{\"journal\":2,\"fingerprint\":\(JSONValue.quote(fingerprint))}"
    }

    /// A journal line with its newline: the entry's JSON (`JSONEncoder`'s sorted-key bytes,
    /// written by ``JournalLineEncoder``), a tab, and the first 16 hex digits of its SHA-256, so a
    /// line altered on disk (even into other valid JSON) is detected rather than trusted.
    static func sealedLine(_ json: [UInt8]) -> [UInt8] {
        var line = json
        line.reserveCapacity(json.count + 18)
        line.append(UInt8(ascii: "\t"))
        line += SHA256.hex(of: json).utf8.prefix(16)
        line.append(UInt8(ascii: "\n"))
        return line
    }

    /// The JSON of a sealed line whose checksum matches, else `nil`.
    static func verified(_ line: Substring) -> String? {
        guard let tab = line.lastIndex(of: "\t") else { return nil }
        let json = String(line[..<tab]), seal = line[line.index(after: tab)...]
        return String(SHA256.hex(of: Array(json.utf8)).prefix(16)) == seal ? json : nil
    }

    /// Whether the journal at `path` belongs to runs whose options render as `fingerprint`.
    public static func matches(path: String, fingerprint: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: path) else { return false }
        return data.split(separator: UInt8(ascii: "\n"), maxSplits: 1, omittingEmptySubsequences: false).first
            .map { String(decoding: $0, as: UTF8.self) } == headerLine(fingerprint: fingerprint)
    }

    private init(path: String, handle: FileHandle) {
        self.path = path
        self.handle = handle
    }

    deinit { try? handle.close() }

    // Group commit: appenders queue their sealed lines; one of the threads waiting for durability
    // writes everything queued and fsyncs once for all of them (the others wait), so N exams
    // released at once cost one fsync, not N. Lines reach the file in the order they were queued.
    private let group = NSCondition()
    private var queued: [UInt8] = []
    private var enqueuedCount: UInt64 = 0
    private var durableCount: UInt64 = 0
    private var flushing = false
    private var flushFailure: ReleaseError?
    private var syncCount = 0
    /// fsyncs so far (each made a group of lines durable).
    public var syncs: Int { group.lock(); defer { group.unlock() }; return syncCount }

    /// A line queued by ``enqueue(_:)``: durable once ``waitUntilDurable(_:)`` returns for it.
    public struct Ticket: Sendable, Comparable {
        let sequence: UInt64
        /// Orders tickets by queueing order.
        public static func < (a: Ticket, b: Ticket) -> Bool { a.sequence < b.sequence }
    }

    /// Appends `entry` and returns once it (and every line queued before it) is on disk.
    public func append(_ entry: JournalEntry) throws {
        try waitUntilDurable(try enqueue(entry))
    }

    /// Queues `entry` for the next group commit without waiting; the entry is durable only once
    /// ``waitUntilDurable(_:)`` returned for its ticket (or a later one).
    public func enqueue(_ entry: JournalEntry) throws -> Ticket {
        let line = Self.sealedLine(try JournalLineEncoder.encode(entry))
        group.lock(); defer { group.unlock() }
        queued += line
        enqueuedCount += 1
        return Ticket(sequence: enqueuedCount)
    }

    /// Blocks until the line of `ticket` (and all before it) is written and fsync'd. The first
    /// waiter finding no flush under way writes every queued line and fsyncs once for all.
    /// - Throws: ``ReleaseError`` when the write or the fsync failed (every later wait throws too).
    public func waitUntilDurable(_ ticket: Ticket) throws {
        group.lock(); defer { group.unlock() }
        while durableCount < ticket.sequence {
            if let flushFailure { throw flushFailure }
            guard !flushing else { group.wait(); continue }
            flushing = true
            let batch = Data(queued)
            queued.removeAll(keepingCapacity: true)
            let upTo = enqueuedCount
            group.unlock()
            var failure: ReleaseError?
            do {
                try handle.write(contentsOf: batch)
                try handle.synchronize()
            } catch {
                failure = ReleaseError(.io, path: path, reason: "cannot append to the journal: \(error.localizedDescription)")
            }
            group.lock()
            flushing = false
            syncCount += 1
            if let failure { flushFailure = failure } else { durableCount = upTo }
            group.broadcast()
        }
    }

    /// Deletes the journal (after the release was committed).
    public func remove() {
        try? handle.close()
        try? FileManager.default.removeItem(atPath: path)
    }
}
