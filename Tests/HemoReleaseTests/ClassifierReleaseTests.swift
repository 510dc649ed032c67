import Foundation
import Testing
import HemoCore
@testable import HemoRelease

/// Records and tables of a classifier-only model: labels by thresholds, no mask files.
@Suite struct ClassifierReleaseTests {
    static func record() -> CaseRecord {
        let geometry = Geometry(size: GridSize(8, 6, 3), spacing: SIMD3<Double>(1, 1, 2))
        return CaseRecord(id: CaseID("case_001")!, geometry: geometry,
                          sliceDecisions: [(false, []), (true, []), (true, [.sdh, .ivh])],
                          sliceProbabilities: [[0.1, 0, 0.2, 0, 0, 0.05], [0.61, 0, 0.3, 0, 0, 0.1], [0.9, 0, 0.8, 0, 0, 0.7]])
    }

    @Test func aClassifierRecordHasNoMaskFiles() {
        let r = Self.record()
        #expect(!r.hasMasks)
        #expect(CaseFiles.paths(of: r) == ["imagesTr/case_001_0000.nii.gz"])
        #expect(r.positiveSlices == 2 && r.anyHemorrhage && r.subtypes == [.sdh, .ivh])
        #expect(r.boxes.isEmpty && r.lesions.isEmpty)
        // A mask record keeps every file.
        let masks = SubtypeMasks(geometry: r.geometry)
        #expect(CaseRecord(id: r.id, masks: masks).hasMasks)
        #expect(CaseFiles.paths(of: CaseRecord(id: r.id, masks: masks)).count == 3 + 3)
    }

    @Test func theRecordSurvivesItsJournalEncoding() throws {
        let r = Self.record()
        let decoded = try JSONDecoder().decode(CaseRecord.self, from: JSONEncoder().encode(r))
        #expect(decoded == r && !decoded.hasMasks)
    }

    @Test func tablesCarryTheDecisionsAndNoVolumes() {
        var t = ReleaseTables(records: [Self.record()], failures: [], kind: .pseudoLabels, weakLabels: nil)
        t.hasMasks = false
        let slices = t.sliceLabels().split(separator: "\n")
        // Slice 1: any from p_any ≥ its threshold with no subtype; slice 2: SDH and IVH.
        #expect(slices[1].hasPrefix("case_001,000,0,0,0,0,0,0,0.1000"))
        #expect(slices[2].hasPrefix("case_001,001,1,0,0,0,0,0,0.6100"))
        #expect(slices[3].hasPrefix("case_001,002,1,0,1,0,0,1,0.9000"))
        let patient = t.patientLabels().split(separator: "\n")
        #expect(patient[1] == "case_001,1,0,1,0,0,1,3,2,,,,,")
        #expect(t.datasetJSON().contains("\"masks\": \"none\"") && !t.datasetJSON().contains("subtype_masks"))
        #expect(t.boxes2D().split(separator: "\n").count == 1)
        var options = ReleaseOptions()
        #expect(!options.provenance.rendered().contains("\"masks\""))
        options.writesMasks = false
        #expect(options.provenance.rendered().contains("\"masks\": \"none\""))
    }
}
