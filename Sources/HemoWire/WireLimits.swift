/// The protocol's identity and every bound the decoder enforces.
///
/// Every size on the wire is bounded here, so a decoder never allocates or loops more than these
/// allow, whatever a peer sends.
public enum WireProtocol {
    /// Frame 0's first four bytes: ASCII `HEMO`.
    public static let magic: [UInt8] = Array("HEMO".utf8)
    /// The protocol version this build speaks (frame 0's fifth byte). Version 2 added FILE
    /// (encoded release files from the worker) and the throughput fields of STATUS-REPLY.
    public static let version: UInt8 = 3
    /// Frame 0 as sent: `HEMO` + version.
    public static var header: [UInt8] { magic + [version] }

    /// Most frames in one message (header, type, fields, and up to ``maxInlineFiles`` blobs).
    public static let maxFrames = 3 + maxInlineFiles
    /// Largest fields frame (frame 2), in bytes.
    public static let maxFieldsBytes = 1 << 20
    /// Largest blob frame (chunk payload, inline file, summary), in bytes.
    public static let maxBlobBytes = 64 << 20
    /// Largest message, all frames together, in bytes.
    public static let maxMessageBytes = 256 << 20
    /// Recommended `ZMQ_MAXMSGSIZE` for both ends: libzmq checks each frame, so the largest frame
    /// (a blob) plus headroom. Larger frames drop the sender's connection before decoding.
    public static let recommendedMaxMessageSize = maxBlobBytes + 4096

    /// Longest worker identifier, in UTF-8 bytes.
    public static let maxWorkerIDBytes = 64
    /// Longest free-text name (worker name, software version), in bytes.
    public static let maxNameBytes = 128
    /// Longest stage name, in bytes.
    public static let maxStageBytes = 64
    /// Longest failure reason or disconnect reason, in bytes.
    public static let maxReasonBytes = 1024
    /// Longest input path, in bytes.
    public static let maxPathBytes = 4096
    /// Most input paths in one JOB.
    public static let maxPaths = 64
    /// Most inline files in one JOB.
    public static let maxInlineFiles = 64
    /// Largest uncompressed inline file, in bytes.
    public static let maxInlineFileBytes = 1 << 30
    /// Largest JOB options blob, in bytes.
    public static let maxOptionsBytes = 64 << 10
    /// Largest DONE summary blob, in bytes.
    public static let maxSummaryBytes = 4 << 20
    /// Most stage timings in one DONE.
    public static let maxTimings = 32
    /// Most workers listed in a STATUS reply.
    public static let maxStatusWorkers = 1024
    /// Largest advertised capacity or thread count.
    public static let maxCapacity = 1024
    /// Most models one READY lists (version 3).
    public static let maxReadyModels = 8
    /// Most held attempts one READY lists (version 3): a worker's credit is capacity + prefetch.
    public static let maxHeldAttempts = 2 * maxCapacity

    /// Largest grid edge (voxels along i, j or k).
    public static let maxGridEdge = 4096
    /// Largest volume, in voxels.
    public static let maxVolumeVoxels = 1 << 30
    /// Largest uncompressed chunk slab, in voxels (one byte each): fits one blob.
    public static let maxChunkVoxels = maxBlobBytes

    /// Longest release-relative path of a FILE, in bytes.
    public static let maxFilePathBytes = 512
    /// Most files in one attempt's result (three volumes and one PNG per slice, with room to spare).
    public static let maxResultFiles = maxGridEdge + 16
    /// Largest release file carried by FILE messages, in bytes.
    public static let maxResultFileBytes = 4 << 30
    /// Bytes of a file in each FILE part (the last part holds the rest): part `p` covers bytes
    /// `p × filePartBytes ..< min(size, (p + 1) × filePartBytes)`.
    public static let filePartBytes = 8 << 20
    /// Parts a file of `size` bytes travels in: `max(1, ceil(size / filePartBytes))`.
    public static func filePartCount(size: Int) -> Int { max(1, (size + filePartBytes - 1) / filePartBytes) }
}
