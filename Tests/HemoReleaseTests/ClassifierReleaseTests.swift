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

    @Test func anExamCallGivesThePatientLabelsAndProbabilities() throws {
        var r = Self.record()
        // The slices say SDH and IVH; the exam head says IPH only.
        r.exam = ExamCall(probabilities: [0.55, 0.01, 0.2, 0.05, 0.81234, 0.3], any: true, subtypes: [.iph])
        var t = ReleaseTables(records: [r], failures: [], kind: .pseudoLabels, weakLabels: [r.id: WeakLabels(any: true, subtypes: [.iph])])
        t.hasMasks = false
        let patient = t.patientLabels().split(separator: "\n")
        #expect(patient[0] == "case,any,EPH,SDH,SAH,IPH,IVH,slices,positive_slices,ml_EPH,ml_SDH,ml_SAH,ml_IPH,ml_IVH,p_any,p_EPH,p_SDH,p_SAH,p_IPH,p_IVH,weak_any,weak_EPH,weak_SDH,weak_SAH,weak_IPH,weak_IVH,agrees")
        #expect(patient[1] == "case_001,1,0,0,0,1,0,3,2,,,,,,0.5500,0.0100,0.2000,0.0500,0.8123,0.3000,1,0,0,0,1,0,1")
        // The slice rows keep the slice-level outputs.
        #expect(t.sliceLabels() == ReleaseTables(records: [Self.record()], failures: [], kind: .pseudoLabels, weakLabels: nil).sliceLabels())
        // Without an exam call, no p_* columns in patient_labels.csv.
        #expect(!ReleaseTables(records: [Self.record()], failures: [], kind: .pseudoLabels, weakLabels: nil).patientLabels().contains("p_any"))
        let decoded = try JSONDecoder().decode(CaseRecord.self, from: JSONEncoder().encode(r))
        #expect(decoded == r && decoded.patientSubtypes == [.iph])
    }
}
