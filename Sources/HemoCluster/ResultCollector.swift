import Foundation
import HemoCore
import HemoRelease
import HemoTransforms
import HemoWire
import LZ4
import DICOM

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
    /// With `--probabilities`: the quantised map of each subtype EPH…IVH, on the bitmask's grid.
    public var probabilities: [Volume<UInt8>]? = nil

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
        if options.probabilities {
            guard let probabilities else {
                throw CaseFailure(stage: "write", reason: "exam \(record.id): --probabilities but the result carries no probability maps")
            }
            let maps = try timed("encode", &times) {
                try ProbabilityMaps.encode(probabilities, id: record.id, geometry: bitmask.geometry, gzipLevel: options.gzipLevel)
            }
            out += maps.map { ($0.path, $0.bytes, nil) }
        }
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
    private var maps: [MaskAssembler]
    private var mapVolumes: [Volume<UInt8>?]
    /// Whether the result carries the CT file (the options change the grid).
    public let expectsImage: Bool
    /// Whether the result carries a probability map per subtype (`--probabilities`).
    public let expectsProbabilities: Bool
    /// Uncompressed bytes of the mask chunks and file parts accepted so far.
    public private(set) var rawBytes = 0
    /// Compressed payload bytes of the mask chunks and file parts accepted so far.
    public private(set) var payloadBytes = 0
    /// Uncompressed and compressed bytes of the mask chunks alone.
    public private(set) var maskRawBytes = 0, maskPayloadBytes = 0

    /// A collector for `attempt` of `exam`, whose result carries the CT file when `expectsImage`
    /// and one probability map per subtype when `expectsProbabilities`.
    public init(exam: CaseID, attempt: UInt32, expectsImage: Bool = false, expectsProbabilities: Bool = false) {
        self.exam = exam
        self.attempt = attempt
        self.expectsImage = expectsImage
        self.expectsProbabilities = expectsProbabilities
        bits = MaskAssembler(exam: exam, attempt: attempt, maskKind: .bitmask)
        maps = Subtype.allCases.map { MaskAssembler(exam: exam, attempt: attempt, maskKind: .probability($0)) }
        mapVolumes = [Volume<UInt8>?](repeating: nil, count: Subtype.allCases.count)
        fileParts = FileAssembler(exam: exam, attempt: attempt)
    }

    /// Stores a mask chunk of this attempt.
    /// - Throws: ``ChunkError`` when the chunk is corrupt or of a kind a build result does not have.
    public mutating func accept(_ chunk: Chunk) throws(ChunkError) {
        if case .probability(let subtype) = chunk.maskKind {
            guard expectsProbabilities else {
                throw ChunkError(exam: exam, attempt: chunk.attempt, chunkIndex: chunk.index,
                                 reason: "a probability map chunk, but the run was not asked for --probabilities")
            }
            let slot = Int(subtype.labelValue) - 1
            let outcome = try maps[slot].accept(chunk)
            switch outcome {
            case .accepted, .complete:
                rawBytes += chunk.slabVoxels
                payloadBytes += chunk.payload.count
            case .duplicate, .ignoredAttempt:
                break
            }
            if case .complete(let v) = outcome { mapVolumes[slot] = v }
            return
        }
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
    public func result(done: DoneMessage) throws(ClusterError) -> CollectedCase {
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
        var probabilities: [Volume<UInt8>]? = nil
        if expectsProbabilities {
            let complete = mapVolumes.compactMap { $0 }
            guard complete.count == mapVolumes.count else {
                let missing = zip(Subtype.allCases, mapVolumes).filter { $0.1 == nil }.map(\.0.name)
                throw ClusterError(subject, "DONE arrived before every probability map CHUNK (missing \(missing.joined(separator: ", ")))")
            }
            guard complete.allSatisfy({ $0.geometry == bitmask.geometry }) else {
                throw ClusterError(subject, "a probability map's grid differs from the bitmask's")
            }
            probabilities = complete
        }
        let digests = fileParts.verifiedDigests.mapValues { d in d.map { String(format: "%02x", $0) }.joined() }
        let image = files.first
        return CollectedCase(record: record, inputs: summary.inputs, bitmask: bitmask, image: image,
                             imageSHA256: image.flatMap { digests[$0.path] }, probabilities: probabilities)
    }

    /// Why `record` does not describe `bitmask` (bit `v − 1` = subtype `v`), or `nil`: one pass
    /// counting each subtype's voxels per slice.
    static func disagreement(_ record: CaseRecord, _ bitmask: Volume<UInt8>) -> String? {
        let size = bitmask.geometry.size
        let perSlice = size.sliceCount
        guard record.slices.count == size.k else { return "\(record.slices.count) slice rows for \(size.k) slices" }
        if !record.hasMasks {
            // A classifier's record: labels by thresholds, no masks, so the bitmask is empty.
            guard bitmask.voxels.allSatisfy({ $0 == 0 }) else { return "a classifier's record with a non-empty bitmask" }
            guard record.boxes.isEmpty, record.lesions.isEmpty else { return "a classifier's record with boxes or lesions" }
            for (k, row) in record.slices.enumerated() where row.slice != k { return "slice row \(k) is numbered \(row.slice)" }
            return nil
        }
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
