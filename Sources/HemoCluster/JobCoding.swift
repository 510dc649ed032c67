import Foundation
import HemoCore
import HemoRelease
import HemoTransforms
import HemoWire
import LZ4

/// A JOB or result that cannot be encoded or decoded, naming the exam and the reason.
public struct ClusterError: Error, CustomStringConvertible, Sendable {
    /// The exam, file or endpoint concerned.
    public var subject: String
    /// Why, as a sentence.
    public var reason: String

    /// An error about `subject`.
    public init(_ subject: String, _ reason: String) {
        self.subject = subject
        self.reason = reason
    }

    /// `subject: reason`.
    public var description: String { "\(subject): \(reason)" }
}

/// ``ReleaseOptions`` as the bytes of JOB's `options` field: sorted-key JSON, doubles as their bit
/// patterns so a worker rebuilds exactly the coordinator's options.
public enum JobOptionsCoding {
    private struct Wire: Codable {
        var spacing: [UInt64]?
        var interpolation: String
        var canonical: Bool
        var gzipLevel: Int
        var splitSeed: String
        var annotations: String
        var maxVoxels: Int
        var gridTolerance: UInt64
    }

    /// The options as bytes.
    public static func encode(_ o: ReleaseOptions) -> [UInt8] {
        var spacing: [UInt64]? = nil
        if case .millimetres(let s) = o.spacing { spacing = [s.x.bitPattern, s.y.bitPattern, s.z.bitPattern] }
        let wire = Wire(spacing: spacing, interpolation: o.interpolation.rawValue, canonical: o.canonical,
                        gzipLevel: o.gzipLevel, splitSeed: o.splitSeed, annotations: o.annotations.rawValue,
                        maxVoxels: o.maxVoxels, gridTolerance: o.gridTolerance.bitPattern)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(wire)) ?? Data())
    }

    /// The options from bytes.
    /// - Throws: ``ClusterError`` naming `exam` when the bytes are not options this build understands.
    public static func decode(_ bytes: [UInt8], exam: CaseID) throws(ClusterError) -> ReleaseOptions {
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
        return o
    }
}

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
    static func roles(_ c: CohortCase) -> [(String, String)] {
        var out: [(String, String)] = [("ct", c.ct)]
        if let l = c.labelMap { out.append(("labelmap", l)) }
        for s in Subtype.allCases { if let m = c.subtypeMasks[s] { out.append(("mask.\(s.name)", m)) } }
        if let p = c.polygons { out.append(("polygons", p)) }
        return out
    }

    /// Paths on shared storage.
    public static func shared(_ c: CohortCase) -> JobInputs {
        .paths(["root=\(c.root)"] + roles(c).map { "\($0.0)=\(c.relative($0.1))" })
    }

    /// The files themselves; also returns the uncompressed and compressed byte counts.
    /// - Throws: ``ClusterError`` naming the file when it cannot be read or compressed.
    public static func inline(_ c: CohortCase) throws(ClusterError) -> (inputs: JobInputs, raw: Int, compressed: Int) {
        var files: [InlineFile] = []
        var raw = 0, packed = 0
        for (role, path) in roles(c) {
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

/// The DONE summary of a build job: the exam's input files with their SHA-256, as JSON.
public enum ResultSummary {
    /// The summary bytes.
    public static func encode(inputs: [InputFile]) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(inputs)) ?? Data())
    }

    /// The input files from summary bytes.
    public static func decode(_ bytes: [UInt8], exam: CaseID) throws(ClusterError) -> [InputFile] {
        do { return try JSONDecoder().decode([InputFile].self, from: Data(bytes)) } catch {
            throw ClusterError("exam \(exam)", "DONE summary is not readable: \(error)")
        }
    }
}

/// The result messages of one build attempt (worker side): CT byte planes, then the subtype
/// bitmask, as CHUNKs, then DONE.
public enum ResultEncoding {
    /// Every message to send, in order, for a finished exam.
    public static func messages(product: CaseProduct, attempt: UInt32, times: StageTimes,
                                chunker: MaskChunker = MaskChunker()) throws(ChunkError) -> [WireMessage] {
        let planes = MaskChunker.int16BytePlanes(product.ct)
        var out: [WireMessage] = []
        for (volume, kind) in [(planes.low, MaskKind.int16LowBytes), (planes.high, .int16HighBytes),
                               (product.masks.bitmask, .bitmask)] {
            out += try chunker.chunks(bytes: volume, kind: kind, exam: product.id, attempt: attempt).map { .chunk($0) }
        }
        let timings = times.entries.prefix(WireProtocol.maxTimings).map {
            StageTiming(stage: String($0.0.prefix(WireProtocol.maxStageBytes)), nanoseconds: UInt64(max(0, $0.1) * 1e9))
        }
        out.append(.done(Done(exam: product.id, attempt: attempt, summary: ResultSummary.encode(inputs: product.inputs),
                              timings: Array(timings))))
        return out
    }
}

/// Rebuilds one attempt's ``CaseProduct`` from its CHUNKs and DONE (coordinator side).
public struct ResultCollector: Sendable {
    /// The exam.
    public let exam: CaseID
    /// The attempt being collected.
    public let attempt: UInt32
    private var low: MaskAssembler
    private var high: MaskAssembler
    private var bits: MaskAssembler
    private var lowVolume: Volume<UInt8>?
    private var highVolume: Volume<UInt8>?
    private var bitmask: Volume<UInt8>?
    /// Uncompressed bytes of the chunks accepted so far.
    public private(set) var rawBytes = 0
    /// Compressed payload bytes of the chunks accepted so far.
    public private(set) var payloadBytes = 0

    /// A collector for `attempt` of `exam`.
    public init(exam: CaseID, attempt: UInt32) {
        self.exam = exam
        self.attempt = attempt
        low = MaskAssembler(exam: exam, attempt: attempt, maskKind: .int16LowBytes)
        high = MaskAssembler(exam: exam, attempt: attempt, maskKind: .int16HighBytes)
        bits = MaskAssembler(exam: exam, attempt: attempt, maskKind: .bitmask)
    }

    /// Stores a chunk of this attempt.
    /// - Throws: ``ChunkError`` when the chunk is corrupt or of a kind a build result does not have.
    public mutating func accept(_ chunk: Chunk) throws(ChunkError) {
        let outcome: ChunkOutcome
        switch chunk.maskKind {
        case .int16LowBytes: outcome = try low.accept(chunk)
        case .int16HighBytes: outcome = try high.accept(chunk)
        case .bitmask: outcome = try bits.accept(chunk)
        default:
            throw ChunkError(exam: exam, attempt: chunk.attempt, chunkIndex: chunk.index,
                             reason: "a build result has no \(chunk.maskKind) chunks")
        }
        switch outcome {
        case .accepted, .complete:
            rawBytes += chunk.slabVoxels
            payloadBytes += chunk.payload.count
        case .duplicate, .ignoredAttempt:
            break
        }
        if case .complete(let v) = outcome {
            switch chunk.maskKind {
            case .int16LowBytes: lowVolume = v
            case .int16HighBytes: highVolume = v
            default: bitmask = v
            }
        }
    }

    /// The product once DONE arrived.
    /// - Throws: ``ClusterError`` when a part is missing or inconsistent.
    public func product(done: Done) throws(ClusterError) -> CaseProduct {
        guard let lowVolume, let highVolume, let bitmask else {
            throw ClusterError("exam \(exam) attempt \(attempt)", "DONE arrived before every CHUNK of the result")
        }
        guard let ct = MaskChunker.joinInt16BytePlanes(low: lowVolume, high: highVolume) else {
            throw ClusterError("exam \(exam) attempt \(attempt)", "the CT byte planes have different geometries")
        }
        let inputs = try ResultSummary.decode(done.summary, exam: exam)
        return CaseProduct(id: exam, ct: ct, masks: SubtypeMasks(bitmask: bitmask), inputs: inputs)
    }
}
