import Foundation
import Testing
import DICOM
import HemoCore
import HemoRelease

/// A cohort of DICOM study folders (copied fixtures, nested) in a temporary folder.
struct DICOMCohort {
    let root: String

    init(_ studies: [String: String]) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("dicom-cohort-\(UUID().uuidString)").path
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/cohort", withIntermediateDirectories: true)
        for (folder, study) in studies {
            try fm.copyItem(atPath: Fixtures.study(study), toPath: root + "/cohort/" + folder)
        }
    }

    var cohort: String { root + "/cohort" }
    func remove() { try? FileManager.default.removeItem(atPath: root) }

    /// Every file of `folder`, as bytes, with its release-relative path.
    static func files(_ folder: String) -> [(String, [UInt8])] {
        let e = FileManager.default.enumerator(atPath: folder)!
        var out: [(String, [UInt8])] = []
        while let rel = e.nextObject() as? String {
            var d: ObjCBool = false
            if FileManager.default.fileExists(atPath: folder + "/" + rel, isDirectory: &d), !d.boolValue {
                out.append((rel, Array(FileManager.default.contents(atPath: folder + "/" + rel)!)))
            }
        }
        return out
    }
}

func contains(_ haystack: [UInt8], _ needle: String) -> Bool {
    let n = Array(needle.utf8)
    guard haystack.count >= n.count else { return false }
    for i in 0...(haystack.count - n.count) where haystack[i] == n[0] {
        if Array(haystack[i..<(i + n.count)]) == n { return true }
    }
    return false
}

@Suite struct DICOMCohortReleases {
    @Test func aDICOMCohortBuildsVerifiesAndMapsSlicesToInstances() throws {
        let c = try DICOMCohort(["exam_a": "axial", "exam_b": "multiseries", "exam_c": "uneven"])
        defer { c.remove() }
        let cohort = try Cohort.open(c.cohort)
        #expect(cohort.cases.map(\.id.rawValue) == ["exam_a", "exam_b", "exam_c"])
        #expect(cohort.cases.allSatisfy { $0.isDICOM })
        var o = ReleaseOptions()
        o.sliceKey = .sop
        let out = c.root + "/release"
        let summary = try ReleaseBuilder(options: o, threads: 2, force: false).build(cohort: cohort, destination: out)
        #expect(summary.failures.isEmpty)
        let report = try ReleaseVerifier().verify(out)
        #expect(report.ok, "\(report.disagreements)")
        let slices = String(decoding: FileManager.default.contents(atPath: out + "/labels/slice_labels.csv")!, as: UTF8.self)
        #expect(slices.hasPrefix("case,slice,any,EPH,SDH,SAH,IPH,IVH,sop_instance_uid,instance_number\n"))
        // exam_a: slice 000 is the lowest position, instance 10 of the fixture's reversed numbering.
        #expect(slices.contains("exam_a,000,0,0,0,0,0,0,1.2.826.0.1.3680043.10.999.1.2.1000,10\n"))
        // exam_c: the missing slice is made by resampling and has no instance.
        #expect(slices.contains("exam_c,005,0,0,0,0,0,0,,\n"))
        let series = String(decoding: FileManager.default.contents(atPath: out + "/series.csv")!, as: UTF8.self)
        #expect(series.split(separator: "\n").filter { $0.hasPrefix("exam_b,") }.count == 4)
        #expect(series.contains("uneven slice spacing resampled"))
        let bySOP = String(decoding: FileManager.default.contents(atPath: out + "/labels/slice_labels_sop.csv")!, as: UTF8.self)
        #expect(bySOP.hasPrefix("sop_instance_uid,instance_number,case,slice,any,"))
        #expect(bySOP.split(separator: "\n").count == 1 + 10 + 10 + 11)
    }

    @Test func noPatientIdentifierReachesAnyReleaseFile() throws {
        let c = try DICOMCohort(["Fixture_Jane_Q": "axial", "PID-4711-XYZ": "tilted"])
        defer { c.remove() }
        var o = ReleaseOptions()
        o.caseIDs = .studyHash
        o.uidSalt = "per-release secret"
        o.sliceKey = .sop
        let cohort = try Cohort.open(c.cohort, caseIDs: .studyHash, uidSalt: o.uidSalt)
        #expect(cohort.cases.allSatisfy { $0.id.rawValue.hasPrefix("study-") })
        let out = c.root + "/release"
        _ = try ReleaseBuilder(options: o, threads: 1, force: false).build(cohort: cohort, destination: out)
        #expect(try ReleaseVerifier().verify(out).ok)
        // The fixtures' PatientName, PatientID and PatientBirthDate, and the folder names above;
        // the study and series UIDs appear only hashed.
        let forbidden = ["Fixture^Jane^Q", "Fixture", "PID-4711-XYZ", "19610203", "1961",
                         "1.2.826.0.1.3680043.10.999.1\n", "1.2.826.0.1.3680043.10.999.1,", "1.2.826.0.1.3680043.10.999.1.2,",
                         "1.2.826.0.1.3680043.10.999.1.2\"", "1.2.826.0.1.3680043.10.999.3.2,"]
        let files = DICOMCohort.files(out)
        #expect(files.count > 10)
        for (path, bytes) in files {
            for word in forbidden {
                #expect(!contains(bytes, word), "\(path) contains '\(word)'")
            }
        }
    }

    @Test func anExamWithNoUsableSeriesFailsAloneWithTheReason() throws {
        let c = try DICOMCohort(["good": "axial", "bad": "multiseries"])
        defer { c.remove() }
        var o = ReleaseOptions()
        o.seriesSelect = "description=no-such-series"
        let out = c.root + "/release"
        let summary = try ReleaseBuilder(options: o, threads: 1, force: false).build(cohort: try Cohort.open(c.cohort), destination: out)
        #expect(summary.cases == 0)
        #expect(summary.failures.count == 2)
        #expect(summary.failures.allSatisfy { $0.reason.contains("no usable CT series") })
    }
}
