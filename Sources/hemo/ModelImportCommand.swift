import ArgumentParser
import Foundation
import HemoPseudoLabel
import HemoRelease
import HemoCore
import HemoInference
import NIfTI

/// `hemo model import`: turn another framework's trained model into a hemo model folder.
struct ModelImport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Turn a trained model of another framework into a hemo model folder (ONNX files + model.json).",
        subcommands: [ModelImportNNUNet.self]
    )
}

/// `hemo model import nnunet`: an nnU-Net v2 trained-model folder to a format-3 hemo model folder.
struct ModelImportNNUNet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nnunet",
        abstract: "Import an nnU-Net v2 trained model: each fold to ONNX, plans.json to model.json.",
        discussion: """
        RESULTS_DIR is the trained-model folder (plans.json, dataset.json, fold_K/checkpoint_*.pth),
        e.g. $nnUNet_results/Dataset001_X/nnUNetTrainer__nnUNetPlans__3d_fullres, or the dataset's
        results folder holding one such folder for --configuration. Each fold's checkpoint is
        exported to DIR/fold_K.onnx by a Python step (the checkpoint is a PyTorch file): the
        interpreter is --python, else $HEMO_PYTHON, else python3, and it needs torch and nnunetv2
        (the network is rebuilt with nnU-Net's own trainer class, as nnUNetv2_predict does). Then
        DIR/model.json (sidecar format 3) is written from the plans: spacing, CT normalisation,
        patch, mirroring, labels or regions. Labels named EPH, SDH, SAH, IPH, IVH map by name;
        others need --label-map. The folder is then a model for `hemo infer --model DIR`, `hemo run`,
        `hemo coordinator` and `hemo worker`.
        """
    )

    @Argument(help: "The nnU-Net trained-model folder (or the dataset's results folder).")
    var resultsDir: String

    @Option(help: "The nnU-Net configuration (e.g. 3d_fullres, 2d).")
    var configuration: String

    @Option(help: "Folds to export, comma-separated (default: every fold_K folder with the checkpoint).")
    var folds: String?

    @Option(help: "Which checkpoint: final (checkpoint_final.pth) or best (checkpoint_best.pth).")
    var checkpoint: String = "final"

    @Option(name: .customLong("label-map"), help: "Map nnU-Net label names to subtypes: NAME=SUBTYPE,… (e.g. bleed=IPH).")
    var labelMap: String = ""

    @Option(help: "Python interpreter with torch and nnunetv2 (default: $HEMO_PYTHON, else python3).")
    var python: String?

    @Option(help: "The hemo model folder to write (created; must not hold a model.json unless --force).")
    var out: String

    @Flag(name: .customLong("no-mirroring"), help: "No mirroring test-time augmentation (nnUNetv2_predict --disable_tta).")
    var noMirroring = false

    @Flag(help: "Replace an existing model folder's files.")
    var force = false

    func validate() throws {
        guard ["final", "best"].contains(checkpoint) else { throw ValidationError("--checkpoint must be final or best") }
        if let folds {
            guard !folds.split(separator: ",").isEmpty, folds.split(separator: ",").allSatisfy({ Int($0) != nil || $0 == "all" }) else {
                throw ValidationError("--folds must be fold numbers separated by commas, e.g. 0,1")
            }
        }
    }

    func run() throws {
        let fm = FileManager.default
        let modelFolder = try Self.trainedModelFolder(resultsDir, configuration: configuration)
        let labelMap: [String: String]
        do { labelMap = try NNUNetImport.parseLabelMap(self.labelMap) } catch { printError("error: \(error)"); throw ExitCode(2) }
        let sidecarPath = URL(fileURLWithPath: out).appendingPathComponent(PseudoLabelModel.folderSidecarName).path
        if fm.fileExists(atPath: sidecarPath), !force {
            printError("error: \(sidecarPath) exists; pass --force to replace the model")
            throw ExitCode(1)
        }
        try fm.createDirectory(atPath: out, withIntermediateDirectories: true)
        // The Python step: exports the folds and reports what only the checkpoints know.
        let script = URL(fileURLWithPath: out).appendingPathComponent(".nnunet-export.py").path
        try Data(Self.exportScript.utf8).write(to: URL(fileURLWithPath: script))
        defer { try? fm.removeItem(atPath: script) }
        let interpreter = python ?? ProcessInfo.processInfo.environment["HEMO_PYTHON"] ?? "python3"
        var arguments = [script, modelFolder, "--out", out, "--checkpoint", "checkpoint_\(checkpoint).pth"]
        if let folds { arguments += ["--folds", folds] }
        let report = try Self.runPython(interpreter, arguments)
        guard let object = (try? JSONSerialization.jsonObject(with: Data(report.utf8))) as? [String: Any],
              let exported = object["networks"] as? [[String: Any]], !exported.isEmpty,
              let config = object["configuration"] as? String else {
            printError("error: the export step printed no report; its output was:\n\(report)")
            throw ExitCode(1)
        }
        guard config == configuration else {
            printError("error: the checkpoints were trained for configuration \(config), not \(configuration)")
            throw ExitCode(1)
        }
        var networks: [(file: String, sha256: String)] = []
        for entry in exported {
            guard let file = entry["file"] as? String else { continue }
            networks.append((file, try Manifest.sha256(ofFile: URL(fileURLWithPath: out).appendingPathComponent(file).path)))
        }
        let plansPath = URL(fileURLWithPath: modelFolder).appendingPathComponent("plans.json").path
        let datasetPath = URL(fileURLWithPath: modelFolder).appendingPathComponent("dataset.json").path
        guard let plans = Self.readJSON(plansPath), var dataset = Self.readJSON(datasetPath) else {
            printError("error: \(modelFolder) needs readable plans.json and dataset.json")
            throw ExitCode(1)
        }
        if let order = object["label_order"] as? [String] { dataset["__label_order"] = order }
        let sidecar: [String: Any]
        do {
            sidecar = try NNUNetImport.sidecar(plans: plans, dataset: dataset, configuration: configuration,
                                               mirrorAxes: noMirroring ? [] : object["mirror_axes"] as? [Int] ?? [], networks: networks,
                                               labelMap: labelMap, plansPath: plansPath, datasetPath: datasetPath)
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        let data = try JSONSerialization.data(withJSONObject: sidecar, options: [.prettyPrinted, .sortedKeys])
        try (data + Data("\n".utf8)).write(to: URL(fileURLWithPath: sidecarPath))
        // Load it back: the same checks `hemo infer` makes (hashes, shapes, one probe per network).
        let model: PseudoLabelModel
        do { model = try PseudoLabelModel(onnxPath: out) } catch {
            printError("error: the imported model does not load: \(error)")
            throw ExitCode(1)
        }
        print("imported \(configuration) (\(networks.count) fold\(networks.count == 1 ? "" : "s")) from \(modelFolder)")
        for n in networks { print("  \(n.file) sha256 \(n.sha256)") }
        print("model: \(out) sha256 \(model.sha256)")
    }

    /// The trained-model folder: `path` itself when it holds plans.json, else its one `*__CONFIGURATION` subfolder.
    static func trainedModelFolder(_ path: String, configuration: String) throws -> String {
        let fm = FileManager.default
        if fm.fileExists(atPath: URL(fileURLWithPath: path).appendingPathComponent("plans.json").path) { return path }
        let candidates = ((try? fm.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasSuffix("__\(configuration)") }.sorted()
        guard candidates.count == 1 else {
            printError("error: \(path) is not an nnU-Net trained-model folder (no plans.json) and holds \(candidates.isEmpty ? "no" : "several") *__\(configuration) folders\(candidates.isEmpty ? "" : ": " + candidates.joined(separator: ", "))")
            throw ExitCode(1)
        }
        return URL(fileURLWithPath: path).appendingPathComponent(candidates[0]).path
    }

    static func readJSON(_ path: String) -> [String: Any]? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    /// Runs the interpreter; returns its standard output's last line, or exits 1 with its error output.
    static func runPython(_ interpreter: String, _ arguments: [String]) throws -> String {
        let process = Process()
        if interpreter.contains("/") {
            process.executableURL = URL(fileURLWithPath: interpreter)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [interpreter] + arguments
        }
        let stdout = Pipe()
        process.standardOutput = stdout
        do { try process.run() } catch {
            printError("error: cannot run the Python interpreter \(interpreter): \(error) (set --python or HEMO_PYTHON)")
            throw ExitCode(1)
        }
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            printError("error: the export step (\(interpreter)) failed with status \(process.terminationStatus); its messages are above")
            throw ExitCode(1)
        }
        let text = String(decoding: output, as: UTF8.self)
        return text.split(separator: "\n").last.map(String.init) ?? ""
    }

    /// The Python export step, written next to the output while it runs.
    static let exportScript = #"""
    # hemo model import nnunet: export each fold of an nnU-Net v2 trained model to ONNX.
    # Prints one JSON line: {"configuration", "mirror_axes", "label_order", "networks": [{"fold", "file"}]}.
    import argparse, json, os, sys
    import torch
    p = argparse.ArgumentParser()
    p.add_argument("folder"); p.add_argument("--out", required=True)
    p.add_argument("--checkpoint", default="checkpoint_final.pth"); p.add_argument("--folds")
    a = p.parse_args()
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
    folds = a.folds.split(",") if a.folds else sorted(
        d[5:] for d in os.listdir(a.folder) if d.startswith("fold_") and os.path.isfile(os.path.join(a.folder, d, a.checkpoint)))
    if not folds:
        sys.exit(f"{a.folder}: no fold_K/{a.checkpoint}")
    with open(os.path.join(a.folder, "dataset.json")) as f:
        label_order = list(json.load(f)["labels"].keys())
    report = {"networks": [], "label_order": label_order}
    for fold in folds:
        path = os.path.join(a.folder, f"fold_{fold}", a.checkpoint)
        if not os.path.isfile(path):
            sys.exit(f"{path}: missing")
        # The network is rebuilt and loaded exactly as nnUNetv2_predict does it.
        predictor = nnUNetPredictor(device=torch.device("cpu"), verbose=False, allow_tqdm=False)
        predictor.initialize_from_trained_model_folder(a.folder, (int(fold) if fold != "all" else fold,), a.checkpoint)
        net = predictor.network
        net.load_state_dict(predictor.list_of_parameters[0])
        net.eval()
        cm = predictor.configuration_manager
        channels = determine_num_input_channels(predictor.plans_manager, cm, predictor.dataset_json)
        x = torch.zeros((1, channels, *cm.patch_size))
        file = f"fold_{fold}.onnx"
        torch.onnx.export(net, x, os.path.join(a.out, file), input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, dynamo=False)
        axes = predictor.allowed_mirroring_axes
        ck = torch.load(path, map_location="cpu", weights_only=False)
        report["configuration"] = ck["init_args"]["configuration"]
        report["mirror_axes"] = [int(v) for v in axes] if axes is not None else []
        report["networks"].append({"fold": fold, "file": file})
        print(f"fold {fold}: {path} -> {file}", file=sys.stderr)
    print(json.dumps(report))
    """#
}

/// `hemo model predict`: one CT through a pseudo-label model, with the per-channel probabilities.
struct ModelPredict: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Predict one CT with a model (ONNX file or model folder); write its label map and, for format-3 models, the channel probabilities.",
        discussion: """
        The exam goes through the same prediction as `hemo infer` (no geometry options). --probabilities
        writes a float32 .npy of shape channels × slices × rows × columns (nnU-Net's `probabilities`
        array in its .npz), --labels a uint8 NIfTI label map (0 background, 1…5 EPH…IVH),
        --slice-probabilities the slices × 6 float32 .npy of p_any, p_EPH … p_IVH before the
        4-decimal rounding of slice_labels.csv (any model, e.g. a classifier-only one).
        """
    )

    @Option(help: "The model: MODEL.onnx with its sidecar beside it, or a model folder with model.json.")
    var model: String

    @Option(help: "The CT (NIfTI).")
    var ct: String

    @Option(help: "Write the label map here (.nii or .nii.gz).")
    var labels: String?

    @Option(help: "Write the channel probabilities here (.npy; format-3 models).")
    var probabilities: String?

    @Option(help: "Write the slice probabilities p_any, p_EPH … p_IVH here (.npy, float32, slices × 6; unrounded).")
    var sliceProbabilities: String?

    @Option(help: "Threads of the model's kernels.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        let loaded = try InferCommand.loadModelOrExit(model)
        guard let id = CaseID("exam") else { throw ExitCode(1) }
        let c = CohortCase(id: id, ct: URL(fileURLWithPath: ct).standardizedFileURL.path, root: "/")
        let volume = try CasePipeline.readCT(c, options: ReleaseOptions())
        var times = StageTimes()
        let started = Date()
        let prediction = try loaded.predict(volume, threads: threads, keepProbabilities: probabilities != nil, times: &times)
        if let labels {
            try NIfTIFile.write(prediction.labels, to: labels)
        }
        if let probabilities {
            guard let p = prediction.channelProbabilities else {
                printError("error: \(model) is not a format-3 model; --probabilities needs one")
                throw ExitCode(1)
            }
            let size = volume.geometry.size
            try NumPyFile.write(Tensor(shape: [p.channels, size.k, size.j, size.i], data: p.values), to: probabilities)
        }
        if let sliceProbabilities {
            let rows = prediction.sliceProbabilities
            try NumPyFile.write(Tensor(shape: [rows.count, 6], data: rows.flatMap { $0.map { Float($0) } }), to: sliceProbabilities)
        }
        let foreground = prediction.labels.voxels.reduce(0) { $0 + ($1 == 0 ? 0 : 1) }
        print(String(format: "predicted %@: %d foreground voxels of %d in %.2f s", ct, foreground, volume.voxels.count, Date().timeIntervalSince(started)))
    }
}
