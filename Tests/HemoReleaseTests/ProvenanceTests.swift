import Foundation
import Testing
import HemoCore
import HemoSynth
import NIfTI
@testable import HemoRelease

/// Each input file is read once: its provenance hash comes from the read that decodes it, and
/// must equal the hash of the file on disk.
@Suite struct ProvenanceTests {
    /// A small cohort delivering every annotation form at once (label map, subtype masks, polygons).
    static func cohortWithEveryForm() throws -> (root: String, cohort: Cohort) {
        let root = NSTemporaryDirectory() + "hemo-provenance-\(UUID().uuidString)"
        let generator = try SynthGenerator(options: SynthOptions(seed: 5, positiveFraction: 1, inPlanePixels: 48, sliceCount: 4))
        let written = try CohortWriter(directory: root + "/cohort", generator: generator,
                                       forms: [.labelmap, .subtypeMasks, .polygons]).run(cases: 2, threads: 1)
        #expect(written.failures.isEmpty)
        return (root, try Cohort.open(root + "/cohort"))
    }

    @Test func inputHashesEqualTheFilesHashesForEveryAnnotationSource() throws {
        let (root, cohort) = try Self.cohortWithEveryForm()
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(cohort.cases.contains { $0.labelMap != nil && !$0.subtypeMasks.isEmpty && $0.polygons != nil })
        for source in [AnnotationSource.auto, .labelmap, .subtypeMasks, .polygons] {
            var options = ReleaseOptions()
            options.annotations = source
            for c in cohort.cases {
                var times = StageTimes()
                let product = try CasePipeline.run(c, options: options, threads: 1, times: &times)
                let expected = try c.inputFiles.map { InputFile(path: c.relative($0), sha256: try Manifest.sha256(ofFile: $0)) }
                #expect(product.inputs == expected, "\(source) \(c.id)")
                #expect(product.inputs.count >= 3)
            }
        }
    }

    @Test func readCTWithProvenanceHashesTheCTFile() throws {
        let (root, cohort) = try Self.cohortWithEveryForm()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let c = try #require(cohort.cases.first)
        let (ct, input) = try CasePipeline.readCTWithProvenance(c, options: ReleaseOptions())
        #expect(input == InputFile(path: c.relative(c.ct), sha256: try Manifest.sha256(ofFile: c.ct)))
        #expect(ct == (try CasePipeline.readCT(c, options: ReleaseOptions())))
        #expect(ct == (try NIfTIFile.readScaled(c.ct, as: Float.self)))
    }

    @Test func aTruncatedCTFailsTheReadNamingTheFileAndTheReason() throws {
        let (root, cohort) = try Self.cohortWithEveryForm()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let c = try #require(cohort.cases.first)
        let bytes = [UInt8](FileManager.default.contents(atPath: c.ct)!)
        FileManager.default.createFile(atPath: c.ct, contents: Data(bytes[0..<(bytes.count / 2)]))
        var times = StageTimes()
        #expect { try CasePipeline.run(c, options: ReleaseOptions(), threads: 1, times: &times) } throws: { error in
            guard let failure = error as? CaseFailure else { return false }
            return failure.stage == "read" && failure.reason.hasPrefix(c.relative(c.ct) + ": ")
                && failure.reason.contains("truncated") && !failure.reason.contains(c.root)
        }
    }

    @Test func aCorruptMaskFailsTheAnnotationsNamingTheMask() throws {
        let (root, cohort) = try Self.cohortWithEveryForm()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let c = try #require(cohort.cases.first { $0.labelMap != nil })
        let labelMap = try #require(c.labelMap)
        var bytes = [UInt8](FileManager.default.contents(atPath: labelMap)!)
        for n in 20..<min(bytes.count - 8, 80) { bytes[n] = 0xFF }
        FileManager.default.createFile(atPath: labelMap, contents: Data(bytes))
        var options = ReleaseOptions()
        options.annotations = .labelmap
        var times = StageTimes()
        #expect { try CasePipeline.run(c, options: options, threads: 1, times: &times) } throws: { error in
            guard let failure = error as? CaseFailure else { return false }
            return failure.stage == "annotations" && failure.reason.hasPrefix(c.relative(labelMap) + ": ")
                && failure.reason.contains("corrupt")
        }
    }
}
