import Foundation
import HemoCore
import HemoTestKit
import NIfTI
import Testing
@testable import HemoRelease

/// `--images copy|link|omit`: what each stores, and that `hemo release verify` accepts each.
@Suite struct ImageModeTests {
    func build(_ root: String, to out: String, images: ImageMode) throws -> String {
        var o = ReleaseOptions()
        o.images = images
        return try ReleaseBuilder(options: o, threads: 2, force: true).build(cohort: try Cohort.open(root), destination: out).manifest
    }

    func lines(_ manifest: String, excluding prefixes: [String]) -> [Substring] {
        manifest.split(separator: "\n").filter { l in !prefixes.contains { l.contains("  " + $0) } }
    }

    func inode(_ path: String) throws -> (ino: UInt64, links: Int, symlink: Bool) {
        var st = stat()
        guard lstat(path, &st) == 0 else { throw ReleaseError(.io, path: path, reason: "lstat") }
        return (UInt64(st.st_ino), Int(st.st_nlink), (st.st_mode & S_IFMT) == S_IFLNK)
    }

    /// Runs `sha256sum -c FILE` (GNU coreutils, the independent check) in `folder`.
    func sha256sumCheck(_ file: String, in folder: String) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        p.arguments = ["--check", "--strict", "--quiet", file]
        p.currentDirectoryURL = URL(fileURLWithPath: folder)
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    @Test func omitWritesLabelsOnlyAndNamesEachInputCTBySHA256() throws {
        let cohort = try TinyCohort.make(count: 3)
        let copy = try build(cohort.root, to: cohort.release("copy"), images: .copy)
        let omit = try build(cohort.root, to: cohort.release("omit"), images: .omit)
        let out = cohort.release("omit")
        #expect(!FileManager.default.fileExists(atPath: out + "/imagesTr"))
        // Every label file is the copy release's, byte for byte.
        #expect(lines(omit, excluding: ["provenance.json", "images.sha256"]) == lines(copy, excluding: ["imagesTr/", "provenance.json"]))
        // images.sha256 checks the cohort's CTs with coreutils.
        let digests = try String(contentsOfFile: out + "/images.sha256", encoding: .utf8)
        #expect(digests.split(separator: "\n").count == 3)
        #expect(digests.contains("  case_000/ct.nii.gz\n"))
        #expect(try sha256sumCheck(out + "/images.sha256", in: cohort.root) == 0)
        #expect(omit.contains("  images.sha256\n"))
        let provenance = try String(contentsOfFile: out + "/provenance.json", encoding: .utf8)
        #expect(provenance.contains("\"images\": \"omit\""))
        let report = try ReleaseVerifier().verify(out)
        #expect(report.disagreements.isEmpty, "\(report.disagreements)")
        // The verifier notices a CT that does not belong, and a wrong digest.
        var text = digests
        text.replaceSubrange(text.startIndex..<text.index(text.startIndex, offsetBy: 4), with: "0000")
        try text.write(toFile: out + "/images.sha256", atomically: true, encoding: .utf8)
        let bad = try ReleaseVerifier().verify(out)
        #expect(bad.disagreements.contains { $0.file == "images.sha256" && !$0.detail.contains("SHA-256 ") })
        // omit cannot go with a grid change.
        var o = ReleaseOptions()
        o.images = .omit
        o.canonical = true
        #expect(throws: ReleaseError.self) { try ReleaseBuilder(options: o, threads: 1, force: true).build(cohort: try Cohort.open(cohort.root), destination: cohort.release("omit-canonical")) }
    }

    @Test func linkHardLinksInputsThatAreAlreadyTheReleasesBytesAndCopiesTheRest() throws {
        let cohort = try TinyCohort.make(count: 3)
        let copyManifest = try build(cohort.root, to: cohort.release("copy"), images: .copy)
        // The TinyCohort CTs are not the release's encoding: link copies them, same bytes as copy.
        let linked = try build(cohort.root, to: cohort.release("link"), images: .link)
        #expect(linked == copyManifest)
        #expect(try inode(cohort.release("link") + "/imagesTr/case_000_0000.nii.gz").links == 1)
        // A cohort whose CTs are a release's own images: link stores them without a copy.
        let second = cohort.root + "-second"
        for n in 0..<3 {
            let name = String(format: "case_%03d", n)
            try FileManager.default.createDirectory(atPath: second + "/" + name, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: cohort.release("copy") + "/imagesTr/\(name)_0000.nii.gz", toPath: second + "/\(name)/ct.nii.gz")
            try FileManager.default.copyItem(atPath: cohort.root + "/\(name)/labelmap.nii.gz", toPath: second + "/\(name)/labelmap.nii.gz")
        }
        let secondCopy = try build(second, to: second + "-copy", images: .copy)
        let secondLink = try build(second, to: second + "-link", images: .link)
        #expect(secondLink == secondCopy, "link stores the bytes copy writes")
        for n in 0..<3 {
            let name = String(format: "case_%03d", n)
            let released = try inode(second + "-link/imagesTr/\(name)_0000.nii.gz")
            let input = try inode(second + "/\(name)/ct.nii.gz")
            #expect(released.ino == input.ino && released.links == 2 && !released.symlink, "\(name) is a hard link of its input")
        }
        let report = try ReleaseVerifier().verify(second + "-link")
        #expect(report.disagreements.isEmpty, "\(report.disagreements)")
    }

    @Test func linkReferencesAcrossFileSystemsWithASymbolicLink() throws {
        // /dev/shm is another file system than the temporary folder on most machines.
        guard FileManager.default.fileExists(atPath: "/dev/shm") else { return }
        let staging = try ReleaseStaging(destination: NSTemporaryDirectory() + "hemo-link-\(UUID().uuidString)", force: true)
        defer { staging.abandon() }
        let source = "/dev/shm/hemo-link-source-\(UUID().uuidString)"
        try Data("ct".utf8).write(to: URL(fileURLWithPath: source))
        defer { try? FileManager.default.removeItem(atPath: source) }
        var a = stat(), b = stat()
        stat(source, &a); stat(staging.folder, &b)
        let hard = try staging.link(source, to: "imagesTr/x_0000.nii.gz", sha256: SHA256.hex(of: Array("ct".utf8)))
        #expect(hard == (a.st_dev == b.st_dev))
        #expect(try String(contentsOfFile: staging.folder + "/imagesTr/x_0000.nii.gz", encoding: .utf8) == "ct")
        if !hard { #expect(try inode(staging.folder + "/imagesTr/x_0000.nii.gz").symlink) }
    }
}
