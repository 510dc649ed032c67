import Dispatch
import HemoConcurrency
import HemoCore

/// One synthetic exam in memory: the CT, the anatomy under it and the exact blood it carries.
public struct SynthCase: Sendable {
    /// Index of the case in the cohort.
    public let index: Int
    /// `case_000`, `case_001`, …
    public let caseID: String
    /// The plan the case was generated from (grid, pose, lesions).
    public let model: CaseModel
    /// CT in Hounsfield units (int16, slope 1), on ``CaseModel/geometry``.
    public let ct: Volume<Int16>
    /// ``TissueClass`` raw values: the anatomy under any blood.
    public let tissue: Volume<UInt8>
    /// The subtype painted into each voxel (0 none, 1…5 = ``Subtype`` label values). Subtypes never
    /// overlap: each blood voxel was painted once.
    public let paint: Volume<UInt8>

    /// Exact per-subtype voxel truth: the voxels painted with blood of each subtype.
    public var truth: SubtypeMasks { SubtypeMasks(labelMap: paint) }

    /// Subtypes with at least one painted voxel, in label order.
    public var presentSubtypes: [Subtype] {
        var seen = Set<UInt8>()
        for v in paint.voxels where v != 0 { seen.insert(v) }
        return Subtype.allCases.filter { seen.contains($0.rawValue) }
    }

    /// The identifier of case `index`: `case_` and at least three digits.
    public static func caseID(index: Int) -> String {
        let digits = String(index)
        return "case_" + String(repeating: "0", count: max(0, 3 - digits.count)) + digits
    }
}

/// The output buffers of one case; threads write disjoint slices only, and the buffers outlive them.
private struct SlicePlanes: @unchecked Sendable {
    let hu: UnsafeMutablePointer<Int16>
    let tissue: UnsafeMutablePointer<UInt8>
    let paint: UnsafeMutablePointer<UInt8>
}

/// Generates synthetic head-CT cases: pure, in memory, deterministic.
///
/// Each slice is computed from analytic shapes evaluated at voxel centres, blurred in-plane with a
/// [¼ ½ ¼] kernel (partial volume) and given Gaussian-like noise from a xoshiro256** stream keyed by
/// (seed, case, slice). So slices may be computed in any order or in parallel with identical results.
public struct SynthGenerator: Sendable {
    /// The options every case is generated with.
    public let options: SynthOptions

    /// A generator; throws when `options` are invalid.
    public init(options: SynthOptions) throws(SynthError) {
        try options.validate()
        self.options = options
    }

    /// The plan of case `index` without generating voxels.
    public func model(caseIndex index: Int) -> CaseModel { CaseModel(index: index, options: options) }

    /// Generates case `index`, splitting its slices over `sliceThreads` threads (results do not depend on it).
    public func generate(caseIndex index: Int, sliceThreads: Int = 1) -> SynthCase {
        let model = model(caseIndex: index)
        let size = model.geometry.size
        let n = size.sliceCount
        var hu = [Int16](repeating: 0, count: size.count)
        var tissue = [UInt8](repeating: 0, count: size.count)
        var paint = [UInt8](repeating: 0, count: size.count)
        hu.withUnsafeMutableBufferPointer { huBuffer in
            tissue.withUnsafeMutableBufferPointer { tissueBuffer in
                paint.withUnsafeMutableBufferPointer { paintBuffer in
                    let planes = SlicePlanes(hu: huBuffer.baseAddress!, tissue: tissueBuffer.baseAddress!, paint: paintBuffer.baseAddress!)
                    let work = { @Sendable (k: Int, scratch: UnsafeMutablePointer<Float>, blurred: UnsafeMutablePointer<Float>) in
                        Self.makeSlice(model: model, k: k, scratch: scratch, blurred: blurred,
                                       out: planes.hu + k * n, tissue: planes.tissue + k * n, paint: planes.paint + k * n)
                    }
                    let threads = max(1, min(sliceThreads, size.k))
                    if threads == 1 {
                        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: n)
                        let blurred = UnsafeMutablePointer<Float>.allocate(capacity: n)
                        defer { scratch.deallocate(); blurred.deallocate() }
                        for k in 0..<size.k { work(k, scratch, blurred) }
                    } else {
                        Parallel.forEachRange(size.k, threads: threads) { slices in
                            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: n)
                            let blurred = UnsafeMutablePointer<Float>.allocate(capacity: n)
                            defer { scratch.deallocate(); blurred.deallocate() }
                            for k in slices { work(k, scratch, blurred) }
                        }
                    }
                }
            }
        }
        return SynthCase(index: index, caseID: SynthCase.caseID(index: index), model: model,
                         ct: Volume(geometry: model.geometry, voxels: hu),
                         tissue: Volume(geometry: model.geometry, voxels: tissue),
                         paint: Volume(geometry: model.geometry, voxels: paint))
    }

    /// Subarachnoid blood cut by the edge of its territory can leave specks of a few pixels in thin
    /// sulci; they are cleared back to CSF (4-connected pieces under 4 mm² in the slice), so the
    /// blood forms sheets. `work` is scratch space of one slice.
    static func removeSubarachnoidSpecks(model: CaseModel, hu: UnsafeMutablePointer<Float>, paint: UnsafeMutablePointer<UInt8>,
                                         work: UnsafeMutablePointer<Float>) {
        let w = model.width, h = model.height, n = w * h
        let sah = Subtype.sah.rawValue
        let minPixels = Int((4 / (model.spacing * model.spacing)).rounded(.up))
        var stack: [Int] = [], members: [Int] = []
        // work[p] = 1 once visited.
        for p in 0..<n { work[p] = 0 }
        for start in 0..<n where paint[start] == sah && work[start] == 0 {
            stack.removeAll(keepingCapacity: true); members.removeAll(keepingCapacity: true)
            stack.append(start); work[start] = 1
            while let p = stack.popLast() {
                members.append(p)
                let i = p % w
                for q in [i > 0 ? p - 1 : -1, i < w - 1 ? p + 1 : -1, p >= w ? p - w : -1, p + w < n ? p + w : -1]
                where q >= 0 && work[q] == 0 && paint[q] == sah {
                    work[q] = 1; stack.append(q)
                }
            }
            if members.count < minPixels {
                for p in members { paint[p] = 0; hu[p] = model.huCSF }
            }
        }
    }

    /// One slice: evaluate, blur in-plane, add noise, round to int16.
    static func makeSlice(model: CaseModel, k: Int, scratch: UnsafeMutablePointer<Float>, blurred: UnsafeMutablePointer<Float>,
                          out: UnsafeMutablePointer<Int16>, tissue: UnsafeMutablePointer<UInt8>, paint: UnsafeMutablePointer<UInt8>) {
        let w = model.width, h = model.height
        model.fillSlice(k, hu: scratch, tissue: tissue, label: paint)
        removeSubarachnoidSpecks(model: model, hu: scratch, paint: paint, work: blurred)
        // Horizontal [¼ ½ ¼] (edges clamp) into `blurred`, vertical back into `scratch`.
        for j in 0..<h {
            let row = scratch + j * w, dst = blurred + j * w
            dst[0] = 0.75 * row[0] + 0.25 * row[1]
            for i in 1..<(w - 1) { dst[i] = 0.25 * (row[i - 1] + row[i + 1]) + 0.5 * row[i] }
            dst[w - 1] = 0.75 * row[w - 1] + 0.25 * row[w - 2]
        }
        for j in 0..<h {
            let up = blurred + max(0, j - 1) * w, mid = blurred + j * w, down = blurred + min(h - 1, j + 1) * w
            let dst = scratch + j * w
            for i in 0..<w { dst[i] = 0.25 * (up[i] + down[i]) + 0.5 * mid[i] }
        }
        if model.extraBlurPasses > 0 {
            // Soft edges: the extra passes soften the brain against the bone, but a CSF space (where
            // SAH and IVH are drawn) keeps the plain blur, blood in it included: the passes would
            // spread the inner table into the CSF layer and teach that dense CSF is no blood.
            // `blurred` holds the plain blur until the noise overwrites it.
            for p in 0..<(w * h) { blurred[p] = scratch[p] }
            for _ in 0..<model.extraBlurPasses { blurSeparable(scratch, width: w, height: h) }
            for p in 0..<(w * h) where TissueClass(rawValue: tissue[p])?.keepsOutOfBoneBlur == true {
                scratch[p] = blurred[p]
            }
        }
        // Noise: sum of four 16-bit uniforms (Irwin–Hall), scaled to the case's sigma.
        var rng = Xoshiro256(key: model.seed, UInt64(model.index), 0x401_5E, UInt64(k))
        let scale = model.noiseSigma / 37837.23
        if model.correlatedNoise {
            // Real CT noise is correlated over a few pixels (the reconstruction kernel): the same
            // white noise, blurred with [¼ ½ ¼] along rows and columns and rescaled to σ (the 2D
            // kernel keeps 0.375 of the standard deviation).
            for p in 0..<(w * h) {
                let bits = rng.next()
                let sum = Int32(bits & 0xFFFF) + Int32((bits >> 16) & 0xFFFF) + Int32((bits >> 32) & 0xFFFF) + Int32(bits >> 48)
                blurred[p] = Float(sum - 131_070) * (scale / 0.375)
            }
            blurSeparable(blurred, width: w, height: h)
            for p in 0..<(w * h) {
                out[p] = Int16(min(3071, max(-1024, (scratch[p] + blurred[p]).rounded())))
            }
            return
        }
        for p in 0..<(w * h) {
            let bits = rng.next()
            let sum = Int32(bits & 0xFFFF) + Int32((bits >> 16) & 0xFFFF) + Int32((bits >> 32) & 0xFFFF) + Int32(bits >> 48)
            let v = scratch[p] + Float(sum - 131_070) * scale
            let clamped = min(3071, max(-1024, v.rounded()))
            out[p] = Int16(clamped)
        }
    }

    /// In-place [¼ ½ ¼] blur of a `width` × `height` plane along rows, then columns (edges clamp).
    static func blurSeparable(_ plane: UnsafeMutablePointer<Float>, width w: Int, height h: Int) {
        for j in 0..<h {
            let row = plane + j * w
            var previous = row[0]
            for i in 0..<w {
                let current = row[i]
                let next = i + 1 < w ? row[i + 1] : current
                row[i] = 0.25 * (previous + next) + 0.5 * current
                previous = current
            }
        }
        var above = [Float](repeating: 0, count: w)
        for i in 0..<w { above[i] = plane[i] }
        for j in 0..<h {
            let row = plane + j * w
            let below = plane + min(h - 1, j + 1) * w
            for i in 0..<w {
                let current = row[i]
                row[i] = 0.25 * (above[i] + below[i]) + 0.5 * current
                above[i] = current
            }
        }
    }
}
