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
        /// 2.5-D: 2-D patches of one slice whose channels are the intensity channels of the
        /// `input.slices` (K, odd) slices centred on it, nearest slice first (`k − (K−1)/2 … k + (K−1)/2`),
        /// slices beyond the volume replaced by the edge slice: channel `n · C + c` is intensity
        /// channel `c` of neighbour `n`.
        case stacked = "2.5d"

        /// Whether the network sees 2-D planes (2d and 2.5d).
        public var isPlanar: Bool { self != .volume }
    }

    /// A classification output: slice logits turned into the `p_*` probabilities and, for a
    /// classifier-only model, into the slice and patient labels by thresholds; or exam logits
    /// turned into the exam's `p_*` and its patient labels.
    public struct Classification: Sendable, Equatable {
        /// The graph output: `[N, channels]` for a batch of N slices (slice level), `[1, channels]`
        /// or `[channels]` for the whole exam (exam level).
        public var output: String
        /// Sigmoid per channel, or softmax over the channels.
        public var activation: Activation
        /// Every channel's name: `any`, a subtype, or another name (not reported).
        public var channels: [String]
        /// Per channel, its index in `p_any, p_EPH, …, p_IVH` (0 any, 1…5 the subtypes), or nil.
        public var targets: [Int?]
        /// Thresholds of any, EPH, …, IVH (the `thresholds` object, 0.5 where absent).
        public var thresholds: [Double]

        /// `p_any, p_EPH, …, p_IVH` of one slice from the probabilities of its channels (after the
        /// activation, averaged over an ensemble): a channel's probability for its target, 0 for a
        /// subtype without a channel; without an `any` channel, `p_any` is the largest subtype
        /// probability (sigmoid) or the sum of the subtype channels (softmax: 1 − the others).
        public func reported(_ p: [Double]) -> [Double] {
            var out = [Double](repeating: 0, count: 6)
            var hasAny = false
            for (c, t) in targets.enumerated() {
                guard let t else { continue }
                out[t] = p[c]
                if t == 0 { hasAny = true }
            }
            if !hasAny {
                out[0] = activation == .softmax ? out[1...].reduce(0, +) : out[1...].max() ?? 0
            }
            return out
        }

        /// The slice's labels from `reported` probabilities: subtype `s` where `p_s ≥ t_s` (and the
        /// model has a channel for `s`), `any` where `p_any ≥ t_any` or some subtype holds.
        public func decide(_ reported: [Double]) -> (any: Bool, subtypes: Set<Subtype>) {
            var subtypes = Set<Subtype>()
            for s in Subtype.allCases where targets.contains(Int(s.labelValue)) && reported[Int(s.labelValue)] >= thresholds[Int(s.labelValue)] {
                subtypes.insert(s)
            }
            return (reported[0] >= thresholds[0] || !subtypes.isEmpty, subtypes)
        }
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
    /// 2-D, 2.5-D or 3-D patches.
    public var shape: InputShape
    /// Slices stacked as channels (`input.slices`, odd): 1 unless ``shape`` is 2.5d.
    public var neighbours: Int = 1
    /// For a classifier-only model, the `[height, width]` every slice is resized to (`input.size`,
    /// bilinear half-pixel, HU before windowing, as formats 1–2); nil for segmentation models.
    public var inputSize: [Int]? = nil
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
    /// The graph output holding the segmentation logits; empty for a classifier-only model.
    public var segmentationOutput: String
    /// The slice-level classification output, if any (format 3: classifier-only and whole-slice models).
    public var classification: Classification? = nil
    /// The exam-level classification output, if any: logits for the whole exam, from one run of
    /// every network over all of the exam's slices as one batch. They give the exam's `p_*` in
    /// `patient_labels.csv` and its patient labels by their own thresholds.
    public var examClassification: Classification? = nil

    /// A model fed whole slices resized to ``inputSize`` (classifier-only or whole-slice
    /// segmentation with classification), not sliding windows.
    public var isWholeSlice: Bool { inputSize != nil }
    /// A model with a classification output and no segmentation output: its release holds labels
    /// and probabilities but no masks, boxes or lesions.
    public var isClassifierOnly: Bool { segmentationOutput.isEmpty }
    /// Input channels of the network: the intensity channels of every stacked slice.
    public var inputChannelCount: Int { intensity.channelCount * neighbours }
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
            throw fail("\"input.shape\" \(shapeName.isEmpty ? "missing" : shapeName) is not supported; use \"2d\", \"2.5d\" or \"3d\"")
        }
        let dims = shape == .volume ? 3 : 2
        var neighbours = 1
        if let raw = input["slices"] {
            guard let k = (raw as? NSNumber)?.intValue, Double(k) == (raw as? NSNumber)?.doubleValue, k >= 1, k <= 63, k % 2 == 1 else {
                throw fail("\"input.slices\" must be an odd number of slices in 1...63")
            }
            guard shape == .stacked || k == 1 else { throw fail("\"input.slices\" \(k) needs \"input.shape\" \"2.5d\"") }
            neighbours = k
        } else if shape == .stacked {
            throw fail("\"input.slices\" is missing: a 2.5d model stacks an odd number K of neighbouring slices as channels")
        }
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
        guard let outputs = root["outputs"] as? [String: Any] else { throw fail("no \"outputs\" object") }
        let (classification, examClassification) = try parseClassifications(outputs["classification"], path: path)
        if let examClassification {
            // The exam head sees the exam's slices as one batch, so only a whole-slice model has one;
            // the release still labels every slice, so a slice-level output stands beside it.
            guard classification != nil, input["size"] != nil, shape.isPlanar else {
                throw fail("an exam-level \"outputs.classification\" needs a slice-level one beside it in a whole-slice model (\"input.size\", \"input.shape\" 2d or 2.5d): the network sees the exam's slices as one batch, and the release labels every slice")
            }
            var v = try parse(Self.withoutExamClassification(root), path: path)
            v.examClassification = examClassification
            return v
        }
        if outputs["segmentation"] == nil {
            guard let classification else {
                throw fail("\"outputs\" needs \"segmentation\", \"classification\" or both")
            }
            return try classifierOnly(root, input: input, shape: shape, neighbours: neighbours, intensity: intensity,
                                      networks: networks, ensemble: ensemble, inputName: inputName, spacing: spacing,
                                      classification: classification, path: path)
        }
        if let classification {
            return try wholeSlice(root, input: input, outputs: outputs, intensity: intensity, networks: networks,
                                  spacing: spacing, classification: classification, path: path)
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
        guard let seg = outputs["segmentation"] as? [String: Any] else {
            throw fail("\"outputs.segmentation\" must be an object")
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
        var filter = ComponentFilter.none
        if let post = root["postprocess"] as? [String: Any], let f = post["filter"] as? [String: Any] {
            // Same keys as format 2; parsed by the format-2 reader for one rule set.
            let wrapped: [String: Any] = ["format": ModelSidecar.formatName, "format_version": 2, "postprocess": ["filter": f]]
            filter = try ModelSidecar.parseFilter(wrapped, path: path)
        }
        if input["size"] != nil { throw fail("\"input.size\" applies to classifier-only models; a segmentation model slides \"tiling.patch\"") }
        return VolumetricSidecar(networks: networks, ensemble: ensemble, inputName: inputName, shape: shape, neighbours: neighbours,
                                 spacing: spacing, imageResampling: imageResampling, logitResampling: logitResampling, separateZ: separateZ,
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
    /// The sidecar object with only its slice-level classification entry (the rest of the reader
    /// sees one `outputs.classification` object).
    static func withoutExamClassification(_ root: [String: Any]) -> [String: Any] {
        var inner = root
        var outputs = root["outputs"] as? [String: Any] ?? [:]
        if let list = outputs["classification"] as? [[String: Any]] {
            outputs["classification"] = list.first { ($0["level"] as? String ?? "slice") == "slice" }
        }
        inner["outputs"] = outputs
        return inner
    }

    /// Reads `outputs.classification`: one object, or a list of at most one slice-level and one
    /// exam-level object (`level`, "slice" by default). Either may be nil.
    static func parseClassifications(_ raw: Any?, path: String) throws(ModelLoadError) -> (slice: Classification?, exam: Classification?) {
        func fail(_ reason: String) -> ModelLoadError { ModelLoadError(path: path, reason: reason) }
        guard let raw else { return (nil, nil) }
        let entries: [Any]
        if let list = raw as? [Any] {
            guard !list.isEmpty, list.count <= 2 else {
                throw fail("\"outputs.classification\" as a list holds one slice-level and/or one exam-level object")
            }
            entries = list
        } else {
            entries = [raw]
        }
        var slice: Classification? = nil, exam: Classification? = nil
        for (n, entry) in entries.enumerated() {
            let field = entries.count == 1 && !(raw is [Any]) ? "outputs.classification" : "outputs.classification[\(n)]"
            guard let c = entry as? [String: Any] else { throw fail("\"\(field)\" must be an object") }
            let level = c["level"] as? String ?? "slice"
            let parsed = try parseClassification(c, field: field, path: path)
            switch level {
            case "slice":
                guard slice == nil else { throw fail("\"outputs.classification\" lists two slice-level outputs") }
                slice = parsed
            case "exam":
                guard exam == nil else { throw fail("\"outputs.classification\" lists two exam-level outputs") }
                exam = parsed
            default:
                throw fail("\"\(field).level\" \(level) is not \"slice\" or \"exam\"")
            }
        }
        if let slice, let exam, slice.output == exam.output {
            throw fail("\"outputs.classification\": the slice-level and exam-level outputs are both \(slice.output); they must be two graph outputs")
        }
        return (slice, exam)
    }

    /// Reads one classification object; `field` names it in errors.
    static func parseClassification(_ c: [String: Any], field: String, path: String) throws(ModelLoadError) -> Classification {
        func fail(_ reason: String) -> ModelLoadError {
            ModelLoadError(path: path, reason: reason.replacingOccurrences(of: "\"outputs.classification", with: "\"" + field))
        }
        guard let name = c["name"] as? String, !name.isEmpty else { throw fail("\"outputs.classification.name\" is missing") }
        let activationName = c["activation"] as? String ?? "sigmoid"
        guard let activation = Activation(rawValue: activationName) else {
            throw fail("\"outputs.classification.activation\" \(activationName) is not sigmoid or softmax")
        }
        guard let channels = c["channels"] as? [String], !channels.isEmpty else {
            throw fail("\"outputs.classification.channels\" must name every logit: any, EPH, SDH, SAH, IPH, IVH or another name")
        }
        let targets: [Int?] = channels.map { n in n == "any" ? 0 : Subtype.allCases.first { $0.name == n }.map { Int($0.labelValue) } }
        let named = targets.compactMap { $0 }
        guard named.contains(where: { $0 != 0 }) || named.contains(0) else {
            throw fail("\"outputs.classification.channels\" names none of any, EPH, SDH, SAH, IPH, IVH")
        }
        guard Set(named).count == named.count else { throw fail("\"outputs.classification.channels\" names a class twice") }
        if activation == .softmax, named.contains(0) {
            throw fail("\"outputs.classification.channels\" of a softmax output cannot hold \"any\" (p_any is 1 − the other channels)")
        }
        var thresholds = [Double](repeating: 0.5, count: 6)
        if let t = c["thresholds"] {
            guard let object = t as? [String: Any] else { throw fail("\"outputs.classification.thresholds\" must be an object {\"any\": 0.5, \"EPH\": …}") }
            for (key, value) in object {
                let index = key == "any" ? 0 : Subtype.allCases.first { $0.name == key }.map { Int($0.labelValue) }
                guard let index else { throw fail("\"outputs.classification.thresholds.\(key)\" is not any, EPH, SDH, SAH, IPH or IVH") }
                guard let v = (value as? NSNumber)?.doubleValue, v >= 0, v <= 1, !(value is Bool) else {
                    throw fail("\"outputs.classification.thresholds.\(key)\" must be a probability in [0, 1]")
                }
                thresholds[index] = v
            }
        }
        return Classification(output: name, activation: activation, channels: channels, targets: targets, thresholds: thresholds)
    }

    /// A whole-slice model with segmentation and classification outputs: every slice (and its
    /// neighbours) resized to `input.size`, the segmentation logits resized back (as formats 1–2),
    /// `p_*` from the classification output, labels from the masks.
    static func wholeSlice(_ root: [String: Any], input: [String: Any], outputs: [String: Any], intensity: IntensityNormalization,
                           networks: [Network], spacing: [Double]?, classification: Classification,
                           path: String) throws(ModelLoadError) -> VolumetricSidecar {
        func fail(_ reason: String) -> ModelLoadError { ModelLoadError(path: path, reason: reason) }
        guard let size = (input["size"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }), size.count == 2,
              size.allSatisfy({ $0 >= 1 && $0 <= 4096 }) else {
            throw fail("\"outputs.classification\" beside \"outputs.segmentation\" needs \"input.size\" [height, width]: a whole-slice model (a sliding-window model has no whole-slice logits)")
        }
        guard root["tiling"] == nil else { throw fail("\"tiling\" does not apply to a whole-slice model (its slices are resized to \"input.size\")") }
        guard spacing == nil else { throw fail("\"input.spacing\" must be null for a whole-slice model (slices are resized to \"input.size\")") }
        guard case .windows = intensity else { throw fail("\"input.intensity.kind\" must be windows for a whole-slice model") }
        guard networks.count == 1 else { throw fail("\"networks\" of a whole-slice segmentation model must be one network (ensembles: classifier-only or sliding-window models)") }
        // The segmentation rules are those of a single patch covering the whole resized slice.
        var inner = root, innerInput = input
        innerInput["size"] = nil
        inner["input"] = innerInput
        inner["tiling"] = ["patch": size, "step": 1, "gaussian_sigma": NSNull(), "mirror_axes": [Int]()] as [String: Any]
        inner["outputs"] = ["segmentation": outputs["segmentation"] as Any]
        var v = try parse(inner, path: path)
        guard v.shape.isPlanar else { throw fail("\"input.shape\" 3d is not supported for a whole-slice model; use \"2d\" or \"2.5d\"") }
        v.inputSize = size
        v.classification = classification
        return v
    }

    /// The rest of a classifier-only sidecar: `input.size`, no tiling, windows only.
    static func classifierOnly(_ root: [String: Any], input: [String: Any], shape: InputShape, neighbours: Int,
                               intensity: IntensityNormalization, networks: [Network], ensemble: EnsembleRule, inputName: String,
                               spacing: [Double]?, classification: Classification, path: String) throws(ModelLoadError) -> VolumetricSidecar {
        func fail(_ reason: String) -> ModelLoadError { ModelLoadError(path: path, reason: reason) }
        guard shape.isPlanar else { throw fail("\"input.shape\" 3d is not supported for a classifier-only model; use \"2d\" or \"2.5d\"") }
        guard let size = (input["size"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }), size.count == 2,
              size.allSatisfy({ $0 >= 1 && $0 <= 4096 }) else {
            throw fail("\"input.size\" must be [height, width] in 1...4096: a classifier-only model sees every slice resized to it")
        }
        guard spacing == nil else { throw fail("\"input.spacing\" must be null for a classifier-only model (slices are resized to \"input.size\")") }
        guard case .windows = intensity else {
            throw fail("\"input.intensity.kind\" must be windows for a classifier-only model (resize, then window, as formats 1–2)")
        }
        guard root["tiling"] == nil else { throw fail("\"tiling\" does not apply to a classifier-only model (its slices are resized to \"input.size\")") }
        if let post = root["postprocess"] as? [String: Any], post["filter"] != nil {
            throw fail("\"postprocess.filter\" filters mask components; a classifier-only model has none")
        }
        let ensemble: EnsembleRule = root["ensemble"] == nil ? .meanProbabilities : ensemble
        guard ensemble == .meanProbabilities || networks.count == 1 else {
            throw fail("\"ensemble\" of classifiers must be mean_probabilities (each network's probabilities after its activation, averaged)")
        }
        return VolumetricSidecar(networks: networks, ensemble: ensemble, inputName: inputName, shape: shape, neighbours: neighbours,
                                 inputSize: size, spacing: nil, imageResampling: .linear, logitResampling: .linear, separateZ: false,
                                 cropToNonzero: false, intensity: intensity, patch: size, step: 1, gaussianSigma: nil, mirrorAxes: [],
                                 segmentationOutput: "", classification: classification, activation: classification.activation,
                                 channelLabels: [], regionOrder: [], filter: .none)
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
        let channels = inputChannelCount
        if let shape = input.shape {
            guard shape.count == rank else { throw fail("the network's input \(input) is not rank \(rank) as \"input.shape\" \(self.shape.rawValue) needs") }
            if case .fixed(let c) = shape[1], c != channels {
                throw fail("the intensity step gives \(channels) channels but the network's input \(input) has \(c)")
            }
        }
        /// The network's outputs for a zero input of `batch` slices or patches, described as `what` in errors.
        func probe(batch: Int, _ what: String) throws(ModelLoadError) -> (shape: [Int], results: [String: Tensor]) {
            let input = Tensor(shape: [batch, channels] + patch, repeating: 0)
            do { return (input.shape, try model.run([inputName: input], threads: 1)) } catch {
                throw fail("the network rejects \(what) \(input.shape) built from the sidecar: \(error)")
            }
        }
        if let exam = examClassification {
            // Two slices as one exam: the slice output answers per slice, the exam output once.
            guard model.outputs.contains(where: { $0.name == exam.output }) else {
                throw fail("the exam-level \"outputs.classification\" \(exam.output) is not an output; the network's outputs: \(model.outputs.map(\.description).joined(separator: ", "))")
            }
            let (shape, results) = try probe(batch: 2, "an exam of two slices,")
            let got = results[exam.output]?.shape ?? []
            guard got == [1, exam.channels.count] || got == [exam.channels.count] else {
                throw fail("an exam of two slices, \(shape), gives \(exam.output) of shape \(got); the exam-level \"outputs.classification\" needs [1, \(exam.channels.count)] or [\(exam.channels.count)]")
            }
            if let slice = classification {
                let got = results[slice.output]?.shape ?? []
                guard got == [2, slice.channels.count] else {
                    throw fail("an exam of two slices, \(shape), gives \(slice.output) of shape \(got); the slice-level \"outputs.classification\" needs [2, \(slice.channels.count)]")
                }
            }
        }
        if let classification, isClassifierOnly {
            guard model.outputs.contains(where: { $0.name == classification.output }) else {
                throw fail("\"outputs.classification.name\" \(classification.output) is not an output; the network's outputs: \(model.outputs.map(\.description).joined(separator: ", "))")
            }
            let (shape, results) = try probe(batch: 1, "a slice")
            let got = results[classification.output]?.shape ?? []
            guard got == [1, classification.channels.count] else {
                throw fail("a \(shape) slice gives \(classification.output) of shape \(got); \"outputs.classification.channels\" needs [1, \(classification.channels.count)]")
            }
            return
        }
        guard model.outputs.contains(where: { $0.name == segmentationOutput }) else {
            throw fail("\"outputs.segmentation.name\" \(segmentationOutput) is not an output; the network's outputs: \(model.outputs.map(\.description).joined(separator: ", "))")
        }
        let (shape, results) = try probe(batch: 1, "a patch")
        let got = results[segmentationOutput]?.shape ?? []
        let expected = [1, channelLabels.count] + patch
        guard got == expected else {
            throw fail("a \(shape) patch gives \(segmentationOutput) of shape \(got); the sidecar's \(channelLabels.count) channels and patch need \(expected)")
        }
        if let classification {
            let got = results[classification.output]?.shape ?? []
            guard got == [1, classification.channels.count] else {
                throw fail("a \(shape) slice gives \(classification.output) of shape \(got); \"outputs.classification.channels\" needs [1, \(classification.channels.count)]")
            }
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
