import Foundation
import HemoCore
import NIfTI

// Test doubles and fixtures shared by the test targets (the swift-nio "…TestKit" habit):
// real NIfTI files of tiny cohorts, and the path of the built `hemo` executable.

/// A tiny raw cohort written with the real NIfTI writer.
public struct TinyCohort: Sendable {
    /// The cohort folder.
    public let root: String

    /// The grid of every case: 24×20×6 voxels, 0.9×0.9×5 mm, scanner-like flipped x and y.
    public static let geometry = Geometry(size: GridSize(24, 20, 6), spacing: SIMD3(0.9, 0.9, 5),
                                   affine: Affine(rowMajor: [-0.9, 0, 0, 10, 0, -0.9, 0, 12, 0, 0, 5, -20, 0, 0, 0, 1]))

    /// Writes `count` cases; case n gets blobs of several subtypes, case 0 is negative.
    public static func make(count: Int, tag: String = UUID().uuidString) throws -> TinyCohort {
        let root = NSTemporaryDirectory() + "hemo-cohort-\(tag)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        for n in 0..<count {
            try writeCase(root: root, name: String(format: "case_%03d", n), seed: n)
        }
        return TinyCohort(root: root)
    }

    /// The label map of case `seed`: an IPH blob, an SDH strip on odd slices, an SAH track when seed % 3 == 0; empty for seed 0.
    public static func labelMap(seed: Int) -> Volume<UInt8> {
        var labels = Volume<UInt8>(geometry: geometry, repeating: 0)
        guard seed > 0 else { return labels }
        let g = geometry.size
        for k in 1..<(g.k - 1) {
            for j in 0..<g.j {
                for i in 0..<g.i {
                    let di = i - (5 + seed % 7), dj = j - 8
                    if di * di + dj * dj <= 9 { labels[i, j, k] = 4 }                  // IPH blob
                    if i == 20 && j >= 3 && j < 15 && k % 2 == 1 { labels[i, j, k] = 2 } // SDH strip
                    if seed % 3 == 0 && i + j == 12 && k == 2 { labels[i, j, k] = 3 }    // diagonal SAH track
                }
            }
        }
        return labels
    }

    /// Writes one case folder (`ct.nii.gz`, `labelmap.nii.gz`) named `name` under `root`.
    public static func writeCase(root: String, name: String, seed: Int) throws {
        let dir = root + "/" + name
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var ct = Volume<Int16>(geometry: geometry, repeating: 30)
        for idx in ct.voxels.indices { ct.voxels[idx] = Int16(20 + (idx * 7 + seed) % 23) }
        try NIfTIFile.write(ct, to: dir + "/ct.nii.gz", options: NIfTIWriteOptions())
        try NIfTIFile.write(labelMap(seed: seed), to: dir + "/labelmap.nii.gz", options: NIfTIWriteOptions())
    }

    /// A sibling path for a release built from this cohort.
    public func release(_ name: String) -> String { root + "-" + name }
}

/// The built `hemo` executable, for tests that run it as a user would. Test targets that use it
/// depend on the `hemo` target so SwiftPM builds it first.
public enum HemoExecutable {
    /// The binary beside the running test bundle, else `.build/debug/hemo`.
    public static var path: String { path(of: "hemo") }

    /// The `hemo-bench` binary (benchmarks and simulators); test targets that use it depend on the
    /// `hemo-bench` target.
    public static var benchPath: String { path(of: "hemo-bench") }

    /// The executable `name` beside the running test bundle, else `.build/debug/<name>`.
    public static func path(of name: String) -> String {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return FileManager.default.currentDirectoryPath + "/.build/debug/" + name
    }
}

/// The tiny ONNX segmentation model shared by the inference tests (`scripts/fixtures/make-pseudolabel-fixtures.py`):
/// a 1×1 convolution and a Gemm head, input 32×32, with its format-2 sidecar beside it.
public enum TinyModelFiles {
    /// `tiny-model.onnx` (its sidecar `tiny-model.json` sits in the same folder).
    public static var onnxPath: String {
        guard let path = Bundle.module.path(forResource: "tiny-model", ofType: "onnx", inDirectory: "Fixtures") else {
            fatalError("HemoTestKit's Fixtures/tiny-model.onnx is missing from the test bundle")
        }
        return path
    }
}

/// The rule for tests that cannot run on this machine (e.g. libzmq without CURVE): outside CI a
/// test may skip; under CI (`CI=true`) a skip is a failure unless the test's name is listed in
/// `scripts/system-tests/skip-allowed.txt` (the one allowlist, shared with `scripts/test.sh`)
/// with the reason this machine cannot run it.
public enum SkipPolicy {
    /// The allowlist file (`name  reason` per line, `#` comments).
    public static let allowlistPath: String = {
        // Sources/HemoTestKit/HemoTestKit.swift → the repository root.
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return url.path + "/scripts/system-tests/skip-allowed.txt"
    }()

    /// Whether `name` may be skipped here: always outside CI; under CI only when allowlisted.
    public static func maySkip(_ name: String) -> Bool {
        guard ProcessInfo.processInfo.environment["CI"] == "true" else { return true }
        guard let text = try? String(contentsOfFile: allowlistPath, encoding: .utf8) else { return false }
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.count >= 2, fields[0] == name { return true }
        }
        return false
    }

    /// Reports a skip of `name` for `reason`: prints `SKIP: name: reason` and returns `true` when
    /// the skip is allowed, else returns `false` so the caller runs the test anyway and it fails
    /// on the missing feature (under CI, unless allowlisted).
    public static func skip(_ name: String, reason: String) -> Bool {
        guard maySkip(name) else {
            FileHandle.standardError.write(Data("FAIL: \(name) cannot run here (\(reason)) and is not in \(allowlistPath)\n".utf8))
            return false
        }
        print("SKIP: \(name): \(reason)")
        return true
    }
}

/// Every file under `root` (hidden ones too), by path relative to `root`, with its bytes: for
/// comparing two releases file by file.
public func releaseTree(_ root: String) -> [String: Data] {
    var out: [String: Data] = [:]
    let fm = FileManager.default
    guard let e = fm.enumerator(atPath: root) else { return out }
    while let rel = e.nextObject() as? String {
        var d: ObjCBool = false
        if fm.fileExists(atPath: root + "/" + rel, isDirectory: &d), !d.boolValue { out[rel] = fm.contents(atPath: root + "/" + rel) }
    }
    return out
}
