import Foundation
import HemoCore
import HemoInference
import HemoRelease

/// Per-channel probabilities of a format-3 model on the CT grid (nnU-Net's `--save_probabilities`).
public struct ChannelProbabilities: Sendable {
    /// Output channels (the sidecar's `outputs.segmentation.channels`).
    public var channels: Int
    /// `channels` volumes on the CT grid, channel-major, each k-major (z, y, x) like the CT's voxels.
    /// Outside the non-zero crop box: 1 for the background channel of a softmax model, 0 elsewhere.
    public var values: [Float]
}

/// The pure steps of a format-3 prediction, shared by the predictor and its tests.
public enum VolumetricSteps {
    /// The box `[lower, upper)` per axis (z, y, x) of the voxels `!= 0` (nnU-Net's `crop_to_nonzero`
    /// box: filling holes does not change a box); the whole grid when every voxel is 0.
    public static func nonzeroBox(_ voxels: [Float], shape: [Int]) -> [Range<Int>] {
        var low = shape, high = [0, 0, 0]
        let (z, y, x) = (shape[0], shape[1], shape[2])
        voxels.withUnsafeBufferPointer { v in
            for k in 0..<z {
                for j in 0..<y {
                    let row = v.baseAddress! + (k * y + j) * x
                    var first = -1, last = -1
                    for i in 0..<x where row[i] != 0 { if first < 0 { first = i }; last = i }
                    guard first >= 0 else { continue }
                    low[0] = min(low[0], k); high[0] = max(high[0], k + 1)
                    low[1] = min(low[1], j); high[1] = max(high[1], j + 1)
                    low[2] = min(low[2], first); high[2] = max(high[2], last + 1)
                }
            }
        }
        guard high[0] > 0 else { return shape.map { 0..<$0 } }
        return (0..<3).map { low[$0]..<high[$0] }
    }

    /// The sub-array `box` of a C-order `z × y × x` array of `shape` (`channels` arrays one after the other).
    public static func crop(_ data: [Float], channels: Int = 1, shape: [Int], box: [Range<Int>]) -> [Float] {
        let out = box.map(\.count)
        var result = [Float](repeating: 0, count: channels * out.reduce(1, *))
        var n = 0
        for c in 0..<channels {
            for k in box[0] {
                for j in box[1] {
                    let start = ((c * shape[0] + k) * shape[1] + j) * shape[2] + box[2].lowerBound
                    for i in 0..<out[2] { result[n + i] = data[start + i] }
                    n += out[2]
                }
            }
        }
        return result
    }

    /// Softmax over `channels` planes of `count` values (channel-major), in place.
    public static func softmax(_ logits: inout [Float], channels: Int, count: Int) {
        logits.withUnsafeMutableBufferPointer { l in
            for v in 0..<count {
                var m = -Float.infinity
                for c in 0..<channels { m = max(m, l[c * count + v]) }
                var sum: Float = 0
                for c in 0..<channels { let e = Foundation.exp(l[c * count + v] - m); l[c * count + v] = e; sum += e }
                for c in 0..<channels { l[c * count + v] /= sum }
            }
        }
    }

    /// Sigmoid of every value, in place.
    public static func sigmoid(_ logits: inout [Float]) {
        for n in logits.indices { logits[n] = 1 / (1 + Foundation.exp(-logits[n])) }
    }
}

extension PseudoLabelModel {
    /// Runs a format-3 model over `ct` (HU): crop, normalise, resample to the model spacing, slide
    /// Gaussian-weighted patches with mirroring over every network, resample the logits back,
    /// activation, decision, filter. See the article "The model sidecar".
    func predictVolumetric(_ ct: Volume<Float>, rules s: VolumetricSidecar, threads: Int, keepProbabilities: Bool,
                           times: inout StageTimes, isCancelled: () -> Bool) throws -> VolumePrediction {
        if s.isWholeSlice {
            return try predictWholeSlices(ct, rules: s, threads: threads, times: &times, isCancelled: isCancelled)
        }
        let size = ct.geometry.size
        let full = [size.k, size.j, size.i]
        let ctSpacing = [ct.geometry.spacing.z, ct.geometry.spacing.y, ct.geometry.spacing.x]
        let channels = s.channelLabels.count
        let inputChannels = s.intensity.channelCount
        // 1–4: crop, normalise, resample (nnU-Net's preprocessing order).
        let (box, modelShape, input) = timed("preprocess", &times) { () -> ([Range<Int>], [Int], [Float]) in
            let box = s.cropToNonzero ? VolumetricSteps.nonzeroBox(ct.voxels, shape: full) : full.map { 0..<$0 }
            let cropShape = box.map(\.count)
            let cropped = box.map(\.count) == full ? ct.voxels : VolumetricSteps.crop(ct.voxels, shape: full, box: box)
            let normalised = s.intensity.apply(cropped)
            guard let target = targetSpacing(s, ctSpacing: ctSpacing) else { return (box, cropShape, normalised) }
            let modelShape = GridResize.shape(cropShape, from: ctSpacing, to: target)
            let rules = s.separateZ ? GridResize.rules(from: ctSpacing, to: target, order: s.imageResampling)
                                    : [GridResize.AxisRule](repeating: s.imageResampling, count: 3)
            return (box, modelShape, GridResize.resize(normalised, channels: inputChannels, shape: cropShape, to: modelShape, rules: rules))
        }
        // 5: sliding windows.
        let perNetwork = try slidingWindow(input, shape: modelShape, rules: s, threads: threads, times: &times, isCancelled: isCancelled)
        // 6–8: ensemble, resample back, activation.
        let cropShape = box.map(\.count)
        var probabilities: [Float] = timed("postprocess", &times) {
            let back: [GridResize.AxisRule]
            if let target = targetSpacing(s, ctSpacing: ctSpacing), modelShape != cropShape {
                back = s.separateZ ? GridResize.rules(from: target, to: ctSpacing, order: s.logitResampling)
                                   : [GridResize.AxisRule](repeating: s.logitResampling, count: 3)
            } else {
                back = [.linear, .linear, .linear]
            }
            func activate(_ logits: [Float]) -> [Float] {
                var p = GridResize.resize(logits, channels: channels, shape: modelShape, to: cropShape, rules: back)
                if s.activation == .softmax {
                    VolumetricSteps.softmax(&p, channels: channels, count: cropShape.reduce(1, *))
                } else {
                    VolumetricSteps.sigmoid(&p)
                }
                return p
            }
            if perNetwork.count == 1 || s.ensemble == .meanLogits {
                var mean = perNetwork[0]
                if perNetwork.count > 1 {
                    for other in perNetwork.dropFirst() { for n in mean.indices { mean[n] += other[n] } }
                    let scale = Float(perNetwork.count)
                    for n in mean.indices { mean[n] /= scale }
                }
                return activate(mean)
            }
            var sum = activate(perNetwork[0])
            for other in perNetwork.dropFirst() {
                let p = activate(other)
                for n in sum.indices { sum[n] += p[n] }
            }
            let scale = Float(perNetwork.count)
            for n in sum.indices { sum[n] /= scale }
            return sum
        }
        // 9: decision on the crop, then the whole grid.
        return timed("postprocess", &times) {
            let plane = size.i * size.j
            let cropCount = cropShape.reduce(1, *)
            var labels = [UInt8](repeating: 0, count: size.count)
            var scores = [Float](repeating: 0, count: size.count)
            var sliceProbabilities = [[Double]](repeating: [Double](repeating: 0, count: 6), count: size.k)
            for (ck, k) in box[0].enumerated() {
                for (cj, j) in box[1].enumerated() {
                    for (ci, i) in box[2].enumerated() {
                        let v = (ck * cropShape[1] + cj) * cropShape[2] + ci
                        var winner = -1
                        var best: Float = 0
                        if s.activation == .softmax {
                            best = probabilities[v]; winner = 0
                            for c in 1..<channels where probabilities[c * cropCount + v] > best { best = probabilities[c * cropCount + v]; winner = c }
                        } else {
                            for c in s.regionOrder where probabilities[c * cropCount + v] > 0.5 { winner = c; best = probabilities[c * cropCount + v] }
                        }
                        let o = k * plane + j * size.i + i
                        var foreground: Float = 0
                        for c in 0..<channels where s.channelLabels[c] != 0 {
                            let p = probabilities[c * cropCount + v]
                            let t = Int(s.channelLabels[c])
                            if Double(p) > sliceProbabilities[k][t] { sliceProbabilities[k][t] = Double(p) }
                            foreground = s.activation == .softmax ? foreground + p : max(foreground, p)
                        }
                        if Double(foreground) > sliceProbabilities[k][0] { sliceProbabilities[k][0] = Double(foreground) }
                        guard winner >= 0, s.channelLabels[winner] != 0 else { continue }
                        labels[o] = s.channelLabels[winner]
                        scores[o] = best
                    }
                }
            }
            Self.removeSmallLesions(labels: &labels, scores: &scores, size: size, rule: s.filter)
            labels.withUnsafeMutableBufferPointer { labelOut in
                scores.withUnsafeMutableBufferPointer { scoreOut in
                    for k in 0..<size.k {
                        Self.filter(labels: labelOut.baseAddress! + k * plane, scores: scoreOut.baseAddress! + k * plane,
                                    rows: size.j, columns: size.i, sliceProbability: sliceProbabilities[k][0], rule: s.filter)
                    }
                }
            }
            var kept: ChannelProbabilities? = nil
            if keepProbabilities {
                var values = [Float](repeating: 0, count: channels * size.count)
                if s.activation == .softmax { for n in 0..<size.count { values[n] = 1 } }
                for c in 0..<channels {
                    for (ck, k) in box[0].enumerated() {
                        for (cj, j) in box[1].enumerated() {
                            let src = c * cropCount + (ck * cropShape[1] + cj) * cropShape[2]
                            let dst = c * size.count + k * plane + j * size.i + box[2].lowerBound
                            for n in 0..<cropShape[2] { values[dst + n] = probabilities[src + n] }
                        }
                    }
                }
                kept = ChannelProbabilities(channels: channels, values: values)
            }
            probabilities = []
            return VolumePrediction(labels: Volume(geometry: ct.geometry, voxels: labels), scores: scores,
                                    sliceProbabilities: sliceProbabilities, channelProbabilities: kept)
        }
    }

    /// The model spacing for a CT of `ctSpacing` (z, y, x), or nil when the CT keeps its own
    /// (no spacing in the sidecar, or the same spacing).
    private func targetSpacing(_ s: VolumetricSidecar, ctSpacing: [Double]) -> [Double]? {
        guard let spacing = s.spacing else { return nil }
        let target = s.shape.isPlanar ? [ctSpacing[0], spacing[1], spacing[2]] : spacing
        return target == ctSpacing ? nil : target
    }

    /// Logits (`channels × shape`, averaged over the mirrorings, divided by the summed weights) of
    /// every network, on the model grid.
    private func slidingWindow(_ input: [Float], shape: [Int], rules s: VolumetricSidecar, threads: Int,
                               times: inout StageTimes, isCancelled: () -> Bool) throws -> [[Float]] {
        let inC = s.inputChannelCount, outC = s.channelLabels.count, baseC = s.intensity.channelCount
        // A 2-D model slides over the last two axes of every slice.
        let spatial = s.shape == .volume ? shape : Array(shape[1...])
        let outer = s.shape == .volume ? 1 : shape[0]
        let plan = SlidingWindowPlan(imageSize: spatial, patch: s.patch, step: s.step)
        let padded = plan.paddedSize
        let paddedCount = padded.reduce(1, *)
        let patchCount = s.patch.reduce(1, *)
        let half = s.halfPrecisionAccumulation
        let weightsPatch = s.gaussianSigma.map { GaussianImportance.map(patch: s.patch, sigmaScale: $0, half: half) }
            ?? [Float](repeating: 1, count: patchCount)
        let variants: [[Int]] = [[]] + MirrorAugmentation.combinations(axes: s.mirrorAxes)
        // Variants per run: all of them for small patches; bounded so a large patch stays in memory.
        let chunk = max(1, min(variants.count, 262_144 / patchCount))
        // One sum per network when they are combined later (probabilities, or half-precision logits
        // combined as nnU-Net combines its folds); else one running mean.
        let separate = s.ensemble == .meanProbabilities || half ? onnxModels.count : 1
        var sums = [[Float]](repeating: [Float](repeating: 0, count: outer * outC * paddedCount), count: separate)
        var weights = [Float](repeating: 0, count: paddedCount)
        for origin in plan.origins {
            // Weights are shared by every slice of a 2-D model.
            addPatch(weightsPatch, into: &weights, channels: 1, origin: origin, patch: s.patch, padded: padded, plane: 0, half: half)
        }
        var paddedInput = [Float](repeating: 0, count: inC * paddedCount)
        var tile = [Float](repeating: 0, count: inC * patchCount)
        var batch = [Float]()
        var mean = [Float](repeating: 0, count: outC * patchCount)
        var unflipped = [Float](repeating: 0, count: outC * patchCount)
        for slab in 0..<outer {
            // The slab's channels, zero-padded to the plan's size; a 2.5-D model's are the channels of
            // its K neighbours (edge slices replicated), neighbour-major.
            timed("preprocess", &times) {
                let src = spatial.reduce(1, *)
                let indices = Self.paddedIndices(spatial, padBefore: plan.padBefore, padded: padded)
                let half = (s.neighbours - 1) / 2
                for n in 0..<s.neighbours {
                    let source = min(max(slab + n - half, 0), outer - 1)
                    for c in 0..<baseC {
                        let dst = (n * baseC + c) * paddedCount, from = (c * outer + source) * src
                        for (index, value) in indices.enumerated() { paddedInput[dst + value] = input[from + index] }
                    }
                }
            }
            for origin in plan.origins {
                if isCancelled() { throw CancellationError() }
                Self.extract(paddedInput, channels: inC, padded: padded, origin: origin, patch: s.patch, into: &tile)
                for (m, network) in onnxModels.enumerated() {
                    for v in 0..<mean.count { mean[v] = 0 }
                    for first in stride(from: 0, to: variants.count, by: chunk) {
                        let group = Array(variants[first..<min(first + chunk, variants.count)])
                        batch = [Float](repeating: 0, count: group.count * inC * patchCount)
                        tile.withUnsafeBufferPointer { t in
                            batch.withUnsafeMutableBufferPointer { b in
                                for (g, axes) in group.enumerated() {
                                    MirrorAugmentation.flip(t.baseAddress!, into: b.baseAddress! + g * inC * patchCount,
                                                            shape: [inC] + s.patch, axes: axes.map { $0 + 1 })
                                }
                            }
                        }
                        let results = try timed("inference", &times) { () throws -> [String: Tensor] in
                            do {
                                return try network.run([s.inputName: Tensor(shape: [group.count, inC] + s.patch, data: batch)], threads: threads)
                            } catch {
                                throw CaseFailure(stage: "inference", reason: "\(s.networks[m].file): \(error)")
                            }
                        }
                        guard let out = results[s.segmentationOutput], out.shape == [group.count, outC] + s.patch else {
                            throw CaseFailure(stage: "inference", reason: "\(s.networks[m].file): output \(s.segmentationOutput) has shape \(results[s.segmentationOutput]?.shape ?? []); expected \([group.count, outC] + s.patch)")
                        }
                        out.data.withUnsafeBufferPointer { o in
                            unflipped.withUnsafeMutableBufferPointer { u in
                                for (g, axes) in group.enumerated() {
                                    MirrorAugmentation.flip(o.baseAddress! + g * outC * patchCount, into: u.baseAddress!,
                                                            shape: [outC] + s.patch, axes: axes.map { $0 + 1 })
                                    for v in 0..<mean.count { mean[v] += u[v] }
                                }
                            }
                        }
                    }
                    let scale = Float(variants.count)
                    let slot = separate == 1 ? 0 : m
                    // nnU-Net: (sum of mirrored logits) / count, times the Gaussian; folds averaged later.
                    for c in 0..<outC {
                        for v in 0..<patchCount { mean[c * patchCount + v] = mean[c * patchCount + v] / scale * weightsPatch[v] }
                    }
                    let share: Float = separate == 1 ? 1 / Float(onnxModels.count) : 1
                    if share != 1 { for v in 0..<mean.count { mean[v] *= share } }
                    addPatch(mean, into: &sums[slot], channels: outC, origin: origin, patch: s.patch, padded: padded,
                             plane: slab, planes: outer, half: half)
                }
            }
        }
        // Divide by the weights and drop the padding.
        let inner = Self.paddedIndices(spatial, padBefore: plan.padBefore, padded: padded)
        let spatialCount = spatial.reduce(1, *)
        var logits = sums.map { sum in
            var out = [Float](repeating: 0, count: outC * outer * spatialCount)
            for c in 0..<outC {
                for slab in 0..<outer {
                    let src = (c * outer + slab) * paddedCount, dst = (c * outer + slab) * spatialCount
                    for (index, p) in inner.enumerated() {
                        let v = sum[src + p] / weights[p]
                        out[dst + index] = half ? Float(Float16(v)) : v
                    }
                }
            }
            return out
        }
        if half, s.ensemble == .meanLogits, logits.count > 1 {
            // nnU-Net: fold logits summed in half precision, then divided by the fold count.
            var total = logits[0]
            for other in logits.dropFirst() { for n in total.indices { total[n] = Float(Float16(total[n] + other[n])) } }
            let count = Float(logits.count)
            for n in total.indices { total[n] = Float(Float16(total[n] / count)) }
            logits = [total]
        }
        return logits
    }

    /// For each voxel of an unpadded `size` (C order), its offset in the padded array.
    private static func paddedIndices(_ size: [Int], padBefore: [Int], padded: [Int]) -> [Int] {
        var result: [Int] = [0]
        for d in size.indices {
            let stride = padded[(d + 1)...].reduce(1, *)
            result = result.flatMap { base in (0..<size[d]).map { base + ($0 + padBefore[d]) * stride } }
        }
        return result
    }

    /// Copies the patch at `origin` of `channels` padded arrays into `tile`.
    private static func extract(_ data: [Float], channels: Int, padded: [Int], origin: [Int], patch: [Int], into tile: inout [Float]) {
        let offsets = patchOffsets(origin: origin, patch: patch, padded: padded)
        let paddedCount = padded.reduce(1, *), patchCount = patch.reduce(1, *)
        let row = patch[patch.count - 1]
        for c in 0..<channels {
            for (r, start) in offsets.enumerated() {
                for x in 0..<row { tile[c * patchCount + r * row + x] = data[c * paddedCount + start + x] }
            }
        }
    }

    /// Offsets in the padded array of the first voxel of each row of the patch at `origin`.
    private static func patchOffsets(origin: [Int], patch: [Int], padded: [Int]) -> [Int] {
        var result: [Int] = [0]
        for d in 0..<(patch.count - 1) {
            let stride = padded[(d + 1)...].reduce(1, *)
            result = result.flatMap { base in (0..<patch[d]).map { base + (origin[d] + $0) * stride } }
        }
        let last = origin[patch.count - 1]
        return result.map { $0 + last }
    }

    /// Adds a `channels × patch` block at `origin` into `channels × planes × padded` sums (plane `plane`).
    private func addPatch(_ block: [Float], into sums: inout [Float], channels: Int, origin: [Int], patch: [Int], padded: [Int],
                          plane: Int, planes: Int = 1, half: Bool = false) {
        let offsets = Self.patchOffsets(origin: origin, patch: patch, padded: padded)
        let paddedCount = padded.reduce(1, *), patchCount = patch.reduce(1, *)
        let row = patch[patch.count - 1]
        for c in 0..<channels {
            let base = (c * planes + plane) * paddedCount
            for (r, start) in offsets.enumerated() {
                if half {
                    for x in 0..<row { sums[base + start + x] = Float(Float16(sums[base + start + x] + block[c * patchCount + r * row + x])) }
                } else {
                    for x in 0..<row { sums[base + start + x] += block[c * patchCount + r * row + x] }
                }
            }
        }
    }
}

extension PseudoLabelModel {
    /// The per-subtype maps of `--probabilities` (EPH…IVH, ``ProbabilityMaps`` quantisation) from the
    /// channel probabilities of a prediction on `geometry`: a subtype's probability is the sum of its
    /// softmax channels (formats 1–2: channel `v` is subtype `v`), or the largest of its sigmoid
    /// regions; 0 where no channel names it.
    public func subtypeProbabilityMaps(_ kept: ChannelProbabilities, geometry: Geometry) -> [Volume<UInt8>] {
        let count = geometry.size.count
        let labels: [UInt8]
        var sigmoid = false
        switch rules {
        case .slices: labels = (0..<kept.channels).map { UInt8($0) }
        case .volumetric(let s): labels = s.channelLabels; sigmoid = s.activation == .sigmoid
        }
        return Subtype.allCases.map { subtype in
            let channels = labels.indices.filter { labels[$0] == subtype.labelValue }
            var p = [Float](repeating: 0, count: count)
            kept.values.withUnsafeBufferPointer { v in
                for c in channels {
                    let base = c * count
                    if sigmoid {
                        for n in 0..<count { p[n] = max(p[n], v[base + n]) }
                    } else {
                        for n in 0..<count { p[n] += v[base + n] }
                    }
                }
            }
            return p.withUnsafeBufferPointer { ProbabilityMaps.quantised($0, geometry: geometry) }
        }
    }
}
