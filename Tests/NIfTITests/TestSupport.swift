import Foundation
import HemoCore
import Testing
@testable import NIfTI

/// What nibabel reported for one committed fixture (see scripts/fixtures/make-nifti-fixtures.py).
struct FixtureExpectation: Sendable, CustomTestStringConvertible {
    var file: String
    var shape: [Int]
    var dtype: String
    var version: Int
    var bigEndian: Bool
    var affine: [[Double]]
    var qformCode: Int
    var sformCode: Int
    var sclSlope: Double?
    var sclInter: Double?
    var stored: [Double]
    var fdata: [Double]
    var fdataFloat32SHA256: String

    var testDescription: String { file }
    var path: String { Fixtures.path(file) }

    static func number(_ any: Any) -> Double {
        switch any {
        case let s as String: Double(s) ?? .nan
        case let n as NSNumber: n.doubleValue
        default: .nan
        }
    }
}

enum Fixtures {
    static var directory: String { Bundle.module.resourcePath! + "/Fixtures" }
    static func path(_ name: String) -> String { directory + "/" + name }

    static let all: [FixtureExpectation] = {
        let url = URL(fileURLWithPath: path("expected.json"))
        let data = try! Data(contentsOf: url)
        let root = try! JSONSerialization.jsonObject(with: data) as! [String: Any]
        return (root["fixtures"] as! [[String: Any]]).map { f in
            FixtureExpectation(
                file: f["file"] as! String,
                shape: f["shape"] as! [Int],
                dtype: f["dtype"] as! String,
                version: f["version"] as! Int,
                bigEndian: f["big_endian"] as! Bool,
                affine: f["affine"] as! [[Double]],
                qformCode: f["qform_code"] as! Int,
                sformCode: f["sform_code"] as! Int,
                sclSlope: f["scl_slope"] as? Double,
                sclInter: f["scl_inter"] as? Double,
                stored: (f["stored"] as! [Any]).map(FixtureExpectation.number),
                fdata: (f["fdata"] as! [Any]).map(FixtureExpectation.number),
                fdataFloat32SHA256: f["fdata_float32_sha256"] as! String)
        }
    }()

    static func named(_ name: String) -> FixtureExpectation { all.first { $0.file == name }! }
}

/// A fresh temporary directory, removed by `cleanup()`.
struct ScratchDirectory {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "nifti-tests-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    func contents() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: path).sorted()) ?? [] }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// Whether two doubles are equal, NaN equal to NaN.
func sameValue(_ a: Double, _ b: Double, relative: Double = 0) -> Bool {
    if a.isNaN || b.isNaN { return a.isNaN && b.isNaN }
    if a.isInfinite || b.isInfinite { return a == b }
    return abs(a - b) <= relative * max(abs(a), abs(b))
}

extension AnyVolume {
    /// Every voxel as a Double.
    var doubles: [Double] {
        switch self {
        case .uint8(let v): v.voxels.map(Double.init)
        case .int16(let v): v.voxels.map(Double.init)
        case .uint16(let v): v.voxels.map(Double.init)
        case .int32(let v): v.voxels.map(Double.init)
        case .float32(let v): v.voxels.map(Double.init)
        case .float64(let v): v.voxels
        }
    }
}

/// A small CT-like int16 volume with an oblique affine.
func syntheticCT(frames: Int = 1, qformCode: Int = 1, sformCode: Int = 1) -> Volume<Int16> {
    let size = GridSize(9, 8, 4)
    // A rotation about z (cos 0.96, sin 0.28) times voxel sizes 0.45, 0.45, 5: no shear, so
    // the qform can represent it too.
    let affine = Affine(rowMajor: [0.96 * 0.45, -0.28 * 0.45, 0, -80.5,
                                   0.28 * 0.45, 0.96 * 0.45, 0, -95.25,
                                   0, 0, 5, -40,
                                   0, 0, 0, 1])
    let geometry = Geometry(size: size, spacing: affine.columnNorms, affine: affine, qformCode: qformCode, sformCode: sformCode)
    let voxels = (0..<(size.count * frames)).map { Int16(truncatingIfNeeded: ($0 * 37) % 4000 - 1024) }
    return Volume(geometry: geometry, frames: frames, voxels: voxels)
}
