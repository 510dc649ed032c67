import Foundation
import HemoCore
import HemoInference
import HemoRelease

/// An ONNX segmentation model (or a format-3 ensemble) with its sidecar, loaded once and shared
/// by every exam and thread.
///
/// Loading reads the files, checks the sidecar against the graphs (names, channels, sizes and one
/// probe run) and hashes every file for provenance. A model is `MODEL.onnx` with `MODEL.json`
/// beside it (formats 1–3), or a folder holding `model.json` (format 3, e.g. written by
/// `hemo model import nnunet`) and the ONNX files it lists.
public final class PseudoLabelModel: Sendable {
    /// The rules of one of the sidecar formats.
    public enum Rules: Sendable {
        /// Formats 1 and 2: 2-D slices resized to a fixed input.
        case slices(ModelSidecar)
        /// Format 3: sliding windows at a target spacing, possibly an ensemble.
        case volumetric(VolumetricSidecar)
    }

    /// The ONNX file, or the model folder (format 3).
    public let onnxPath: String
    /// The sidecar file.
    public let sidecarPath: String
    /// The loaded graphs: one, or the members of an ensemble in the sidecar's order.
    public let onnxModels: [ONNXModel]
    /// The pre- and post-processing rules.
    public let rules: Rules
    /// Hex SHA-256 of the ONNX file, or for format 3 ``VolumetricSidecar/ensembleDigest`` (which names
    /// every ONNX file's digest, each checked at load): the model's identity in provenance and jobs.
    public let sha256: String
    /// Hex SHA-256 of the sidecar.
    public let sidecarSHA256: String
    /// Slices per model run (formats 1–2). Fixed, so the bytes never depend on the thread count.
    public static let batchSize = 8

    /// The most activation memory one network may plan for the whole-exam batch of a model with an
    /// exam-level output (all of an exam's slices in one run), and where that figure came from.
    ///
    /// `HEMO_EXAM_BATCH_MEMORY_MB` sets it in MiB; otherwise it is half of this machine's physical
    /// memory. An exam over the cap fails with a ``CaseFailure`` naming the planned and allowed
    /// MiB, before any of its slices runs, and the run goes on with the other exams.
    public static let examBatchMemoryLimit: (bytes: Int, source: String) = {
        let name = "HEMO_EXAM_BATCH_MEMORY_MB"
        let text = ProcessInfo.processInfo.environment[name]
        if let text, let mib = Int(text), mib > 0, mib <= Int.max / 1_048_576 {
            return (mib * 1_048_576, "\(name)=\(mib)")
        }
        let physical = ProcessInfo.processInfo.physicalMemory
        let half = Int(min(physical / 2, UInt64(Int.max)))
        let ignored = text.map { "\(name)=\($0) is not a positive number of MiB, so " } ?? ""
        return (half, ignored + "half of this machine's \(physical / 1_048_576) MiB; set \(name) to change it")
    }()
    /// The sidecar's name inside a model folder.
    public static let folderSidecarName = "model.json"

    /// The format 1–2 sidecar, or nil for a format-3 model.
    public var sidecar: ModelSidecar? {
        if case .slices(let s) = rules { return s }
        return nil
    }

    /// Loads `onnxPath` (an ONNX file, or a model folder) and its sidecar (`sidecarPath`, default:
    /// `model.json` in a folder, else the same path with `.json`).
    /// - Throws: ``ModelLoadError`` naming the file and the mismatch.
    public init(onnxPath: String, sidecarPath: String? = nil) throws(ModelLoadError) {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: onnxPath, isDirectory: &isFolder) else {
            throw ModelLoadError(path: onnxPath, reason: "no such model file or folder")
        }
        if !isFolder.boolValue, !FileManager.default.isReadableFile(atPath: onnxPath) {
            throw ModelLoadError(path: onnxPath, reason: "the model file cannot be read")
        }
        let sidecarPath = sidecarPath ?? (isFolder.boolValue
            ? URL(fileURLWithPath: onnxPath).appendingPathComponent(Self.folderSidecarName).path
            : Self.sidecarPath(for: onnxPath))
        self.onnxPath = onnxPath
        self.sidecarPath = sidecarPath
        let document = try SidecarDocument.load(path: sidecarPath)
        switch document {
        case .slices(let sidecar):
            guard !isFolder.boolValue else {
                throw ModelLoadError(path: sidecarPath, reason: "a model folder needs a format-3 sidecar (format_version 3); this one is format \(sidecar.formatVersion)")
            }
            let onnx: ONNXModel
            do { onnx = try ONNXModel(path: onnxPath) } catch {
                throw ModelLoadError(path: onnxPath, reason: "cannot load the model: \(error)")
            }
            try sidecar.validate(against: onnx, sidecarPath: sidecarPath)
            onnxModels = [onnx]
            rules = .slices(sidecar)
            do { sha256 = try Manifest.sha256(ofFile: onnxPath) } catch {
                throw ModelLoadError(path: onnxPath, reason: "cannot be hashed: \(error)")
            }
        case .volumetric(let sidecar):
            let folder = URL(fileURLWithPath: sidecarPath).deletingLastPathComponent()
            if !isFolder.boolValue, sidecar.networks.map(\.file) != [URL(fileURLWithPath: onnxPath).lastPathComponent] {
                throw ModelLoadError(path: sidecarPath, reason: "the sidecar of \(URL(fileURLWithPath: onnxPath).lastPathComponent) lists \(sidecar.networks.map(\.file).joined(separator: ", ")); pass the model folder instead")
            }
            var models: [ONNXModel] = []
            for network in sidecar.networks {
                let path = folder.appendingPathComponent(network.file).path
                guard FileManager.default.isReadableFile(atPath: path) else {
                    throw ModelLoadError(path: path, reason: "listed in \(sidecarPath) but missing or unreadable")
                }
                let digest: String
                do { digest = try Manifest.sha256(ofFile: path) } catch {
                    throw ModelLoadError(path: path, reason: "cannot be hashed: \(error)")
                }
                guard digest == network.sha256 else {
                    throw ModelLoadError(path: path, reason: "has SHA-256 \(digest) but \(sidecarPath) expects \(network.sha256) (re-run `hemo model import`, or fix the sidecar)")
                }
                let onnx: ONNXModel
                do { onnx = try ONNXModel(path: path) } catch {
                    throw ModelLoadError(path: path, reason: "cannot load the model: \(error)")
                }
                try sidecar.validate(against: onnx, file: network.file, sidecarPath: sidecarPath)
                models.append(onnx)
            }
            onnxModels = models
            rules = .volumetric(sidecar)
            sha256 = sidecar.ensembleDigest
        }
        do { sidecarSHA256 = try Manifest.sha256(ofFile: sidecarPath) } catch {
            throw ModelLoadError(path: sidecarPath, reason: "cannot be hashed: \(error)")
        }
    }

    /// The default model shipped with hemo (`hemo-default.onnx`, a demonstration trained on synthetic data).
    public static func loadDefault() throws(ModelLoadError) -> PseudoLabelModel {
        let path: String
        do { path = try DefaultModelFiles.onnxPath() } catch { throw ModelLoadError(path: DefaultModelFiles.stem + ".onnx", reason: error.description) }
        return try PseudoLabelModel(onnxPath: path)
    }

    /// The bundled default model's ONNX file (its sidecar is ``sidecarPath(for:)``), without loading it.
    public static func defaultONNXPath() throws(ModelLoadError) -> String {
        do { return try DefaultModelFiles.onnxPath() } catch { throw ModelLoadError(path: DefaultModelFiles.stem + ".onnx", reason: error.description) }
    }

    /// `MODEL.json` for `MODEL.onnx`.
    public static func sidecarPath(for onnxPath: String) -> String {
        let url = URL(fileURLWithPath: onnxPath)
        return url.pathExtension == "onnx" ? url.deletingPathExtension().appendingPathExtension("json").path : onnxPath + ".json"
    }

    /// Whether the model's releases hold masks: false for a classifier-only format-3 model, whose
    /// releases hold slice and patient labels with probabilities and no masks, boxes or lesions.
    public var writesMasks: Bool {
        if case .volumetric(let s) = rules { return !s.isClassifierOnly }
        return true
    }

    /// Whether the model gives per-voxel probabilities for `--probabilities` maps: formats 1–2 and
    /// format-3 sliding-window models do; whole-slice and classifier-only format-3 models
    /// (`input.size`) do not.
    public var givesProbabilityMaps: Bool {
        if case .volumetric(let s) = rules { return !s.isWholeSlice }
        return true
    }

    /// The model's file name (no folder): provenance never depends on where the model sits.
    public var fileName: String { URL(fileURLWithPath: onnxPath).lastPathComponent }

    /// The `model` object of `provenance.json`: file, SHA-256s and every setting that shapes the output.
    public var provenance: JSONValue {
        switch rules {
        case .slices(let s): return slicesProvenance(s)
        case .volumetric(let s): return volumetricProvenance(s)
        }
    }

    private func slicesProvenance(_ s: ModelSidecar) -> JSONValue {
        .object([
            ("file", .string(fileName)),
            ("sha256", .string(sha256)),
            ("sidecar_sha256", .string(sidecarSHA256)),
            ("sidecar_format_version", .int(s.formatVersion)),
            ("input", .object([
                ("name", .string(s.inputName)), ("height", .int(s.height)), ("width", .int(s.width)),
                ("channels", .array(s.channels.map {
                    .object([("name", .string($0.name)), ("window_width", .number(Double($0.width), decimals: 3)),
                             ("window_level", .number(Double($0.level), decimals: 3))])
                })),
            ])),
            ("outputs", .object([("segmentation", .string(s.segmentationOutput)), ("classification", .string(s.classificationOutput))])),
            ("postprocess", .object([
                ("resize", .string("bilinear half-pixel (HU before windowing; logits back to the CT grid)")),
                ("decision", .string("argmax, ties to the lowest class")),
                ("min_component_pixels", .object(Subtype.allCases.map { ($0.name, .int(s.filter.minimumPixels[$0] ?? 0)) })),
                ("min_lesion_voxels", .object(Subtype.allCases.map { ($0.name, .int(s.filter.minimumLesionVoxels[$0] ?? 0)) })),
                ("min_component_score", .number(s.filter.minimumScore, decimals: 4)),
                ("min_slice_p_any", .number(s.filter.minimumSliceProbability, decimals: 4)),
            ])),
            ("batch_size", .int(Self.batchSize)),
        ])
    }
}

extension PseudoLabelModel {
    /// The `outputs.classification` object of a format-3 model's provenance.
    fileprivate static func classificationProvenance(_ c: VolumetricSidecar.Classification, level: String = "slice") -> JSONValue {
        .object([
            ("name", .string(c.output)), ("level", .string(level)), ("activation", .string(c.activation.rawValue)),
            ("channels", .array(c.channels.map { .string($0) })),
            ("thresholds", .object(zip(["any"] + Subtype.allCases.map(\.name), c.thresholds).map { ($0, .number($1, decimals: 6)) })),
        ])
    }

    /// The `model` object of `provenance.json` for a format-3 model.
    fileprivate func volumetricProvenance(_ s: VolumetricSidecar) -> JSONValue {
        let intensity: JSONValue
        switch s.intensity {
        case .windows(let channels):
            intensity = .object([("kind", .string("windows")), ("channels", .array(channels.map {
                .object([("name", .string($0.name)), ("window_width", .number(Double($0.width), decimals: 3)),
                         ("window_level", .number(Double($0.level), decimals: 3))])
            }))])
        case .nnUNetCT(let lower, let upper, let mean, let std):
            intensity = .object([("kind", .string("nnunet_ct")), ("clip_lower", .number(Double(lower), decimals: 4)),
                                 ("clip_upper", .number(Double(upper), decimals: 4)), ("mean", .number(Double(mean), decimals: 4)),
                                 ("std", .number(Double(std), decimals: 4))])
        case .zScore:
            intensity = .object([("kind", .string("zscore"))])
        }
        // Keys added for 2.5-D and classifier models appear only for them, so every other model's
        // provenance keeps its bytes.
        let stacked: [(String, JSONValue)] = s.shape == .stacked ? [("slices", .int(s.neighbours))] : []
        let whole: [(String, JSONValue)] = s.inputSize.map { size in [("size", .array(size.map { .int($0) }))] } ?? []
        // A model with an exam-level output: that output, and the batch (the whole exam), appear only for it.
        let examOutput: [(String, JSONValue)] = s.examClassification.map { c in
            [("exam_classification", Self.classificationProvenance(c, level: "exam"))]
        } ?? []
        let batch: [(String, JSONValue)] = s.examClassification == nil ? [("batch_size", .int(Self.batchSize))] : [("batch", .string("exam"))]
        let classification: [(String, JSONValue)] = s.classification.map { c in [("classification", Self.classificationProvenance(c))] } ?? []
        // The files that make the model: the same keys, in the same order, for every format-3 model.
        let files: [(String, JSONValue)] = [
            ("file", .string(fileName)),
            ("sha256", .string(sha256)),
            ("sidecar_sha256", .string(sidecarSHA256)),
            ("sidecar_format_version", .int(3)),
            ("networks", .array(s.networks.map { .object([("file", .string($0.file)), ("sha256", .string($0.sha256))]) })),
            ("ensemble", .string(s.ensemble.rawValue)),
        ]
        if let c = s.classification, let size = s.inputSize, s.isClassifierOnly {
            return .object(files + [
                ("input", .object([("name", .string(s.inputName)), ("shape", .string(s.shape.rawValue))] + stacked + [
                    ("size", .array(size.map { .int($0) })),
                    ("resize", .string("bilinear half-pixel (HU before windowing)")),
                    ("intensity", intensity),
                ])),
                ("outputs", .object([("classification", Self.classificationProvenance(c))] + examOutput)),
                ("masks", .string(ReleaseFormat.noMasks)),
            ] + batch)
        }
        return .object(files + [
            ("input", .object([
                ("name", .string(s.inputName)), ("shape", .string(s.shape.rawValue))] + stacked + whole + [
                ("spacing", s.spacing.map { .array($0.map { .number($0, decimals: 6) }) } ?? .null),
                ("resampling", .object([("image", .string(s.imageResampling.rawValue)), ("logits", .string(s.logitResampling.rawValue)),
                                        ("separate_z", .bool(s.separateZ))])),
                ("crop_to_nonzero", .bool(s.cropToNonzero)),
                ("intensity", intensity),
            ])),
            ("tiling", .object([
                ("patch", .array(s.patch.map { .int($0) })), ("step", .number(s.step, decimals: 4)),
                ("gaussian_sigma", s.gaussianSigma.map { .number($0, decimals: 6) } ?? .null),
                ("mirror_axes", .array(s.mirrorAxes.map { .int($0) })),
            ])),
            ("outputs", .object([("segmentation", .string(s.segmentationOutput)), ("activation", .string(s.activation.rawValue)),
                                 ("channel_labels", .array(s.channelLabels.map { .int($0) }))] + classification + examOutput)),
            ("postprocess", .object([
                ("min_component_pixels", .object(Subtype.allCases.map { ($0.name, .int(s.filter.minimumPixels[$0] ?? 0)) })),
                ("min_lesion_voxels", .object(Subtype.allCases.map { ($0.name, .int(s.filter.minimumLesionVoxels[$0] ?? 0)) })),
                ("min_component_score", .number(s.filter.minimumScore, decimals: 4)),
                ("min_slice_p_any", .number(s.filter.minimumSliceProbability, decimals: 4)),
            ])),
        ])
    }
}
