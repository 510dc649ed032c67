import HemoCore
import HemoScheduler

/// The message types, frame 1's single byte.
public enum MessageType: UInt8, CaseIterable, Sendable, CustomStringConvertible {
    /// Worker → coordinator: I am here, with this capacity.
    case ready = 1
    /// Coordinator → worker: process one exam.
    case job = 2
    /// Both ways: I am alive.
    case heartbeat = 3
    /// Worker → coordinator: one slab of a result mask.
    case chunk = 4
    /// Worker → coordinator: an exam finished; all its chunks were sent before.
    case done = 5
    /// Worker → coordinator: an exam failed at a stage.
    case failed = 6
    /// Both ways: I am leaving / draining (worker) or you are unknown, reconnect (coordinator).
    case disconnect = 7
    /// `hemo status` → coordinator: what is the run doing?
    case statusRequest = 8
    /// Coordinator → `hemo status`: the answer.
    case statusReply = 9
    /// Coordinator → worker: abandon an attempt (its lease expired, a chunk was corrupt, the run ended).
    case cancel = 10
    /// Worker → coordinator: one part of the CT file of an attempt whose options change the grid (version 2).
    case file = 11

    /// The upper-case name used in documentation and errors.
    public var description: String {
        switch self {
        case .ready: "READY"
        case .job: "JOB"
        case .heartbeat: "HEARTBEAT"
        case .chunk: "CHUNK"
        case .done: "DONE"
        case .failed: "FAILED"
        case .disconnect: "DISCONNECT"
        case .statusRequest: "STATUS"
        case .statusReply: "STATUS-REPLY"
        case .cancel: "CANCEL"
        case .file: "FILE"
        }
    }
}

/// READY: a worker joins (or rejoins) with its identity and capacity.
public struct ReadyMessage: Equatable, Sendable {
    /// The worker's identifier, also its ZeroMQ routing id: `[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}`.
    public var workerID: String
    /// A human-readable name (host, pid), at most ``WireProtocol/maxNameBytes``.
    public var workerName: String
    /// Jobs the worker runs at once (1...``WireProtocol/maxCapacity``).
    public var capacity: Int
    /// CPU threads the worker uses (1...``WireProtocol/maxCapacity``).
    public var threads: Int
    /// What the worker can do (only known bits).
    public var capabilities: WorkerCapabilities
    /// The worker's HemoCluster version (``HemoVersion/string``), at most ``WireProtocol/maxNameBytes``.
    public var softwareVersion: String
    /// The models the worker holds (version 3), at most ``WireProtocol/maxReadyModels``: the
    /// coordinator gives infer jobs only to a worker that holds the run's model and sidecar, so no
    /// job is refused. Empty: the worker does not say (it may refuse).
    public var models: [ModelDigests]
    /// The attempts the worker still holds when it (re)joins (version 3), at most
    /// ``WireProtocol/maxHeldAttempts``: a rejoining worker keeps them instead of having them retried.
    public var held: [HeldAttempt]

    /// A READY message.
    public init(workerID: String, workerName: String, capacity: Int, threads: Int,
                capabilities: WorkerCapabilities, softwareVersion: String = HemoVersion.string,
                models: [ModelDigests] = [], held: [HeldAttempt] = []) {
        self.workerID = workerID
        self.workerName = workerName
        self.capacity = capacity
        self.threads = threads
        self.capabilities = capabilities
        self.softwareVersion = softwareVersion
        self.models = models
        self.held = held
    }
}

/// A model a worker holds: the SHA-256 of its ONNX file and of its sidecar (32 bytes each).
public struct ModelDigests: Hashable, Sendable {
    /// SHA-256 of the ONNX file.
    public var onnxSHA256: [UInt8]
    /// SHA-256 of the sidecar `MODEL.json`.
    public var sidecarSHA256: [UInt8]

    /// A model's digests.
    public init(onnxSHA256: [UInt8], sidecarSHA256: [UInt8]) {
        self.onnxSHA256 = onnxSHA256
        self.sidecarSHA256 = sidecarSHA256
    }
}

/// An attempt a worker holds (queued or running) when it sends READY.
public struct HeldAttempt: Hashable, Sendable {
    /// The exam.
    public var exam: CaseID
    /// The attempt number.
    public var attempt: UInt32

    /// A held attempt.
    public init(exam: CaseID, attempt: UInt32) {
        self.exam = exam
        self.attempt = attempt
    }
}

/// What a JOB asks for.
public enum JobKind: Equatable, Sendable {
    /// Build the dataset entry from annotations.
    case build
    /// Run the model whose file has this SHA-256 (32 bytes).
    case infer(modelSHA256: [UInt8])
}

/// One input file carried inside a JOB.
public struct InlineFile: Equatable, Sendable {
    /// The file's name: no `/`, not `.` or `..`, 1...255 bytes.
    public var name: String
    /// The uncompressed size in bytes (checked after decompression).
    public var size: Int
    /// The file's bytes as one LZ4 frame (sent as its own ZeroMQ frame).
    public var lz4Frame: [UInt8]

    /// An inline file.
    public init(name: String, size: Int, lz4Frame: [UInt8]) {
        self.name = name
        self.size = size
        self.lz4Frame = lz4Frame
    }
}

/// Where a JOB's inputs are.
public enum JobInputs: Equatable, Sendable {
    /// Paths on storage shared by coordinator and worker (each 1...``WireProtocol/maxPathBytes``).
    case paths([String])
    /// The files themselves, LZ4-compressed, one blob frame each.
    case inline([InlineFile])
}

/// JOB: the coordinator asks a worker to process one exam, as one numbered attempt.
public struct JobMessage: Equatable, Sendable {
    /// The coordinator's dispatch number (unique within a run).
    public var jobID: UInt64
    /// The exam (case) identifier.
    public var exam: CaseID
    /// The attempt number; results name it so expired attempts are ignored.
    public var attempt: UInt32
    /// Build or inference (with the model's SHA-256).
    public var kind: JobKind
    /// Options shaping the output (deterministic JSON chosen by the coordinator), at most ``WireProtocol/maxOptionsBytes``.
    public var options: [UInt8]
    /// The exam's input files.
    public var inputs: JobInputs

    /// A JOB message.
    public init(jobID: UInt64, exam: CaseID, attempt: UInt32, kind: JobKind, options: [UInt8], inputs: JobInputs) {
        self.jobID = jobID
        self.exam = exam
        self.attempt = attempt
        self.kind = kind
        self.options = options
        self.inputs = inputs
    }
}

/// What a CHUNK's voxels mean (wire code in brackets).
///
/// Protocol version 3 has one kind: the subtype ``bitmask`` [6], from which the coordinator
/// encodes every label file. (Version 1's label-map [0], probability [1–5] and Int16 byte-plane
/// [7, 8] kinds are gone; their codes are refused.)
public enum MaskKind: Hashable, Sendable {
    /// A subtype bitmask: one byte per voxel, bit `v-1` set for subtype `v` (values 0...31).
    case bitmask
    /// A subtype's quantised probability map (`--probabilities`): one byte per voxel, `round(p · 255)`.
    case probability(Subtype)

    /// Wire code: 6 for the bitmask; 10 + `v` for subtype `v`'s probability map (11 EPH … 15 IVH).
    public var code: UInt8 {
        switch self {
        case .bitmask: 6
        case .probability(let s): 10 + s.labelValue
        }
    }

    /// The kind for a wire code, `nil` when unknown.
    public init?(code: UInt8) {
        if code == 6 { self = .bitmask; return }
        guard code > 10, let s = Subtype(rawValue: code - 10) else { return nil }
        self = .probability(s)
    }
}

/// CHUNK: one slab (slices `k0..<k1`) of a result mask, LZ4-compressed.
public struct Chunk: Equatable, Sendable {
    /// The exam.
    public var exam: CaseID
    /// The attempt that produced it.
    public var attempt: UInt32
    /// This chunk's number, `0..<count`.
    public var index: Int
    /// How many chunks make the whole mask.
    public var count: Int
    /// The k-slices this slab covers, within the grid.
    public var slices: Range<Int>
    /// What the voxels mean.
    public var maskKind: MaskKind
    /// The whole mask's geometry (identical in every chunk of an attempt).
    public var geometry: Geometry
    /// The slab's voxels (i fastest, then j, then k) as one LZ4 frame with a content checksum.
    public var payload: [UInt8]

    /// A CHUNK message.
    public init(exam: CaseID, attempt: UInt32, index: Int, count: Int, slices: Range<Int>,
                maskKind: MaskKind, geometry: Geometry, payload: [UInt8]) {
        self.exam = exam
        self.attempt = attempt
        self.index = index
        self.count = count
        self.slices = slices
        self.maskKind = maskKind
        self.geometry = geometry
        self.payload = payload
    }

    /// Voxels in the slab.
    public var slabVoxels: Int { geometry.size.sliceCount * slices.count }
}

/// FILE: one part of one release file an attempt encoded (a NIfTI volume or a slice PNG), LZ4-compressed.
///
/// A worker encodes its exam's release files with the same functions as `hemo build`, so the
/// bytes are the release's; the coordinator checks every part (LZ4 content checksum, exact
/// length) and each whole file against its SHA-256 before writing it.
public struct FilePart: Equatable, Sendable {
    /// The exam.
    public var exam: CaseID
    /// The attempt that produced it.
    public var attempt: UInt32
    /// The file's number in the attempt's result, `0..<fileCount`.
    public var fileIndex: Int
    /// How many files the attempt's result has (identical in every part of the attempt).
    public var fileCount: Int
    /// The release-relative path (e.g. `imagesTr/case_000_0000.nii.gz`): `/`-separated, no empty,
    /// `.` or `..` component, 1...``WireProtocol/maxFilePathBytes`` bytes.
    public var path: String
    /// The file's size in bytes (0...``WireProtocol/maxResultFileBytes``).
    public var size: Int
    /// The SHA-256 of the whole file (32 bytes).
    public var sha256: [UInt8]
    /// This part's number, `0..<partCount`.
    public var partIndex: Int
    /// Parts of this file: ``WireProtocol/filePartCount(size:)``.
    public var partCount: Int
    /// The part's bytes as one LZ4 frame with a content checksum.
    public var payload: [UInt8]

    /// A FILE message.
    public init(exam: CaseID, attempt: UInt32, fileIndex: Int, fileCount: Int, path: String, size: Int,
                sha256: [UInt8], partIndex: Int, partCount: Int, payload: [UInt8]) {
        self.exam = exam
        self.attempt = attempt
        self.fileIndex = fileIndex
        self.fileCount = fileCount
        self.path = path
        self.size = size
        self.sha256 = sha256
        self.partIndex = partIndex
        self.partCount = partCount
        self.payload = payload
    }

    /// The bytes of the file this part covers.
    public var byteRange: Range<Int> {
        let start = partIndex * WireProtocol.filePartBytes
        return start..<min(size, start + WireProtocol.filePartBytes)
    }
}

/// How long one stage of a job took.
public struct StageTiming: Equatable, Sendable {
    /// The stage name (1...``WireProtocol/maxStageBytes``).
    public var stage: String
    /// Its duration in nanoseconds.
    public var nanoseconds: UInt64

    /// A timing.
    public init(stage: String, nanoseconds: UInt64) {
        self.stage = stage
        self.nanoseconds = nanoseconds
    }
}

/// DONE: an exam finished on a worker; every CHUNK of the attempt was sent before it.
public struct DoneMessage: Equatable, Sendable {
    /// The exam.
    public var exam: CaseID
    /// The attempt.
    public var attempt: UInt32
    /// Findings and labels, encoded deterministically by the worker (at most ``WireProtocol/maxSummaryBytes``).
    public var summary: [UInt8]
    /// Per-stage timings (run report only; never part of a release).
    public var timings: [StageTiming]

    /// A DONE message.
    public init(exam: CaseID, attempt: UInt32, summary: [UInt8], timings: [StageTiming]) {
        self.exam = exam
        self.attempt = attempt
        self.summary = summary
        self.timings = timings
    }
}

/// FAILED: an exam could not be processed by this attempt.
public struct FailedMessage: Equatable, Sendable {
    /// The exam.
    public var exam: CaseID
    /// The attempt.
    public var attempt: UInt32
    /// Where it failed, e.g. `read`, `infer`, `chunk` (1...``WireProtocol/maxStageBytes``).
    public var stage: String
    /// Why, as a sentence naming the file or value (at most ``WireProtocol/maxReasonBytes``; use ``WireText/truncated(_:maxBytes:)``).
    public var reason: String

    /// A FAILED message.
    public init(exam: CaseID, attempt: UInt32, stage: String, reason: String) {
        self.exam = exam
        self.attempt = attempt
        self.stage = stage
        self.reason = reason
    }
}

/// CANCEL: the coordinator no longer wants an attempt; the worker stops it and sends nothing more for it.
public struct CancelMessage: Equatable, Sendable {
    /// The exam.
    public var exam: CaseID
    /// The attempt to abandon.
    public var attempt: UInt32
    /// Why (at most ``WireProtocol/maxReasonBytes``).
    public var reason: String

    /// A CANCEL message.
    public init(exam: CaseID, attempt: UInt32, reason: String) {
        self.exam = exam
        self.attempt = attempt
        self.reason = reason
    }
}

/// One worker's line in a STATUS reply.
public struct WorkerStatus: Equatable, Sendable {
    /// The worker's identifier.
    public var workerID: String
    /// Its human-readable name.
    public var workerName: String
    /// Advertised capacity.
    public var capacity: Int
    /// Jobs it currently holds.
    public var outstanding: Int
    /// Whether it announced a drain.
    public var draining: Bool

    /// A worker line.
    public init(workerID: String, workerName: String, capacity: Int, outstanding: Int, draining: Bool) {
        self.workerID = workerID
        self.workerName = workerName
        self.capacity = capacity
        self.outstanding = outstanding
        self.draining = draining
    }
}

/// STATUS reply: counts of exams by state and the live workers.
public struct StatusReply: Equatable, Sendable {
    /// Exams in the run.
    public var examsTotal: Int
    /// Exams completed.
    public var completed: Int
    /// Exams quarantined (in failures.csv).
    public var quarantined: Int
    /// Exams being processed.
    public var running: Int
    /// Exams waiting.
    public var pending: Int
    /// Exams finished (released or failed) per minute over the recent window (finite, ≥ 0).
    public var examsPerMinute: Double
    /// The window ``examsPerMinute`` was measured over, in seconds (shorter at the start of a run).
    public var windowSeconds: Double
    /// Seconds since the coordinator started serving.
    public var elapsedSeconds: Double
    /// Live workers, at most ``WireProtocol/maxStatusWorkers``.
    public var workers: [WorkerStatus]

    /// A status reply.
    public init(examsTotal: Int, completed: Int, quarantined: Int, running: Int, pending: Int,
                examsPerMinute: Double = 0, windowSeconds: Double = 0, elapsedSeconds: Double = 0, workers: [WorkerStatus]) {
        self.examsTotal = examsTotal
        self.completed = completed
        self.quarantined = quarantined
        self.running = running
        self.pending = pending
        self.examsPerMinute = examsPerMinute
        self.windowSeconds = windowSeconds
        self.elapsedSeconds = elapsedSeconds
        self.workers = workers
    }

    /// Seconds until the exams left (running and pending) are done at the current throughput;
    /// `nil` while nothing has finished in the window.
    public var etaSeconds: Double? {
        guard examsPerMinute > 0 else { return running + pending == 0 ? 0 : nil }
        return Double(running + pending) / examsPerMinute * 60
    }
}

/// One protocol message. Encode with ``encode()``; decode with ``decode(_:)``.
///
/// Frames (the ROUTER's routing-id envelope is not included; the shell adds/strips it):
/// `[ "HEMO"+version, type, fields, blob… ]`. See the WireProtocol article.
public enum WireMessage: Equatable, Sendable {
    /// READY.
    case ready(ReadyMessage)
    /// JOB.
    case job(JobMessage)
    /// HEARTBEAT.
    case heartbeat
    /// CHUNK.
    case chunk(Chunk)
    /// DONE.
    case done(DoneMessage)
    /// FAILED.
    case failed(FailedMessage)
    /// DISCONNECT with a reason (e.g. `drain`, `shutdown`, `unknown worker`).
    case disconnect(reason: String)
    /// STATUS request.
    case statusRequest
    /// STATUS reply.
    case statusReply(StatusReply)
    /// CANCEL.
    case cancel(CancelMessage)
    /// FILE.
    case file(FilePart)

    /// The message's type.
    public var type: MessageType {
        switch self {
        case .ready: .ready
        case .job: .job
        case .heartbeat: .heartbeat
        case .chunk: .chunk
        case .done: .done
        case .failed: .failed
        case .disconnect: .disconnect
        case .statusRequest: .statusRequest
        case .statusReply: .statusReply
        case .cancel: .cancel
        case .file: .file
        }
    }
}

/// Helpers for free text sent on the wire.
public enum WireText {
    /// `text` cut to at most `maxBytes` UTF-8 bytes at a character boundary.
    public static func truncated(_ text: String, maxBytes: Int) -> String {
        if text.utf8.count <= maxBytes { return text }
        var result = ""
        var used = 0
        for character in text {
            let n = character.utf8.count
            if used + n > maxBytes { break }
            result.append(character)
            used += n
        }
        return result
    }
}
