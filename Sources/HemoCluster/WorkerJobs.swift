import Foundation
import HemoCore
import HemoPseudoLabel
import HemoRelease
import HemoWire

/// The job functions the compute threads run: pure of the worker's I/O (a JOB in, encoded messages out).
extension ClusterWorker {
    /// Runs one JOB and returns the encoded messages to send (results then DONE, or FAILED; none
    /// when it was cancelled). One function per job kind.
    static func process(_ job: JobMessage, _ context: JobContext) -> [[[UInt8]]] {
        func failed(_ stage: String, _ reason: String) -> [[[UInt8]]] {
            let f = FailedMessage(exam: job.exam, attempt: job.attempt, stage: String(stage.prefix(WireProtocol.maxStageBytes)),
                           reason: WireText.truncated(reason, maxBytes: WireProtocol.maxReasonBytes))
            return [(try? WireMessage.failed(f).encode()) ?? []].filter { !$0.isEmpty }
        }
        do {
            let messages: [WireMessage]
            switch job.kind {
            case .build:
                messages = try buildJob(job, context)
            case .infer(let sha):
                messages = try inferJob(job, modelSHA256: ModelIdentity.hex(sha), context)
            }
            return try messages.map { try $0.encode() }
        } catch is CancellationError {
            return [] // cancelled by the coordinator while it ran: nothing to send
        } catch let f as CaseFailure {
            return failed(f.stage, f.reason)
        } catch let e as ClusterError {
            return failed("transfer", e.description)
        } catch {
            context.log("exam \(job.exam) attempt \(job.attempt): \(error)")
            return failed("worker", "\(error)")
        }
    }

    /// A build JOB: the exam's pipeline, then its bitmask as CHUNKs, its CT as FILEs when the
    /// options change its grid, and DONE with the record. Returns no message once cancelled (checked
    /// between stages).
    static func buildJob(_ job: JobMessage, _ context: JobContext) throws -> [WireMessage] {
        try withInputs(of: job, context) { cohortCase, options in
            var times = StageTimes()
            let product = try CasePipeline.run(cohortCase, options: options.options, threads: context.threads, times: &times)
            if context.isCancelled() { return [] }
            return try ResultEncoding.messages(product: product, attempt: job.attempt, options: options.options, times: &times)
        }
    }

    /// An infer JOB: `hemo infer`'s per-exam function with this worker's model, which must be the
    /// one the JOB names (ONNX and sidecar SHA-256), then the pseudo-label bitmask as CHUNKs, the
    /// CT as FILEs when the options change its grid, and DONE (whose record carries the slice
    /// probabilities and box scores).
    static func inferJob(_ job: JobMessage, modelSHA256: String, _ context: JobContext) throws -> [WireMessage] {
        try withInputs(of: job, context) { cohortCase, options in
            let model = try context.model.model(sha256: modelSHA256, sidecarSHA256: options.sidecarSHA256)
            var times = StageTimes()
            let (product, record) = try PseudoLabelPipeline.run(cohortCase, model: model, options: options.options,
                                                                threads: context.threads, times: &times,
                                                                isCancelled: context.isCancelled)
            if context.isCancelled() { return [] }
            return try ResultEncoding.messages(product: product, record: record, attempt: job.attempt,
                                               options: options.options, times: &times)
        }
    }

    /// Decodes the JOB's options and materialises its inputs (inline files into a private folder,
    /// removed afterwards), then runs `body`; returns no message when the job was cancelled first.
    private static func withInputs(of job: JobMessage, _ context: JobContext,
                                   _ body: (CohortCase, (options: ReleaseOptions, sidecarSHA256: String?)) throws -> [WireMessage]) throws -> [WireMessage] {
        var folder: String?
        defer { if let folder { try? FileManager.default.removeItem(atPath: folder) } }
        if context.isCancelled() { return [] }
        let options = try JobOptionsCoding.decodeWithSidecar(job.options, exam: job.exam)
        if case .inline = job.inputs {
            folder = context.scratch + "/hemo-job-\(job.exam.rawValue)-\(job.attempt)-\(UUID().uuidString)"
        }
        let cohortCase = try ExamInputs.materialize(exam: job.exam, inputs: job.inputs, scratch: folder ?? context.scratch)
        return try body(cohortCase, options)
    }
}

/// What a job function needs besides its JOB.
struct JobContext: Sendable {
    /// CPU threads for this job.
    var threads: Int
    /// Where inline inputs go (a folder per job inside it).
    var scratch: String
    /// The worker's model for infer JOBs.
    var model: WorkerModel
    /// Log lines.
    var log: @Sendable (String) -> Void
    /// Whether the coordinator cancelled this attempt (checked between stages, and between batches
    /// of slices during inference).
    var isCancelled: @Sendable () -> Bool
}

/// A worker's job counts.
public struct WorkerCounters: Sendable, Equatable {
    /// JOBs received.
    public var received = 0
    /// Jobs finished whose results were sent (DONE or FAILED).
    public var finished = 0
    /// Jobs dropped because the coordinator cancelled them.
    public var cancelled = 0
    /// Times the coordinator fell silent past the liveness limit and the worker reconnected.
    public var reconnections = 0

    /// Counts.
    public init(received: Int = 0, finished: Int = 0, cancelled: Int = 0, reconnections: Int = 0) {
        self.received = received
        self.finished = finished
        self.cancelled = cancelled
        self.reconnections = reconnections
    }
}
