import Foundation
import Testing
import HemoCore
import HemoRelease
import HemoTestKit
@testable import HemoPseudoLabel

@Suite(.serialized) struct ShardMergeInferTests {
    @Test(arguments: [1, 2, 3, 7])
    func mergedInferPartsAreByteIdenticalToOneInfer(parts n: Int) throws {
        let c = try TinyCohort.make(count: 12)
        var weak = "case,any,EPH,SDH,SAH,IPH,IVH\n"
        for k in 0..<12 where k % 3 != 2 { weak += String(format: "case_%03d", k) + ",\(k % 2),0,\(k % 2),0,0,0\n" }
        try Data(weak.utf8).write(to: URL(fileURLWithPath: c.root + "/weak_labels.csv"))
        let cohort = try Cohort.open(c.root)
        let builder = PseudoLabelBuilder(model: try TinyModel.load(), options: ReleaseOptions(), threads: 2, force: false)
        let whole = try builder.build(cohort: cohort, destination: c.release("whole"))
        let paths = try (1...n).map { k in
            let path = c.release("part\(k)")
            _ = try builder.build(cohort: cohort.restricted(to: ReleasePart(k, of: n)!), destination: path)
            return path
        }
        let merged = try ReleaseMerger().merge(parts: paths.reversed(), destination: c.release("merged"))
        #expect(merged.manifest == whole.manifest)
        let a = releaseTree(c.release("whole")), b = releaseTree(c.release("merged"))
        #expect(a.keys.sorted() == b.keys.sorted())
        for (k, v) in a { #expect(b[k] == v, "\(k) differs") }
    }

    @Test func partsOfAnotherModelAreRefused() throws {
        let c = try TinyCohort.make(count: 6)
        let cohort = try Cohort.open(c.root)
        let other = try PseudoLabelModel(onnxPath: try TinyModel.copy { json in
            var model = json["model"] as! [String: Any]
            model["architecture"] = "the same graph, another sidecar"
            json["model"] = model
        })
        let p1 = c.release("p1"), p2 = c.release("p2")
        _ = try PseudoLabelBuilder(model: try TinyModel.load(), options: ReleaseOptions(), threads: 1, force: false)
            .build(cohort: cohort.restricted(to: ReleasePart(1, of: 2)!), destination: p1)
        _ = try PseudoLabelBuilder(model: other, options: ReleaseOptions(), threads: 1, force: false)
            .build(cohort: cohort.restricted(to: ReleasePart(2, of: 2)!), destination: p2)
        #expect(throws: ReleaseError.self) { try ReleaseMerger().merge(parts: [p1, p2], destination: c.release("m")) }
        do { _ = try ReleaseMerger().merge(parts: [p1, p2], destination: c.release("m")) } catch {
            #expect("\(error)".contains("other model"), "\(error)")
        }
        // A build part and an infer part: another kind.
        let b2 = c.release("b2")
        _ = try ReleaseBuilder(options: ReleaseOptions(), threads: 1, force: false)
            .build(cohort: cohort.restricted(to: ReleasePart(2, of: 2)!), destination: b2)
        do { _ = try ReleaseMerger().merge(parts: [p1, b2], destination: c.release("m")); Issue.record("merged") } catch {
            #expect("\(error)".contains("other kind"), "\(error)")
        }
    }
}
