import HemoConcurrency
import HemoCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a study is turned into a volume.
public struct DICOMReadOptions: Sendable, Hashable {
    /// Series selection rules (`--series-select`).
    public var rules = SeriesSelectionRules()
    /// Fail on uneven slice spacing instead of resampling it to uniform (`--strict`).
    public var strict = false
    /// Largest volume accepted, in voxels.
    public var maxVoxels = 1 << 28
    /// Relative spacing deviation above which slices count as unevenly spaced.
    public var spacingTolerance = 0.01
    /// HU given to voxels holding the Pixel Padding Value.
    public var paddingHU: Float = -1024
    /// Threads that read, hash and decode files (the result does not depend on it).
    public var threads = DICOMStudy.defaultThreads
    /// Bytes of each file read in the first pass (headers for selection and sorting); a file whose
    /// header runs past them is read whole in that pass (the result does not depend on it).
    public var headerBytes = DICOMReadOptions.defaultHeaderBytes
    /// 16 KiB: a CT header with private groups fits (typically 2–10 KiB).
    public static let defaultHeaderBytes = 16 << 10

    /// The defaults.
    public init() {}
}

/// The DICOM instance a released slice comes from.
public struct SliceSource: Sendable, Hashable, Codable {
    /// SOP Instance UID of the image.
    public var sopInstanceUID: String
    /// Its Instance Number, when the file has one.
    public var instanceNumber: Int?

    /// A slice source.
    public init(sopInstanceUID: String, instanceNumber: Int?) {
        self.sopInstanceUID = sopInstanceUID; self.instanceNumber = instanceNumber
    }
}

/// A study read into one CT volume, with what was chosen and why.
public struct DICOMVolume: Sendable {
    /// HU, i fastest, in dcm2niix's layout: i along the row direction, j rows bottom-up, k along the slice normal.
    public var volume: Volume<Float>
    /// Every series found and the verdict on it.
    public var series: [SeriesSummary]
    /// The selected series.
    public var selected: SeriesSummary
    /// For each k-slice of ``volume``: the instance it was read from (nil for a slice made by resampling).
    public var sliceSources: [SliceSource?]
    /// The files of the selected series, sorted by path.
    public var files: [String]
    /// Corrections applied ("gantry tilt 15° corrected", "uneven spacing resampled", quirks).
    public var notes: [String]
    /// SOP Instance UID and file SHA-256 of every image file read (all series), sorted by UID.
    public var fileDigests: [(sopInstanceUID: String, sha256: String)] = []
    /// Slice positions along the normal (mm) of ``volume``'s k-slices, and the unit normal (LPS).
    public var slicePositions: [Double], normal: SIMD3<Double>
}

extension DICOMStudy {
    /// Reads the study under `folder` into one volume.
    /// - Throws: ``DICOMError`` naming the file and the reason (no usable series, mixed sizes or
    ///   orientations, missing pixel data, uneven spacing with `strict`, …).
    public static func read(_ folder: String, options: DICOMReadOptions = DICOMReadOptions()) throws(DICOMError) -> DICOMVolume {
        try read(slices: try scan(folder, threads: options.threads, headerBytes: options.headerBytes), folder: folder, options: options)
    }

    /// Reads a study from data sets already in memory (say, files received over the network);
    /// `folder` names the study in errors.
    public static func read(dataSets: [DICOMDataSet], folder: String, options: DICOMReadOptions = DICOMReadOptions()) throws(DICOMError) -> DICOMVolume {
        var slices: [DICOMSlice] = []
        for ds in dataSets where ds.contains(.rows) || ds.contains(.pixelData) { slices += try DICOMSlice.slices(of: ds) }
        return try read(slices: slices, folder: folder, options: options)
    }

    static func read(slices all: [DICOMSlice], folder: String, options: DICOMReadOptions) throws(DICOMError) -> DICOMVolume {
        guard !all.isEmpty else { throw DICOMError(path: folder, reason: "holds no DICOM image files") }
        let (summaries, chosen) = select(all, rules: options.rules)
        guard let chosen else {
            let why = summaries.map { "series \($0.images) image(s): \($0.reason)" }.joined(separator: "; ")
            try throwFirstFileError(all, threads: options.threads)
            throw DICOMError(path: folder, reason: "no usable CT series (\(why))")
        }
        var v = try build(all: all, chosen: chosen, folder: folder, options: options)
        v.series = summaries
        v.selected = summaries.first { $0.selected }!
        return v
    }

    /// Reads a header-only slice's file whole, hashes it (hex SHA-256) and parses it, checking
    /// that its header is still the one the first pass sorted.
    static func reload(_ s: DICOMSlice) throws(DICOMError) -> (dataSet: DICOMDataSet, sha256: String) {
        let bytes = try FileBytes.read(s.path)
        let sha = try hash(bytes, path: s.path)
        let header = s.dataSet.bytes
        let same = bytes.count >= header.count && bytes.withUnsafeBytes { b in header.withUnsafeBytes { h in memcmp(b.baseAddress!, h.baseAddress!, h.count) == 0 } }
        guard same else { throw DICOMError(path: s.path, reason: "changed while the study was being read (its header differs between two reads)") }
        // The header's elements stand (same bytes): only Pixel Data and what follows is parsed.
        return (try DICOMParser.parse(bytes, continuing: s.dataSet), sha)
    }

    /// When a study cannot be read for a reason found in its headers (no usable series, mixed
    /// sizes, …), a file that is broken past its header still wins, as it would had every file
    /// been read whole: throws the first such file's error in path order.
    static func throwFirstFileError(_ all: [DICOMSlice], threads: Int) throws(DICOMError) {
        let pending = all.filter(\.dataSet.isHeaderOnly)
        let errors: [DICOMError?] = Parallel.map(pending.count, threads: threads) { i in
            do throws(DICOMError) { _ = try reload(pending[i]); return nil } catch { return error }
        }
        if let e = errors.lazy.compactMap({ $0 }).first { throw e }
    }

    /// Builds the volume of series `chosen` of the study's slices `all` (in path order): checks
    /// and sorts its headers, then reads, hashes and decodes each file straight into the volume
    /// (and hashes every other image file of the study for provenance).
    static func build(all: [DICOMSlice], chosen: String, folder: String, options: DICOMReadOptions) throws(DICOMError) -> DICOMVolume {
        try build(all.filter { $0.seriesInstanceUID == chosen }, all: all, folder: folder, options: options)
    }

    static func build(_ input: [DICOMSlice], all: [DICOMSlice], folder: String, options: DICOMReadOptions) throws(DICOMError) -> DICOMVolume {
        let first = input[0]
        // Errors found in the headers lose to a file broken past its header (as if every file
        // had been read whole before any check).
        func fail(_ e: DICOMError) throws(DICOMError) -> Never {
            try throwFirstFileError(all, threads: options.threads)
            throw e
        }
        func format(_ s: DICOMSlice) throws(DICOMError) -> PixelFormat {
            do { return try PixelFormat(s.dataSet) } catch { try fail(error) }
        }
        guard let r = first.rowCosines, let c = first.columnCosines, let n = first.normal, first.position != nil else {
            try fail(DICOMError(path: first.path, reason: "has no Image Position/Orientation (Patient)"))
        }
        guard let ps = first.pixelSpacing else { try fail(DICOMError(path: first.path, reason: "has no valid Pixel Spacing (0028,0030)")) }
        let format0 = try format(first)
        for s in input {
            let f = try format(s)
            guard f.rows == format0.rows, f.columns == format0.columns else {
                try fail(DICOMError(path: s.path, reason: "is \(f.columns)×\(f.rows) while \(first.path) is \(format0.columns)×\(format0.rows): mixed image sizes in one series"))
            }
            guard let sr = s.rowCosines, let sc = s.columnCosines, s.position != nil else {
                try fail(DICOMError(path: s.path, reason: "has no Image Position/Orientation (Patient)"))
            }
            guard maxAbsDiff(sr, r) < 1e-4, maxAbsDiff(sc, c) < 1e-4 else {
                try fail(DICOMError(path: s.path, reason: "has another Image Orientation (Patient) than \(first.path): mixed orientations in one series"))
            }
            guard let sps = s.pixelSpacing, max(abs(sps.x - ps.x), abs(sps.y - ps.y)) < 1e-4 else {
                try fail(DICOMError(path: s.path, reason: "has another Pixel Spacing than \(first.path): mixed pixel spacing in one series"))
            }
            guard s.dataSet.contains(.pixelData) else { try fail(DICOMError(path: s.path, reason: "has no Pixel Data (7FE0,0010)")) }
        }
        // Sort along the normal; equal positions: keep the lowest instance number (then path).
        var sorted = input.sorted { a, b in
            let da = dot(a.position!, n), db = dot(b.position!, n)
            if da != db { return da < db }
            if (a.instanceNumber ?? .max) != (b.instanceNumber ?? .max) { return (a.instanceNumber ?? .max) < (b.instanceNumber ?? .max) }
            if a.path != b.path { return Array(a.path.utf8).lexicographicallyPrecedes(b.path.utf8) }
            return a.frame < b.frame
        }
        var notes: [String] = []
        var deduped: [DICOMSlice] = []
        for s in sorted {
            if let last = deduped.last, abs(dot(last.position!, n) - dot(s.position!, n)) < 1e-3 {
                continue
            }
            deduped.append(s)
        }
        if deduped.count != sorted.count { notes.append("\(sorted.count - deduped.count) duplicate slice position(s) dropped") }
        sorted = deduped
        let count = sorted.count
        let rows = format0.rows, cols = format0.columns
        guard count * rows * cols <= options.maxVoxels else {
            try fail(DICOMError(path: folder, reason: "\(cols)×\(rows)×\(count) voxels exceed the limit of \(options.maxVoxels)"))
        }
        let d = sorted.map { dot($0.position!, n) }
        // Slice vector: mean step between first and last; spacing check along the normal.
        var sliceVector = n * (first.thickness ?? 1)
        var step = first.thickness ?? 1
        var uneven = false
        if count > 1 {
            sliceVector = (sorted[count - 1].position! - sorted[0].position!) / Double(count - 1)
            let gaps = (1..<count).map { d[$0] - d[$0 - 1] }
            step = (d[count - 1] - d[0]) / Double(count - 1)
            let typical = gaps.sorted()[gaps.count / 2]
            uneven = gaps.contains { abs($0 - typical) > options.spacingTolerance * typical }
            if uneven {
                if options.strict {
                    let worst = gaps.max { abs($0 - typical) < abs($1 - typical) }!
                    try fail(DICOMError(path: folder, reason: "uneven slice spacing (a gap of \(fmt(worst)) mm where \(fmt(typical)) mm is typical: missing or extra slices) and --strict is set"))
                }
                step = typical
            }
        }
        // Second pass: read each file whole (when the first pass kept only its header), hash it
        // for provenance and decode it in HU (stored × slope + intercept, padding → paddingHU,
        // quirks) straight into its place in one volume buffer while its bytes are in cache, in
        // parallel; the study's other image files (other series, duplicates) are read and hashed.
        let plane = rows * cols
        let tables = HUTable()
        struct FrameKey: Hashable { var path: String, frame: Int }
        var slot = [FrameKey: Int](minimumCapacity: count)
        for (k, s) in sorted.enumerated() { slot[FrameKey(path: s.path, frame: s.frame)] = k }
        // One work item per file (the frames of a multi-frame image are consecutive in `all`).
        var fileRanges: [Range<Int>] = []
        var i0 = 0
        for i in 1...all.count where i == all.count || all[i].path != all[i0].path {
            fileRanges.append(i0..<i)
            i0 = i
        }
        let work = fileRanges.filter { r in
            all[r.lowerBound].dataSet.isHeaderOnly || r.contains { slot[FrameKey(path: all[$0].path, frame: all[$0].frame)] != nil }
        }
        let quirks = UnsafeMutablePointer<Bool>.allocate(capacity: count)
        quirks.initialize(repeating: false, count: count)
        defer { quirks.deinitialize(count: count); quirks.deallocate() }
        let failures = UnsafeMutablePointer<DICOMError?>.allocate(capacity: work.count)
        failures.initialize(repeating: nil, count: work.count)
        defer { failures.deinitialize(count: work.count); failures.deallocate() }
        let digests = UnsafeMutablePointer<String?>.allocate(capacity: work.count)
        digests.initialize(repeating: nil, count: work.count)
        defer { digests.deinitialize(count: work.count); digests.deallocate() }
        var flat = [Float](unsafeUninitializedCapacity: count * plane) { buffer, initialized in
            adviseHugePages(UnsafeMutableRawBufferPointer(buffer))
            let out = SharedMutablePointer(buffer.baseAddress!)
            let q = SharedMutablePointer(quirks), fail = SharedMutablePointer(failures), sha = SharedMutablePointer(digests)
            Parallel.forEachIndex(work.count, threads: options.threads) { w in
                let frames = work[w].map { all[$0] }
                let slots = frames.map { slot[FrameKey(path: $0.path, frame: $0.frame)] }
                do throws(DICOMError) {
                    var ds = frames[0].dataSet
                    if ds.isHeaderOnly {
                        let r = try reload(frames[0])
                        ds = r.dataSet
                        sha.base[w] = r.sha256
                    }
                    for (s, k) in zip(frames, slots) {
                        guard let k else { continue }
                        q.base[k] = try decodeHU(ds, frame: s.frame, rescale: s.rescale, modality: s.modality, rows: rows, columns: cols,
                                                 paddingHU: options.paddingHU, tables: tables, into: out.base + k * plane)
                    }
                } catch {
                    fail.base[w] = error
                    for case let k? in slots { (out.base + k * plane).update(repeating: 0, count: plane) }
                }
            }
            initialized = count * plane
        }
        // The first broken file in path order, whatever the thread count.
        for w in 0..<work.count { if let e = failures[w] { throw e } }
        var fileSHA = [String: String](minimumCapacity: work.count)
        for w in 0..<work.count { if let h = digests[w] { fileSHA[all[work[w].lowerBound].path] = h } }
        // One digest per file (not per frame).
        let fileDigests = fileRanges.map { all[$0.lowerBound] }.map { ($0.sopInstanceUID, fileSHA[$0.path] ?? $0.sha256) }
            .sorted { Array($0.0.utf8).lexicographicallyPrecedes($1.0.utf8) }
        let quirk12 = (0..<count).contains { quirks[$0] }
        if quirk12 { notes.append("12-bit wrapped values corrected (intercept -1000)") }
        // World geometry (LPS) of dcm2niix's layout: j runs against the column direction.
        let colStep = ps.y, rowStep = ps.x // PixelSpacing = (between rows, between columns)
        var iVec = r * colStep
        let jVec = -c * rowStep
        var origin = sorted[0].position! + c * rowStep * Double(rows - 1)
        var outRows = rows
        var kVec = sliceVector
        var positions = d
        // Frames of a multi-frame image share its SOP Instance UID: they map to no single instance.
        let multiFrame = Set(input.filter { $0.frame > 0 }.map(\.path))
        var sources: [SliceSource?] = sorted.map {
            multiFrame.contains($0.path) ? nil : SliceSource(sopInstanceUID: $0.sopInstanceUID, instanceNumber: $0.instanceNumber)
        }
        // The rare paths below (tilt, uneven spacing) work slice by slice.
        var data: [[Float]] = []
        func slicesOfFlat() -> [[Float]] { (0..<count).map { Array(flat[($0 * plane)..<(($0 + 1) * plane)]) } }
        // Gantry tilt: the slice vector leans along the column direction. Shift each slice along
        // j so the stack becomes orthogonal (as dcm2niix's _Tilt_1 output): the last slice stays,
        // the others move by whole and fractional rows, linear interpolation, the series minimum outside.
        // Each slice's own in-plane offset from slice 0 (rows along +j, columns along i), from its IPP:
        // exact for uneven spacing too.
        let offsets = sorted.map { dot($0.position! - sorted[0].position!, jVec) / (rowStep * rowStep) }
        let sideways = sorted.map { abs(dot($0.position! - sorted[0].position!, r)) }.max() ?? 0
        let lo = offsets.min() ?? 0, hi = offsets.max() ?? 0
        if count > 1 && hi - lo > 0.01 && sideways < 1e-3 * max(1, (hi - lo) * rowStep) {
            // Source row js of slice k lies at common row js + offsets[k]; the output starts at the
            // lowest common row and covers ceil(max − min) more rows than a slice.
            let total = hi - lo
            let jmin = lo
            guard total.isFinite, Double(rows) + total.rounded(.up) <= Double(options.maxVoxels / max(1, cols * count)) else {
                throw DICOMError(path: folder, reason: "gantry tilt correction would need \(fmt(total)) more rows per slice (positions are implausible)")
            }
            outRows = rows + Int(total.rounded(.up))
            data = slicesOfFlat()
            flat = []
            let fill = data.lazy.map { $0.min() ?? 0 }.min() ?? 0
            let integral = data.allSatisfy { $0.allSatisfy { $0 == $0.rounded() } }
            var out: [[Float]] = []
            out.reserveCapacity(count)
            for k in 0..<count {
                var slice = [Float](repeating: fill, count: outRows * cols)
                let src = data[k]
                for jo in 0..<outRows {
                    let js = Double(jo) + jmin - offsets[k]
                    let j0 = Int(js.rounded(.down))
                    let t = Float(js - Double(j0))
                    if t == 0 {
                        guard (0..<rows).contains(j0) else { continue }
                        for i in 0..<cols { slice[jo * cols + i] = src[j0 * cols + i] }
                    } else {
                        guard j0 >= 0, j0 < rows else { continue }
                        let j1 = min(j0 + 1, rows - 1) // past the last row: that row (as dcm2niix)
                        for i in 0..<cols {
                            let a = src[j0 * cols + i], b = src[j1 * cols + i]
                            let v = a + (b - a) * t
                            slice[jo * cols + i] = integral ? v.rounded() : v
                        }
                    }
                }
                out.append(slice)
            }
            data = out
            origin = origin + jVec * jmin
            kVec = n * dot(sliceVector, n)
            notes.append("gantry tilt \(fmt(first.tilt))° corrected (slices sheared by \(fmt(abs(total))) rows)")
        }
        // Uneven spacing: resample along the normal to uniform steps (linear).
        if uneven {
            if data.isEmpty { data = slicesOfFlat(); flat = [] }
            let extent = ((d[count - 1] - d[0]) / step).rounded() + 1
            guard extent.isFinite, extent * Double(outRows * cols) <= Double(options.maxVoxels) else {
                throw DICOMError(path: folder, reason: "resampling uneven slices to \(fmt(step)) mm would give \(fmt(extent)) slices, over the voxel limit")
            }
            let m = Int(extent)
            var out: [[Float]] = []
            var src: [SliceSource?] = []
            var pos: [Double] = []
            var lo = 0
            for k in 0..<m {
                let z = d[0] + Double(k) * step
                while lo + 1 < count - 1 && d[lo + 1] <= z { lo += 1 }
                let hi = min(lo + 1, count - 1)
                if abs(d[lo] - z) < 1e-3 * step { out.append(data[lo]); src.append(sources[lo]) }
                else if abs(d[hi] - z) < 1e-3 * step { out.append(data[hi]); src.append(sources[hi]) }
                else {
                    let t = Float((z - d[lo]) / (d[hi] - d[lo]))
                    out.append(zip(data[lo], data[hi]).map { $0 + ($1 - $0) * t })
                    src.append(nil)
                }
                pos.append(z)
            }
            notes.append("uneven slice spacing resampled to \(fmt(step)) mm (\(count) → \(m) slices)")
            data = out; sources = src; positions = pos
            let along = dot(kVec, n)
            kVec = kVec / along * step
        }
        let nk = data.isEmpty ? count : data.count
        // LPS → RAS: negate x and y.
        let flip = SIMD3<Double>(-1, -1, 1)
        iVec *= flip
        let jR = jVec * flip, kR = kVec * flip, oR = origin * flip
        let affine = Affine(rowMajor: [iVec.x, jR.x, kR.x, oR.x,
                                       iVec.y, jR.y, kR.y, oR.y,
                                       iVec.z, jR.z, kR.z, oR.z,
                                       0, 0, 0, 1])
        let spacing = SIMD3(colStep, rowStep, (kVec * kVec).sum().squareRoot())
        let geometry = Geometry(size: GridSize(cols, outRows, nk), spacing: spacing, affine: affine)
        var voxels = flat
        if !data.isEmpty {
            voxels.reserveCapacity(cols * outRows * nk)
            for s in data { voxels.append(contentsOf: s) }
        }
        let summary = SeriesSummary(seriesInstanceUID: first.seriesInstanceUID, studyInstanceUID: first.studyInstanceUID,
                                    modality: first.modality, imageType: first.imageType.joined(separator: "\\"), kernel: first.kernel,
                                    seriesNumber: first.seriesNumber, images: input.count, rows: rows, columns: cols, thickness: first.thickness, tilt: first.tilt,
                                    selected: true, reason: "")
        return DICOMVolume(volume: Volume(geometry: geometry, voxels: voxels), series: [summary], selected: summary,
                           sliceSources: sources, files: Set(input.map(\.path)).sorted { Array($0.utf8).lexicographicallyPrecedes($1.utf8) },
                           notes: notes, fileDigests: fileDigests, slicePositions: positions, normal: n)
    }
}

extension DICOMStudy {
    /// Decodes one slice into HU at `out` (rows bottom-up, as dcm2niix flips the row order) and
    /// says whether the 12-bit wrap quirk was corrected.
    static func decodeHU(_ ds: DICOMDataSet, frame: Int = 0, rescale: (slope: Double, intercept: Double)? = nil, modality: String,
                         rows: Int, columns cols: Int, paddingHU: Float, tables: HUTable,
                         into out: UnsafeMutablePointer<Float>) throws(DICOMError) -> Bool {
        let f = try PixelFormat(ds)
        guard frame < f.frames else { throw DICOMError(path: ds.path, reason: "has \(f.frames) frame(s); frame \(frame + 1) was expected") }
        let slope = rescale?.slope ?? ds.double(.rescaleSlope) ?? 1
        var intercept = rescale?.intercept ?? ds.double(.rescaleIntercept) ?? 0
        guard slope.isFinite, intercept.isFinite, slope != 0 else {
            throw DICOMError(path: ds.path, reason: "Rescale Slope/Intercept \(slope)/\(intercept) are not usable")
        }
        // The 12-bit quirk (RSNA ICH): unsigned 12-bit values wrapped with an intercept near 0;
        // the true values are (stored + 1000) mod 4096 with an intercept of -1000.
        let quirk12 = f.bitsStored == 12 && !f.signed && intercept > -100 && modality == "CT"
        if quirk12 { intercept = -1000 }
        var padding: Int32? = nil
        if let p = ds.int(.pixelPaddingValue) {
            // US or SS by Pixel Representation, whatever the VR says.
            let bits = Int32(truncatingIfNeeded: p) & 0xFFFF
            padding = f.signed && f.bitsAllocated == 16 ? Int32(Int16(truncatingIfNeeded: bits)) : Int32(p)
        }
        let pad = padding ?? 0, hasPadding = padding != nil
        @inline(__always) func hu(_ stored: Int32) -> Float {
            let v = quirk12 ? (stored + 1000) % 4096 : stored
            return (hasPadding && v == pad) ? paddingHU : Float(Double(v) * slope + intercept)
        }
        // Uncompressed 16-bit little endian (the common case): straight from the file's bytes
        // through a table of every stored bit pattern's HU (shared by the slices with the same
        // rescaling), exactly the values of `hu` below.
        if let e = ds.elements[.pixelData], e.fragments == nil, ds.transferSyntax.isUncompressedLittleEndian,
           f.bitsAllocated == 16, f.bitsStored <= 16,
           e.range.count >= f.count * 2 * f.frames, f.rows == rows, f.columns == cols {
            let frameStart = e.range.lowerBound + frame * f.count * 2
            // Slope 1 and a whole intercept (nearly every CT): HU = stored + intercept exactly
            // in Float (|values| < 2^24), computed eight voxels at a time (no table gather).
            if slope == 1, intercept == intercept.rounded(), abs(intercept) < 1_048_576, !quirk12 {
                let ic = Int32(intercept)
                let shift = Int32(32 - f.bitsStored)
                let signed = f.signed
                ds.bytes.withUnsafeBytes { raw in
                    let base = raw.baseAddress! + frameStart
                    for j in 0..<rows {
                        let src = base + 2 * (rows - 1 - j) * cols, dst = out + j * cols
                        convertRow(src, dst, cols, shift: shift, signed: signed, intercept: ic,
                                   padding: hasPadding ? pad : nil, paddingHU: paddingHU)
                    }
                }
                return false
            }
            let key = HUTable.Key(slope: slope, intercept: intercept, padding: pad, hasPadding: hasPadding, quirk12: quirk12,
                                  signed: f.signed, bits: f.bitsStored, paddingHU: paddingHU)
            let table = tables.table(key) { k in
                let shift = Int32(32 - k.bits)
                return (0..<(1 << k.bits)).map { u in
                    hu(k.signed ? (Int32(u) << shift) >> shift : Int32(u))
                }
            }
            let mask = UInt16(truncatingIfNeeded: (1 << f.bitsStored) - 1)
            table.withUnsafeBufferPointer { t in
                ds.bytes.withUnsafeBytes { raw in
                    let base = raw.baseAddress! + frameStart
                    for j in 0..<rows {
                        let src = base + 2 * (rows - 1 - j) * cols, dst = out + j * cols
                        for i in 0..<cols {
                            let u = src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian & mask
                            dst[i] = t[Int(u)]
                        }
                    }
                }
            }
            return quirk12
        }
        let stored = try PixelDecoder.storedValues(ds, format: f, frame: frame)
        guard stored.count == rows * cols else { throw DICOMError(path: ds.path, reason: "decoded \(stored.count) pixels, \(rows * cols) expected") }
        stored.withUnsafeBufferPointer { st in
            for j in 0..<rows {
                let src = (rows - 1 - j) * cols, dst = out + j * cols
                for i in 0..<cols { dst[i] = hu(st[src + i]) }
            }
        }
        return quirk12
    }
}

/// One row of 16-bit stored values at `src` (little endian, any alignment) to HU at `dst`:
/// masked to Bits Stored by `shift` (32 − Bits Stored), sign-extended when `signed`, plus
/// `intercept`; the padding value (compared after masking, as in the table path) gives `paddingHU`.
/// Written so that LLVM vectorises the loops (SIMD8 lanes).
@inline(__always) func convertRow(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int, shift: Int32, signed: Bool,
                                  intercept: Int32, padding: Int32?, paddingHU: Float) {
    let vs = SIMD8<Int32>(repeating: shift), vi = SIMD8<Int32>(repeating: intercept)
    var i = 0
    @inline(__always) func lanes(_ at: Int) -> SIMD8<Int32> {
        let u = SIMD8<UInt16>(littleEndianLanes: src.loadUnaligned(fromByteOffset: 2 * at, as: SIMD8<UInt16>.self))
        let w = SIMD8<Int32>(truncatingIfNeeded: u) &<< vs
        return signed ? w &>> vs : SIMD8<Int32>(truncatingIfNeeded: SIMD8<UInt32>(truncatingIfNeeded: w) &>> SIMD8<UInt32>(truncatingIfNeeded: vs))
    }
    if let pad = padding {
        let vp = SIMD8<Int32>(repeating: pad), ph = SIMD8<Float>(repeating: paddingHU)
        while i + 8 <= n {
            let v = lanes(i)
            var h = SIMD8<Float>(v &+ vi)
            h.replace(with: ph, where: v .== vp)
            (UnsafeMutableRawPointer(dst + i)).storeBytes(of: h, as: SIMD8<Float>.self)
            i += 8
        }
    } else {
        while i + 8 <= n {
            (UnsafeMutableRawPointer(dst + i)).storeBytes(of: SIMD8<Float>(lanes(i) &+ vi), as: SIMD8<Float>.self)
            i += 8
        }
    }
    while i < n {
        let u = Int32(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << shift
        let v = signed ? u >> shift : Int32(bitPattern: UInt32(bitPattern: u) >> UInt32(shift))
        dst[i] = padding == v ? paddingHU : Float(v + intercept)
        i += 1
    }
}

extension SIMD8<UInt16> {
    /// Lanes loaded from little-endian storage (a no-op on little-endian machines).
    init(littleEndianLanes v: SIMD8<UInt16>) {
        #if _endian(little)
        self = v
        #else
        self = SIMD8<UInt16>((0..<8).map { v[$0].byteSwapped })
        #endif
    }
}

/// Asks Linux to back the 2 MiB-aligned interior of a large, not yet touched buffer with
/// transparent huge pages (`madvise(MADV_HUGEPAGE)`; a hint, ignored where unsupported): a
/// 300-slice 512² float volume then takes ~150 page faults instead of ~77,000.
func adviseHugePages(_ buffer: UnsafeMutableRawBufferPointer) {
    #if os(Linux)
    let huge = 2 << 20
    guard let base = buffer.baseAddress, buffer.count >= 4 * huge else { return }
    let start = (Int(bitPattern: base) + huge - 1) & ~(huge - 1)
    let end = (Int(bitPattern: base) + buffer.count) & ~(huge - 1)
    guard end > start, let p = UnsafeMutableRawPointer(bitPattern: start) else { return }
    _ = madvise(p, end - start, MADV_HUGEPAGE)
    #endif
}

/// Stored bit pattern → HU tables of one series read, one per distinct rescaling, shared by the
/// decoding threads (a series' slices nearly always share one).
final class HUTable: @unchecked Sendable {
    /// What a table depends on.
    struct Key: Hashable {
        var slope: Double, intercept: Double, padding: Int32, hasPadding: Bool, quirk12: Bool, signed: Bool, bits: Int, paddingHU: Float
    }
    private let tables = Locked<[Key: [Float]]>([:])

    /// The table of `key`, made by `make` the first time (under the lock: other threads wait for it).
    func table(_ key: Key, _ make: (Key) -> [Float]) -> [Float] {
        tables.withLock { tables in
            if let t = tables[key] { return t }
            let t = make(key)
            tables[key] = t
            return t
        }
    }
}

@inline(__always) func maxAbsDiff(_ a: SIMD3<Double>, _ b: SIMD3<Double>) -> Double {
    max(abs(a.x - b.x), max(abs(a.y - b.y), abs(a.z - b.z)))
}
