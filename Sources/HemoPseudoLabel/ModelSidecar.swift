import Foundation
import HemoCore
import HemoInference

/// Why a pseudo-label model (ONNX file + sidecar) cannot be used: names the file and the reason.
public struct ModelLoadError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The ONNX file or the sidecar concerned.
    public var path: String
    /// What is wrong and what to do.
    public var reason: String

    /// An error about `path`.
    public init(path: String, reason: String) { self.path = path; self.reason = reason }

    public var description: String { "\(path): \(reason)" }
}

/// One input channel: an HU window, `clip((HU - (level - width/2)) / width, 0, 1)`.
public struct WindowChannel: Sendable, Equatable {
    /// The channel's name (e.g. `brain`).
    public var name: String
    /// Window width in HU.
    public var width: Float
    /// Window level (centre) in HU.
    public var level: Float

    /// A channel.
    public init(name: String, width: Float, level: Float) { self.name = name; self.width = width; self.level = level }

    /// The HU value mapped to 0.
    public var lower: Float { level - width / 2 }
}

/// The rules that turn the argmax label map into the released masks (sidecar `postprocess.filter`,
/// format version 2). Version 1 sidecars have none: every component is kept.
public struct ComponentFilter: Sendable, Equatable {
    /// Smallest 8-connected 2D component kept, per subtype, in pixels of the CT slice.
    public var minimumPixels: [Subtype: Int]
    /// Smallest mean softmax probability (the box score) of a kept component.
    public var minimumScore: Double
    /// A slice keeps its components only when the slice head's `p_any` reaches this.
    public var minimumSliceProbability: Double
    /// Smallest 26-connected 3D component kept, per subtype, in voxels (on the argmax map).
    public var minimumLesionVoxels: [Subtype: Int]

    /// A filter.
    public init(minimumPixels: [Subtype: Int] = [:], minimumScore: Double = 0, minimumSliceProbability: Double = 0,
                minimumLesionVoxels: [Subtype: Int] = [:]) {
        self.minimumPixels = minimumPixels; self.minimumScore = minimumScore
        self.minimumSliceProbability = minimumSliceProbability; self.minimumLesionVoxels = minimumLesionVoxels
    }

    /// Keeps everything (format version 1).
    public static let none = ComponentFilter()

    /// Whether the filter removes anything at all.
    public var isIdentity: Bool {
        minimumPixels.values.allSatisfy { $0 <= 1 } && minimumScore <= 0 && minimumSliceProbability <= 0
            && minimumLesionVoxels.values.allSatisfy { $0 <= 1 }
    }
}

/// The sidecar `MODEL.json` beside `MODEL.onnx`: how to feed the model a CT and read its outputs.
/// Documented in the HemoInference catalogue, article "The model sidecar".
public struct ModelSidecar: Sendable, Equatable {
    /// The `format` value every sidecar carries.
    public static let formatName = "hemocluster-model-sidecar"
    /// Versions this reader understands.
    public static let supportedVersions: ClosedRange<Int> = 1...2
    /// Segmentation classes in order (label values 0...5).
    public static let segmentationClasses = ["background"] + Subtype.allCases.map(\.name)
    /// Slice-classification labels in order.
    public static let classificationLabels = ["any"] + Subtype.allCases.map(\.name)

    /// `format_version`.
    public var formatVersion: Int
    /// The graph input to feed.
    public var inputName: String
    /// Model input height (rows, along NIfTI j).
    public var height: Int
    /// Model input width (columns, along NIfTI i).
    public var width: Int
    /// Height and width must be multiples of this.
    public var sizeMultiple: Int
    /// The channels, in order.
    public var channels: [WindowChannel]
    /// The output holding `[N, 6, H, W]` segmentation logits.
    public var segmentationOutput: String
    /// The output holding `[N, 6]` slice logits (any, EPH…IVH).
    public var classificationOutput: String
    /// Component filtering of the argmax masks (version 2).
    public var filter: ComponentFilter

    /// A sidecar from its parts.
    public init(formatVersion: Int, inputName: String, height: Int, width: Int, sizeMultiple: Int, channels: [WindowChannel],
                segmentationOutput: String, classificationOutput: String, filter: ComponentFilter) {
        self.formatVersion = formatVersion; self.inputName = inputName; self.height = height; self.width = width
        self.sizeMultiple = sizeMultiple; self.channels = channels; self.segmentationOutput = segmentationOutput
        self.classificationOutput = classificationOutput; self.filter = filter
    }

    /// Reads and checks the sidecar at `path` on its own (see ``validate(against:)`` for the model).
    public static func load(path: String) throws(ModelLoadError) -> ModelSidecar {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelLoadError(path: path, reason: "the model sidecar cannot be read; a model MODEL.onnx needs MODEL.json beside it (see the article \"The model sidecar\")")
        }
        return try parse(data, path: path)
    }

    /// Parses sidecar JSON; `path` names it in errors.
    public static func parse(_ data: Data, path: String) throws(ModelLoadError) -> ModelSidecar {
        func fail(_ reason: String) -> ModelLoadError { ModelLoadError(path: path, reason: reason) }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw fail("the sidecar is not a JSON object")
        }
        guard root["format"] as? String == formatName else {
            throw fail("\"format\" must be \"\(formatName)\"")
        }
        guard let version = (root["format_version"] as? NSNumber)?.intValue, supportedVersions.contains(version) else {
            throw fail("\"format_version\" \(root["format_version"].map { "\($0)" } ?? "missing") is not supported (this hemo reads 1...3)")
        }
        guard let input = root["input"] as? [String: Any] else { throw fail("no \"input\" object") }
        guard let inputName = input["name"] as? String, !inputName.isEmpty else { throw fail("\"input.name\" is missing") }
        if let layout = input["layout"] as? String, layout != "NCHW" { throw fail("\"input.layout\" \(layout) is not supported; use NCHW") }
        if let dtype = input["dtype"] as? String, dtype != "float32" { throw fail("\"input.dtype\" \(dtype) is not supported; use float32") }
        guard let height = (input["height"] as? NSNumber)?.intValue, let width = (input["width"] as? NSNumber)?.intValue,
              height > 0, width > 0, height <= 4096, width <= 4096 else {
            throw fail("\"input.height\" and \"input.width\" must be positive whole numbers up to 4096")
        }
        let multiple = (input["size_multiple"] as? NSNumber)?.intValue ?? 1
        guard multiple >= 1, height % multiple == 0, width % multiple == 0 else {
            throw fail("input size \(height)×\(width) is not a multiple of \"size_multiple\" \(multiple)")
        }
        guard let rawChannels = input["channels"] as? [[String: Any]], !rawChannels.isEmpty else {
            throw fail("\"input.channels\" must list at least one window")
        }
        var channels: [WindowChannel] = []
        for (n, c) in rawChannels.enumerated() {
            guard let w = (c["window_width"] as? NSNumber)?.doubleValue, let l = (c["window_level"] as? NSNumber)?.doubleValue,
                  w > 0, w.isFinite, l.isFinite else {
                throw fail("\"input.channels[\(n)]\" needs a positive \"window_width\" and a \"window_level\"")
            }
            channels.append(WindowChannel(name: c["name"] as? String ?? "channel\(n)", width: Float(w), level: Float(l)))
        }
        if let norm = input["normalization"] as? [String: Any], let after = norm["after_window"] as? String, after != "none" {
            throw fail("\"input.normalization.after_window\" \(after) is not supported; only \"none\"")
        }
        guard let outputs = root["outputs"] as? [String: Any] else { throw fail("no \"outputs\" object") }
        var segmentation: String? = nil, classification: String? = nil
        for name in outputs.keys.sorted() {
            guard let o = outputs[name] as? [String: Any] else { continue }
            if let classes = o["classes"] as? [String] {
                guard classes == segmentationClasses else {
                    throw fail("output \(name): \"classes\" must be \(segmentationClasses.joined(separator: ", ")) (got \(classes.joined(separator: ", ")))")
                }
                segmentation = name
            } else if let labels = o["labels"] as? [String] {
                guard labels == classificationLabels else {
                    throw fail("output \(name): \"labels\" must be \(classificationLabels.joined(separator: ", ")) (got \(labels.joined(separator: ", ")))")
                }
                classification = name
            }
        }
        guard let segmentation else { throw fail("\"outputs\" names no segmentation output (an entry with \"classes\")") }
        guard let classification else { throw fail("\"outputs\" names no slice-classification output (an entry with \"labels\")") }
        let filter = try parseFilter(root, path: path)
        return ModelSidecar(formatVersion: version, inputName: inputName, height: height, width: width, sizeMultiple: multiple,
                            channels: channels, segmentationOutput: segmentation, classificationOutput: classification, filter: filter)
    }

    /// The `postprocess.filter` of a sidecar object (none when absent); `path` names it in errors.
    static func parseFilter(_ root: [String: Any], path: String) throws(ModelLoadError) -> ComponentFilter {
        func fail(_ reason: String) -> ModelLoadError { ModelLoadError(path: path, reason: reason) }
        let version = (root["format_version"] as? NSNumber)?.intValue ?? 0
        var filter = ComponentFilter.none
        if let post = root["postprocess"] as? [String: Any], let f = post["filter"] as? [String: Any] {
            guard version >= 2 else { throw fail("\"postprocess.filter\" needs \"format_version\" 2") }
            func perSubtype(_ key: String) throws(ModelLoadError) -> [Subtype: Int] {
                guard let table = f[key] else { return [:] }
                guard let entries = table as? [String: Any] else { throw fail("\"postprocess.filter.\(key)\" must map subtype names to whole numbers") }
                var out: [Subtype: Int] = [:]
                for (name, value) in entries {
                    guard let s = Subtype.allCases.first(where: { $0.name == name }),
                          let v = (value as? NSNumber)?.intValue, v >= 0 else {
                        throw fail("\"postprocess.filter.\(key)\": \(name) must be a subtype name with a whole number ≥ 0")
                    }
                    out[s] = v
                }
                return out
            }
            filter.minimumPixels = try perSubtype("min_component_pixels")
            filter.minimumLesionVoxels = try perSubtype("min_lesion_voxels")
            if let v = f["min_component_score"] { guard let d = (v as? NSNumber)?.doubleValue, (0...1).contains(d) else {
                throw fail("\"postprocess.filter.min_component_score\" must be in 0...1") }; filter.minimumScore = d }
            if let v = f["min_slice_p_any"] { guard let d = (v as? NSNumber)?.doubleValue, (0...1).contains(d) else {
                throw fail("\"postprocess.filter.min_slice_p_any\" must be in 0...1") }; filter.minimumSliceProbability = d }
        }
        return filter
    }

    /// Checks the sidecar against the loaded model: the input and output names, the declared channel
    /// counts and sizes, and the shapes of one probe run on a zero `[1, C, H, W]` input.
    public func validate(against model: ONNXModel, sidecarPath: String) throws(ModelLoadError) {
        func fail(_ reason: String) -> ModelLoadError { ModelLoadError(path: sidecarPath, reason: reason + " (model \(model.path))") }
        guard let input = model.inputs.first(where: { $0.name == inputName }) else {
            throw fail("input \"\(inputName)\" is not an input of the model; its inputs: \(model.inputs.map(\.description).joined(separator: ", "))")
        }
        guard model.inputs.count == 1 else {
            throw fail("the model has \(model.inputs.count) inputs (\(model.inputs.map(\.name).joined(separator: ", "))); a pseudo-label model takes one image")
        }
        if let shape = input.shape {
            guard shape.count == 4 else { throw fail("the model's input \(input) is not N×C×H×W") }
            if case .fixed(let c) = shape[1], c != channels.count {
                throw fail("the sidecar lists \(channels.count) channels but the model's input \(input) has \(c)")
            }
            if case .fixed(let h) = shape[2], h != height { throw fail("input height \(height) but the model's input \(input) has \(h)") }
            if case .fixed(let w) = shape[3], w != width { throw fail("input width \(width) but the model's input \(input) has \(w)") }
        }
        for (name, rank) in [(segmentationOutput, 4), (classificationOutput, 2)] {
            guard let out = model.outputs.first(where: { $0.name == name }) else {
                throw fail("output \"\(name)\" is not an output of the model; its outputs: \(model.outputs.map(\.description).joined(separator: ", "))")
            }
            if let shape = out.shape {
                guard shape.count == rank else { throw fail("the model's output \(out) should have rank \(rank)") }
                if case .fixed(let c) = shape[1], c != 6 { throw fail("the model's output \(out) has \(c) channels; the sidecar needs 6") }
            }
        }
        // The probe runs at the smallest size the model accepts (the declared size when fixed), so
        // loading stays cheap; batch, height and width are otherwise free in the graph.
        var probeHeight = sizeMultiple, probeWidth = sizeMultiple
        if let shape = input.shape {
            if case .fixed = shape[2] { probeHeight = height }
            if case .fixed = shape[3] { probeWidth = width }
        }
        let probe = Tensor(shape: [1, channels.count, probeHeight, probeWidth], repeating: 0)
        let results: [String: Tensor]
        do { results = try model.run([inputName: probe], threads: 1) } catch {
            throw fail("the model rejects a \(probe.shape) input built from the sidecar: \(error)")
        }
        let seg = results[segmentationOutput]?.shape ?? [], cls = results[classificationOutput]?.shape ?? []
        guard seg == [1, 6, probeHeight, probeWidth] else {
            throw fail("a \(probe.shape) input gives \(segmentationOutput) of shape \(seg); the sidecar needs [1, 6, \(probeHeight), \(probeWidth)]")
        }
        guard cls == [1, 6] else { throw fail("a \(probe.shape) input gives \(classificationOutput) of shape \(cls); the sidecar needs [1, 6]") }
    }
}
