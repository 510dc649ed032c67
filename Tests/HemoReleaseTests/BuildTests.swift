import Foundation
import Testing
import HemoCore
import NIfTI
import HemoTestKit
@testable import HemoRelease

@Suite(.serialized) struct ReleaseBuildTests {
    @Test func buildThenVerifyPassesAndManifestCoversEveryFile() throws {
        let c = try TinyCohort.make(count: 4)
        let out = c.release("r")
        let summary = try ReleaseBuilder(options: ReleaseOptions(), threads: 2, force: false).build(cohort: try Cohort.open(c.root), destination: out)
        #expect(summary.cases == 4)
        #expect(summary.failures.isEmpty)
        let report = try ReleaseVerifier(threads: 2).verify(out)
        #expect(report.ok, "\(report.disagreements)")
        #expect(report.casesChecked == 4)
        for f in ["dataset.json", "labels/slice_labels.csv", "labels/patient_labels.csv", "boxes/boxes2d.csv",
                  "boxes/lesions3d.csv", "boxes/coco.json", "splits.json", "provenance.json", "failures.csv",
                  "imagesTr/case_001_0000.nii.gz", "labelsTr/case_001.nii.gz", "masks3d/case_001.nii.gz",
                  "masks2d/case_001/000.png", "masks2d/case_001/005.png"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + f), "missing \(f)")
        }
        let slices = try String(contentsOfFile: out + "/labels/slice_labels.csv", encoding: .utf8)
        #expect(slices.hasPrefix("case,slice,any,EPH,SDH,SAH,IPH,IVH\ncase_000,000,0,0,0,0,0,0\n"))
        #expect(slices.split(separator: "\n").count == 1 + 4 * 6)
    }

    @Test func rebuildingWithOtherThreadCountsGivesTheSameManifest() throws {
        let c = try TinyCohort.make(count: 5)
        let cohort = try Cohort.open(c.root)
        let a = try ReleaseBuilder(options: ReleaseOptions(), threads: 1, force: false).build(cohort: cohort, destination: c.release("a"))
        let b = try ReleaseBuilder(options: ReleaseOptions(), threads: 4, force: false).build(cohort: cohort, destination: c.release("b"))
        #expect(a.manifest == b.manifest)
        let again = try ReleaseBuilder(options: ReleaseOptions(), threads: 3, force: true).build(cohort: cohort, destination: c.release("a"))
        #expect(again.manifest == a.manifest)
    }

    @Test func badExamsGoToFailuresAndTheRestIsReleased() throws {
        let c = try TinyCohort.make(count: 3)
        let fm = FileManager.default
        // A corrupt CT.
        try Data("not a nifti file at all".utf8).write(to: URL(fileURLWithPath: c.root + "/case_001/ct.nii.gz"))
        // An annotation on another grid.
        var other = Volume<UInt8>(geometry: Geometry(size: GridSize(10, 10, 6), spacing: SIMD3(1, 1, 5)), repeating: 0)
        other.voxels[0] = 1
        try NIfTIFile.write(other, to: c.root + "/case_002/labelmap.nii.gz", options: NIfTIWriteOptions())
        // An invalid case identifier, and a label value outside 0...5.
        try TinyCohort.writeCase(root: c.root, name: "bad name", seed: 1)
        try TinyCohort.writeCase(root: c.root, name: "case_003", seed: 2)
        var seven = TinyCohort.labelMap(seed: 2); seven.voxels[100] = 7
        try NIfTIFile.write(seven, to: c.root + "/case_003/labelmap.nii.gz", options: NIfTIWriteOptions())

        let out = c.release("r")
        let s = try ReleaseBuilder(options: ReleaseOptions(), threads: 2, force: false).build(cohort: try Cohort.open(c.root), destination: out)
        #expect(s.cases == 1)
        #expect(s.failures.map(\.caseName) == ["bad name", "case_001", "case_002", "case_003"])
        #expect(s.failures.map(\.stage) == ["input", "read", "annotations", "annotations"])
        #expect(s.failures[1].reason.hasPrefix("case_001/ct.nii.gz"))
        #expect(!s.failures[2].reason.contains(c.root))
        #expect(s.failures[3].reason.contains("label value 7"))
        #expect(!fm.fileExists(atPath: out + "/imagesTr/case_001_0000.nii.gz"))
        #expect(!fm.fileExists(atPath: out + "/masks2d/case_002"))
        let failures = try String(contentsOfFile: out + "/failures.csv", encoding: .utf8)
        #expect(failures.split(separator: "\n").count == 5)
        #expect(try ReleaseVerifier().verify(out).ok)
        // Nothing left behind besides the release.
        let siblings = try fm.contentsOfDirectory(atPath: (out as NSString).deletingLastPathComponent)
        #expect(!siblings.contains { $0.hasPrefix("." + (out as NSString).lastPathComponent + ".staging") })
    }

    @Test func verifyReportsTamperedTablesAndFiles() throws {
        let c = try TinyCohort.make(count: 2)
        let out = c.release("r")
        _ = try ReleaseBuilder(options: ReleaseOptions(), threads: 1, force: false).build(cohort: try Cohort.open(c.root), destination: out)
        // Change a box consistently in the table AND the manifest: only the mask check can catch it.
        let boxes = out + "/boxes/boxes2d.csv"
        var text = try String(contentsOfFile: boxes, encoding: .utf8)
        let lines = text.split(separator: "\n")
        var fields = lines[1].split(separator: ",").map(String.init)
        fields[5] = String(Int(fields[5])! + 1)
        text = text.replacingOccurrences(of: String(lines[1]), with: fields.joined(separator: ","))
        try text.write(toFile: boxes, atomically: true, encoding: .utf8)
        let newManifest = try Manifest.compute(folder: out, files: try ReleaseFiles(root: out).all.filter { $0 != Manifest.fileName })
        try newManifest.write(toFile: out + "/" + Manifest.fileName, atomically: true, encoding: .utf8)
        let r1 = try ReleaseVerifier().verify(out)
        #expect(r1.disagreements.contains { $0.file == "boxes/boxes2d.csv" && $0.detail.contains("line 2") })
        #expect(!r1.disagreements.contains { $0.file == Manifest.fileName })
        // A flipped byte in a volume breaks the manifest check.
        let png = out + "/masks2d/case_001/001.png"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: png))
        bytes[bytes.count - 5] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: png))
        let r2 = try ReleaseVerifier().verify(out)
        #expect(r2.disagreements.contains { $0.file == "masks2d/case_001/001.png" && $0.detail.contains("SHA-256") })
    }

    @Test func resamplingAndCanonicalOptionsStillVerify() throws {
        let c = try TinyCohort.make(count: 2)
        var o = ReleaseOptions()
        o.spacing = .millimetres(SIMD3(1.5, 1.5, 2.5))
        o.canonical = true
        let out = c.release("r")
        let s = try ReleaseBuilder(options: o, threads: 2, force: false).build(cohort: try Cohort.open(c.root), destination: out)
        #expect(s.failures.isEmpty)
        #expect(try ReleaseVerifier().verify(out).ok)
        let header = try NIfTIFile.readHeader(out + "/imagesTr/case_001_0000.nii.gz", options: NIfTIReadOptions())
        #expect(header.geometry.size == GridSize(14, 12, 12))
    }
}
