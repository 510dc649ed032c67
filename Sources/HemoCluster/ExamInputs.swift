import Foundation
import HemoCore
import HemoRelease
import HemoTransforms
import HemoWire
import LZ4
import DICOM

/// How a JOB's input files travel.
public enum TransferMode: String, Sendable, CaseIterable {
    /// The JOB names cohort-relative paths and the cohort root (storage shared by every machine).
    case shared
    /// The JOB carries the files themselves, LZ4-compressed; the worker writes them to a private folder.
    case inline
}

/// A cohort case as JOB inputs and back.
///
/// Every entry is `role=value`, role one of `root`, `ct`, `labelmap`, `mask.<SUBTYPE>`, `polygons`.
/// Shared: values are paths relative to the root (the first entry, `root=/abs/cohort`). Inline:
/// the file name is `role=relative-path` with `%` and `/` percent-encoded, so the worker rebuilds
/// the cohort layout and the release's provenance names the same relative paths.
public enum ExamInputs {
    static func roles(_ c: CohortCase, ctOnly: Bool = false) -> [(String, String)] {
        var out: [(String, String)] = [("ct", c.ct)]
        if ctOnly { return out }
        if let l = c.labelMap { out.append(("labelmap", l)) }
        for s in Subtype.allCases { if let m = c.subtypeMasks[s] { out.append(("mask.\(s.name)", m)) } }
        if let p = c.polygons { out.append(("polygons", p)) }
        return out
    }

    /// Paths on shared storage; with `ctOnly` (infer JOBs) the CT alone.
    public static func shared(_ c: CohortCase, ctOnly: Bool = false) -> JobInputs {
        .paths(["root=\(c.root)"] + roles(c, ctOnly: ctOnly).map { "\($0.0)=\(c.relative($0.1))" })
    }

    /// The files themselves (with `ctOnly`, the CT alone); also returns the uncompressed and
    /// compressed byte counts.
    /// - Throws: ``ClusterError`` naming the file when it cannot be read or compressed.
    public static func inline(_ c: CohortCase, ctOnly: Bool = false) throws(ClusterError) -> (inputs: JobInputs, raw: Int, compressed: Int) {
        var files: [InlineFile] = []
        var raw = 0, packed = 0
        var entries: [(String, String)] = []
        for (role, path) in roles(c, ctOnly: ctOnly) {
            guard role == "ct", c.isDICOM else { entries.append((role, path)); continue }
            // A DICOM study: the folder (an empty entry) and every file under it.
            let rel = c.relative(path)
            let name = "ct.dicom=" + rel.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "/", with: "%2F")
            let empty: [UInt8]
            do { empty = try LZ4Frame.compress([], subject: rel) } catch { throw ClusterError("exam \(c.id)", "\(rel): \(error)") }
            files.append(InlineFile(name: name, size: 0, lz4Frame: empty))
            do {
                for f in try DICOMStudy.files(in: path) { entries.append(("ct.file", f)) }
            } catch {
                throw ClusterError("exam \(c.id)", "\(c.relative(error.path)): \(error.reason)")
            }
        }
        for (role, path) in entries {
            let rel = c.relative(path)
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ClusterError("exam \(c.id)", "\(rel): cannot be read")
            }
            let bytes = [UInt8](data)
            let frame: [UInt8]
            do { frame = try LZ4Frame.compress(bytes, subject: rel) } catch {
                throw ClusterError("exam \(c.id)", "\(rel): \(error)")
            }
            let name = role + "=" + rel.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "/", with: "%2F")
            files.append(InlineFile(name: name, size: bytes.count, lz4Frame: frame))
            raw += bytes.count
            packed += frame.count
        }
        return (.inline(files), raw, packed)
    }

    /// The case a worker processes. For inline inputs the files are written under `scratch`
    /// (which the caller removes afterwards).
    /// - Throws: ``ClusterError`` naming the exam and the entry that is unusable.
    public static func materialize(exam: CaseID, inputs: JobInputs, scratch: String) throws(ClusterError) -> CohortCase {
        var root: String?
        var entries: [(String, String)] = []
        func split(_ entry: String) throws(ClusterError) -> (String, String) {
            guard let eq = entry.firstIndex(of: "=") else { throw ClusterError("exam \(exam)", "input entry '\(entry)' has no role") }
            return (String(entry[..<eq]), String(entry[entry.index(after: eq)...]))
        }
        switch inputs {
        case .paths(let paths):
            for p in paths {
                let (role, value) = try split(p)
                if role == "root" { root = value } else { entries.append((role, value)) }
            }
            guard let r = root else { throw ClusterError("exam \(exam)", "shared inputs name no cohort root") }
            entries = entries.map { ($0.0, $0.1.hasPrefix("/") ? $0.1 : r + "/" + $0.1) }
        case .inline(let files):
            root = scratch
            for f in files {
                let (role, encoded) = try split(f.name)
                let rel = encoded.replacingOccurrences(of: "%2F", with: "/").replacingOccurrences(of: "%25", with: "%")
                let parts = rel.split(separator: "/", omittingEmptySubsequences: false)
                guard !rel.hasPrefix("/"), !parts.contains(where: { $0 == ".." || $0 == "." || $0.isEmpty }) else {
                    throw ClusterError("exam \(exam)", "inline file '\(rel)' is not a plain relative path")
                }
                let bytes: [UInt8]
                do { bytes = try LZ4Frame.decompress(f.lz4Frame, maximumOutputSize: f.size, subject: rel) } catch {
                    throw ClusterError("exam \(exam)", "inline file \(rel): \(error)")
                }
                guard bytes.count == f.size else {
                    throw ClusterError("exam \(exam)", "inline file \(rel) holds \(bytes.count) bytes, \(f.size) announced")
                }
                let path = scratch + "/" + rel
                if role == "ct.dicom" {
                    do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
                        throw ClusterError("exam \(exam)", "inline study folder \(rel) cannot be made in \(scratch): \(error.localizedDescription)")
                    }
                    entries.append(("ct", path))
                    continue
                }
                do {
                    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                            withIntermediateDirectories: true)
                    try Data(bytes).write(to: URL(fileURLWithPath: path))
                } catch {
                    throw ClusterError("exam \(exam)", "inline file \(rel) cannot be written to \(scratch): \(error.localizedDescription)")
                }
                entries.append((role, path))
            }
        }
        var ct: String?
        var labelMap: String?
        var polygons: String?
        var masks: [Subtype: String] = [:]
        for (role, path) in entries {
            switch role {
            case "ct": ct = path
            case "ct.file": break // a file of the DICOM study written above
            case "labelmap": labelMap = path
            case "polygons": polygons = path
            default:
                guard role.hasPrefix("mask."), let s = Subtype.allCases.first(where: { "mask.\($0.name)" == role }) else {
                    throw ClusterError("exam \(exam)", "unknown input role '\(role)'")
                }
                masks[s] = path
            }
        }
        guard let ct, let root else { throw ClusterError("exam \(exam)", "the JOB names no CT") }
        return CohortCase(id: exam, ct: ct, labelMap: labelMap, subtypeMasks: masks, polygons: polygons, root: root)
    }
}
