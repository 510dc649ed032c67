import Foundation
import Testing
import HemoCore
import HemoSynth
@testable import HemoRelease

/// Every annotation form of a synthetic cohort gives the same masks, hence the same released volumes,
/// slice PNGs and tables; only provenance (which files were read, which option) differs.
@Suite struct AnnotationFormTests {
    @Test func labelMapSubtypeMasksAndPolygonsGiveTheSameRelease() throws {
        let root = NSTemporaryDirectory() + "hemo-forms-\(UUID().uuidString)"
        let generator = try SynthGenerator(options: SynthOptions(seed: 11, positiveFraction: 1, inPlanePixels: 96, sliceCount: 8))
        let written = try CohortWriter(directory: root + "/cohort", generator: generator,
                                       forms: [.labelmap, .subtypeMasks, .polygons]).run(cases: 4, threads: 2)
        #expect(written.failures.isEmpty)
        #expect(written.written.contains { !$0.presentSubtypes.isEmpty })
        let cohort = try Cohort.open(root + "/cohort")
        var manifests: [AnnotationSource: [String: String]] = [:]
        for form in [AnnotationSource.labelmap, .subtypeMasks, .polygons] {
            var o = ReleaseOptions()
            o.annotations = form
            let s = try ReleaseBuilder(options: o, threads: 2, force: false).build(cohort: cohort, destination: root + "/r-\(form.rawValue)")
            #expect(s.failures.isEmpty, "\(form): \(s.failures)")
            var digests: [String: String] = [:]
            for line in s.manifest.split(separator: "\n") {
                let path = String(line.dropFirst(66))
                if path != "provenance.json" { digests[path] = String(line.prefix(64)) }
            }
            manifests[form] = digests
        }
        // The synthetic truth paints one subtype per voxel, so even the label map loses nothing:
        // all three forms must give the same bytes.
        #expect(manifests[.labelmap] == manifests[.subtypeMasks])
        #expect(manifests[.polygons] == manifests[.subtypeMasks])
        #expect((manifests[.labelmap]?.count ?? 0) > 10)
    }

    @Test func aMissingRequestedFormFailsTheExamNamingTheForm() throws {
        let root = NSTemporaryDirectory() + "hemo-forms-\(UUID().uuidString)"
        let generator = try SynthGenerator(options: SynthOptions(seed: 3, inPlanePixels: 64, sliceCount: 4))
        _ = try CohortWriter(directory: root + "/cohort", generator: generator, forms: [.labelmap]).run(cases: 2, threads: 1)
        var o = ReleaseOptions()
        o.annotations = .polygons
        let s = try ReleaseBuilder(options: o, threads: 1, force: false).build(cohort: try Cohort.open(root + "/cohort"), destination: root + "/r")
        #expect(s.cases == 0)
        #expect(s.failures.count == 2)
        #expect(s.failures.allSatisfy { $0.stage == "annotations" && $0.reason.contains("polygons.json") })
    }
}
