import HemoConcurrency
import Foundation
import Testing
import HemoCore
import NIfTI
import HemoTestKit
@testable import HemoRelease

/// A cohort of 12 tiny cases plus an unusable folder name, a corrupt CT and weak labels: every
/// kind of row a merge has to carry.
func shardCohort(tag: String = UUID().uuidString) throws -> (TinyCohort, Cohort) {
    let c = try TinyCohort.make(count: 12, tag: tag)
    try TinyCohort.writeCase(root: c.root, name: "bad name!", seed: 3)
    try Data("not a nifti".utf8).write(to: URL(fileURLWithPath: c.root + "/case_007/ct.nii.gz"))
    var weak = "case,any,EPH,SDH,SAH,IPH,IVH\n"
    for n in stride(from: 0, to: 12, by: 2) { weak += String(format: "case_%03d", n) + ",\(n % 4 == 0 ? 1 : 0),0,1,0,\(n % 4 == 0 ? 1 : 0),0\n" }
    try Data(weak.utf8).write(to: URL(fileURLWithPath: c.root + "/weak_labels.csv"))
    return (c, try Cohort.open(c.root))
}

@Suite(.serialized) struct ShardMergeTests {
    /// Part indices computed by Python's hashlib for the rule in the README (independent of our SHA-256).
    @Test func thePartRuleMatchesPythonHashlib() {
        let names = (0..<12).map { String(format: "case_%03d", $0) } + ["bad name!"]
        let expected: [Int: [Int]] = [
            2: [1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1],
            3: [1, 1, 2, 1, 1, 2, 1, 1, 1, 1, 2, 2, 2],
            7: [1, 1, 3, 1, 3, 5, 1, 3, 1, 2, 3, 3, 3],
        ]
        for (n, parts) in expected { #expect(names.map { ReleasePart.index(of: $0, among: n) } == parts, "N = \(n)") }
        #expect(ReleasePart(parsing: "2/7") == ReleasePart(2, of: 7))
        for bad in ["0/3", "4/3", "1/0", "a/b", "1", "1/2/3", "-1/2", ""] { #expect(ReleasePart(parsing: bad) == nil, "\(bad)") }
    }

    @Test(arguments: [1, 2, 3, 7])
    func mergedPartsAreByteIdenticalToOneBuild(parts n: Int) throws {
        let (c, cohort) = try shardCohort()
        let builder = ReleaseBuilder(options: ReleaseOptions(), threads: 2, force: false)
        let whole = try builder.build(cohort: cohort, destination: c.release("whole"))
        #expect(whole.failures.count == 2)
        var paths: [String] = []
        var seen = Set<String>()
        for k in 1...n {
            let part = cohort.restricted(to: ReleasePart(k, of: n)!)
            let path = c.release("part\(k)")
            _ = try builder.build(cohort: part, destination: path)
            paths.append(path)
            let info = try String(contentsOfFile: path + "/part.json", encoding: .utf8)
            #expect(info.contains("\"part\": \(k)") && info.contains("\"parts\": \(n)") && info.contains(cohort.fingerprint))
            let provenance = try String(contentsOfFile: path + "/provenance.json", encoding: .utf8)
            #expect(provenance.contains("\"cohort_fingerprint\": \"\(cohort.fingerprint)\""))
            // A part is a release of its own exams: its manifest and tables check out.
            let report = try ReleaseVerifier().verify(path)
            #expect(report.ok, "\(report.disagreements)")
            for e in part.shard!.exams { #expect(seen.insert(e).inserted, "\(e) in two parts") }
        }
        #expect(seen.count == 13)
        // Any order: reversed, and the first part last.
        let order = n % 2 == 0 ? Array(paths.reversed()) : Array(paths.dropFirst()) + [paths[0]]
        let merged = try ReleaseMerger().merge(parts: order, destination: c.release("merged"))
        #expect(merged.manifest == whole.manifest)
        #expect(merged.moved > 0 && merged.copied == 0)
        let a = releaseTree(c.release("whole")), b = releaseTree(c.release("merged"))
        #expect(a.keys.sorted() == b.keys.sorted())
        for (k, v) in a { #expect(b[k] == v, "\(k) differs") }
        // The parts were consumed by the move.
        for p in paths { #expect(!FileManager.default.fileExists(atPath: p)) }
        #expect(try ReleaseVerifier().verify(c.release("merged")).ok)
    }

    /// Labels-only parts (`--images omit`) merge to the labels-only release of one build, with
    /// its `images.sha256`.
    @Test func labelsOnlyPartsMergeToOneLabelsOnlyBuild() throws {
        let (c, cohort) = try shardCohort()
        var options = ReleaseOptions()
        options.images = .omit
        let whole = try ReleaseBuilder(options: options, threads: 2, force: false).build(cohort: cohort, destination: c.release("whole"))
        let paths = try parts(c, cohort, n: 3, options: options)
        let merged = try ReleaseMerger().merge(parts: paths.reversed(), destination: c.release("merged"))
        #expect(merged.manifest == whole.manifest)
        let a = releaseTree(c.release("whole")), b = releaseTree(c.release("merged"))
        #expect(a.keys.sorted() == b.keys.sorted())
        #expect(a.keys.contains(ReleaseFormat.imageDigestsFile))
        for (k, v) in a { #expect(b[k] == v, "\(k) differs") }
    }

    @Test func aCaseListedTwiceIsOneExamOfOnePart() throws {
        let c = try TinyCohort.make(count: 6)
        var list = "case,ct,labelmap,subtype_masks,polygons\n"
        for n in [0, 1, 1, 2, 3, 4, 5] { list += String(format: "case_%03d,case_%03d/ct.nii.gz,case_%03d/labelmap.nii.gz,,\n", n, n, n) }
        try Data(list.utf8).write(to: URL(fileURLWithPath: c.root + "/cohort.csv"))
        let cohort = try Cohort.open(c.root)
        #expect(cohort.problems.map(\.name) == ["case_001"])
        let builder = ReleaseBuilder(options: ReleaseOptions(), threads: 2, force: false)
        let whole = try builder.build(cohort: cohort, destination: c.release("whole"))
        let paths = try (1...3).map { k in
            _ = try builder.build(cohort: cohort.restricted(to: ReleasePart(k, of: 3)!), destination: c.release("p\(k)"))
            return c.release("p\(k)")
        }
        #expect(cohort.restricted(to: ReleasePart(1, of: 3)!).shard?.cohortExams == 6)
        let merged = try ReleaseMerger().merge(parts: paths, destination: c.release("merged"))
        #expect(merged.manifest == whole.manifest)
    }

    @Test func copyKeepsThePartsAndGivesTheSameBytes() throws {
        let (c, cohort) = try shardCohort()
        let builder = ReleaseBuilder(options: ReleaseOptions(), threads: 2, force: false)
        let whole = try builder.build(cohort: cohort, destination: c.release("whole"))
        let paths = try (1...3).map { k in
            _ = try builder.build(cohort: cohort.restricted(to: ReleasePart(k, of: 3)!), destination: c.release("p\(k)"))
            return c.release("p\(k)")
        }
        let before = paths.map(releaseTree)
        let merged = try ReleaseMerger(copy: true).merge(parts: paths, destination: c.release("merged"))
        #expect(merged.manifest == whole.manifest && merged.moved == 0 && merged.copied > 0)
        #expect(paths.map(releaseTree) == before)
    }

    /// /dev/shm when it is another file system than the temporary folder (a tmpfs, as on Linux).
    static var otherFilesystem: String? {
        var a = stat(), b = stat()
        guard stat("/dev/shm", &a) == 0, stat(NSTemporaryDirectory(), &b) == 0, a.st_dev != b.st_dev,
              access("/dev/shm", W_OK) == 0 else { return nil }
        return "/dev/shm"
    }

    @Test(.enabled(if: ShardMergeTests.otherFilesystem != nil, "needs /dev/shm on another file system"))
    func aPartOnAnotherFilesystemIsCopiedAndKept() throws {
        let (c, cohort) = try shardCohort()
        let builder = ReleaseBuilder(options: ReleaseOptions(), threads: 2, force: false)
        let whole = try builder.build(cohort: cohort, destination: c.release("whole"))
        let far = ShardMergeTests.otherFilesystem! + "/hemo-part-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: far) }
        _ = try builder.build(cohort: cohort.restricted(to: ReleasePart(1, of: 2)!), destination: far)
        _ = try builder.build(cohort: cohort.restricted(to: ReleasePart(2, of: 2)!), destination: c.release("near"))
        let farBefore = releaseTree(far)
        let merged = try ReleaseMerger().merge(parts: [far, c.release("near")], destination: c.release("merged"))
        #expect(merged.manifest == whole.manifest)
        #expect(merged.copied > 0 && merged.moved > 0, "\(merged.copied) copied, \(merged.moved) moved")
        #expect(releaseTree(far) == farBefore, "the part on the other file system must stay whole")
        #expect(!FileManager.default.fileExists(atPath: c.release("near")), "the moved part is spent")
    }

    @Test func aShardResumesFromItsJournal() throws {
        let (c, cohort) = try shardCohort()
        let part = cohort.restricted(to: ReleasePart(1, of: 2)!)
        let builder = ReleaseBuilder(options: ReleaseOptions(), threads: 1, force: false)
        let clean = try builder.build(cohort: part, destination: c.release("clean"))
        let out = c.release("resumed")
        do {
            // A first run that is killed after two exams: journaled, never committed.
            let first = try ReleaseAssembly(destination: out, options: ReleaseOptions(), kind: .annotations,
                                            weakLabels: part.weakLabels, force: false, resumable: true, shard: part.shard)
            var times = StageTimes()
            for c in part.cases.prefix(2) { try first.release(try CasePipeline.run(c, options: ReleaseOptions(), threads: 1, times: &times), times: &times) }
        }
        let totals = Locked<Int?>(nil)
        let resumed = try builder.build(cohort: part, destination: out) { p in totals.withLock { $0 = p.total } }
        #expect(totals.withLock { $0 } == part.cases.count - 2, "the resumed run did the journaled exams again")
        #expect(resumed.manifest == clean.manifest)
        let ta = releaseTree(c.release("clean")), tb = releaseTree(out)
        for (k, v) in ta where tb[k] != v {
            let x = [UInt8](v), y = [UInt8](tb[k] ?? Data())
            let i = (0..<min(x.count, y.count)).first { x[$0] != y[$0] } ?? min(x.count, y.count)
            Issue.record("\(k) differs at \(i): \(String(decoding: x[max(0, i - 150)..<min(x.count, i + 80)], as: UTF8.self)) /// \(String(decoding: y[max(0, i - 150)..<min(y.count, i + 80)], as: UTF8.self))")
        }
        // Another part does not reuse that journal.
        do {
            let other = try ReleaseAssembly(destination: c.release("other"), options: ReleaseOptions(), kind: .annotations,
                                            weakLabels: nil, force: false, resumable: true, shard: part.shard)
            var times = StageTimes()
            try other.release(try CasePipeline.run(part.cases[0], options: ReleaseOptions(), threads: 1, times: &times), times: &times)
        }
        let second = cohort.restricted(to: ReleasePart(2, of: 2)!)
        let a = try ReleaseAssembly(destination: c.release("other"), options: ReleaseOptions(), kind: .annotations,
                                    weakLabels: nil, force: false, resumable: true, shard: second.shard)
        #expect(a.finished.isEmpty)
        a.abandon()
    }

    // MARK: refusals

    func parts(_ c: TinyCohort, _ cohort: Cohort, n: Int, options: ReleaseOptions = ReleaseOptions(), prefix: String = "p") throws -> [String] {
        try (1...n).map { k in
            let path = c.release("\(prefix)\(k)of\(n)")
            _ = try ReleaseBuilder(options: options, threads: 2, force: true).build(cohort: cohort.restricted(to: ReleasePart(k, of: n)!), destination: path)
            return path
        }
    }

    func refusal(_ parts: [String], _ c: TinyCohort) -> String {
        let before = parts.map(releaseTree)
        do {
            _ = try ReleaseMerger().merge(parts: parts, destination: c.release("merged"))
            return "merged"
        } catch {
            #expect(!FileManager.default.fileExists(atPath: c.release("merged")), "a refused merge left a release")
            #expect(parts.map(releaseTree) == before, "a refused merge changed its parts")
            #expect((error as? ReleaseError)?.code == .mergeRefused, "\(error)")
            return "\(error)"
        }
    }

    @Test func mergeRefusesMissingDuplicateAndForeignParts() throws {
        let (c, cohort) = try shardCohort()
        let three = try parts(c, cohort, n: 3)
        #expect(refusal([three[0], three[2]], c).contains("part 2/3 is missing"))
        #expect(refusal([three[1]], c).contains("parts 1/3, 3/3 are missing"))
        // The same part built twice into two folders.
        _ = try ReleaseBuilder(options: ReleaseOptions(), threads: 2, force: false)
            .build(cohort: cohort.restricted(to: ReleasePart(2, of: 3)!), destination: c.release("again2"))
        #expect(refusal(three + [c.release("again2")], c).contains("duplicates part 2/3"))
        // Parts of another split.
        let two = try parts(c, cohort, n: 2)
        #expect(refusal([three[0], three[1], two[1]], c).contains("same --part K/N split"))
        // Parts of another cohort.
        let (c2, other) = try shardCohort()
        // Same case names, same files: the same fingerprint; a cohort with one more exam is another cohort.
        #expect(cohort.fingerprint == other.fingerprint)
        try TinyCohort.writeCase(root: c2.root, name: "case_100", seed: 5)
        let grown = try Cohort.open(c2.root)
        #expect(grown.fingerprint != cohort.fingerprint)
        let grownPart = c2.release("grown1")
        _ = try ReleaseBuilder(options: ReleaseOptions(), threads: 2, force: false).build(cohort: grown.restricted(to: ReleasePart(1, of: 3)!), destination: grownPart)
        #expect(refusal([grownPart, three[1], three[2]], c).contains("another cohort"))
        // A whole release, a missing folder.
        _ = try ReleaseBuilder(options: ReleaseOptions(), threads: 2, force: false).build(cohort: cohort, destination: c.release("whole"))
        #expect(refusal([c.release("whole")], c).contains("is a whole release"))
        #expect(refusal([three[0], three[1], c.release("nothing")], c).contains("no such folder"))
    }

    @Test func aMergeThatFailsHalfwayPutsEveryMovedFileBack() throws {
        let (c, cohort) = try shardCohort()
        let three = try parts(c, cohort, n: 3)
        // Part 2 (given last; part 3 of this cohort is empty) lost a file its manifest lists: the merge
        // fails after moving the other parts' files and some of its own.
        let order = [three[0], three[2], three[1]]
        let last = three[1]
        let journal = try String(contentsOfFile: last + "/journal.jsonl", encoding: .utf8)
        let entry = try #require(journal.split(separator: "\n").last { $0.contains("\"record\":") })
        let id = try JSONDecoder().decode(JournalEntry.self, from: Data(entry.utf8)).caseName
        try FileManager.default.removeItem(atPath: last + "/masks3d/\(id).nii.gz")
        let before = order.map(releaseTree)
        #expect(throws: ReleaseError.self) { try ReleaseMerger().merge(parts: order, destination: c.release("merged")) }
        #expect(order.map(releaseTree) == before, "moved files were not put back")
        #expect(!FileManager.default.fileExists(atPath: c.release("merged")))
        let staging = (c.release("merged") as NSString).deletingLastPathComponent + "/." + (c.release("merged") as NSString).lastPathComponent + ".staging"
        #expect(!FileManager.default.fileExists(atPath: staging), "the staging folder was left behind")
    }

    @Test func mergeRefusesOptionMismatchesOverlapsAndUnfinishedParts() throws {
        let (c, cohort) = try shardCohort()
        let three = try parts(c, cohort, n: 3)
        var seeded = ReleaseOptions()
        seeded.splitSeed = "other-seed"
        let odd = try parts(c, cohort, n: 3, options: seeded, prefix: "seeded")
        let message = refusal([three[0], odd[1], three[2]], c)
        #expect(message.contains("other options") && message.contains("split_seed"), "\(message)")
        // An unfinished part: its run journaled an exam but never committed.
        let unfinished = c.release("unfinished2of3")
        let part2 = cohort.restricted(to: ReleasePart(2, of: 3)!)
        do {
            let a = try ReleaseAssembly(destination: unfinished, options: ReleaseOptions(), kind: .annotations,
                                        weakLabels: nil, force: false, resumable: true, shard: part2.shard)
            var times = StageTimes()
            try a.release(try CasePipeline.run(part2.cases[0], options: ReleaseOptions(), threads: 1, times: &times), times: &times)
        }
        #expect(refusal([three[0], unfinished, three[2]], c).contains("unfinished"))
        // A committed part whose journal lacks an exam it lists.
        let cut = c.release("cut")
        try FileManager.default.copyItem(atPath: three[0], toPath: cut)
        let journal = try String(contentsOfFile: cut + "/journal.jsonl", encoding: .utf8).split(separator: "\n")
        try Data((journal.dropLast().joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: cut + "/journal.jsonl"))
        #expect(refusal([cut, three[1], three[2]], c).contains("unfinished"))
        // Overlap: part 2 claims an exam of part 1 as well.
        let overlap = c.release("overlap")
        try FileManager.default.copyItem(atPath: three[1], toPath: overlap)
        let stolen = try #require(journal.first { $0.contains("\"failure\":{") }.map(String.init))
        let name = try #require(try JSONDecoder().decode(JournalEntry.self, from: Data(stolen.utf8)).caseName as String?)
        try Data((try String(contentsOfFile: overlap + "/journal.jsonl", encoding: .utf8) + stolen + "\n").utf8)
            .write(to: URL(fileURLWithPath: overlap + "/journal.jsonl"))
        let info = try String(contentsOfFile: overlap + "/part.json", encoding: .utf8)
            .replacingOccurrences(of: "\"exams\": [", with: "\"exams\": [\"\(name)\", ")
        try Data(info.utf8).write(to: URL(fileURLWithPath: overlap + "/part.json"))
        #expect(refusal([three[0], overlap, three[2]], c).contains("exam \(name) is in both"))
    }
}
