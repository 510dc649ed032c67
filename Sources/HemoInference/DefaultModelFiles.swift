import Foundation

/// Where the default model (`hemo-default.onnx` and its sidecar `hemo-default.json`) is on this machine.
///
/// The two files ship as a SwiftPM resource of this module (folder `DefaultModel`, copied into the
/// `HemoCluster_HemoInference.resources` bundle beside the executable). The lookup never traps (unlike
/// a bare `Bundle.module` when the bundle was not copied along with the executable): it tries the
/// bundle beside the running executable, the bundle found by `Bundle.main`, the build folder the
/// module was compiled into, and finally the source tree, and throws a sentence saying where it looked.
public enum DefaultModelFiles {
    /// The file stem of the default model.
    public static let stem = "hemo-default"
    /// The resource bundle's folder name, as SwiftPM names it.
    static let bundleName = "HemoCluster_HemoInference.resources"

    /// The absolute path of the default model's ONNX file (its sidecar sits beside it, `.json`).
    /// - Throws: ``InferenceError/unreadableFile(path:reason:)`` listing the places searched.
    public static func onnxPath() throws(InferenceError) -> String {
        let candidates = searchFolders().map { $0 + "/" + stem + ".onnx" }
        for path in candidates where FileManager.default.isReadableFile(atPath: path) { return path }
        throw InferenceError.unreadableFile(
            path: stem + ".onnx",
            reason: "the default model is not installed beside the executable; looked in \(candidates.joined(separator: ", ")). Copy \(bundleName) next to the hemo executable, or pass --model")
    }

    /// Folders that may hold the default model, most specific first.
    static func searchFolders() -> [String] {
        var folders: [String] = []
        if let executable = Bundle.main.executableURL?.resolvingSymlinksInPath() {
            folders.append(executable.deletingLastPathComponent().appendingPathComponent(bundleName).path + "/DefaultModel")
        }
        folders.append(Bundle.main.bundleURL.appendingPathComponent(bundleName).path + "/DefaultModel")
        // `swift test` runs an .xctest bundle from the build folder: the bundle lies beside it.
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            folders.append(URL(fileURLWithPath: bundle.bundlePath).deletingLastPathComponent()
                .appendingPathComponent(bundleName).path + "/DefaultModel")
        }
        // A checkout: the source folder this file was compiled from.
        folders.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("DefaultModel").path)
        var seen = Set<String>()
        return folders.filter { seen.insert($0).inserted }
    }
}
