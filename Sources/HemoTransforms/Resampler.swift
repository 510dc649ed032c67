import HemoConcurrency
import HemoCore

/// Resampling of volumes and masks to a new voxel spacing on the same field of view.
///
/// The grid conventions are those of ``ResamplePlan``: origin and direction kept, size
/// `round(n · s / s′)` per axis, target voxel `p′` at source index `p′ · s′ / s`, and target voxels whose
/// source index leaves `[-0.5, n - 0.5)` on some axis set to the fill value. With these conventions the
/// result equals SimpleITK's
/// `Resample(image, size, Transform(), interpolator, origin, spacing, direction, fill, pixelType)`.
///
/// Because the direction is kept, the source position of a target voxel along one axis depends on that
/// axis alone, so every interpolator runs as three one-dimensional passes over precomputed per-axis
/// index and weight tables (i, then j, then k). The passes split their rows over `threads` threads; each
/// output value is computed by the same operations whatever the split, so results are bit-identical for
/// any thread count. The calls are synchronous and block the caller (with `threads > 1` they wait in
/// `DispatchQueue.concurrentPerform`): call them from a thread or dispatch queue, not from the Swift
/// concurrency pool.
///
/// Numerics: `linear` interpolates in `Double` with ITK's operations in ITK's order (along i, then j,
/// then k: `v0 + (v1 - v0) · d`), so on axis-aligned grids (flips and permutations included) it reproduces
/// SimpleITK's values bit for bit; `bspline` prefilters and interpolates in `Double` (agreement ~1e-9 HU,
/// the summation order of the 64 taps differs). Integer outputs are converted as ITK converts them: clamped to
/// the type's range and truncated toward zero (SimpleITK with an `int16` output pixel type truncates
/// 12.7 to 12 and -12.7 to -12). Use ``resampleToFloat(_:toSpacing:interpolation:fill:threads:)`` to keep
/// the fractional values.
public enum Resampler {
    /// The fill value for CT in Hounsfield units: air.
    public static let defaultCTFill: Double = -1024
    /// The fill value for label maps: background.
    public static let defaultLabelFill: Double = 0

    /// Resamples `volume` to `spacing` millimetres; the output has the input's voxel type.
    ///
    /// - Parameters:
    ///   - volume: the source; every frame of a 4D volume is resampled alike.
    ///   - spacing: target voxel size (mm) along i, j, k.
    ///   - interpolation: `.linear` for CT (default), `.nearest` for labels, `.bspline` for smoother CT.
    ///   - fill: value of target voxels outside the source (``defaultCTFill`` by default); converted to the
    ///     voxel type like interpolated values.
    ///   - threads: threads to use (1 = the calling thread only).
    /// - Throws: ``TransformError`` when a spacing is not finite and positive or the grid is empty.
    public static func resample<T: VoxelScalar>(_ volume: Volume<T>, toSpacing spacing: SIMD3<Double>,
                                                interpolation: Interpolation = .linear,
                                                fill: Double = defaultCTFill,
                                                threads: Int = 1) throws(TransformError) -> Volume<T> {
        let plan = try ResamplePlan(source: volume.geometry, targetSpacing: spacing)
        return resample(volume, plan: plan, interpolation: interpolation, fill: fill, threads: threads)
    }

    /// Resamples `volume` onto the target grid of `plan` (whose source must be the volume's geometry).
    public static func resample<T: VoxelScalar>(_ volume: Volume<T>, plan: ResamplePlan,
                                                interpolation: Interpolation = .linear,
                                                fill: Double = defaultCTFill, threads: Int = 1) -> Volume<T> {
        precondition(plan.source.size == volume.geometry.size, "resample plan made for another grid")
        let voxels: [T] = withSamples(volume.voxels) { samples in
            resampleFrames(samples, frames: volume.frames, plan: plan, interpolation: interpolation,
                           fill: fill, threads: threads, output: T.self)
        }
        return Volume(geometry: plan.target, frames: volume.frames, voxels: voxels)
    }

    /// Resamples `volume` to `spacing` millimetres with `Float` output (no rounding of interpolated values).
    ///
    /// Same conventions as ``resample(_:toSpacing:interpolation:fill:threads:)``; this is what SimpleITK
    /// returns with `outputPixelType=sitkFloat32`.
    public static func resampleToFloat<T: VoxelScalar>(_ volume: Volume<T>, toSpacing spacing: SIMD3<Double>,
                                                       interpolation: Interpolation = .linear,
                                                       fill: Double = defaultCTFill,
                                                       threads: Int = 1) throws(TransformError) -> Volume<Float> {
        let plan = try ResamplePlan(source: volume.geometry, targetSpacing: spacing)
        let voxels: [Float] = withSamples(volume.voxels) { samples in
            resampleFrames(samples, frames: volume.frames, plan: plan, interpolation: interpolation,
                           fill: fill, threads: threads, output: Float.self)
        }
        return Volume(geometry: plan.target, frames: volume.frames, voxels: voxels)
    }

    /// Resamples a binary mask to `spacing` millimetres by nearest neighbour; outside voxels are 0.
    public static func resample(_ mask: Mask, toSpacing spacing: SIMD3<Double>,
                                threads: Int = 1) throws(TransformError) -> Mask {
        let plan = try ResamplePlan(source: mask.geometry, targetSpacing: spacing)
        let bits = resampleFrames(mask.bits, frames: 1, plan: plan, interpolation: .nearest, fill: 0,
                                  threads: threads, output: UInt8.self)
        return Mask(geometry: plan.target, bits: bits)
    }

    // MARK: - Kernels

    static func resampleFrames<A: ResampleSampleArray, O: VoxelScalar>(
        _ samples: A, frames: Int, plan: ResamplePlan, interpolation: Interpolation, fill: Double,
        threads: Int, output: O.Type
    ) -> [O] {
        resampleFrames(samples.samples, frames: frames, plan: plan, interpolation: interpolation, fill: fill,
                       threads: threads, output: O.self)
    }

    static func resampleFrames<S: ResampleSample, O: VoxelScalar>(
        _ source: [S], frames: Int, plan: ResamplePlan, interpolation: Interpolation, fill: Double,
        threads: Int, output: O.Type
    ) -> [O] {
        let frameIn = plan.source.size.count
        let wantsFloat = (O.self == Float.self) && (S.self != Float.self)
        precondition(wantsFloat || O.self == S.self, "resampling converts only to the input type or Float")
        if frames == 1 {
            return source.withUnsafeBufferPointer { all in
                wantsFloat
                    ? sameTypeArray(run(all, plan: plan, interpolation: interpolation, fill: fill, threads: threads,
                                        output: Float.self), as: O.self)
                    : sameTypeArray(run(all, plan: plan, interpolation: interpolation, fill: fill, threads: threads,
                                        output: S.self), as: O.self)
            }
        }
        var result = [O]()
        result.reserveCapacity(plan.target.size.count * frames)
        for f in 0..<frames {
            result += resampleFrames(Array(source[(f * frameIn)..<((f + 1) * frameIn)]), frames: 1, plan: plan,
                                     interpolation: interpolation, fill: fill, threads: threads, output: O.self)
        }
        return result
    }

    @_specialize(where S == Int16, O == Int16)
    @_specialize(where S == Int16, O == Float)
    @_specialize(where S == UInt8, O == UInt8)
    @_specialize(where S == Float, O == Float)
    static func run<S: ResampleSample, O: ResampleSample>(
        _ src: UnsafeBufferPointer<S>, plan: ResamplePlan, interpolation: Interpolation, fill: Double,
        threads: Int, output: O.Type
    ) -> [O] {
        switch interpolation {
        case .nearest:
            return nearest(src, plan: plan, fill: fill, threads: threads, output: O.self)
        case .linear:
            return linear(src, plan: plan, fill: fill, threads: threads, output: O.self)
        case .bspline:
            return cubic(src, plan: plan, fill: fill, threads: threads, output: O.self)
        }
    }

    static func nearest<S: ResampleSample, O: ResampleSample>(
        _ src: UnsafeBufferPointer<S>, plan: ResamplePlan, fill: Double, threads: Int, output: O.Type
    ) -> [O] {
        let n = plan.source.size, m = plan.target.size
        let xs = NearestAxis(continuous: plan.continuousIndices(axis: 0), count: n.i).source
        let ys = NearestAxis(continuous: plan.continuousIndices(axis: 1), count: n.j).source
        let zs = NearestAxis(continuous: plan.continuousIndices(axis: 2), count: n.k).source
        let fillValue = O.castInterpolated(fill)
        let sameType = S.self == O.self
        var out = [O](repeating: fillValue, count: m.count)
        out.withUnsafeMutableBufferPointer { dstAll in
            let dst = SharedMutablePointer(dstAll.baseAddress!)
            Parallel.forEachRange(m.j * m.k, threads: threads, minimumPerThread: 16) { rows in
                xs.withUnsafeBufferPointer { xs in
                    for row in rows {
                        let sz = zs[row / m.j], sy = ys[row % m.j]
                        guard sz >= 0, sy >= 0 else { continue }
                        let srcRow = src.baseAddress! + (sz * n.j + sy) * n.i
                        let dstRow = dst.base + row * m.i
                        if sameType {
                            let srcRowO = UnsafeRawPointer(srcRow).assumingMemoryBound(to: O.self)
                            for t in 0..<m.i where xs[t] >= 0 { dstRow[t] = srcRowO[xs[t]] }
                        } else {
                            for t in 0..<m.i where xs[t] >= 0 { dstRow[t] = O.castInterpolated(srcRow[xs[t]].double) }
                        }
                    }
                }
            }
        }
        return out
    }

    static func linear<S: ResampleSample, O: ResampleSample>(
        _ src: UnsafeBufferPointer<S>, plan: ResamplePlan, fill: Double, threads: Int, output: O.Type
    ) -> [O] {
        let n = plan.source.size, m = plan.target.size
        let ax = LinearAxis(continuous: plan.continuousIndices(axis: 0), count: n.i)
        let ay = LinearAxis(continuous: plan.continuousIndices(axis: 1), count: n.j)
        let az = LinearAxis(continuous: plan.continuousIndices(axis: 2), count: n.k)
        let fillValue = O.castInterpolated(fill)
        let insideI = ax.insideRange, insideJ = ay.insideRange, insideK = az.insideRange

        // Target slices are split over threads. Each thread keeps the two source slices its current target
        // slice reads, reduced along i (pass 1) and j (pass 2) to a plane of m.i × m.j values; since both
        // source slices advance monotonically with the target slice, each plane is computed once per thread
        // (twice at most where two threads meet, by the same operations), and stays in cache.
        let plane = m.i * m.j
        return [O](unsafeUninitializedCapacity: m.count) { dstAll, initialized in
            let dst = SharedMutablePointer(dstAll.baseAddress!)
            Parallel.forEachRange(m.k, threads: threads) { targetSlices in
                var buffers = [Double](repeating: 0, count: m.i * n.j + 2 * plane + m.i + n.i)
                buffers.withUnsafeMutableBufferPointer { buffers in
                    let alongI = buffers.baseAddress!
                    let slots = [alongI + m.i * n.j, alongI + m.i * n.j + plane]
                    let line = alongI + m.i * n.j + 2 * plane
                    let sourceRow = line + m.i
                    var slotSlice = [-1, -1]

                    /// Computes source slice `k` reduced along i and j into the slot not holding `keep`.
                    func reducedPlane(_ k: Int, keeping keep: Int) -> UnsafeMutablePointer<Double> {
                        if slotSlice[0] == k { return slots[0] }
                        if slotSlice[1] == k { return slots[1] }
                        let slot = slotSlice[0] == keep ? 1 : 0
                        slotSlice[slot] = k
                        let out = slots[slot]
                        let slice = src.baseAddress! + k * n.sliceCount
                        ax.lower.withUnsafeBufferPointer { lo in
                        ax.upper.withUnsafeBufferPointer { hi in
                        ax.weight.withUnsafeBufferPointer { w in
                            for j in 0..<n.j {
                                // The source row as Double (a vectorised conversion), then the gathers.
                                let s = slice + j * n.i
                                for x in 0..<n.i { sourceRow[x] = s[x].double }
                                let d = alongI + j * m.i
                                for t in insideI {
                                    let a = sourceRow[lo[t]], b = sourceRow[hi[t]]
                                    d[t] = a + (b - a) * w[t]
                                }
                            }
                        }}}
                        for t in insideJ {
                            lerpRows(alongI + ay.lower[t] * m.i, alongI + ay.upper[t] * m.i, ay.weight[t],
                                     out + t * m.i, range: insideI)
                        }
                        return out
                    }

                    for kt in targetSlices {
                        let slice = dst.base + kt * plane
                        guard insideK.contains(kt) else {
                            slice.initialize(repeating: fillValue, count: plane)
                            continue
                        }
                        let a = reducedPlane(az.lower[kt], keeping: az.upper[kt])
                        let b = reducedPlane(az.upper[kt], keeping: az.lower[kt])
                        let w = az.weight[kt]
                        for jt in 0..<m.j {
                            let d = slice + jt * m.i
                            guard insideJ.contains(jt) else {
                                d.initialize(repeating: fillValue, count: m.i)
                                continue
                            }
                            d.initialize(repeating: fillValue, count: insideI.lowerBound)
                            (d + insideI.upperBound).initialize(repeating: fillValue, count: m.i - insideI.upperBound)
                            lerpRows(a + jt * m.i, b + jt * m.i, w, line, range: insideI)
                            storeConverted(line, d, range: insideI)
                        }
                    }
                }
            }
            initialized = m.count
        }
    }

    /// `d[t] = a[t] + (b[t] - a[t]) * w` for `t` in `range` (ITK's order of operations), vectorised.
    @inline(__always)
    static func lerpRows(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ w: Double,
                         _ d: UnsafeMutablePointer<Double>, range: Range<Int>) {
        var t = range.lowerBound
        let wv = SIMD4<Double>(repeating: w)
        while t + 4 <= range.upperBound {
            let va = UnsafeRawPointer(a + t).loadUnaligned(as: SIMD4<Double>.self)
            let vb = UnsafeRawPointer(b + t).loadUnaligned(as: SIMD4<Double>.self)
            UnsafeMutableRawPointer(d + t).storeBytes(of: va + (vb - va) * wv, as: SIMD4<Double>.self)
            t += 4
        }
        while t < range.upperBound {
            d[t] = a[t] + (b[t] - a[t]) * w
            t += 1
        }
    }

    /// Converts `line[range]` to the output type with ITK's cast, into `d[range]`.
    @inline(__always)
    static func storeConverted<O: ResampleSample>(_ line: UnsafePointer<Double>, _ d: UnsafeMutablePointer<O>,
                                                  range: Range<Int>) {
        if O.self == Int16.self {
            // Clamp, then truncate toward zero, four at a time without Swift's trapping conversion: adding
            // 1.5 · 2⁵² rounds to the nearest integer and leaves it in the low bits of the representation;
            // the rounded value is moved one step toward zero where rounding went away from zero.
            let p = UnsafeMutableRawPointer(d).assumingMemoryBound(to: Int16.self)
            let magic = SIMD4<Double>(repeating: 6_755_399_441_055_744.0)
            let lo = SIMD4<Double>(repeating: -32768), hi = SIMD4<Double>(repeating: 32767)
            let zero = SIMD4<Double>.zero, one = SIMD4<Double>(repeating: 1)
            var t = range.lowerBound
            while t + 4 <= range.upperBound {
                var v = UnsafeRawPointer(line + t).loadUnaligned(as: SIMD4<Double>.self)
                v.replace(with: lo, where: v .< lo)
                v.replace(with: hi, where: v .> hi)
                var n = (v + magic) - magic
                n.replace(with: n - one, where: (v .>= zero) .& (n .> v))
                n.replace(with: n + one, where: (v .< zero) .& (n .< v))
                let bits = SIMD4<Int64>(truncatingIfNeeded: unsafeBitCast(n + magic, to: SIMD4<UInt64>.self))
                UnsafeMutableRawPointer(p + t).storeBytes(of: SIMD4<Int16>(truncatingIfNeeded: bits), as: SIMD4<Int16>.self)
                t += 4
            }
            while t < range.upperBound {
                p[t] = Int16.castInterpolated(line[t])
                t += 1
            }
        } else {
            for t in range { d[t] = O.castInterpolated(line[t]) }
        }
    }

    static func cubic<S: ResampleSample, O: ResampleSample>(
        _ src: UnsafeBufferPointer<S>, plan: ResamplePlan, fill: Double, threads: Int, output: O.Type
    ) -> [O] {
        let n = plan.source.size, m = plan.target.size
        let coefficients = BSplineCoefficients.compute(src, size: n, threads: threads)
        let ax = CubicAxis(continuous: plan.continuousIndices(axis: 0), count: n.i)
        let ay = CubicAxis(continuous: plan.continuousIndices(axis: 1), count: n.j)
        let az = CubicAxis(continuous: plan.continuousIndices(axis: 2), count: n.k)
        let fillValue = O.castInterpolated(fill)

        var alongI = [Double](repeating: 0, count: m.i * n.j * n.k)
        coefficients.withUnsafeBufferPointer { srcAll in
            alongI.withUnsafeMutableBufferPointer { dstAll in
                let s0 = srcAll.baseAddress!
                let dst = SharedMutablePointer(dstAll.baseAddress!)
                Parallel.forEachRange(n.j * n.k, threads: threads, minimumPerThread: 16) { rows in
                    for row in rows {
                        let s = s0 + row * n.i
                        let d = dst.base + row * m.i
                        for t in 0..<m.i where ax.inside[t] {
                            let tap = ax.taps[t], w = ax.weights[t]
                            d[t] = s[tap[0]] * w[0] + s[tap[1]] * w[1] + s[tap[2]] * w[2] + s[tap[3]] * w[3]
                        }
                    }
                }
            }
        }
        var alongJ = [Double](repeating: 0, count: m.i * m.j * n.k)
        alongI.withUnsafeBufferPointer { srcAll in
            alongJ.withUnsafeMutableBufferPointer { dstAll in
                let s0 = srcAll.baseAddress!
                let dst = SharedMutablePointer(dstAll.baseAddress!)
                Parallel.forEachRange(m.j * n.k, threads: threads, minimumPerThread: 16) { rows in
                    for row in rows {
                        let k = row / m.j, t = row % m.j
                        guard ay.inside[t] else { continue }
                        let tap = ay.taps[t], w = ay.weights[t]
                        let r0 = s0 + (k * n.j + tap[0]) * m.i, r1 = s0 + (k * n.j + tap[1]) * m.i
                        let r2 = s0 + (k * n.j + tap[2]) * m.i, r3 = s0 + (k * n.j + tap[3]) * m.i
                        let d = dst.base + row * m.i
                        for x in 0..<m.i { d[x] = r0[x] * w[0] + r1[x] * w[1] + r2[x] * w[2] + r3[x] * w[3] }
                    }
                }
            }
        }
        var out = [O](repeating: fillValue, count: m.count)
        alongJ.withUnsafeBufferPointer { srcAll in
            out.withUnsafeMutableBufferPointer { dstAll in
                let s0 = srcAll.baseAddress!
                let dst = SharedMutablePointer(dstAll.baseAddress!)
                Parallel.forEachRange(m.j * m.k, threads: threads, minimumPerThread: 16) { rows in
                    for row in rows {
                        let kt = row / m.j, jt = row % m.j
                        guard az.inside[kt], ay.inside[jt] else { continue }
                        let tap = az.taps[kt], w = az.weights[kt]
                        let r0 = s0 + (tap[0] * m.j + jt) * m.i, r1 = s0 + (tap[1] * m.j + jt) * m.i
                        let r2 = s0 + (tap[2] * m.j + jt) * m.i, r3 = s0 + (tap[3] * m.j + jt) * m.i
                        let d = dst.base + row * m.i
                        for x in 0..<m.i where ax.inside[x] {
                            d[x] = O.castInterpolated(r0[x] * w[0] + r1[x] * w[1] + r2[x] * w[2] + r3[x] * w[3])
                        }
                    }
                }
            }
        }
        return out
    }
}
