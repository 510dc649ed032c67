import Foundation
import HemoCore
import HemoRelease
import HemoTransforms
import HemoWire
import LZ4
import DICOM

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
    }

    /// The options as bytes, with the model sidecar's hex SHA-256 for infer JOBs.
    public static func encode(_ o: ReleaseOptions, sidecarSHA256: String? = nil) -> [UInt8] {
        var spacing: [UInt64]? = nil
        if case .millimetres(let s) = o.spacing { spacing = [s.x.bitPattern, s.y.bitPattern, s.z.bitPattern] }
        let wire = Wire(sidecarSHA256: sidecarSHA256, spacing: spacing, interpolation: o.interpolation.rawValue, canonical: o.canonical,
                        gzipLevel: o.gzipLevel, splitSeed: o.splitSeed, annotations: o.annotations.rawValue,
                        maxVoxels: o.maxVoxels, gridTolerance: o.gridTolerance.bitPattern,
                        seriesSelect: o.seriesSelect.isEmpty ? nil : o.seriesSelect, strictSpacing: o.strictSpacing ? true : nil,
                        uidSalt: o.uidSalt == ReleaseOptions().uidSalt ? nil : o.uidSalt)
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
        return (o, wire.sidecarSHA256)
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

/// The DONE summary of a build attempt: the exam's input files with their SHA-256 and its
/// ``CaseRecord`` (the rows of every table), as sorted-key JSON.
public struct BuildSummaryCoding: Codable, Sendable {
    /// The exam's input files, for provenance.
    public var inputs: [InputFile]
    /// The exam's record, computed on the worker from its masks.
    public var record: CaseRecord

    /// A summary.
    public init(inputs: [InputFile], record: CaseRecord) {
        self.inputs = inputs
        self.record = record
    }

    /// The summary bytes.
    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(self)) ?? Data())
    }

    /// The summary from bytes.
    /// - Throws: ``ClusterError`` naming `exam` when the bytes are not a summary this build reads.
    public static func decode(_ bytes: [UInt8], exam: CaseID) throws(ClusterError) -> BuildSummaryCoding {
        do { return try JSONDecoder().decode(BuildSummaryCoding.self, from: Data(bytes)) } catch {
            throw ClusterError("exam \(exam)", "DONE summary is not readable: \(error)")
        }
    }
}

/// The result of one attempt (worker side): mask chunks plus a record.
///
/// Messages, in order: the subtype bitmask as CHUNKs (LZ4 slabs with checksums), the CT as FILE
/// parts only when the options change its grid (reorientation or resampling: the coordinator
/// cannot rebuild it from the input), then DONE with the inputs and the record (tables,
/// probabilities) and the stage timings. The coordinator encodes the label files from the
/// bitmask, and otherwise the CT from the input, with the same ``CaseFiles`` code as `hemo build`.
public enum ResultEncoding {
    /// Whether an exam's CT travels back from the worker: when the options change its grid, or
    /// when it was converted from a DICOM study (the coordinator reads NIfTI inputs only), unless
    /// the release omits images.
    public static func travelsCT(options: ReleaseOptions, fromDICOM: Bool) -> Bool {
        options.transformsGrid || (fromDICOM && options.images != .omit)
    }

    /// The files a worker sends for `product`: its CT file (encoded as `hemo build` encodes it)
    /// when the coordinator cannot rebuild it from the input (``travelsCT(options:fromDICOM:)``),
    /// else none.
    /// - Throws: ``CaseFailure`` (stage `write`) when encoding fails.
    public static func encodeFiles(_ product: CaseProduct, options: ReleaseOptions) throws -> [EncodedFile] {
        guard travelsCT(options: options, fromDICOM: product.dicom != nil) else { return [] }
        return [EncodedFile(path: CaseFiles.imagePath(product.id),
                            bytes: try CaseFiles.encodeImage(product.ct, id: product.id, gzipLevel: options.gzipLevel))]
    }

    /// Every message to send, in order, for a finished exam: computes the record (unless given, as
    /// an infer job's with its probabilities and scores), encodes the CT when it travels, chunks
    /// the bitmask, ends with DONE. Adds `analyse` and `encode` times.
    /// - Throws: ``CaseFailure`` for encoding; ``ChunkError`` for what the wire cannot carry.
    public static func messages(product: CaseProduct, record given: CaseRecord? = nil, attempt: UInt32, options: ReleaseOptions,
                                times: inout StageTimes, chunker: MaskChunker = MaskChunker(),
                                fileChunker: FileChunker = FileChunker()) throws -> [WireMessage] {
        var record = given ?? timed("analyse", &times) { CaseRecord(id: product.id, masks: product.masks) }
        if record.dicom == nil { record.dicom = product.dicom }
        let files = try timed("encode", &times) { try encodeFiles(product, options: options) }
        return try messages(product: product, record: record, files: files, attempt: attempt, times: times,
                            chunker: chunker, fileChunker: fileChunker)
    }

    /// The messages of a result whose record and files (the CT file, or none) are already computed.
    /// - Throws: ``ChunkError`` for what the wire cannot carry (including a summary over its limit).
    public static func messages(product: CaseProduct, record: CaseRecord, files: [EncodedFile], attempt: UInt32,
                                times: StageTimes, chunker: MaskChunker = MaskChunker(),
                                fileChunker: FileChunker = FileChunker()) throws(ChunkError) -> [WireMessage] {
        var out: [WireMessage] = try chunker.chunks(bytes: product.masks.bitmask, kind: .bitmask, exam: product.id,
                                                    attempt: attempt).map { .chunk($0) }
        if !files.isEmpty {
            out += try fileChunker.parts(of: files, exam: product.id, attempt: attempt).map { .file($0) }
        }
        let summary = BuildSummaryCoding(inputs: product.inputs, record: record).encoded()
        guard summary.count <= WireProtocol.maxSummaryBytes else {
            throw ChunkError(exam: product.id, attempt: attempt, chunkIndex: nil,
                             reason: "the DONE summary has \(summary.count) bytes, over the limit \(WireProtocol.maxSummaryBytes)")
        }
        let timings = times.entries.prefix(WireProtocol.maxTimings).map {
            StageTiming(stage: String($0.0.prefix(WireProtocol.maxStageBytes)), nanoseconds: UInt64(max(0, $0.1) * 1e9))
        }
        out.append(.done(Done(exam: product.id, attempt: attempt, summary: summary, timings: Array(timings))))
        return out
    }
}

/// A verified result, ready to be encoded and written by the coordinator's writers.
public struct CollectedCase: Sendable {
    /// The case's record (the rows of every table).
    public var record: CaseRecord
    /// Its input files, for provenance.
    public var inputs: [InputFile]
    /// Its subtype bitmask (bit `v − 1` = subtype `v`), checked against the record.
    public var bitmask: Volume<UInt8>
    /// Its CT file when the worker sent it (the options change the grid), checked against its SHA-256.
    public var image: EncodedFile?
    /// The CT file's verified hex SHA-256 (the manifest reuses it).
    public var imageSHA256: String?

    /// The case's release files, encoded as `hemo build` encodes them: the label files from the
    /// bitmask, and the CT from the worker's file or, when it sent none, from `cohortCase`'s input
    /// CT, read here and checked against the SHA-256 the worker reported; no CT with
    /// ``ImageMode/omit``. Adds `read` and `encode` times.
    /// - Throws: ``CaseFailure`` naming the file when the input CT cannot be read, changed since
    ///   the worker read it, or lies on another grid than the record's; or when encoding fails.
    public func releaseFiles(cohortCase: CohortCase?, options: ReleaseOptions,
                             times: inout StageTimes) throws -> [(path: String, bytes: [UInt8], sha256: String?)] {
        var out: [(path: String, bytes: [UInt8], sha256: String?)] = []
        if options.images == .omit {
            // A labels-only release: the CT is neither read nor written.
        } else if let image {
            out.append((image.path, image.bytes, imageSHA256))
        } else {
            guard let cohortCase else {
                throw CaseFailure(stage: "write", reason: "exam \(record.id) is not in the coordinator's cohort: its CT cannot be written")
            }
            let (ct, input) = try timed("read", &times) { try CasePipeline.readCTWithProvenance(cohortCase, options: options) }
            guard let reported = inputs.first(where: { $0.path == input.path }), reported.sha256 == input.sha256 else {
                throw CaseFailure(stage: "write", reason: "\(input.path): the file changed since the worker read it (SHA-256 \(input.sha256) here, \(inputs.first { $0.path == input.path }?.sha256 ?? "none") reported)")
            }
            guard ct.geometry == record.geometry else {
                throw CaseFailure(stage: "write", reason: "\(input.path): the CT's grid differs from the worker's record")
            }
            let bytes = try timed("encode", &times) { try CaseFiles.encodeImage(ct.converted(to: Int16.self), id: record.id, gzipLevel: options.gzipLevel) }
            out.append((CaseFiles.imagePath(record.id), bytes, nil))
        }
        let masks = try timed("encode", &times) { try CaseFiles.encodeMasks(SubtypeMasks(bitmask: bitmask), record: record, gzipLevel: options.gzipLevel) }
        out += masks.map { ($0.path, $0.bytes, nil) }
        return out
    }
}

/// Collects one attempt's CHUNKs, FILEs and DONE, and checks them (coordinator side).
///
/// The bitmask arrives as LZ4 mask chunks (``MaskAssembler``), the CT, when it travels, as FILE
/// parts (``FileAssembler``: LZ4 content checksums and the file's SHA-256). At DONE the collector
/// also checks that the files are exactly those expected (the case's CT when the options change
/// the grid, else none) and that the worker's record agrees with the bitmask: same grid,
/// per-slice subtypes, per-slice-and-subtype pixel counts of the 2D boxes, per-subtype voxel
/// counts of the 3D lesions.
public struct ResultCollector: Sendable {
    /// The exam.
    public let exam: CaseID
    /// The attempt being collected.
    public let attempt: UInt32
    private var bits: MaskAssembler
    private var fileParts: FileAssembler
    private var bitmask: Volume<UInt8>?
    /// Whether the result carries the CT file (the options change the grid).
    public let expectsImage: Bool
    /// Uncompressed bytes of the mask chunks and file parts accepted so far.
    public private(set) var rawBytes = 0
    /// Compressed payload bytes of the mask chunks and file parts accepted so far.
    public private(set) var payloadBytes = 0
    /// Uncompressed and compressed bytes of the mask chunks alone.
    public private(set) var maskRawBytes = 0, maskPayloadBytes = 0

    /// A collector for `attempt` of `exam`, whose result carries the CT file when `expectsImage`.
    public init(exam: CaseID, attempt: UInt32, expectsImage: Bool = false) {
        self.exam = exam
        self.attempt = attempt
        self.expectsImage = expectsImage
        bits = MaskAssembler(exam: exam, attempt: attempt, maskKind: .bitmask)
        fileParts = FileAssembler(exam: exam, attempt: attempt)
    }

    /// Stores a mask chunk of this attempt.
    /// - Throws: ``ChunkError`` when the chunk is corrupt or of a kind a build result does not have.
    public mutating func accept(_ chunk: Chunk) throws(ChunkError) {
        let outcome = try bits.accept(chunk)
        switch outcome {
        case .accepted, .complete:
            rawBytes += chunk.slabVoxels
            payloadBytes += chunk.payload.count
            maskRawBytes += chunk.slabVoxels
            maskPayloadBytes += chunk.payload.count
        case .duplicate, .ignoredAttempt:
            break
        }
        if case .complete(let v) = outcome { bitmask = v }
    }

    /// Stores a file part of this attempt.
    /// - Throws: ``ChunkError`` when the part is corrupt or its file's digest does not match.
    public mutating func accept(_ part: FilePart) throws(ChunkError) {
        let before = (fileParts.rawBytes, fileParts.payloadBytes)
        _ = try fileParts.accept(part)
        rawBytes += fileParts.rawBytes - before.0
        payloadBytes += fileParts.payloadBytes - before.1
    }

    /// The checked case once DONE arrived.
    /// - Throws: ``ClusterError`` when a part is missing or the parts disagree.
    public func result(done: Done) throws(ClusterError) -> CollectedCase {
        let subject = "exam \(exam) attempt \(attempt)"
        guard let bitmask else { throw ClusterError(subject, "DONE arrived before every bitmask CHUNK") }
        let files: [EncodedFile]
        if expectsImage {
            guard let all = fileParts.files else { throw ClusterError(subject, "DONE arrived before every FILE of the result") }
            files = all
        } else {
            files = []
            guard fileParts.rawBytes == 0 else { throw ClusterError(subject, "the result carries files, but the CT travels only when the options change its grid") }
        }
        let summary = try BuildSummaryCoding.decode(done.summary, exam: exam)
        let record = summary.record
        guard record.id == exam else { throw ClusterError(subject, "the record names exam \(record.id)") }
        guard record.geometry == bitmask.geometry else { throw ClusterError(subject, "the record's grid differs from the bitmask's") }
        let expected: Set<String> = expectsImage ? [CaseFiles.imagePath(record.id)] : []
        let sent = Set(files.map(\.path))
        guard sent == expected else {
            let extra = sent.subtracting(expected).sorted().prefix(3), missing = expected.subtracting(sent).sorted().prefix(3)
            throw ClusterError(subject, "the result's files are not the case's: unexpected \(Array(extra)), missing \(Array(missing))")
        }
        if let why = Self.disagreement(record, bitmask) { throw ClusterError(subject, "the record disagrees with the bitmask: \(why)") }
        let digests = fileParts.verifiedDigests.mapValues { d in d.map { String(format: "%02x", $0) }.joined() }
        let image = files.first
        return CollectedCase(record: record, inputs: summary.inputs, bitmask: bitmask, image: image,
                             imageSHA256: image.flatMap { digests[$0.path] })
    }

    /// Why `record` does not describe `bitmask` (bit `v − 1` = subtype `v`), or `nil`: one pass
    /// counting each subtype's voxels per slice.
    static func disagreement(_ record: CaseRecord, _ bitmask: Volume<UInt8>) -> String? {
        let size = bitmask.geometry.size
        let perSlice = size.sliceCount
        guard record.slices.count == size.k else { return "\(record.slices.count) slice rows for \(size.k) slices" }
        var counts = [Int](repeating: 0, count: size.k * 5)
        var histogram = [Int](repeating: 0, count: 256)
        bitmask.voxels.withUnsafeBufferPointer { v in
            histogram.withUnsafeMutableBufferPointer { h in
                for k in 0..<size.k {
                    h.update(repeating: 0)
                    for o in (k * perSlice)..<((k + 1) * perSlice) { h[Int(v[o])] &+= 1 }
                    for value in 1..<256 where h[value] > 0 {
                        for bit in 0..<5 where value & (1 << bit) != 0 { counts[k * 5 + bit] += h[value] }
                    }
                }
            }
        }
        var boxPixels = [Int](repeating: 0, count: size.k * 5)
        for b in record.boxes {
            guard (0..<size.k).contains(b.slice) else { return "a box on slice \(b.slice)" }
            boxPixels[b.slice * 5 + Int(b.subtype.rawValue) - 1] += b.pixels
        }
        var lesionVoxels = [Int](repeating: 0, count: 5)
        for l in record.lesions { lesionVoxels[Int(l.subtype.rawValue) - 1] += l.voxels }
        var totals = [Int](repeating: 0, count: 5)
        for (k, row) in record.slices.enumerated() {
            guard row.slice == k else { return "slice row \(k) is numbered \(row.slice)" }
            for s in Subtype.allCases {
                let n = counts[k * 5 + Int(s.rawValue) - 1]
                totals[Int(s.rawValue) - 1] += n
                guard row.subtypes.contains(s) == (n > 0) else { return "slice \(k): \(s.name) presence" }
                guard boxPixels[k * 5 + Int(s.rawValue) - 1] == n else { return "slice \(k): \(s.name) box pixels" }
            }
        }
        for s in Subtype.allCases where lesionVoxels[Int(s.rawValue) - 1] != totals[Int(s.rawValue) - 1] {
            return "\(s.name) lesion voxels"
        }
        return nil
    }
}
