import Foundation
import Testing
import HemoCore
import HemoRelease
@testable import HemoCluster

/// The coordinator's check of a classifier's result: an empty bitmask, no boxes or lesions.
@Suite struct ClassifierResultTests {
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
