import Dispatch
import Foundation
import HemoConcurrency
import HemoCore
import NIfTI

/// The annotation forms a raw cohort can carry (besides the always-written truth and weak labels).
public struct AnnotationForms: OptionSet, Sendable, Hashable {
    /// The raw bits.
    public let rawValue: Int
    /// A raw set.
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// `<case>/labelmap.nii.gz`: one uint8 map on the CT grid, 0 background, 1 EPH … 5 IVH, higher wins.
    public static let labelmap = AnnotationForms(rawValue: 1)
    /// `<case>/masks/<SUBTYPE>.nii.gz`: one binary uint8 map per subtype present.
    public static let subtypeMasks = AnnotationForms(rawValue: 2)
    /// `<case>/polygons.json`: per-slice 2D polygons (``PolygonDocument``).
    public static let polygons = AnnotationForms(rawValue: 4)
    /// The default: `labelmap,polygons`.
    public static let defaultForms: AnnotationForms = [.labelmap, .polygons]

    /// Parses a comma list of `labelmap`, `subtype-masks`, `polygons` (or `all`, `none`).
    public init(list: String) throws(SynthError) {
        var forms: AnnotationForms = []
        for item in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) where !item.isEmpty {
            switch item {
            case "labelmap": forms.insert(.labelmap)
            case "subtype-masks", "masks": forms.insert(.subtypeMasks)
            case "polygons": forms.insert(.polygons)
            case "all": forms = [.labelmap, .subtypeMasks, .polygons]
            case "none": break
            default:
                throw SynthError(reason: "unknown annotation form '\(item)'; use a comma list of labelmap, subtype-masks, polygons")
            }
        }
        self = forms
    }
}

/// What was written for one case: the rows of `cohort.csv` and `weak_labels.csv`, and preview hints.
public struct WrittenCase: Sendable {
    /// The case index.
    public let index: Int
    /// The case identifier.
    public let caseID: String
    /// Subtypes present in the truth.
    public let presentSubtypes: [Subtype]
    /// Relative paths written (empty string when a form is absent): ct, labelmap, masks folder, polygons.
    public let ct: String, labelmap: String, subtypeMasks: String, polygons: String
    /// For each present subtype, the slice with the largest area and that area in pixels.
    public let largestSlice: [Subtype: (slice: Int, pixels: Int)]
    /// Number of slices.
    public let slices: Int
}

/// Writes a raw cohort: the thin file layer over ``SynthGenerator`` (see the RawCohort article).
public struct CohortWriter: Sendable {
    /// The cohort folder.
    public let directory: String
    /// The generator.
    public let generator: SynthGenerator
    /// Annotation forms to write.
    public let forms: AnnotationForms
    /// gzip level of every `.nii.gz`.
    public let gzipLevel: Int

    /// A writer into `directory` (created when missing).
    public init(directory: String, generator: SynthGenerator, forms: AnnotationForms, gzipLevel: Int = 6) {
        self.directory = directory
        self.generator = generator
        self.forms = forms
        self.gzipLevel = gzipLevel
    }

    func path(_ relative: String) -> String { (directory as NSString).appendingPathComponent(relative) }

    func makeFolder(_ relative: String, caseID: String?) throws(SynthError) {
        do { try FileManager.default.createDirectory(atPath: path(relative), withIntermediateDirectories: true) } catch {
            throw SynthError(caseID: caseID, reason: "cannot create folder \(path(relative)): \(error.localizedDescription)")
        }
    }

    func writeText(_ text: String, to relative: String, caseID: String?) throws(SynthError) {
        do { try Data(text.utf8).write(to: URL(fileURLWithPath: path(relative)), options: .atomic) } catch {
            throw SynthError(caseID: caseID, reason: "cannot write \(path(relative)): \(error.localizedDescription)")
        }
    }

    func writeVolume<T: VoxelScalar>(_ volume: Volume<T>, to relative: String, caseID: String) throws(SynthError) {
        do { try NIfTIFile.write(volume, to: path(relative), options: NIfTIWriteOptions(gzipLevel: gzipLevel)) } catch {
            throw SynthError(caseID: caseID, reason: "\(error)")
        }
    }

    /// Writes one generated case's files and returns what was written.
    public func write(_ synthCase: SynthCase) throws(SynthError) -> WrittenCase {
        let id = synthCase.caseID
        try makeFolder(id, caseID: id)
        try makeFolder("truth/\(id)", caseID: id)
        let ctPath = "\(id)/ct.nii.gz"
        try writeVolume(synthCase.ct, to: ctPath, caseID: id)
        let present = synthCase.presentSubtypes
        let geometry = synthCase.ct.geometry
        let n = geometry.size.sliceCount
        var largest: [Subtype: (slice: Int, pixels: Int)] = [:]
        var subtypeBits: [Subtype: [UInt8]] = [:]
        for s in present {
            var bits = [UInt8](repeating: 0, count: geometry.size.count)
            var perSlice = [Int](repeating: 0, count: geometry.size.k)
            for (p, v) in synthCase.paint.voxels.enumerated() where v == s.rawValue {
                bits[p] = 1
                perSlice[p / n] += 1
            }
            let best = perSlice.indices.max { perSlice[$0] < perSlice[$1] || (perSlice[$0] == perSlice[$1] && $0 > $1) }!
            largest[s] = (best, perSlice[best])
            subtypeBits[s] = bits
            try writeVolume(Volume(geometry: geometry, voxels: bits), to: "truth/\(id)/\(s.name).nii.gz", caseID: id)
        }
        var labelmapPath = "", masksPath = "", polygonsPath = ""
        let annotated = generator.options.annotatorNoise
            ? Self.annotatorOutline(synthCase.paint, seed: generator.options.seed, caseIndex: synthCase.index) : synthCase.paint
        if forms.contains(.labelmap) {
            labelmapPath = "\(id)/labelmap.nii.gz"
            try writeVolume(annotated, to: labelmapPath, caseID: id)
        }
        if forms.contains(.subtypeMasks) {
            masksPath = "\(id)/masks"
            try makeFolder(masksPath, caseID: id)
            for s in present {
                let bits = annotated.voxels.map { $0 == s.rawValue ? UInt8(1) : 0 }
                try writeVolume(Volume(geometry: geometry, voxels: bits), to: "\(masksPath)/\(s.name).nii.gz", caseID: id)
            }
        }
        if forms.contains(.polygons) {
            polygonsPath = "\(id)/polygons.json"
            let document = PolygonDocument(tracing: synthCase.truth, caseID: id)
            try writeText(document.jsonText(), to: polygonsPath, caseID: id)
        }
        return WrittenCase(index: synthCase.index, caseID: id, presentSubtypes: present, ct: ctPath, labelmap: labelmapPath,
                           subtypeMasks: masksPath, polygons: polygonsPath, largestSlice: largest, slices: geometry.size.k)
    }

    /// The label map as an annotator might outline it: per case (drawn from `seed` and the index)
    /// every lesion dilated by one pixel in-plane (4-neighbours, into background only), eroded by
    /// one pixel (voxels with a 4-neighbour of another label), or left exact, with chances 0.4, 0.4, 0.2.
    public static func annotatorOutline(_ paint: Volume<UInt8>, seed: UInt64, caseIndex: Int) -> Volume<UInt8> {
        var rng = Xoshiro256(key: seed, UInt64(caseIndex), 0xA770)
        let r = rng.unit()
        guard r < 0.8 else { return paint }
        let dilate = r < 0.4
        let size = paint.geometry.size
        let src = paint.voxels
        var out = src
        for k in 0..<size.k { for j in 0..<size.j { for i in 0..<size.i {
            let p = size.offset(i, j, k)
            let neighbours = [i > 0 ? src[p - 1] : src[p], i < size.i - 1 ? src[p + 1] : src[p],
                              j > 0 ? src[p - size.i] : src[p], j < size.j - 1 ? src[p + size.i] : src[p]]
            if dilate {
                if src[p] == 0, let label = neighbours.first(where: { $0 != 0 }) { out[p] = label }
            } else if src[p] != 0 && neighbours.contains(where: { $0 != src[p] }) {
                out[p] = 0
            }
        } } }
        return Volume(geometry: paint.geometry, voxels: out)
    }

    /// Writes `weak_labels.csv` and `cohort.csv` for `cases` (sorted by index).
    public func writeIndex(_ cases: [WrittenCase]) throws(SynthError) {
        let sorted = cases.sorted { $0.index < $1.index }
        var weak = "case,any," + Subtype.allCases.map(\.name).joined(separator: ",") + "\n"
        var cohort = "case,ct,labelmap,subtype_masks,polygons\n"
        for c in sorted {
            let flags = Subtype.allCases.map { c.presentSubtypes.contains($0) ? "1" : "0" }
            weak += "\(c.caseID),\(c.presentSubtypes.isEmpty ? 0 : 1)," + flags.joined(separator: ",") + "\n"
            cohort += [c.caseID, c.ct, c.labelmap, c.subtypeMasks, c.polygons].joined(separator: ",") + "\n"
        }
        try writeText(weak, to: "weak_labels.csv", caseID: nil)
        try writeText(cohort, to: "cohort.csv", caseID: nil)
    }

    /// The outcome of ``run(cases:threads:progress:)``.
    public struct RunResult: Sendable {
        /// Cases written, by index.
        public var written: [WrittenCase]
        /// Cases that failed, with the reason; the others were still written.
        public var failures: [SynthError]
    }

    /// Generates and writes cases `0..<count` on `threads` threads (each case on one thread; files
    /// do not depend on the thread count), then the index files.
    public func run(cases count: Int, threads: Int, progress: (@Sendable (WrittenCase) -> Void)? = nil) throws(SynthError) -> RunResult {
        try makeFolder("truth", caseID: nil)
        let state = RunState()
        let workers = max(1, min(threads, count))
        let generator = self.generator
        // Cases write files (blocking I/O): dedicated threads, one case at a time each.
        Parallel.onDedicatedThreads(count: count, threads: workers) { index in
            let synthCase = generator.generate(caseIndex: index)
            do {
                let written = try self.write(synthCase)
                state.record(written)
                progress?(written)
            } catch let error as SynthError {
                state.record(failure: error)
            } catch {
                state.record(failure: SynthError(caseID: synthCase.caseID, reason: "\(error)"))
            }
        }
        var result = state.result
        result.written.sort { $0.index < $1.index }
        try writeIndex(result.written)
        return result
    }
}

/// Shared bookkeeping of a run: the results, behind a lock.
private final class RunState: @unchecked Sendable {
    private let lock = NSLock()
    private var written: [WrittenCase] = []
    private var failures: [SynthError] = []

    func record(_ c: WrittenCase) { lock.lock(); written.append(c); lock.unlock() }
    func record(failure: SynthError) { lock.lock(); failures.append(failure); lock.unlock() }
    var result: CohortWriter.RunResult {
        lock.lock(); defer { lock.unlock() }
        return CohortWriter.RunResult(written: written, failures: failures)
    }
}
