import Foundation
import HemoCore
import HemoInference
import HemoRelease

/// An ONNX segmentation model with its sidecar, loaded once and shared by every exam and thread.
///
/// Loading reads both files, checks the sidecar against the graph (names, channels, sizes and one
/// probe run) and hashes both files for provenance.
public final class PseudoLabelModel: Sendable {
    /// The ONNX file.
    public let onnxPath: String
    /// The sidecar file.
    public let sidecarPath: String
    /// The loaded graph.
    public let onnx: ONNXModel
    /// The pre- and post-processing rules.
    public let sidecar: ModelSidecar
    /// Hex SHA-256 of the ONNX file: the model's identity in provenance and cluster jobs.
    public let sha256: String
    /// Hex SHA-256 of the sidecar.
    public let sidecarSHA256: String
    /// Slices per model run. Fixed, so the bytes never depend on the thread count.
    public static let batchSize = 8

    /// Loads `onnxPath` and its sidecar (`sidecarPath`, default: the same path with `.json`).
    /// - Throws: ``ModelLoadError`` naming the file and the mismatch.
    public init(onnxPath: String, sidecarPath: String? = nil) throws(ModelLoadError) {
        guard FileManager.default.isReadableFile(atPath: onnxPath) else {
            throw ModelLoadError(path: onnxPath, reason: "no such model file (or it cannot be read)")
        }
        let sidecarPath = sidecarPath ?? Self.sidecarPath(for: onnxPath)
        self.onnxPath = onnxPath
        self.sidecarPath = sidecarPath
        let sidecar = try ModelSidecar.load(path: sidecarPath)
        do { onnx = try ONNXModel(path: onnxPath) } catch {
            throw ModelLoadError(path: onnxPath, reason: "cannot load the model: \(error)")
        }
        try sidecar.validate(against: onnx, sidecarPath: sidecarPath)
        self.sidecar = sidecar
        do {
            sha256 = try Manifest.sha256(ofFile: onnxPath)
            sidecarSHA256 = try Manifest.sha256(ofFile: sidecarPath)
        } catch {
            throw ModelLoadError(path: onnxPath, reason: "cannot be hashed: \(error)")
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

    /// The model's file name (no folder): provenance never depends on where the model sits.
    public var fileName: String { URL(fileURLWithPath: onnxPath).lastPathComponent }

    /// The `model` object of `provenance.json`: file, SHA-256s and every setting that shapes the output.
    public var provenance: JSONValue {
        let s = sidecar
        return .object([
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
