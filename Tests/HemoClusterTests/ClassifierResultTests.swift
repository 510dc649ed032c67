import Foundation
import Testing
import HemoCore
import HemoRelease
@testable import HemoCluster

/// The coordinator's check of a classifier's result: an empty bitmask, no boxes or lesions.
@Suite struct ClassifierResultTests {
    @Test func aDoneSummaryIsReadWithoutJSONDecoderAndEqualsIt() throws {
        let geometry = Geometry(size: GridSize(6, 5, 3), spacing: SIMD3<Double>(0.45, 0.45, 5), origin: SIMD3(-1.5, 2, 1e-7))
        var labels = Volume<UInt8>(geometry: geometry, repeating: 0)
        for o in stride(from: 3, to: labels.voxels.count, by: 7) { labels.voxels[o] = UInt8(1 + o % 5) }
        var record = CaseRecord(id: CaseID("case_7")!, masks: SubtypeMasks(labelMap: labels),
                                sliceProbabilities: [[0.5, 0.1, 0.2, 0.3, 0.4, 1e-7], [1, 0, 0, 0, 0, 0], [0.25, 0.5, 0.125, 0, 0, 0.75]],
                                boxScore: { Double($0.pixels) / 7 })
        record.exam = ExamCall(probabilities: [0.9, 0.1, 0.2, 0.3, 0.4, 0.5], any: true, subtypes: [.eph])
        let summary = BuildSummaryCoding(inputs: [InputFile(path: "case_7/ct \"x\".nii.gz", sha256: String(repeating: "0f", count: 32))], record: record)
        let bytes = summary.encoded()
        let fast = try #require(BuildSummaryCoding.readCanonical(bytes))
        let reference = try JSONDecoder().decode(BuildSummaryCoding.self, from: Data(bytes))
        #expect(fast.record == reference.record && fast.inputs == reference.inputs && fast.record == record)
        // Not the canonical shape: the JSONDecoder path still reads it; garbage is refused naming the exam.
        let reordered = Array("{\"record\":\(String(decoding: try JSONEncoder().encode(record), as: UTF8.self)),\"inputs\":[]}".utf8)
        #expect(BuildSummaryCoding.readCanonical(reordered) == nil)
        #expect(try BuildSummaryCoding.decode(reordered, exam: record.id).record == record)
        #expect(throws: ClusterError.self) { try BuildSummaryCoding.decode(Array("{\"inputs\":[".utf8), exam: record.id) }
    }

    @Test func aClassifierRecordNeedsAnEmptyBitmask() {
        let geometry = Geometry(size: GridSize(4, 4, 2), spacing: SIMD3<Double>(1, 1, 1))
        let record = CaseRecord(id: CaseID("c")!, geometry: geometry, sliceDecisions: [(true, [.sah]), (false, [])],
                                sliceProbabilities: [[0.9, 0, 0, 0.8, 0, 0], [0.1, 0, 0, 0.1, 0, 0]])
        var bits = Volume<UInt8>(geometry: geometry, voxels: [UInt8](repeating: 0, count: 32))
        #expect(ResultCollector.disagreement(record, bits) == nil)
        bits.voxels[5] = 4
        #expect(ResultCollector.disagreement(record, bits) == "a classifier's record with a non-empty bitmask")
        // A mask record whose slice says SAH with an empty bitmask is refused as before.
        var masked = CaseRecord(id: CaseID("c")!, masks: SubtypeMasks(geometry: geometry))
        masked.slices[0].subtypes = [.sah]
        #expect(ResultCollector.disagreement(masked, Volume<UInt8>(geometry: geometry, voxels: [UInt8](repeating: 0, count: 32))) != nil)
    }
}
