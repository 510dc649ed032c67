import HemoRelease

/// Progress of a coordinated run.
public struct CoordinatorProgress: Sendable {
    /// Exams finished (released or failed) including those of an earlier run.
    public var done: Int
    /// Exams in all.
    public var total: Int
    /// Exams failed.
    public var failed: Int
    /// The exam just finished.
    public var lastCase: String
    /// The coordinator's state right after it (throughput, in flight, workers, wire counters).
    public var snapshot: CoordinatorSnapshot
}

/// What a finished coordinated run reports.
public struct CoordinatorSummary: Sendable {
    /// The release folder.
    public var release: String
    /// The committed release.
    public var outcome: ReleaseAssembly.Outcome
    /// Wall time in seconds.
    public var seconds: Double
    /// Exams restored from the journal of an earlier run.
    public var resumed: Int
    /// Wire traffic of the run.
    public var wire: WireCounters
    /// Per-stage seconds reported by workers (and the coordinator's writers), summed over exams.
    public var workerStages: StageTimes

    /// Bytes of JOB messages sent.
    public var jobBytesSent: Int { wire.jobBytesSent }
    /// Bytes of CHUNK/FILE/DONE/FAILED messages received.
    public var resultBytesReceived: Int { wire.resultBytesReceived }
    /// Uncompressed and LZ4 bytes of the accepted bitmask chunks.
    public var chunkRawBytes: Int { wire.maskRawBytes }
    /// LZ4 bytes of the accepted bitmask chunks.
    public var chunkPayloadBytes: Int { wire.maskPayloadBytes }
    /// Uncompressed bytes of inline input files sent.
    public var inlineRawBytes: Int { wire.inlineRawBytes }
    /// LZ4 bytes of inline input files sent.
    public var inlineCompressedBytes: Int { wire.inlineCompressedBytes }
    /// Messages dropped as malformed or unexpected.
    public var droppedMessages: Int { wire.droppedMessages }
    /// Attempts dispatched (more than the exams when some were retried).
    public var dispatches: Int { wire.dispatches }

    /// Wire bytes per released exam (both directions).
    public var wireBytesPerExam: Double {
        Double(wire.jobBytesSent + wire.resultBytesReceived) / Double(max(1, outcome.records.count - resumed))
    }
    /// Uncompressed ÷ LZ4 size of the bitmask chunks.
    public var chunkCompressionRatio: Double { Double(wire.maskRawBytes) / Double(max(1, wire.maskPayloadBytes)) }
    /// Uncompressed ÷ LZ4 size of the release-file parts (already gzip or PNG-compressed, so about 1).
    public var fileCompressionRatio: Double { Double(wire.fileRawBytes) / Double(max(1, wire.filePayloadBytes)) }
}
