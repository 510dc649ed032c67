import Foundation
import HemoCore
import HemoRelease
import HemoTransforms
import HemoWire
import LZ4
import DICOM

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
        if let fast = Self.readCanonical(bytes) { return fast }
        do { return try JSONDecoder().decode(BuildSummaryCoding.self, from: Data(bytes)) } catch {
            throw ClusterError("exam \(exam)", "DONE summary is not readable: \(error)")
        }
    }
}

extension BuildSummaryCoding {
    /// The summary read without `JSONDecoder` (``CaseRecordReader``), or `nil` when the bytes are not
    /// in the shape ``encoded()`` writes; `decode` then falls back to `JSONDecoder`.
    static func readCanonical(_ bytes: [UInt8]) -> BuildSummaryCoding? {
        guard let value = try? JSONValue.parse(bytes: bytes), case .object(let members) = value, members.count == 2,
              members[0].0 == "inputs", members[1].0 == "record", let rawInputs = members[0].1.arrayValue,
              let record = CaseRecordReader.record(members[1].1) else { return nil }
        var inputs: [InputFile] = []
        for i in rawInputs {
            guard case .object(let f) = i, f.count == 2, f[0].0 == "path", f[1].0 == "sha256",
                  let path = f[0].1.stringValue, let sha = f[1].1.stringValue else { return nil }
            inputs.append(InputFile(path: path, sha256: sha))
        }
        return BuildSummaryCoding(inputs: inputs, record: record)
    }
}

/// The result of one attempt (worker side): mask chunks plus a record.
///
/// Messages, in order: the subtype bitmask as CHUNKs (LZ4 slabs with checksums), with
/// `--probabilities` each subtype's quantised probability map as CHUNKs of its kind, the CT as FILE
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
        // `--probabilities`: each subtype's quantised map as CHUNKs of its own kind, after the bitmask.
        if let maps = product.probabilities {
            for (subtype, map) in zip(Subtype.allCases, maps) {
                out += try chunker.chunks(bytes: map, kind: .probability(subtype), exam: product.id, attempt: attempt).map { .chunk($0) }
            }
        }
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
        out.append(.done(DoneMessage(exam: product.id, attempt: attempt, summary: summary, timings: Array(timings))))
        return out
    }
}
