import Foundation
import Testing
import HemoCore
@testable import HemoRelease

/// The staging folder's listing (what the manifest covers) and the digests the manifest reuses.
@Suite struct StagingListingTests {
    /// What `FileManager` lists, as the listing was computed before it used `readdir`: every
    /// non-directory (links followed) whose name does not start with a dot, sorted byte-wise.
    static func reference(_ folder: String) -> [String] {
        let fm = FileManager.default
        var out: [String] = []
        let e = fm.enumerator(atPath: folder)!
        while let rel = e.nextObject() as? String {
            var d: ObjCBool = false
            if fm.fileExists(atPath: folder + "/" + rel, isDirectory: &d), !d.boolValue,
               !(rel as NSString).lastPathComponent.hasPrefix(".") {
                out.append(rel)
            }
        }
        return out.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    @Test func listingMatchesFileManagersAndManifestNeedsNoReadBack() throws {
        let root = NSTemporaryDirectory() + "hemo-staging-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let staging = try ReleaseStaging(destination: root + "/release", force: false)
        try staging.write("a", to: "b.txt")
        try staging.write("x", to: "masks2d/Case_1/000.png")
        try staging.write("y", to: "masks2d/case_1/001.png")
        try staging.write("z", to: "labelsTr/Z.nii.gz")
        try staging.write("h", to: "labelsTr/.hidden")
        try staging.write("e", to: ".dotfolder/inside.txt")
        try FileManager.default.createDirectory(atPath: staging.folder + "/empty/deeper", withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: root + "/outside.txt", contents: Data("outside".utf8)))
        #expect(symlink(root + "/outside.txt", staging.folder + "/labelsTr/link.nii.gz") == 0)
        #expect(symlink(staging.folder + "/missing", staging.folder + "/labelsTr/dangling") == 0)
        #expect(symlink(staging.folder + "/masks2d", staging.folder + "/dirlink") == 0)
        let listed = try staging.files()
        #expect(listed == Self.reference(staging.folder))
        #expect(listed.contains("labelsTr/link.nii.gz") && !listed.contains("labelsTr/dangling") && !listed.contains("labelsTr/.hidden"))
        // The files written through the staging have their digests from memory (the link's is read):
        // the manifest equals one computed by reading every file.
        let manifest = try staging.commit()
        let reread = try Manifest.compute(folder: root + "/release", files: listed)
        #expect(manifest == reread)
    }
}
