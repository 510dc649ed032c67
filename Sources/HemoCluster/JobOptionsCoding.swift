import Foundation
import HemoCore
import HemoRelease
import HemoTransforms
import HemoWire
import LZ4
import DICOM

/// ``ReleaseOptions`` as the bytes of JOB's `options` field: sorted-key JSON, doubles as their bit
/// patterns so a worker rebuilds exactly the coordinator's options. Infer JOBs also carry the
/// SHA-256 of the model's sidecar (the JOB kind names the ONNX file's), so a worker whose model
/// has other pre- or post-processing settings refuses the job.
public enum JobOptionsCoding {
    private struct Wire: Codable {
        var sidecarSHA256: String?
        var spacing: [UInt64]?
        var interpolation: String
        var canonical: Bool
        var gzipLevel: Int
        var splitSeed: String
        var annotations: String
        var maxVoxels: Int
        var gridTolerance: UInt64
        var seriesSelect: String?
        var strictSpacing: Bool?
        var uidSalt: String?
        var probabilities: Bool?
    }

    /// The options as bytes, with the model sidecar's hex SHA-256 for infer JOBs.
    public static func encode(_ o: ReleaseOptions, sidecarSHA256: String? = nil) -> [UInt8] {
        var spacing: [UInt64]? = nil
        if case .millimetres(let s) = o.spacing { spacing = [s.x.bitPattern, s.y.bitPattern, s.z.bitPattern] }
        let wire = Wire(sidecarSHA256: sidecarSHA256, spacing: spacing, interpolation: o.interpolation.rawValue, canonical: o.canonical,
                        gzipLevel: o.gzipLevel, splitSeed: o.splitSeed, annotations: o.annotations.rawValue,
                        maxVoxels: o.maxVoxels, gridTolerance: o.gridTolerance.bitPattern,
                        seriesSelect: o.seriesSelect.isEmpty ? nil : o.seriesSelect, strictSpacing: o.strictSpacing ? true : nil,
                        uidSalt: o.uidSalt == ReleaseOptions().uidSalt ? nil : o.uidSalt,
                        probabilities: o.probabilities ? true : nil)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(wire)) ?? Data())
    }

    /// The options from bytes.
    /// - Throws: ``ClusterError`` naming `exam` when the bytes are not options this build understands.
    public static func decode(_ bytes: [UInt8], exam: CaseID) throws(ClusterError) -> ReleaseOptions {
        try decodeWithSidecar(bytes, exam: exam).options
    }

    /// The options and, for infer JOBs, the model sidecar's hex SHA-256.
    /// - Throws: ``ClusterError`` naming `exam` when the bytes are not options this build understands.
    public static func decodeWithSidecar(_ bytes: [UInt8], exam: CaseID) throws(ClusterError) -> (options: ReleaseOptions, sidecarSHA256: String?) {
        let wire: Wire
        do { wire = try JSONDecoder().decode(Wire.self, from: Data(bytes)) } catch {
            throw ClusterError("exam \(exam)", "JOB options are not readable: \(error)")
        }
        var o = ReleaseOptions()
        if let s = wire.spacing {
            guard s.count == 3 else { throw ClusterError("exam \(exam)", "JOB options spacing has \(s.count) values, not 3") }
            o.spacing = .millimetres(SIMD3(Double(bitPattern: s[0]), Double(bitPattern: s[1]), Double(bitPattern: s[2])))
        }
        guard let interpolation = Interpolation(rawValue: wire.interpolation),
              let annotations = AnnotationSource(rawValue: wire.annotations) else {
            throw ClusterError("exam \(exam)", "JOB options name an unknown interpolation or annotation source")
        }
        o.interpolation = interpolation
        o.canonical = wire.canonical
        o.gzipLevel = wire.gzipLevel
        o.splitSeed = wire.splitSeed
        o.annotations = annotations
        o.maxVoxels = wire.maxVoxels
        o.gridTolerance = Double(bitPattern: wire.gridTolerance)
        if let v = wire.seriesSelect { o.seriesSelect = v }
        if let v = wire.strictSpacing { o.strictSpacing = v }
        if let v = wire.uidSalt { o.uidSalt = v }
        if let v = wire.probabilities { o.probabilities = v }
        return (o, wire.sidecarSHA256)
    }
}
