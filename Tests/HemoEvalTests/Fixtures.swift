import Foundation

/// The reference fixtures written by scripts/fixtures/make-eval-fixtures.py (scikit-learn, pycocotools, numpy).
enum ReferenceFixtures {
    struct File<Scenario: Decodable & Sendable>: Decodable, Sendable {
        var versions: [String: String]
        var scenarios: [Scenario]
    }

    struct Classification: Decodable, Sendable, CustomStringConvertible {
        struct Expected: Decodable, Sendable {
            var precision, recall, f1, accuracy, specificity: Double
            var roc_auc: Double?
        }
        var name: String
        var truth: [Int]
        var predicted: [Int]
        var scores: [Double]
        var expected: Expected
        var description: String { name }
    }

    struct Detection: Decodable, Sendable, CustomStringConvertible {
        struct Truth: Decodable, Sendable { var image_id: Int; var category_id: Int; var bbox: [Double] }
        struct Detected: Decodable, Sendable { var image_id: Int; var category_id: Int; var bbox: [Double]; var score: Double }
        struct CategoryExpected: Decodable, Sendable { var ap50: Double?; var ap75: Double?; var map: Double? }
        struct Expected: Decodable, Sendable {
            var ap50: Double?
            var ap75: Double?
            var map: Double?
            var coco_stats_0: Double
            var coco_stats_1: Double
            var per_category: [String: CategoryExpected]
        }
        var name: String
        var images: [Int]
        var ground_truth: [Truth]
        var detections: [Detected]
        var expected: Expected
        var description: String { name }
    }

    struct Segmentation: Decodable, Sendable, CustomStringConvertible {
        struct Case: Decodable, Sendable { var `case`: String; var truth: [UInt8]; var predicted: [UInt8] }
        struct Expected: Decodable, Sendable {
            var dice, iou: [Double]
            var mean_dice, median_dice, mean_iou, median_iou, pooled_dice, pooled_iou: Double
            var volume_mae_ml, volume_bias_ml: Double
            /// Per case: truth lesions, detected truth lesions, predicted lesions, matched predicted lesions.
            var lesions: [[Int]]
        }
        var name: String
        var shape: [Int]
        var voxel_ml: Double
        var cases: [Case]
        var expected: [String: Expected]
        var description: String { name }
    }

    static func load<Scenario: Decodable & Sendable>(_ name: String, as type: Scenario.Type) -> File<Scenario> {
        guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures"),
              let data = try? Data(contentsOf: url) else {
            fatalError("fixture \(name).json missing: run scripts/fixtures/make-eval-fixtures.py")
        }
        do {
            return try JSONDecoder().decode(File<Scenario>.self, from: data)
        } catch {
            fatalError("fixture \(name).json unreadable: \(error)")
        }
    }

    static let classification = load("classification", as: Classification.self)
    static let detection = load("detection", as: Detection.self)
    static let segmentation = load("segmentation", as: Segmentation.self)
}
