import Foundation
import HemoCore

/// Turns an nnU-Net v2 trained-model folder's `plans.json` and `dataset.json` into a format-3
/// sidecar (`model.json`), the pure half of `hemo model import nnunet` (the other half exports each
/// fold's checkpoint to ONNX with Python).
///
/// Rules:
/// - the configuration (resolving `inherits_from`) gives the patch, the spacing (z, y, x; for 2-D
///   the first value is the dataset's median z spacing, unused) and the normalisation:
///   `CTNormalization` → `nnunet_ct` with the plans' foreground 0.5/99.5 percentiles, mean and std;
///   `ZScoreNormalization` without a mask → `zscore`; anything else is refused;
/// - one input channel, `transpose_forward` the identity (else refused);
/// - crop to the non-zero box; the image resampled with the plans' `resampling_fn_data_kwargs`
///   order (3 → `cubic`, 1 → `linear`, 0 → `nearest`) and the logits back with
///   `resampling_fn_probabilities_kwargs`' (nnU-Net's defaults: 3 and 1), under the separate-z rule
///   when `force_separate_z` is null (order 0 along the coarse axis; `order_z` must be 0), none when
///   it is false; `force_separate_z` true is refused;
/// - step 0.5, Gaussian σ = 1/8, the checkpoint's `inference_allowed_mirroring_axes`;
/// - labels: channel `c` is the label of value `c` (softmax); regions: one channel per region in
///   `dataset.json` order (sigmoid), set in that order; names map to EPH…IVH case-insensitively or
///   through `labelMap` (name → subtype name); unmapped labels become background;
/// - folds averaged as logits (`mean_logits`), as `nnUNetv2_predict` does.
public enum NNUNetImport {
    /// Why an nnU-Net folder cannot be imported.
    public struct Failure: Error, CustomStringConvertible, Sendable, Equatable {
        /// The file concerned.
        public var path: String
        /// What is wrong.
        public var reason: String
        /// A failure.
        public init(path: String, reason: String) { self.path = path; self.reason = reason }
        public var description: String { "\(path): \(reason)" }
    }

    /// The sidecar JSON object for `configuration`, given the exported `networks` (file, SHA-256).
    public static func sidecar(plans: [String: Any], dataset: [String: Any], configuration: String, mirrorAxes: [Int],
                               networks: [(file: String, sha256: String)], labelMap: [String: String] = [:],
                               plansPath: String = "plans.json", datasetPath: String = "dataset.json") throws(Failure) -> [String: Any] {
        func fail(_ path: String, _ reason: String) -> Failure { Failure(path: path, reason: reason) }
        guard let configurations = plans["configurations"] as? [String: Any] else { throw fail(plansPath, "no \"configurations\"") }
        guard var config = configurations[configuration] as? [String: Any] else {
            throw fail(plansPath, "no configuration \"\(configuration)\"; it has \(configurations.keys.sorted().joined(separator: ", "))")
        }
        var seen: Set<String> = [configuration]
        while let parentName = config["inherits_from"] as? String {
            guard !seen.contains(parentName), let parent = configurations[parentName] as? [String: Any] else {
                throw fail(plansPath, "configuration \(configuration) inherits from \(parentName), which is missing or circular")
            }
            seen.insert(parentName)
            config.removeValue(forKey: "inherits_from")
            config = parent.merging(config) { _, own in own }
        }
        if let transpose = (plans["transpose_forward"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }), transpose != [0, 1, 2] {
            throw fail(plansPath, "\"transpose_forward\" \(transpose) is not supported (only [0, 1, 2])")
        }
        guard let channelNames = dataset["channel_names"] as? [String: Any] ?? dataset["modality"] as? [String: Any], channelNames.count == 1 else {
            throw fail(datasetPath, "a hemo model takes one CT channel; \"channel_names\" must have exactly one entry")
        }
        guard let patch = (config["patch_size"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }), patch.count == 2 || patch.count == 3 else {
            throw fail(plansPath, "configuration \(configuration) has no 2- or 3-value \"patch_size\"")
        }
        guard let spacing = (config["spacing"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.doubleValue }), spacing.count == patch.count else {
            throw fail(plansPath, "configuration \(configuration) has no \"spacing\" matching its patch")
        }
        var fullSpacing = spacing
        if spacing.count == 2 {
            let median = (plans["original_median_spacing_after_transp"] as? [Any])?.compactMap { ($0 as? NSNumber)?.doubleValue }
            fullSpacing = [median?.first ?? 1] + spacing
        }
        let schemes = config["normalization_schemes"] as? [String] ?? []
        let masks = config["use_mask_for_norm"] as? [Bool] ?? [false]
        let intensity: [String: Any]
        switch schemes.first {
        case "CTNormalization":
            guard let props = (plans["foreground_intensity_properties_per_channel"] as? [String: Any])?["0"] as? [String: Any],
                  let lo = (props["percentile_00_5"] as? NSNumber)?.doubleValue, let hi = (props["percentile_99_5"] as? NSNumber)?.doubleValue,
                  let mean = (props["mean"] as? NSNumber)?.doubleValue, let std = (props["std"] as? NSNumber)?.doubleValue else {
                throw fail(plansPath, "CTNormalization needs \"foreground_intensity_properties_per_channel\".0 with percentile_00_5, percentile_99_5, mean and std")
            }
            intensity = ["kind": "nnunet_ct", "clip_lower": lo, "clip_upper": hi, "mean": mean, "std": std]
        case "ZScoreNormalization":
            guard masks.first != true else { throw fail(plansPath, "ZScoreNormalization with use_mask_for_norm is not supported") }
            intensity = ["kind": "zscore"]
        default:
            throw fail(plansPath, "normalisation \(schemes.first ?? "none") is not supported (CTNormalization or ZScoreNormalization)")
        }
        guard let labels = dataset["labels"] as? [String: Any] else { throw fail(datasetPath, "no \"labels\"") }
        func subtypeName(_ label: String) -> String {
            if let mapped = labelMap[label] { return mapped }
            return Subtype.allCases.first { $0.name.lowercased() == label.lowercased() }?.name ?? label
        }
        var channels: [String] = []
        var activation = "softmax"
        let isRegions = labels.values.contains { $0 is [Any] }
        if isRegions {
            // nnU-Net's regions: every label but background, in dataset.json order; JSONSerialization
            // loses the order, so it is read from the file's text by the caller (`regionOrder`).
            activation = "sigmoid"
            let ordered = (dataset["__label_order"] as? [String]) ?? labels.keys.sorted()
            channels = ordered.filter { $0 != "background" && $0 != "ignore" }.map(subtypeName)
        } else {
            var byValue: [Int: String] = [:]
            for (name, value) in labels where name != "ignore" {
                guard let v = (value as? NSNumber)?.intValue else { throw fail(datasetPath, "label \(name) has no whole-number value") }
                byValue[v] = name
            }
            guard byValue[0] != nil else { throw fail(datasetPath, "no label of value 0 (background)") }
            for v in 0..<byValue.count {
                guard let name = byValue[v] else { throw fail(datasetPath, "label values must be 0…\(byValue.count - 1) without gaps") }
                channels.append(v == 0 ? "background" : subtypeName(name))
            }
        }
        for (from, to) in labelMap where !Subtype.allCases.contains(where: { $0.name == to }) {
            throw fail("--label-map", "\(from)=\(to): \(to) is not one of EPH, SDH, SAH, IPH, IVH")
        }
        guard channels.contains(where: { c in Subtype.allCases.contains { $0.name == c } }) else {
            throw fail(datasetPath, "no label is named EPH, SDH, SAH, IPH or IVH; map them with --label-map NAME=SUBTYPE,…")
        }
        // nnU-Net's resampling functions' arguments (absent in old plans: its defaults, 3 and 1).
        func order(_ key: String, default fallback: Int) throws(Failure) -> (rule: String, separateZ: Bool) {
            let kwargs = config[key] as? [String: Any] ?? [:]
            let value = (kwargs["order"] as? NSNumber)?.intValue ?? fallback
            let names = [0: "nearest", 1: "linear", 3: "cubic"]
            guard let rule = names[value] else { throw fail(plansPath, "\(key).order \(value) is not supported (0, 1 or 3)") }
            if let z = (kwargs["order_z"] as? NSNumber)?.intValue, z != 0 {
                throw fail(plansPath, "\(key).order_z \(z) is not supported (0)")
            }
            let force = kwargs["force_separate_z"]
            if let f = force as? Bool, f { throw fail(plansPath, "\(key).force_separate_z true is not supported (null or false)") }
            return (rule, !(force as? Bool == false))
        }
        let image = try order("resampling_fn_data_kwargs", default: 3)
        let logits = try order("resampling_fn_probabilities_kwargs", default: 1)
        guard image.separateZ == logits.separateZ else {
            throw fail(plansPath, "force_separate_z differs between the data and the probabilities resampling")
        }
        let dims = patch.count
        let mirror = mirrorAxes.filter { $0 < dims }
        return [
            "format": ModelSidecar.formatName,
            "format_version": 3,
            "source": ["framework": "nnU-Net v2", "configuration": configuration,
                       "plans_name": plans["plans_name"] as? String ?? "", "dataset_name": plans["dataset_name"] as? String ?? ""],
            "networks": networks.map { ["file": $0.file, "sha256": $0.sha256] },
            "ensemble": "mean_logits",
            "input": [
                "name": "image",
                "shape": dims == 3 ? "3d" : "2d",
                "spacing": fullSpacing,
                "resampling": ["image": image.rule, "logits": logits.rule, "separate_z": image.separateZ],
                "crop_to_nonzero": true,
                "intensity": intensity,
            ] as [String: Any],
            "tiling": ["patch": patch, "step": 0.5, "gaussian_sigma": 0.125, "mirror_axes": mirror, "accumulation": "float16"],
            "outputs": ["segmentation": ["name": "logits", "activation": activation, "channels": channels]],
        ]
    }

    /// Parses `--label-map` text: `NAME=SUBTYPE` pairs separated by commas.
    public static func parseLabelMap(_ text: String) throws(Failure) -> [String: String] {
        var result: [String: String] = [:]
        for pair in text.split(separator: ",") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty, Subtype.allCases.contains(where: { $0.name == parts[1] }) else {
                throw Failure(path: "--label-map", reason: "\(pair) is not NAME=SUBTYPE with SUBTYPE one of EPH, SDH, SAH, IPH, IVH")
            }
            result[parts[0]] = parts[1]
        }
        return result
    }
}
