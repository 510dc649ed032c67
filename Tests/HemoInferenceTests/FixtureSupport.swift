import Foundation
import Testing
@testable import HemoInference

/// One parity case of Fixtures/manifest.json (written by scripts/fixtures/make-onnx-fixtures.py).
struct ParityCase: Codable, Sendable, CustomTestStringConvertible {
    var `case`: String
    var model: String
    var inputs: [String: String]
    var outputs: [String: String]
    var testDescription: String { self.case }
}

enum Fixtures {
    static var directory: URL {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
    }

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    static let cases: [ParityCase] = {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent("manifest.json")),
              let cases = try? JSONDecoder().decode([ParityCase].self, from: data) else { return [] }
        return cases
    }()

    /// A fresh temporary file path (removed by the caller).
    static func temporaryPath(_ suffix: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("hemo-inference-\(UUID().uuidString)\(suffix)").path
    }
}

/// The largest `|ours − reference| / max(1, |reference|)` over all elements.
func worstRelativeError(_ ours: Tensor, _ reference: Tensor) -> Float {
    var worst: Float = 0
    for (a, b) in zip(ours.data, reference.data) {
        let error = abs(a - b) / max(1, abs(b))
        if !(error <= worst) { worst = error.isNaN ? .infinity : error }
    }
    return worst
}
