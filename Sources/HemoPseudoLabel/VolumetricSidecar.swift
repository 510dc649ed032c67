import Foundation
import HemoCore
import HemoInference

/// A format-3 sidecar (`model.json` of a model folder, or `MODEL.json` beside one ONNX file): a
/// network or an ensemble run by sliding windows over 2-D slices or 3-D patches at a target spacing,
/// as nnU-Net predicts. Documented in the HemoInference catalogue, article "The model sidecar".
public struct VolumetricSidecar: Sendable, Equatable {
    /// What one network sees.
    public enum InputShape: String, Sendable, Equatable {
        /// 2-D patches of one slice (`[N, C, y, x]`).
        case slices = "2d"
        /// 3-D patches (`[N, C, z, y, x]`).
        case volume = "3d"
    }

    /// How the networks of an ensemble are combined.
    public enum EnsembleRule: String, Sendable, Equatable {
        /// Mean of the networks' logits on the model grid, before resampling (nnU-Net's folds).
        case meanLogits = "mean_logits"
        /// Mean of the networks' probabilities after resampling and the activation.
        case meanProbabilities = "mean_probabilities"
    }

    /// How the segmentation channels become labels.
    public enum Activation: String, Sendable, Equatable {
        /// Softmax over the channels, label = argmax (ties to the lowest channel). nnU-Net's labels.
        case softmax
        /// Sigmoid per channel (nnU-Net's regions); the label is set channel by channel in
        /// `region_order` wherever the probability exceeds 0.5, later channels winning.
        case sigmoid
    }

    /// One ONNX file of the model.
    public struct Network: Sendable, Equatable {
        /// File name, relative to the sidecar's folder.
        public var file: String
        /// Its expected hex SHA-256 (checked at load).
        public var sha256: String
    }

    /// The ONNX files (one, or an ensemble).
    public var networks: [Network]
    /// How the ensemble's members are combined.
    public var ensemble: EnsembleRule
    /// The graph input to feed.
    public var inputName: String
    /// 2-D or 3-D patches.
    public var shape: InputShape
    /// Target spacing in mm along (z, y, x) = (NIfTI k, j, i); `nil` keeps the CT's spacing.
    /// For 2-D models only y and x are resampled.
    public var spacing: [Double]?
    /// Per-axis interpolation of the CT to the target spacing and of the logits back.
    public var imageResampling: GridResize.AxisRule
    /// Interpolation of the logits back to the CT grid.
    public var logitResampling: GridResize.AxisRule
    /// Apply nnU-Net's separate-z rule (nearest along an anisotropic axis).
    public var separateZ: Bool
    /// Crop to the box of non-zero voxels first (nnU-Net's `crop_to_nonzero`); outside, background.
    public var cropToNonzero: Bool
    /// The intensity step.
    public var intensity: IntensityNormalization
    /// Patch size along (z, y, x) or (y, x).
    public var patch: [Int]
    /// Step as a fraction of the patch (nnU-Net: 0.5).
    public var step: Double
    /// Gaussian importance weighting σ as a fraction of the patch (nnU-Net: 1/8); `nil`: uniform.
    public var gaussianSigma: Double?
    /// Mirror axes for test-time augmentation, indices into `patch`; empty: none.
    public var mirrorAxes: [Int]
    /// Round the weighted sums, the weights and the averaged logits to IEEE half precision, as
    /// nnU-Net v2's predictor does (`tiling.accumulation: "float16"`); otherwise float32.
    public var halfPrecisionAccumulation: Bool = false
    /// The graph output holding the segmentation logits.
    public var segmentationOutput: String
    /// How channels become labels.
    public var activation: Activation
    /// Per channel, the label value written for it (0 background, 1…5 EPH…IVH); channels of other
    /// classes map to 0.
    public var channelLabels: [UInt8]
    /// For ``Activation/sigmoid``, the channel order in which labels are set.
    public var regionOrder: [Int]
    /// Component filter applied after the argmax (as format 2).
    public var filter: ComponentFilter

    /// Reads a format-3 sidecar object (already known to carry `format_version` 3); `path` names it in errors.
    public static func parse(_ root: [String: Any], path: String) throws(ModelLoadError) -> VolumetricSidecar {
        func fail(_ reason: String) -> ModelLoadError { ModelLoadError(path: path, reason: reason) }
        func number(_ v: Any?) -> Double? { (v as? NSNumber)?.doubleValue }
        guard let rawNetworks = root["networks"] as? [[String: Any]], !rawNetworks.isEmpty else {
            throw fail("\"networks\" must list at least one {\"file\", \"sha256\"}")
        }
        var networks: [Network] = []
        for (n, entry) in rawNetworks.enumerated() {
            guard let file = entry["file"] as? String, !file.isEmpty, !file.contains("/"), !file.hasPrefix(".") else {
                throw fail("\"networks[\(n)].file\" must be a file name in the sidecar's folder")
            }
            guard let sha = entry["sha256"] as? String, sha.count == 64, sha.allSatisfy(\.isHexDigit) else {
                throw fail("\"networks[\(n)].sha256\" must be 64 hex digits")
            }
            networks.append(Network(file: file, sha256: sha.lowercased()))
        }
        let ensembleName = root["ensemble"] as? String ?? EnsembleRule.meanLogits.rawValue
        guard let ensemble = EnsembleRule(rawValue: ensembleName) else {
            throw fail("\"ensemble\" \(ensembleName) is not one of mean_logits, mean_probabilities")
        }
        guard let input = root["input"] as? [String: Any] else { throw fail("no \"input\" object") }
        guard let inputName = input["name"] as? String, !inputName.isEmpty else { throw fail("\"input.name\" is missing") }
        let shapeName = input["shape"] as? String ?? ""
        guard let shape = InputShape(rawValue: shapeName) else {
            throw fail("\"input.shape\" \(shapeName.isEmpty ? "missing" : shapeName) is not supported; use \"2d\" or \"3d\"")
        }
        let dims = shape == .volume ? 3 : 2
        var spacing: [Double]? = nil
        if let raw = input["spacing"], !(raw is NSNull) {
            guard let values = (raw as? [Any])?.compactMap(number), values.count == 3, values.allSatisfy({ $0 > 0 && $0.isFinite }) else {
                throw fail("\"input.spacing\" must be three positive millimetre values (z, y, x) or null")
            }
            spacing = values
        }
        let resampling = input["resampling"] as? [String: Any] ?? [:]
        func rule(_ key: String) throws(ModelLoadError) -> GridResize.AxisRule {
            let name = resampling[key] as? String ?? "linear"
            guard let r = GridResize.AxisRule(rawValue: name) else {
                throw fail("\"input.resampling.\(key)\" \(name) is not supported; use \"linear\", \"cubic\" or \"nearest\"")
            }
            return r
        }
        let imageResampling = try rule("image"), logitResampling = try rule("logits")
        let separateZ = resampling["separate_z"] as? Bool ?? false
        let cropToNonzero = input["crop_to_nonzero"] as? Bool ?? false
        guard let norm = input["intensity"] as? [String: Any], let kind = norm["kind"] as? String else {
            throw fail("\"input.intensity\" needs a \"kind\": windows, nnunet_ct or zscore")
        }
        let intensity: IntensityNormalization
        switch kind {
        case "windows":
            guard let raw = norm["channels"] as? [[String: Any]], !raw.isEmpty else {
                throw fail("\"input.intensity.channels\" must list at least one window")
            }
            var channels: [WindowChannel] = []
            for (n, c) in raw.enumerated() {
                guard let w = number(c["window_width"]), let l = number(c["window_level"]), w > 0, w.isFinite, l.isFinite else {
                    throw fail("\"input.intensity.channels[\(n)]\" needs a positive \"window_width\" and a \"window_level\"")
                }
                channels.append(WindowChannel(name: c["name"] as? String ?? "channel\(n)", width: Float(w), level: Float(l)))
            }
            intensity = .windows(channels)
        case "nnunet_ct":
            guard let lo = number(norm["clip_lower"]), let hi = number(norm["clip_upper"]), let mean = number(norm["mean"]),
                  let std = number(norm["std"]), lo <= hi, std >= 0, [lo, hi, mean, std].allSatisfy(\.isFinite) else {
                throw fail("\"input.intensity\" nnunet_ct needs \"clip_lower\" ≤ \"clip_upper\", \"mean\" and \"std\" ≥ 0")
            }
            intensity = .nnUNetCT(lower: Float(lo), upper: Float(hi), mean: Float(mean), std: Float(std))
        case "zscore":
            intensity = .zScore
        default:
            throw fail("\"input.intensity.kind\" \(kind) is not supported; use windows, nnunet_ct or zscore")
        }
        guard let tiling = root["tiling"] as? [String: Any] else { throw fail("no \"tiling\" object") }
        guard let patch = (tiling["patch"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }), patch.count == dims,
              patch.allSatisfy({ $0 >= 1 && $0 <= 1024 }) else {
            throw fail("\"tiling.patch\" must be \(dims) sizes in 1...1024 for input shape \(shape.rawValue)")
        }
        let step = number(tiling["step"]) ?? 0.5
        guard step > 0, step <= 1 else { throw fail("\"tiling.step\" must be in (0, 1]") }
        var gaussianSigma: Double? = 1.0 / 8
        if let g = tiling["gaussian_sigma"] {
            if g is NSNull { gaussianSigma = nil } else {
                guard let s = number(g), s > 0, s.isFinite else { throw fail("\"tiling.gaussian_sigma\" must be positive or null") }
                gaussianSigma = s
            }
        }
        let mirror = (tiling["mirror_axes"] as? [Any])?.compactMap { ($0 as? NSNumber)?.intValue } ?? []
        guard mirror.allSatisfy({ (0..<dims).contains($0) }), Set(mirror).count == mirror.count else {
            throw fail("\"tiling.mirror_axes\" must be distinct axes in 0..<\(dims)")
        }
        let accumulation = tiling["accumulation"] as? String ?? "float32"
        guard accumulation == "float32" || accumulation == "float16" else {
            throw fail("\"tiling.accumulation\" \(accumulation) is not float32 or float16")
        }
        guard let outputs = root["outputs"] as? [String: Any], let seg = outputs["segmentation"] as? [String: Any] else {
            throw fail("\"outputs.segmentation\" is missing (format 3 models must have a segmentation output)")
        }
        guard let segName = seg["name"] as? String, !segName.isEmpty else { throw fail("\"outputs.segmentation.name\" is missing") }
        let activationName = seg["activation"] as? String ?? "softmax"
        guard let activation = Activation(rawValue: activationName) else {
            throw fail("\"outputs.segmentation.activation\" \(activationName) is not softmax or sigmoid")
        }
        guard let classes = seg["channels"] as? [String], !classes.isEmpty else {
            throw fail("\"outputs.segmentation.channels\" must name every output channel (background, EPH, …, or other names)")
        }
        let channelLabels = classes.map { name in Subtype.allCases.first { $0.name == name }?.labelValue ?? 0 }
        if activation == .softmax, classes.first != "background" {
            throw fail("\"outputs.segmentation.channels\" of a softmax output must start with \"background\"")
        }
        guard channelLabels.contains(where: { $0 != 0 }) else {
            throw fail("\"outputs.segmentation.channels\" names none of EPH, SDH, SAH, IPH, IVH; map the labels with --label-map")
        }
        var regionOrder = Array(classes.indices)
        if let order = seg["region_order"] as? [Any] {
            regionOrder = order.compactMap { ($0 as? NSNumber)?.intValue }
            guard regionOrder.count == order.count, regionOrder.allSatisfy({ classes.indices.contains($0) }) else {
                throw fail("\"outputs.segmentation.region_order\" must list channel indices")
            }
        }
        if outputs["classification"] != nil {
            throw fail("\"outputs.classification\" is not supported by this hemo for format 3 (segmentation models only)")
        }
        var filter = ComponentFilter.none
        if let post = root["postprocess"] as? [String: Any], let f = post["filter"] as? [String: Any] {
            // Same keys as format 2; parsed by the format-2 reader for one rule set.
            let wrapped: [String: Any] = ["format": ModelSidecar.formatName, "format_version": 2, "postprocess": ["filter": f]]
            filter = try ModelSidecar.parseFilter(wrapped, path: path)
        }
        return VolumetricSidecar(networks: networks, ensemble: ensemble, inputName: inputName, shape: shape, spacing: spacing,
                                 imageResampling: imageResampling, logitResampling: logitResampling, separateZ: separateZ,
                                 cropToNonzero: cropToNonzero, intensity: intensity, patch: patch, step: step,
                                 gaussianSigma: gaussianSigma, mirrorAxes: mirror, halfPrecisionAccumulation: accumulation == "float16",
                                 segmentationOutput: segName,
                                 activation: activation, channelLabels: channelLabels, regionOrder: regionOrder, filter: filter)
    }

    /// The model's identity in provenance and cluster jobs: the hex SHA-256 of the lines
    /// `"<sha256>  <file>\n"` of its networks in order (so it names every file's digest).
    public var ensembleDigest: String {
        var h = SHA256()
        for n in networks { h.update(Array("\(n.sha256)  \(n.file)\n".utf8)) }
        return h.finalizeHex()
    }
}

extension VolumetricSidecar {
    /// Checks one network against the sidecar: one input named ``inputName`` of rank 4 (2-D) or 5
    /// (3-D) with the intensity step's channel count, the segmentation output, and one probe run on a
    /// zero patch giving `[1, channels, patch…]`.
    public func validate(against model: ONNXModel, file: String, sidecarPath: String) throws(ModelLoadError) {
        func fail(_ reason: String) -> ModelLoadError { ModelLoadError(path: sidecarPath, reason: reason + " (network \(file))") }
        guard model.inputs.count == 1, let input = model.inputs.first, input.name == inputName else {
            throw fail("\"input.name\" is \(inputName) but the network's inputs are \(model.inputs.map(\.description).joined(separator: ", ")) (one image input expected)")
        }
        let rank = patch.count + 2
        let channels = intensity.channelCount
        if let shape = input.shape {
            guard shape.count == rank else { throw fail("the network's input \(input) is not rank \(rank) as \"input.shape\" \(self.shape.rawValue) needs") }
            if case .fixed(let c) = shape[1], c != channels {
                throw fail("the intensity step gives \(channels) channels but the network's input \(input) has \(c)")
            }
        }
        guard model.outputs.contains(where: { $0.name == segmentationOutput }) else {
            throw fail("\"outputs.segmentation.name\" \(segmentationOutput) is not an output; the network's outputs: \(model.outputs.map(\.description).joined(separator: ", "))")
        }
        let probe = Tensor(shape: [1, channels] + patch, repeating: 0)
        let results: [String: Tensor]
        do { results = try model.run([inputName: probe], threads: 1) } catch {
            throw fail("the network rejects a \(probe.shape) patch built from the sidecar: \(error)")
        }
        let got = results[segmentationOutput]?.shape ?? []
        let expected = [1, channelLabels.count] + patch
        guard got == expected else {
            throw fail("a \(probe.shape) patch gives \(segmentationOutput) of shape \(got); the sidecar's \(channelLabels.count) channels and patch need \(expected)")
        }
    }
}

/// A sidecar of any supported format, told apart by `format_version`.
public enum SidecarDocument: Sendable {
    /// Formats 1 and 2.
    case slices(ModelSidecar)
    /// Format 3.
    case volumetric(VolumetricSidecar)

    /// Reads the sidecar at `path`.
    public static func load(path: String) throws(ModelLoadError) -> SidecarDocument {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelLoadError(path: path, reason: "the model sidecar cannot be read; a model MODEL.onnx needs MODEL.json beside it, a model folder needs model.json (see the article \"The model sidecar\")")
        }
        return try parse(data, path: path)
    }

    /// Parses sidecar JSON; `path` names it in errors.
    public static func parse(_ data: Data, path: String) throws(ModelLoadError) -> SidecarDocument {
        if let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
           root["format"] as? String == ModelSidecar.formatName, (root["format_version"] as? NSNumber)?.intValue == 3 {
            return .volumetric(try VolumetricSidecar.parse(root, path: path))
        }
        return .slices(try ModelSidecar.parse(data, path: path))
    }
}
