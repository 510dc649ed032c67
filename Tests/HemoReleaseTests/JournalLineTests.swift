import Foundation
import Testing
import HemoCore
import HemoTestKit
@testable import HemoRelease

/// The hand-written journal line gives exactly `JSONEncoder`'s sorted-key bytes for every kind of
/// entry (released with masks, pseudo-labels with scores and probabilities, a classifier's record,
/// DICOM provenance, a failure, awkward strings and numbers), and reads back as the same entry.
@Suite struct JournalLineTests {
    static func reference(_ e: JournalEntry) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(e))
    }

    static let awkward = "a \"quoted\" \\ back/slash\ttab\nline\r\u{8}\u{c}\u{1}\u{1f} é 漢 🧠"

    static func entries() -> [JournalEntry] {
        var out: [JournalEntry] = []
        var rng = SplitMix64(seed: 18)
        for n in 0..<6 {
            var labels = Volume<UInt8>(geometry: Geometry(size: GridSize(24, 20, 5), spacing: SIMD3(0.4 + Double(n) * 0.1, 0.43, 5),
                                                          origin: SIMD3(-12.25, 7.5e-7, 1e21)), repeating: 0)
            for o in labels.voxels.indices where rng.next() % 7 == 0 { labels.voxels[o] = UInt8(1 + rng.next() % 5) }
            let masks = SubtypeMasks(labelMap: labels)
            let pseudo = n % 2 == 1
            var record = CaseRecord(id: CaseID("case_\(n)")!, masks: masks,
                                    sliceProbabilities: pseudo ? (0..<5).map { k in (0..<6).map { Double(k * 6 + $0) / 37 } } : nil,
                                    boxScore: pseudo ? { Double($0.pixels) / 3 } : nil)
            if n == 3 {
                record.dicom = DICOMCaseInfo(
                    series: [SeriesRow(studyHash: "s1", seriesHash: "h/2", seriesNumber: 4, modality: "CT", imageType: "ORIGINAL\\PRIMARY",
                                       kernel: awkward, images: 5, rows: 24, columns: 20, thickness: 5, tilt: -0.0, selected: true,
                                       reason: "", notes: "tilt 1e-05°"),
                             SeriesRow(studyHash: "s1", seriesHash: "h3", seriesNumber: nil, modality: "CT", imageType: "",
                                       kernel: "", images: 1, rows: 1, columns: 1, thickness: nil, tilt: 12.5, selected: false,
                                       reason: "one image", notes: "")],
                    slices: [SliceInstance(sopInstanceUID: "1.2.3", instanceNumber: 7), nil,
                             SliceInstance(sopInstanceUID: "1.2.4", instanceNumber: nil), nil, nil])
            }
            out.append(JournalEntry(caseName: record.id.rawValue, record: record,
                                    inputs: [InputFile(path: "case_\(n)/ct.nii.gz", sha256: String(repeating: "ab", count: 32)),
                                             InputFile(path: Self.awkward, sha256: "00")],
                                    failure: nil))
        }
        let classifier = CaseRecord(id: CaseID("cls")!, geometry: Geometry(size: GridSize(4, 4, 3), spacing: SIMD3(1, 1, 2.5)),
                                    sliceDecisions: [(true, [.sah]), (false, []), (true, [])],
                                    sliceProbabilities: [[0.9, 0.1, 0.2, 0.95, 0.1, 5e-324], [0.01, 0, 0, 0, 0, 0],
                                                         [0.6, 1e-7, 123456789.125, 0.3333333333333333, 2, -1]])
        out.append(JournalEntry(caseName: "cls", record: classifier, inputs: [], failure: nil))
        // A slice-and-exam classifier's record: the exam call travels too.
        var examined = classifier
        examined.id = CaseID("exam")!
        examined.exam = ExamCall(probabilities: [0.75, 0.001, 0.5, 1e-9, 0.25, 0.125], any: true, subtypes: [.sdh, .iph])
        out.append(JournalEntry(caseName: "exam", record: examined, inputs: [], failure: nil))
        out.append(JournalEntry(caseName: "bad name/..", record: nil, inputs: nil,
                                failure: FailureRow(caseName: "bad name/..", stage: "input", reason: Self.awkward)))
        return out
    }

    @Test func linesAreJSONEncodersBytes() throws {
        for e in Self.entries() {
            let fast = try JournalLineEncoder.encode(e)
            let reference = try Self.reference(e)
            #expect(fast == reference, "\(e.caseName): \(String(decoding: fast, as: UTF8.self)) vs \(String(decoding: reference, as: UTF8.self))")
            let back = try JSONDecoder().decode(JournalEntry.self, from: Data(fast))
            #expect(back.record == e.record && back.inputs == e.inputs && back.failure == e.failure)
        }
    }

    @Test func theRecordReaderGivesJSONDecodersRecords() throws {
        var read = 0
        for e in Self.entries() {
            guard let record = e.record else { continue }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let bytes = Array(try encoder.encode(record))
            let reference = try JSONDecoder().decode(CaseRecord.self, from: Data(bytes))
            let fast = CaseRecordReader.record(try JSONValue.parse(bytes: bytes))
            if record.dicom != nil {
                #expect(fast == nil, "a DICOM record takes the JSONDecoder path")
            } else {
                #expect(fast == reference, "\(e.caseName)")
                read += 1
            }
        }
        #expect(read >= 7)
        // Anything out of shape gives nil (the caller falls back to JSONDecoder), never a wrong record.
        let record = try #require(Self.entries().first { $0.record?.dicom == nil && $0.record?.slices.first?.probabilities != nil }?.record)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let text = String(decoding: try encoder.encode(record), as: UTF8.self)
        for (from, to) in [("\"subtype\":1", "\"subtype\":9"), ("\"id\":\"", "\"id\":\"/"), ("\"pixels\":", "\"pixels\":1.5,\"x\":"),
                           ("\"slices\":[", "\"extra\":1,\"slices\":["), ("\"slice\":0", "\"slice\":\"0\""),
                           ("\"qformCode\":", "\"qformCode\":0.5,\"q\":")] {
            guard text.contains(from) else { Issue.record("the fixture has no \(from)"); continue }
            let bad = text.replacingOccurrences(of: from, with: to)
            #expect(CaseRecordReader.record((try? JSONValue.parse(bad)) ?? .null) == nil, "\(to)")
        }
    }

    @Test func aNonFiniteNumberIsRefusedAsJSONEncoderRefusesIt() {
        var e = Self.entries()[0]
        e.record!.lesions[0].ml = .nan
        #expect(throws: (any Error).self) { try Self.reference(e) }
        #expect(throws: (any Error).self) { try JournalLineEncoder.encode(e) }
    }
}
