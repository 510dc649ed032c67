import HemoConcurrency
import Foundation
import HemoCore
import HemoPseudoLabel
import HemoRelease
import HemoScheduler
import HemoWire

/// What a coordinated run computes for every exam: the release `hemo build` writes, or the
/// pseudo-label release `hemo infer` writes with a model.
public enum ClusterTask: Sendable {
    /// Build the dataset release from the cohort's annotations (JOB kind `build`).
    case build
    /// Pseudo-label the cohort with this model (JOB kind `infer`, naming the model's SHA-256).
    /// Workers must hold the very same model and sidecar; the release records the model's provenance.
    case pseudoLabel(PseudoLabelModel)

    /// The FAILED stage by which a worker refuses a job it cannot run at all (it holds no model,
    /// or another model or sidecar): the attempt does not count against the exam, and the worker
    /// gets no more jobs of this kind until it sends READY again.
    public static let refusalStage = "model"

    /// The release kind written.
    public var releaseKind: ReleaseKind {
        switch self {
        case .build: .annotations
        case .pseudoLabel: .pseudoLabels
        }
    }

    /// The JOB kind sent for every exam.
    public var jobKind: JobKind {
        switch self {
        case .build: .build
        case .pseudoLabel(let model): .infer(modelSHA256: ModelIdentity.bytes(ofHex: model.sha256))
        }
    }

    /// What a worker must advertise to be given these jobs.
    public var requiredCapabilities: WorkerCapabilities {
        switch self {
        case .build: .build
        case .pseudoLabel: .infer
        }
    }

    /// Whether the release holds masks: false for a classifier-only model (``ReleaseOptions/writesMasks``).
    public var writesMasks: Bool {
        switch self {
        case .build: true
        case .pseudoLabel(let model): model.writesMasks
        }
    }

    /// The `model` object of `provenance.json` (`nil` for builds), exactly as `hemo infer` writes it.
    public var modelProvenance: JSONValue? {
        switch self {
        case .build: nil
        case .pseudoLabel(let model): model.provenance
        }
    }

    /// Text that must match for a restarted coordinator to resume from the journal: a journal
    /// written with another model (or sidecar) is not reused.
    public var resumeFingerprint: String {
        switch self {
        case .build: ""
        case .pseudoLabel(let model): "model \(model.sha256) sidecar \(model.sidecarSHA256)"
        }
    }

    /// The sidecar's SHA-256 that infer JOBs carry in their options (`nil` for builds).
    public var sidecarSHA256: String? {
        switch self {
        case .build: nil
        case .pseudoLabel(let model): model.sidecarSHA256
        }
    }

    /// Whether a JOB's inputs carry only the CT: inference never reads the annotations, so they
    /// are neither named nor shipped inline.
    /// What a worker that announced `models` in READY can do for this run: a worker that lists its
    /// models and holds neither this run's ONNX file nor its sidecar loses ``WorkerCapabilities/infer``,
    /// so it is never sent a job it would refuse. A worker that lists none is taken at its word.
    public func capabilities(_ advertised: WorkerCapabilities, models: [ModelDigests]) -> WorkerCapabilities {
        guard case .pseudoLabel(let model) = self, !models.isEmpty else { return advertised }
        let onnx = ModelIdentity.bytes(ofHex: model.sha256), sidecar = ModelIdentity.bytes(ofHex: model.sidecarSHA256)
        if models.contains(where: { $0.onnxSHA256 == onnx && $0.sidecarSHA256 == sidecar }) { return advertised }
        return advertised.subtracting(.infer)
    }

    var needsCTOnly: Bool {
        if case .pseudoLabel = self { return true }
        return false
    }
}

/// Where a worker's model for infer JOBs comes from.
public enum WorkerModelSource: Sendable {
    /// No model: the worker advertises build jobs only.
    case none
    /// hemo's bundled demonstration model, loaded when the first infer JOB arrives.
    case bundledDefault
    /// A model already loaded (e.g. `hemo worker --model PATH`, loaded at start so a bad path fails at once).
    case loaded(PseudoLabelModel)

    /// The models READY lists: the loaded model's digests, or the bundled model's (hashed from its
    /// files once per process, without loading it); none without a model or when the files cannot be read.
    var digests: [ModelDigests] {
        switch self {
        case .none: return []
        case .loaded(let m):
            return [ModelDigests(onnxSHA256: ModelIdentity.bytes(ofHex: m.sha256), sidecarSHA256: ModelIdentity.bytes(ofHex: m.sidecarSHA256))]
        case .bundledDefault:
            return Self.bundledDigests
        }
    }

    /// The bundled model's digests, computed on first use (thread-safe).
    private static let bundledDigests: [ModelDigests] = {
        guard let onnx = try? PseudoLabelModel.defaultONNXPath(),
              let a = try? Manifest.sha256(ofFile: onnx),
              let b = try? Manifest.sha256(ofFile: PseudoLabelModel.sidecarPath(for: onnx)) else { return [] }
        return [ModelDigests(onnxSHA256: ModelIdentity.bytes(ofHex: a), sidecarSHA256: ModelIdentity.bytes(ofHex: b))]
    }()

    /// The capabilities READY advertises.
    var capabilities: WorkerCapabilities {
        if case .none = self { return .build }
        return [.build, .infer]
    }
}

/// The model's identity on the wire: its SHA-256 as 32 bytes.
enum ModelIdentity {
    /// The 32 bytes of a 64-digit hex SHA-256 (zeros where a digit pair is not hex, which then
    /// matches no model).
    static func bytes(ofHex hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        guard digits.count == 64 else { return [UInt8](repeating: 0, count: 32) }
        return (0..<32).map { UInt8(String(decoding: digits[(2 * $0)..<(2 * $0 + 2)], as: UTF8.self), radix: 16) ?? 0 }
    }

    /// Lower-case hex of `bytes`.
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}

/// A worker's model, loaded once on first use and shared by its compute threads.
final class WorkerModel: Sendable {
    private let source: WorkerModelSource
    private let state = Locked<Result<PseudoLabelModel, ModelLoadError>?>(nil)

    init(_ source: WorkerModelSource) {
        self.source = source
        if case .loaded(let model) = source { state.withLock { $0 = .success(model) } }
    }

    /// The model for an infer JOB that names `sha256` and sidecar `sidecarSHA256`.
    /// - Throws: ``CaseFailure`` (stage `model`) when this worker has no model, it cannot be loaded,
    ///   or it is not the model the JOB names.
    func model(sha256 expected: String, sidecarSHA256 expectedSidecar: String?) throws(CaseFailure) -> PseudoLabelModel {
        // Loading happens under the lock: two compute threads never load the model twice.
        let loaded: Result<PseudoLabelModel, ModelLoadError>? = state.withLock { current in
            if current == nil, case .bundledDefault = source {
                current = Result { () throws(ModelLoadError) -> PseudoLabelModel in try PseudoLabelModel.loadDefault() }
            }
            return current
        }
        guard let loaded else {
            throw CaseFailure(stage: ClusterTask.refusalStage, reason: "this worker was started without a model and takes build jobs only")
        }
        let model: PseudoLabelModel
        switch loaded {
        case .success(let m): model = m
        case .failure(let e): throw CaseFailure(stage: ClusterTask.refusalStage, reason: "this worker cannot load its model: \(e)")
        }
        guard model.sha256 == expected else {
            throw CaseFailure(stage: ClusterTask.refusalStage, reason: "the job asks for the model with SHA-256 \(expected); this worker holds \(model.fileName) with SHA-256 \(model.sha256) (start it with --model naming the coordinator's model)")
        }
        if let expectedSidecar, model.sidecarSHA256 != expectedSidecar {
            throw CaseFailure(stage: ClusterTask.refusalStage, reason: "the job's model sidecar has SHA-256 \(expectedSidecar); this worker's \(URL(fileURLWithPath: model.sidecarPath).lastPathComponent) has \(model.sidecarSHA256) (same model, other pre- or post-processing settings)")
        }
        return model
    }
}
