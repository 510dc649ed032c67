import HemoConcurrency
import HemoCore
import LibCrypto

/// The header of one image file: what grouping, selection and geometry need.
public struct DICOMSlice: Sendable {
    /// The file.
    public var path: String
    /// SOP Instance UID.
    public var sopInstanceUID: String
    /// Instance Number, when present.
    public var instanceNumber: Int?
    /// Series Number, when present.
    public var seriesNumber: Int?
    /// Study and Series Instance UIDs.
    public var studyInstanceUID: String, seriesInstanceUID: String
    /// Modality (CT, …).
    public var modality: String
    /// Image Type values (ORIGINAL, PRIMARY, AXIAL, LOCALIZER, …).
    public var imageType: [String]
    /// Whether Lossy Image Compression (0028,2110) is "01".
    public var lossyCompressed: Bool
    /// Derivation Description ("" when absent).
    public var derivationDescription: String
    /// Series Description and Convolution Kernel ("" when absent).
    public var seriesDescription: String, kernel: String
    /// Slice Thickness in mm, when present (from the Pixel Measures group for enhanced images).
    public var thickness: Double?
    /// Gantry/Detector Tilt in degrees (0 when absent).
    public var tilt: Double
    /// Image Position (Patient), LPS mm; nil when absent.
    public var position: SIMD3<Double>?
    /// Row and column direction cosines (Image Orientation (Patient)); nil when absent.
    public var rowCosines: SIMD3<Double>?, columnCosines: SIMD3<Double>?
    /// Pixel Spacing: between rows, between columns (mm).
    public var pixelSpacing: SIMD2<Double>?
    /// Rows × columns.
    public var rows: Int, columns: Int
    /// The parsed data set (pixel data decoded on demand).
    public var dataSet: DICOMDataSet
    /// Hex SHA-256 of the file's bytes (provenance), when read from a file.
    public var sha256: String = ""
    /// The frame of a multi-frame (enhanced) image this slice is (0 for single-frame images).
    public var frame = 0
    /// Rescale Slope and Intercept of this frame from the enhanced image's Pixel Value
    /// Transformation functional group; nil for single-frame images (read from the data set).
    public var rescale: (slope: Double, intercept: Double)?

    /// The header of `ds`.
    public init(_ ds: DICOMDataSet) {
        dataSet = ds
        path = ds.path
        sopInstanceUID = ds.string(.sopInstanceUID) ?? ""
        instanceNumber = ds.int(.instanceNumber)
        seriesNumber = ds.int(.seriesNumber)
        studyInstanceUID = ds.string(.studyInstanceUID) ?? ""
        seriesInstanceUID = ds.string(.seriesInstanceUID) ?? ""
        modality = ds.string(.modality) ?? ""
        imageType = (ds.strings(.imageType) ?? []).map { $0.uppercased() }
        lossyCompressed = ds.string(.lossyImageCompression) == "01"
        derivationDescription = ds.string(.derivationDescription) ?? ""
        seriesDescription = ds.string(.seriesDescription) ?? ""
        kernel = ds.strings(.convolutionKernel)?.joined(separator: "\\") ?? ""
        // Numbers outside physical ranges are treated as absent (hostile or corrupt headers).
        tilt = ds.double(.gantryTilt).flatMap { abs($0) <= 90 ? $0 : nil } ?? 0
        rows = ds.int(.rows) ?? 0
        columns = ds.int(.columns) ?? 0
        readPlane(position: ds, orientation: ds, measures: ds)
    }

    /// Reads Image Position, Image Orientation, Pixel Spacing and Slice Thickness from the data
    /// sets holding them (the image itself, or an enhanced image's functional group items).
    mutating func readPlane(position: DICOMDataSet?, orientation: DICOMDataSet?, measures: DICOMDataSet?) {
        // Numbers outside physical ranges are treated as absent (hostile or corrupt headers).
        if let m = measures {
            thickness = m.double(.sliceThickness).flatMap { $0 > 0 && $0 <= 1000 ? $0 : nil }
            if let s = m.doubles(.pixelSpacing), s.count == 2, s[0] > 1e-4, s[1] > 1e-4, s[0] <= 1000, s[1] <= 1000 { pixelSpacing = SIMD2(s[0], s[1]) }
        }
        if let p = position?.doubles(.imagePositionPatient), p.count == 3, p.allSatisfy({ abs($0) <= 1e6 }) { self.position = SIMD3(p[0], p[1], p[2]) }
        if let o = orientation?.doubles(.imageOrientationPatient), o.count == 6, o.allSatisfy({ abs($0) <= 1.01 }) {
            rowCosines = SIMD3(o[0], o[1], o[2]); columnCosines = SIMD3(o[3], o[4], o[5])
        }
    }

    /// The slices of one image data set: itself, or, for a multi-frame (enhanced) image, one
    /// slice per frame with the frame's plane position, orientation, pixel measures and rescaling
    /// from its per-frame functional group, else from the shared one.
    /// - Throws: ``DICOMError`` naming the file when the functional groups are malformed or do
    ///   not match Number of Frames.
    public static func slices(of ds: DICOMDataSet) throws(DICOMError) -> [DICOMSlice] {
        let base = DICOMSlice(ds)
        let frames = ds.int(.numberOfFrames) ?? 1
        let perFrame = try ds.items(.perFrameFunctionalGroups)
        let shared = try ds.items(.sharedFunctionalGroups)?.first
        guard frames > 1 || perFrame != nil || shared != nil else { return [base] }
        guard frames >= 1, frames <= 1 << 16 else {
            throw DICOMError(path: ds.path, reason: "Number of Frames \(frames) is not valid")
        }
        let groups = perFrame ?? []
        guard groups.isEmpty || groups.count == frames else {
            throw DICOMError(path: ds.path, reason: "the Per-frame Functional Groups Sequence holds \(groups.count) items for \(frames) frames")
        }
        // Each frame's group item: per-frame first, then shared; items are parsed once per group.
        func group(_ tag: DICOMTag, _ f: Int) throws(DICOMError) -> DICOMDataSet? {
            if f < groups.count, let g = try groups[f].items(tag)?.first { return g }
            return try shared?.items(tag)?.first
        }
        var out: [DICOMSlice] = []
        out.reserveCapacity(frames)
        for f in 0..<frames {
            var s = base
            s.frame = f
            s.position = nil; s.rowCosines = nil; s.columnCosines = nil
            s.readPlane(position: try group(.planePositionSequence, f), orientation: try group(.planeOrientationSequence, f),
                        measures: try group(.pixelMeasuresSequence, f))
            if s.pixelSpacing == nil { s.pixelSpacing = base.pixelSpacing }
            if s.thickness == nil { s.thickness = base.thickness }
            if let t = try group(.pixelValueTransformationSequence, f) {
                s.rescale = (t.double(.rescaleSlope) ?? 1, t.double(.rescaleIntercept) ?? 0)
            }
            out.append(s)
        }
        return out
    }

    /// The slice normal (row × column cosines), unit length; nil without a valid orientation.
    public var normal: SIMD3<Double>? {
        guard let r = rowCosines, let c = columnCosines else { return nil }
        let n = cross(r, c)
        let len = (n * n).sum().squareRoot()
        guard len > 0.5 else { return nil }
        return n / len
    }

    /// Whether the image is an original acquisition that a compressor marked DERIVED: DCMTK (and
    /// other archives) rewrite Image Type value 1 to DERIVED when they lossy-compress an image,
    /// set Lossy Image Compression to "01" and describe the compression in Derivation
    /// Description. Accepted as original when value 2 is still PRIMARY, Lossy Image Compression is
    /// "01" and the Derivation Description, if any, speaks of compression only.
    public var isLossyCompressedOriginal: Bool {
        guard imageType.count >= 2, imageType[0] == "DERIVED", imageType[1] == "PRIMARY", lossyCompressed else { return false }
        let words = derivationDescription.lowercased().split { !$0.isLetter }
        guard !words.isEmpty else { return true }
        // Words naming another derivation than compression.
        let other = ["reformat", "mpr", "mip", "minip", "resampl", "reconstruct", "subtract", "fusion", "fused", "averag", "filter", "reslic"]
        return words.contains { $0.hasPrefix("compress") } && !words.contains { w in other.contains { w.hasPrefix($0) } }
    }

    /// Whether the image is a localiser (scout) by its Image Type.
    public var isLocaliser: Bool { imageType.contains("LOCALIZER") || imageType.contains("SCOUT") }
}

@inline(__always) func cross(_ a: SIMD3<Double>, _ b: SIMD3<Double>) -> SIMD3<Double> {
    SIMD3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
}

@inline(__always) func dot(_ a: SIMD3<Double>, _ b: SIMD3<Double>) -> Double { (a * b).sum() }

/// User rules that narrow the candidate series (`--series-select`).
public struct SeriesSelectionRules: Sendable, Hashable {
    /// Accepted slice thickness range in mm (inclusive).
    public var thickness: ClosedRange<Double>?
    /// A case-insensitive substring the convolution kernel must contain.
    public var kernel: String?
    /// A case-insensitive substring the series description must contain.
    public var description: String?

    /// No rules: the default selection.
    public init(thickness: ClosedRange<Double>? = nil, kernel: String? = nil, description: String? = nil) {
        self.thickness = thickness; self.kernel = kernel; self.description = description
    }

    /// Parses `thickness=MIN-MAX,kernel=TEXT,description=TEXT` (any subset, comma-separated).
    public init(parsing text: String) throws(DICOMError) {
        self.init()
        for part in text.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw DICOMError(path: "--series-select", reason: "'\(part)' is not key=value (keys: thickness, kernel, description)") }
            switch kv[0] {
            case "thickness":
                let r = kv[1].split(separator: "-").compactMap { Double($0) }
                guard r.count == 2, r[0] <= r[1] else { throw DICOMError(path: "--series-select", reason: "thickness must be MIN-MAX in mm, e.g. thickness=2-5") }
                thickness = r[0]...r[1]
            case "kernel": kernel = kv[1]
            case "description": description = kv[1]
            default: throw DICOMError(path: "--series-select", reason: "unknown key '\(kv[0])' (keys: thickness, kernel, description)")
            }
        }
    }

    /// The rules as text (provenance).
    public var text: String {
        var parts: [String] = []
        if let t = thickness { parts.append("thickness=\(t.lowerBound)-\(t.upperBound)") }
        if let k = kernel { parts.append("kernel=\(k)") }
        if let d = description { parts.append("description=\(d)") }
        return parts.joined(separator: ",")
    }
}

/// One series of a study and the selection's verdict on it.
public struct SeriesSummary: Sendable, Hashable {
    /// Series and Study Instance UIDs (hash them before they leave the process).
    public var seriesInstanceUID: String, studyInstanceUID: String
    /// Modality, Image Type (joined by `\`) and kernel of the first image.
    public var modality: String, imageType: String, kernel: String
    /// Series Number of the first image, when present.
    public var seriesNumber: Int?
    /// Files in the series.
    public var images: Int
    /// Rows × columns of the first image.
    public var rows: Int, columns: Int
    /// Slice thickness (mm) of the first image.
    public var thickness: Double?
    /// Gantry tilt (degrees) of the first image.
    public var tilt: Double
    /// Whether this series was read.
    public var selected: Bool
    /// Why it was not selected ("" for the selected one).
    public var reason: String
}

/// Reads a study folder (any nesting) into one CT volume, the way dcm2niix does.
public enum DICOMStudy {
    /// Threads a study is read with unless told otherwise: the processors online.
    public static var defaultThreads: Int { Parallel.processors }

    /// Every regular file under `folder`, sorted by path; hidden files and `DICOMDIR` skipped.
    public static func files(in folder: String) throws(DICOMError) -> [String] {
        var out: [String] = []
        var stack = [folder]
        var visited = 0
        while let dir = stack.popLast() {
            visited += 1
            guard visited < 100_000 else { throw DICOMError(path: folder, reason: "more than 100000 folders; not a study folder") }
            guard let d = opendir(dir) else { throw DICOMError(path: dir, reason: "cannot be listed") }
            defer { closedir(d) }
            while let ent = readdir(d) {
                let name = withUnsafeBytes(of: ent.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                if name.hasPrefix(".") || name == "DICOMDIR" { continue }
                let p = dir + "/" + name
                var st = stat()
                guard stat(p, &st) == 0 else { continue }
                if (st.st_mode & S_IFMT) == S_IFDIR { stack.append(p) }
                else if (st.st_mode & S_IFMT) == S_IFREG { out.append(p) }
            }
        }
        return out.sorted { Array($0.utf8).lexicographicallyPrecedes($1.utf8) }
    }

    /// Whether `bytes` look like a DICOM file (a `DICM` prefix at 128, or a plausible bare data set).
    public static func looksLikeDICOM(_ bytes: [UInt8]) -> Bool {
        if bytes.count >= 132 && bytes[128] == 0x44 && bytes[129] == 0x49 && bytes[130] == 0x43 && bytes[131] == 0x4D { return true }
        // A bare data set starts with group 0008 (or 0002) in little endian.
        return bytes.count >= 8 && (bytes[0] == 0x08 || bytes[0] == 0x02) && bytes[1] == 0
    }

    /// Whether any file under `folder` looks like DICOM (reads at most 132 bytes of each file until one does).
    public static func containsDICOM(_ folder: String) -> Bool {
        guard let files = try? files(in: folder) else { return false }
        for p in files {
            guard let f = fopen(p, "rb") else { continue }
            var head = [UInt8](repeating: 0, count: 132)
            let n = head.withUnsafeMutableBytes { fread($0.baseAddress, 1, 132, f) }
            fclose(f)
            if looksLikeDICOM(Array(head[0..<n])) && n >= 8 { return true }
        }
        return false
    }

    /// The StudyInstanceUID of the first DICOM image under `folder` (files in path order).
    /// - Throws: ``DICOMError`` when no file yields one.
    public static func studyInstanceUID(in folder: String) throws(DICOMError) -> String {
        for p in try files(in: folder) {
            let bytes = try FileBytes.read(p)
            guard looksLikeDICOM(bytes) else { continue }
            let ds = try DICOMParser.parse(bytes, path: p)
            if let uid = ds.string(.studyInstanceUID), !uid.isEmpty { return uid }
        }
        throw DICOMError(path: folder, reason: "no DICOM file with a StudyInstanceUID")
    }

    /// Parses the header of every DICOM file under `folder` (files that do not look like DICOM
    /// are ignored; a file that looks like DICOM but is broken fails the study, naming that file).
    ///
    /// This is the first pass of a study read: of each file only the first `headerBytes` are
    /// read and parsed up to Pixel Data (``DICOMDataSet/isHeaderOnly``); the file is read whole
    /// (and hashed, SHA-256 through libcrypto) when it is shorter, deflated, or its header runs
    /// past that prefix. The pixels of header-only slices are read in the second pass, which
    /// hashes and decodes each file while its bytes are in cache. Files are read on up to
    /// `threads` threads; the slices come back in path order and, when several files are broken,
    /// the error names the first of them in path order, whatever the thread count.
    public static func scan(_ folder: String, threads: Int = DICOMStudy.defaultThreads,
                            headerBytes: Int = DICOMReadOptions.defaultHeaderBytes) throws(DICOMError) -> [DICOMSlice] {
        let paths = try files(in: folder)
        let results: [Result<[DICOMSlice], DICOMError>] = Parallel.map(paths.count, threads: threads) { i in
            do throws(DICOMError) { return .success(try scanFile(paths[i], headerBytes: headerBytes)) } catch { return .failure(error) }
        }
        var slices: [DICOMSlice] = []
        slices.reserveCapacity(results.count)
        for r in results {
            switch r {
            case .success(let s): slices.append(contentsOf: s)
            case .failure(let e): throw e
            }
        }
        return slices
    }

    /// One file's slices (one per frame; header-only when the header fits in `headerBytes`);
    /// none when it is not DICOM or not an image.
    static func scanFile(_ p: String, headerBytes: Int) throws(DICOMError) -> [DICOMSlice] {
        let first = max(256, headerBytes)
        var (prefix, size) = try FileBytes.readPrefix(p, limit: first)
        guard looksLikeDICOM(prefix) else { return [] }
        // A header longer than the prefix (large private groups, enhanced images' functional
        // groups) gets one more try with a 16 times longer prefix before the file is read whole.
        for attempt in 0..<2 where prefix.count < size {
            if attempt == 1 {
                guard size > 2 * first * 16 else { break }
                prefix = try FileBytes.readPrefix(p, limit: first * 16).bytes
                guard prefix.count < size else { break }
            }
            guard let ds = try? DICOMParser.parse(prefix, path: p, stopAtPixelData: true) else { continue }
            if ds.transferSyntax == .deflatedExplicitLittle { break }
            guard ds.isHeaderOnly else { continue }
            // Images only: skip structured reports, presentation states and other non-image objects.
            guard ds.contains(.rows) || ds.contains(.pixelData) else { return [] }
            return try DICOMSlice.slices(of: ds)
        }
        let bytes = prefix.count < size ? try FileBytes.read(p) : prefix
        let ds = try DICOMParser.parse(bytes, path: p)
        guard ds.contains(.rows) || ds.contains(.pixelData) else { return [] }
        let sha = try hash(bytes, path: p)
        return try DICOMSlice.slices(of: ds).map { var s = $0; s.sha256 = sha; return s }
    }

    /// Hex SHA-256 of a file's bytes (libcrypto).
    static func hash(_ bytes: [UInt8], path: String) throws(DICOMError) -> String {
        do {
            return try bytes.withUnsafeBytes { (b: UnsafeRawBufferPointer) throws(LibCryptoError) in try LibCrypto.sha256Hex(b) }
        } catch {
            throw DICOMError(path: path, reason: "cannot be hashed (\(error))")
        }
    }

    /// Summaries of every series and the one the rules select (nil when none is usable).
    public static func select(_ slices: [DICOMSlice], rules: SeriesSelectionRules) -> (summaries: [SeriesSummary], chosen: String?) {
        var bySeries: [String: [DICOMSlice]] = [:]
        for s in slices { bySeries[s.seriesInstanceUID, default: []].append(s) }
        var summaries: [SeriesSummary] = []
        var candidates: [(uid: String, count: Int, thickness: Double, lossy: Bool)] = []
        for uid in bySeries.keys.sorted() {
            let group = bySeries[uid]!
            let f = group[0]
            var reason = ""
            let types = Set(group.flatMap(\.imageType))
            // Lossy-compressed originals (DERIVED by the compressor) count as original when every
            // image of the series is one; they lose ties to an uncompressed original.
            let lossyOriginal = !group.isEmpty && group.allSatisfy(\.isLossyCompressedOriginal)
            if f.modality != "CT" { reason = "modality \(f.modality.isEmpty ? "missing" : f.modality), not CT" }
            else if group.contains(where: \.isLocaliser) { reason = "localiser" }
            else if !f.imageType.isEmpty && !(types.contains("ORIGINAL") && types.contains("PRIMARY")) && !lossyOriginal {
                reason = "not ORIGINAL\\PRIMARY (\(f.imageType.joined(separator: "\\")))"
                    + (group.contains(where: \.lossyCompressed) && types.contains("DERIVED") ? " and not only lossy-compressed" : "")
            }
            else if let n = f.normal, abs(n.z) < 0.8 { reason = "not axial (slice normal \(fmt(n.x)),\(fmt(n.y)),\(fmt(n.z)))" }
            else if f.normal == nil || f.position == nil { reason = "no Image Position/Orientation (Patient)" }
            else if let t = rules.thickness, !(f.thickness.map { t.contains($0) } ?? false) { reason = "slice thickness \(f.thickness.map { fmt($0) } ?? "missing") outside \(rules.text)" }
            else if let k = rules.kernel, !f.kernel.lowercased().contains(k.lowercased()) { reason = "kernel does not match \(k)" }
            else if let d = rules.description, !f.seriesDescription.lowercased().contains(d.lowercased()) { reason = "description does not match \(d)" }
            if reason.isEmpty { candidates.append((uid, group.count, f.thickness ?? .infinity, group.contains(where: \.lossyCompressed))) }
            summaries.append(SeriesSummary(seriesInstanceUID: uid, studyInstanceUID: f.studyInstanceUID, modality: f.modality,
                                           imageType: f.imageType.joined(separator: "\\"), kernel: f.kernel,
                                           seriesNumber: f.seriesNumber, images: group.count,
                                           rows: f.rows, columns: f.columns, thickness: f.thickness, tilt: f.tilt,
                                           selected: false, reason: reason))
        }
        // Most slices, then the thinnest, then not lossy-compressed, then the smallest UID: deterministic.
        let best = candidates.min { a, b in
            if a.count != b.count { return a.count > b.count }
            if a.thickness != b.thickness { return a.thickness < b.thickness }
            if a.lossy != b.lossy { return !a.lossy }
            return Array(a.uid.utf8).lexicographicallyPrecedes(b.uid.utf8)
        }
        for i in summaries.indices {
            if summaries[i].seriesInstanceUID == best?.uid { summaries[i].selected = true }
            else if summaries[i].reason.isEmpty { summaries[i].reason = "fewer slices than the selected series" }
        }
        return (summaries, best?.uid)
    }
}

func fmt(_ v: Double) -> String {
    guard v.isFinite, abs(v) < 1e12 else { return String(v) }
    let r = (v * 1000).rounded() / 1000
    return r == r.rounded() ? String(Int(r)) : String(r)
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
