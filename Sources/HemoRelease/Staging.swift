import Foundation
import HemoCore

/// A release under construction: a hidden staging folder beside the destination that is
/// renamed into place only when complete, so a release appears whole or not at all.
///
/// Files are written through ``write(_:to:)``, each to a temporary name and renamed, so a
/// crash leaves no half-written file even inside the staging folder.
public final class ReleaseStaging: @unchecked Sendable {
    /// The final release folder.
    public let destination: String
    /// The staging folder (`.<name>.staging` beside the destination).
    public let folder: String
    private let force: Bool
    private let lock = NSLock()
    private var createdFolders = Set<String>()
    /// Hex SHA-256 of files written with ``write(_:to:sha256:)``, reused by ``commit()``.
    private var knownDigests: [String: String] = [:]

    /// Prepares a staging folder for `destination`.
    ///
    /// - Parameters:
    ///   - destination: the release folder to create.
    ///   - force: replace an existing destination on commit.
    ///   - keepExisting: keep an existing staging folder (a resumed run) instead of clearing it.
    /// - Throws: ``ReleaseError`` when the destination exists without `force`, or I/O fails.
    public init(destination: String, force: Bool, keepExisting: Bool = false) throws {
        let url = URL(fileURLWithPath: destination).standardizedFileURL
        self.destination = url.path
        self.folder = url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".staging"
        self.force = force
        let fm = FileManager.default
        if fm.fileExists(atPath: self.destination) && !force {
            throw ReleaseError(.destinationExists, path: destination,
                               reason: "already exists; choose another --out or pass --force to replace it")
        }
        do {
            if fm.fileExists(atPath: folder) && !keepExisting { try fm.removeItem(atPath: folder) }
            try fm.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw ReleaseError(.io, path: folder, reason: "cannot create the staging folder: \(error.localizedDescription)")
        }
    }

    /// Empties the staging folder.
    public func clear() throws {
        do {
            try FileManager.default.removeItem(atPath: folder)
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw ReleaseError(.io, path: folder, reason: "cannot clear the staging folder: \(error.localizedDescription)")
        }
        lock.lock(); createdFolders.removeAll(); knownDigests.removeAll(); lock.unlock()
    }

    /// Removes every file (hidden ones too, such as the temporary files of a write that a killed
    /// process left behind) whose release-relative path is not in `keep`, then the folders left
    /// empty. A resumed run calls this so that only the files of journaled cases carry over.
    /// - Returns: the release-relative paths removed, sorted.
    @discardableResult
    public func prune(keeping keep: Set<String>) throws -> [String] {
        let fm = FileManager.default
        guard let e = fm.enumerator(atPath: folder) else {
            throw ReleaseError(.io, path: folder, reason: "cannot list the staging folder")
        }
        var removed: [String] = []
        var folders: [String] = []
        while let rel = e.nextObject() as? String {
            var d: ObjCBool = false
            guard fm.fileExists(atPath: folder + "/" + rel, isDirectory: &d) else { continue }
            if d.boolValue { folders.append(rel); continue }
            if !keep.contains(rel) { removed.append(rel) }
        }
        for rel in removed {
            guard unlink(folder + "/" + rel) == 0 || errno == ENOENT else {
                throw ReleaseError(.io, path: folder + "/" + rel, reason: "cannot remove a leftover file: \(String(cString: strerror(errno)))")
            }
        }
        // Deepest first, so a folder emptied by removing its subfolders goes too.
        for rel in folders.sorted(by: { $0.count > $1.count }) {
            if let items = try? fm.contentsOfDirectory(atPath: folder + "/" + rel), items.isEmpty {
                rmdir(folder + "/" + rel)
            }
        }
        lock.lock(); createdFolders.removeAll(); knownDigests.removeAll(); lock.unlock()
        return removed.sorted()
    }

    /// The absolute staging path of a release-relative path, creating its parent folders.
    public func prepare(_ relative: String) throws -> String {
        let path = folder + "/" + relative
        let parent = relative.lastIndex(of: "/").map { folder + "/" + relative[..<$0] } ?? folder
        lock.lock()
        knownDigests[relative] = nil // about to be rewritten by whoever prepares it
        let known = createdFolders.contains(parent)
        lock.unlock()
        if !known {
            do {
                try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
            } catch {
                throw ReleaseError(.io, path: parent, reason: "cannot create folder: \(error.localizedDescription)")
            }
            lock.lock(); createdFolders.insert(parent); lock.unlock()
        }
        return path
    }

    /// Writes `bytes` to the release-relative path, atomically. Its SHA-256 is computed from the
    /// bytes in memory, so ``commit()`` does not read the file back for the manifest (with 10⁶
    /// exams that read was one thread hashing the whole release at the end of the run).
    public func write(_ bytes: [UInt8], to relative: String) throws {
        try write(bytes, to: relative, sha256: SHA256.hex(of: bytes))
    }

    /// Writes `bytes` whose SHA-256 the caller already knows (hex; e.g. verified on receipt), atomically;
    /// ``commit()`` puts that digest in the manifest instead of reading the file again.
    public func write(_ bytes: [UInt8], to relative: String, sha256 hex: String) throws {
        let path = try prepare(relative)
        try AtomicFile.write(bytes, to: path)
        lock.lock(); knownDigests[relative] = hex; lock.unlock()
    }

    /// Records the hex SHA-256 of a file put at the release-relative path by other means (a merge
    /// renames the parts' files into staging); ``commit()`` puts it in the manifest as it is.
    public func adopt(_ relative: String, sha256 hex: String) {
        lock.lock(); knownDigests[relative] = hex; lock.unlock()
    }

    /// Places the file at `source` at a release-relative path without copying it: a hard link, or
    /// a symbolic link to its absolute path when a hard link is impossible (another file system);
    /// `sha256` is its known hex digest (the manifest reuses it). Atomic like ``write(_:to:)``.
    /// - Returns: whether it is a hard link (`false`: a symbolic link).
    @discardableResult
    public func link(_ source: String, to relative: String, sha256 hex: String) throws -> Bool {
        let path = try prepare(relative)
        let tmp = path + ".tmp-link-\(getpid())-\(UUID().uuidString)"
        var hard = true
        if Foundation.link(source, tmp) != 0 {
            let first = errno
            guard first == EXDEV || first == EPERM || first == EMLINK else {
                throw ReleaseError(.io, path: path, reason: "cannot link \(source): \(String(cString: strerror(first)))")
            }
            let absolute = URL(fileURLWithPath: source).standardizedFileURL.path
            guard symlink(absolute, tmp) == 0 else {
                throw ReleaseError(.io, path: path, reason: "cannot link or reference \(source): \(String(cString: strerror(errno)))")
            }
            hard = false
        }
        guard rename(tmp, path) == 0 else {
            let e = errno
            unlink(tmp)
            throw ReleaseError(.io, path: path, reason: "cannot rename into place: \(String(cString: strerror(e)))")
        }
        lock.lock(); knownDigests[relative] = hex; lock.unlock()
        return hard
    }

    /// Writes UTF-8 `text` to the release-relative path, atomically.
    public func write(_ text: String, to relative: String) throws {
        try write(Array(text.utf8), to: relative)
    }

    /// Every regular file in the staging folder, release-relative, sorted byte-wise: files whose
    /// name starts with a dot are left out, symbolic links count as the files they point to.
    /// One `readdir` pass per folder (the entry type from `d_type`, a `stat` only for links and
    /// file systems that do not report types): `FileManager`'s enumerator with a `fileExists` per
    /// entry took 10–14 s at 8,000 exams (scripts/bench/scale.sh).
    public func files() throws -> [String] {
        var out: [String] = []
        try Self.walk(folder, prefix: "", into: &out)
        return out.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    private static func walk(_ path: String, prefix: String, into out: inout [String]) throws {
        guard let dir = opendir(path) else {
            throw ReleaseError(.io, path: path, reason: "cannot list the staging folder: \(String(cString: strerror(errno)))")
        }
        defer { closedir(dir) }
        var folders: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            var isFolder: Bool
            switch Int32(entry.pointee.d_type) {
            case Int32(DT_DIR): isFolder = true
            case Int32(DT_REG): isFolder = false
            default:
                // A link (counted as what it points to, a dangling one not at all) or an unknown type.
                var st = stat()
                guard stat(path + "/" + name, &st) == 0 else { continue }
                isFolder = (st.st_mode & S_IFMT) == S_IFDIR
                if isFolder && Int32(entry.pointee.d_type) == Int32(DT_LNK) { continue } // not followed
            }
            if isFolder { folders.append(name); continue }
            if !name.hasPrefix(".") { out.append(prefix + name) }
        }
        for f in folders { try walk(path + "/" + f, prefix: prefix + f + "/", into: &out) }
    }

    /// Writes `MANIFEST.sha256` over every other file, then renames the staging folder into place.
    /// - Returns: the manifest text.
    @discardableResult
    public func commit() throws -> String {
        lock.lock(); let known = knownDigests; lock.unlock()
        CrashDrill.point("manifest")
        let manifest = try Manifest.compute(folder: folder, files: try files().filter { $0 != Manifest.fileName }, known: known)
        try write(manifest, to: Manifest.fileName)
        CrashDrill.point("rename")
        let fm = FileManager.default
        var old: String? = nil
        if fm.fileExists(atPath: destination) {
            guard force else {
                throw ReleaseError(.destinationExists, path: destination, reason: "appeared during the build; nothing was replaced")
            }
            old = folder + ".old"
            try? fm.removeItem(atPath: old!)
            do { try fm.moveItem(atPath: destination, toPath: old!) } catch {
                throw ReleaseError(.io, path: destination, reason: "cannot move the old release aside: \(error.localizedDescription)")
            }
        }
        guard rename(folder, destination) == 0 else {
            let reason = String(cString: strerror(errno))
            if let old { _ = rename(old, destination) }
            throw ReleaseError(.io, path: destination, reason: "cannot rename the staging folder into place: \(reason)")
        }
        if let old { try? fm.removeItem(atPath: old) }
        try? fm.removeItem(atPath: folder + ".old") // a replaced release left by a run killed mid-commit
        return manifest
    }

    /// A run killed after renaming its staging folder into place but before removing its journal
    /// left a complete release and a journal: move the release back to staging so that the
    /// restarted run resumes (every exam journaled) and commits the same bytes again, instead of
    /// refusing an existing destination.
    /// Only a journal of the same run (its `fingerprint`) does this.
    public static func reopenIfCommittedButJournaled(destination: String, fingerprint: String) throws {
        let url = URL(fileURLWithPath: destination).standardizedFileURL
        let parent = url.deletingLastPathComponent().path + "/."
        let staging = parent + url.lastPathComponent + ".staging", journal = parent + url.lastPathComponent + ".journal"
        let fm = FileManager.default
        guard ReleaseJournal.matches(path: journal, fingerprint: fingerprint), !fm.fileExists(atPath: staging),
              fm.fileExists(atPath: url.path + "/" + Manifest.fileName) else { return }
        guard rename(url.path, staging) == 0 else {
            throw ReleaseError(.io, path: url.path, reason: "cannot reopen the release its journal says is unfinished: \(String(cString: strerror(errno)))")
        }
    }

    /// Removes the staging folder (a failed or cancelled run).
    public func abandon() {
        try? FileManager.default.removeItem(atPath: folder)
    }
}

/// Writing a file so that readers see the old content or the new, never a part.
public enum AtomicFile {
    /// Writes to `path.tmp-<pid>-<n>`, flushes, and renames onto `path`.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let tmp = path + ".tmp-\(getpid())-\(counter.next())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ReleaseError(.io, path: path, reason: "cannot create: \(String(cString: strerror(errno)))")
        }
        var written = 0
        let ok: Bool = bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 { if errno == EINTR { continue }; return false }
                written += n
            }
            return true
        }
        let err = errno
        close(fd)
        guard ok else {
            unlink(tmp)
            throw ReleaseError(.io, path: path, reason: "cannot write: \(String(cString: strerror(err)))")
        }
        guard rename(tmp, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(tmp)
            throw ReleaseError(.io, path: path, reason: "cannot rename into place: \(reason)")
        }
    }

    private static let counter = Counter()
    private final class Counter: @unchecked Sendable {
        private var n = 0
        private let lock = NSLock()
        func next() -> Int { lock.lock(); defer { lock.unlock() }; n += 1; return n }
    }
}

/// `MANIFEST.sha256`: `<sha256>  <relative path>` per file, sorted by path, as `sha256sum -c` reads it.
public enum Manifest {
    /// The manifest's file name.
    public static let fileName = "MANIFEST.sha256"

    /// The SHA-256 of a file's bytes, streamed.
    public static func sha256(ofFile path: String) throws -> String {
        guard let h = FileHandle(forReadingAtPath: path) else {
            throw ReleaseError(.io, path: path, reason: "cannot be opened for reading")
        }
        defer { try? h.close() }
        var hash = SHA256()
        while true {
            let chunk = h.readData(ofLength: 1 << 20)
            if chunk.isEmpty { break }
            hash.update(chunk)
        }
        return hash.finalizeHex()
    }

    /// The manifest text for `files` (release-relative) under `folder`; digests in `known` (hex, by
    /// path) are used as they are, the others computed from the files.
    public static func compute(folder: String, files: [String], known: [String: String] = [:]) throws -> String {
        var out = ""
        for f in files { out += try (known[f] ?? sha256(ofFile: folder + "/" + f)) + "  " + f + "\n" }
        return out
    }

    /// Parses manifest text into (path, digest) pairs.
    public static func parse(_ text: String) -> [(path: String, sha256: String)]? {
        var out: [(String, String)] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            guard line.count > 66, line.dropFirst(64).hasPrefix("  ") else { return nil }
            out.append((String(line.dropFirst(66)), String(line.prefix(64))))
        }
        return out
    }
}

/// Fault drills: `HEMO_DRILL_KILL_AT=<point>` makes the process SIGKILL itself when it reaches that
/// point of the commit (`tables`, `tables-labels`, `tables-boxes`, `tables-yolo`, `manifest`,
/// `rename`, `journal-remove`), so a drill can hit instants a random delay rarely does
/// (scripts/system-tests/37-crash-drills.sh). Unset, it does nothing.
public enum CrashDrill {
    static let target: String? = ProcessInfo.processInfo.environment["HEMO_DRILL_KILL_AT"]

    /// Kills the process here when the drill names `name`.
    public static func point(_ name: String) {
        if let target, target == name { kill(getpid(), SIGKILL) }
    }
}
