import Foundation
import HemoCore
import HemoInference
import HemoRelease
import HemoTransforms

/// The model's answer for one volume, on the volume's grid.
public struct VolumePrediction: Sendable {
    /// The label map after post-processing (0 background, 1...5 the subtypes).
    public var labels: Volume<UInt8>
    /// Per voxel, the softmax probability of the voxel's label (0 where the label is background).
    public var scores: [Float]
    /// Per slice, `sigmoid(cls_logits)`: any, EPH, SDH, SAH, IPH, IVH.
    public var sliceProbabilities: [[Double]]
    /// Per output channel, the probability volumes on the CT grid (format-3 models, when asked for).
    public var channelProbabilities: ChannelProbabilities?
    /// A classifier-only model's labels per slice, by its thresholds (then ``labels`` is all
    /// background and the release holds no masks); nil for segmentation models.
    public var sliceDecisions: [(any: Bool, subtypes: Set<Subtype>)]? = nil
    /// A model with an exam-level classification output: the exam's `p_any, p_EPH, …, p_IVH`
    /// and its labels by that output's thresholds; nil otherwise.
    public var examCall: ExamCall? = nil

    /// A prediction.
    public init(labels: Volume<UInt8>, scores: [Float], sliceProbabilities: [[Double]], channelProbabilities: ChannelProbabilities? = nil) {
        self.labels = labels; self.scores = scores; self.sliceProbabilities = sliceProbabilities
        self.channelProbabilities = channelProbabilities
    }
}

/// Bilinear interpolation taps with half-pixel centres (PyTorch `align_corners=False`, no antialias):
/// `out[d] = weight0[d] * in[index0[d]] + weight1[d] * in[index1[d]]`.
struct BilinearTaps: Sendable {
    var index0: [Int]
    var index1: [Int]
    var weight0: [Float]
    var weight1: [Float]

    init(input: Int, output: Int) {
        index0 = []; index1 = []; weight0 = []; weight1 = []
        let scale = Double(input) / Double(output)
        for d in 0..<output {
            let source = max((Double(d) + 0.5) * scale - 0.5, 0)
            let i0 = min(Int(source.rounded(.down)), input - 1)
            let lambda = Float(source - Double(i0))
            index0.append(i0)
            index1.append(min(i0 + 1, input - 1))
            weight0.append(1 - lambda)
            weight1.append(lambda)
        }
    }
}

extension PseudoLabelModel {
    /// Runs the model over `ct` (HU) following its sidecar. Formats 1–2: every slice resized,
    /// windowed, inferred in batches of ``batchSize`` slices, logits resized back, argmax, component
    /// filter. Format 3: sliding windows at the model's spacing (see the article "The model sidecar").
    ///
    /// - Parameters:
    ///   - threads: threads of the model's kernels; the result is the same for any count.
    ///   - isCancelled: asked before each batch; when it answers true the prediction stops with
    ///     `CancellationError` (a cluster worker whose attempt was cancelled stops within a batch).
    ///   - keepProbabilities: also return every output channel's probabilities (format-3 models).
    public func predict(_ ct: Volume<Float>, threads: Int = 1, keepProbabilities: Bool = false, times: inout StageTimes,
                        isCancelled: () -> Bool = { false }) throws -> VolumePrediction {
        switch rules {
        case .slices(let s):
            return try predictSlices(ct, sidecar: s, threads: threads, keepProbabilities: keepProbabilities, times: &times,
                                     isCancelled: isCancelled)
        case .volumetric(let s):
            return try predictVolumetric(ct, rules: s, threads: threads, keepProbabilities: keepProbabilities,
                                         times: &times, isCancelled: isCancelled)
        }
    }

    /// Formats 1 and 2: every slice resized to the model's input, windowed, inferred in batches.
    func predictSlices(_ ct: Volume<Float>, sidecar s: ModelSidecar, threads: Int, keepProbabilities: Bool = false,
                       times: inout StageTimes, isCancelled: () -> Bool) throws -> VolumePrediction {
        let size = ct.geometry.size
        let (columns, rows, slices) = (size.i, size.j, size.k)
        let onnx = onnxModels[0]
        let (height, width, channelCount) = (s.height, s.width, s.channels.count)
        let rowsIn = BilinearTaps(input: rows, output: height), columnsIn = BilinearTaps(input: columns, output: width)
        let rowsOut = BilinearTaps(input: height, output: rows), columnsOut = BilinearTaps(input: width, output: columns)
        var labels = [UInt8](repeating: 0, count: size.count)
        var scores = [Float](repeating: 0, count: size.count)
        // The six softmax planes per voxel, before any filter (kept for `--probabilities`).
        var channelValues = [Float](repeating: 0, count: keepProbabilities ? 6 * size.count : 0)
        var probabilities = [[Double]](repeating: [], count: slices)
        let plane = rows * columns
        var scratch = [Float](repeating: 0, count: max(height * columns, 6 * width))
        for first in stride(from: 0, to: slices, by: Self.batchSize) {
            if isCancelled() { throw CancellationError() }
            let count = min(Self.batchSize, slices - first)
            let input = timed("preprocess", &times) { () -> Tensor in
                var data = [Float](repeating: 0, count: count * channelCount * height * width)
                ct.voxels.withUnsafeBufferPointer { hu in
                    data.withUnsafeMutableBufferPointer { out in
                        scratch.withUnsafeMutableBufferPointer { tmp in
                            for b in 0..<count {
                                Self.resizeAndWindow(hu.baseAddress! + (first + b) * plane, rows: rows, columns: columns,
                                                     rowTaps: rowsIn, columnTaps: columnsIn, height: height, width: width,
                                                     channels: s.channels, scratch: tmp.baseAddress!,
                                                     output: out.baseAddress! + b * channelCount * height * width)
                            }
                        }
                    }
                }
                return Tensor(shape: [count, channelCount, height, width], data: data)
            }
            let results = try timed("inference", &times) { () throws -> [String: Tensor] in
                do { return try onnx.run([s.inputName: input], threads: threads) } catch {
                    throw CaseFailure(stage: "inference", reason: "\(error)")
                }
            }
            guard let seg = results[s.segmentationOutput], seg.shape == [count, 6, height, width],
                  let cls = results[s.classificationOutput], cls.shape == [count, 6] else {
                throw CaseFailure(stage: "inference", reason: "\(fileName): unexpected output shapes for a batch of \(count) slices")
            }
            timed("postprocess", &times) {
                seg.data.withUnsafeBufferPointer { logits in
                    labels.withUnsafeMutableBufferPointer { labelOut in
                        scores.withUnsafeMutableBufferPointer { scoreOut in
                            scratch.withUnsafeMutableBufferPointer { tmp in
                                channelValues.withUnsafeMutableBufferPointer { kept in
                                    for b in 0..<count {
                                        let k = first + b
                                        probabilities[k] = (0..<6).map { 1 / (1 + exp(-Double(cls.data[b * 6 + $0]))) }
                                        Self.resizeBackAndDecide(logits.baseAddress! + b * 6 * height * width, height: height, width: width,
                                                                 rowTaps: rowsOut, columnTaps: columnsOut, rows: rows, columns: columns,
                                                                 scratch: tmp.baseAddress!,
                                                                 labels: labelOut.baseAddress! + k * plane, scores: scoreOut.baseAddress! + k * plane,
                                                                 channels: keepProbabilities ? kept.baseAddress! + k * plane : nil,
                                                                 channelStride: size.count)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        timed("postprocess", &times) {
            Self.removeSmallLesions(labels: &labels, scores: &scores, size: size, rule: s.filter)
            labels.withUnsafeMutableBufferPointer { labelOut in
                scores.withUnsafeMutableBufferPointer { scoreOut in
                    for k in 0..<slices {
                        Self.filter(labels: labelOut.baseAddress! + k * plane, scores: scoreOut.baseAddress! + k * plane,
                                    rows: rows, columns: columns, sliceProbability: probabilities[k][0], rule: s.filter)
                    }
                }
            }
        }
        return VolumePrediction(labels: Volume(geometry: ct.geometry, voxels: labels), scores: scores, sliceProbabilities: probabilities,
                                channelProbabilities: keepProbabilities ? ChannelProbabilities(channels: 6, values: channelValues) : nil)
    }

    /// One slice (rows × columns HU, row-major) → `channels` planes of height × width: resize, then window.
    static func resizeAndWindow(_ hu: UnsafePointer<Float>, rows: Int, columns: Int, rowTaps: BilinearTaps, columnTaps: BilinearTaps,
                                height: Int, width: Int, channels: [WindowChannel], scratch: UnsafeMutablePointer<Float>,
                                output: UnsafeMutablePointer<Float>) {
        // Rows: rows → height, every column.
        for h in 0..<height {
            let a = hu + rowTaps.index0[h] * columns, b = hu + rowTaps.index1[h] * columns
            let w0 = rowTaps.weight0[h], w1 = rowTaps.weight1[h]
            let out = scratch + h * columns
            for i in 0..<columns { out[i] = a[i] * w0 + b[i] * w1 }
        }
        // Columns: columns → width, then one window per channel.
        let lowers = channels.map(\.lower), widths = channels.map(\.width)
        let planeSize = height * width
        columnTaps.index0.withUnsafeBufferPointer { c0 in
            columnTaps.index1.withUnsafeBufferPointer { c1 in
                columnTaps.weight0.withUnsafeBufferPointer { w0 in
                    columnTaps.weight1.withUnsafeBufferPointer { w1 in
                        for h in 0..<height {
                            let row = scratch + h * columns
                            for w in 0..<width {
                                let v = row[c0[w]] * w0[w] + row[c1[w]] * w1[w]
                                for c in 0..<lowers.count {
                                    output[c * planeSize + h * width + w] = min(max((v - lowers[c]) / widths[c], 0), 1)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Six logit planes (height × width) → the slice's labels and winner probabilities on rows × columns.
    static func resizeBackAndDecide(_ logits: UnsafePointer<Float>, height: Int, width: Int, rowTaps: BilinearTaps,
                                    columnTaps: BilinearTaps, rows: Int, columns: Int, scratch: UnsafeMutablePointer<Float>,
                                    labels: UnsafeMutablePointer<UInt8>, scores: UnsafeMutablePointer<Float>,
                                    channels: UnsafeMutablePointer<Float>? = nil, channelStride: Int = 0) {
        let planeSize = height * width
        columnTaps.index0.withUnsafeBufferPointer { c0 in
            columnTaps.index1.withUnsafeBufferPointer { c1 in
                columnTaps.weight0.withUnsafeBufferPointer { w0 in
                    columnTaps.weight1.withUnsafeBufferPointer { w1 in
                        for j in 0..<rows {
                            // The six row-interpolated logit rows of output row j.
                            let r0 = rowTaps.index0[j] * width, r1 = rowTaps.index1[j] * width
                            let a = rowTaps.weight0[j], b = rowTaps.weight1[j]
                            for c in 0..<6 {
                                let plane = logits + c * planeSize
                                let out = scratch + c * width
                                for w in 0..<width { out[w] = plane[r0 + w] * a + plane[r1 + w] * b }
                            }
                            let rowLabels = labels + j * columns, rowScores = scores + j * columns
                            for i in 0..<columns {
                                let x0 = c0[i], x1 = c1[i], u = w0[i], v = w1[i]
                                var best = scratch[x0] * u + scratch[x1] * v
                                var label = 0
                                var values = SIMD8<Float>(repeating: -.infinity)
                                values[0] = best
                                for c in 1..<6 {
                                    let row = scratch + c * width
                                    let value = row[x0] * u + row[x1] * v
                                    values[c] = value
                                    if value > best { best = value; label = c }
                                }
                                rowLabels[i] = UInt8(label)
                                if let channels {
                                    var sum: Float = 0
                                    for c in 0..<6 { sum += Foundation.exp(values[c] - best) }
                                    for c in 0..<6 { channels[c * channelStride + j * columns + i] = Foundation.exp(values[c] - best) / sum }
                                }
                                if label == 0 {
                                    rowScores[i] = 0
                                } else {
                                    var sum: Float = 0
                                    for c in 0..<6 { sum += Foundation.exp(values[c] - best) }
                                    rowScores[i] = 1 / sum
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Removes the 26-connected 3D components of each subtype with fewer voxels than the rule's
    /// minimum (computed on the argmax map before any 2D filtering).
    static func removeSmallLesions(labels: inout [UInt8], scores: inout [Float], size: GridSize, rule: ComponentFilter) {
        guard rule.minimumLesionVoxels.values.contains(where: { $0 > 1 }) else { return }
        let grid = Geometry(size: size, spacing: SIMD3(1, 1, 1))
        var present = [Bool](repeating: false, count: 6)
        for v in labels where v != 0 && v < 6 { present[Int(v)] = true }
        for subtype in Subtype.allCases where present[Int(subtype.labelValue)] {
            let minimum = rule.minimumLesionVoxels[subtype] ?? 0
            guard minimum > 1 else { continue }
            let value = subtype.labelValue
            let found = ConnectedComponents.components3D(Mask(geometry: grid, bits: labels.map { $0 == value ? 1 : 0 }))
            for component in found.components where component.voxels < minimum {
                for run in found.membership.runs(of: component.label) {
                    for o in run.offsets { labels[o] = 0; scores[o] = 0 }
                }
            }
        }
    }

    /// Applies the sidecar's per-slice rules (slice probability, 2D component size and score) to one slice in place.
    static func filter(labels: UnsafeMutablePointer<UInt8>, scores: UnsafeMutablePointer<Float>, rows: Int, columns: Int,
                       sliceProbability: Double, rule: ComponentFilter) {
        let count = rows * columns
        guard !rule.isIdentity else { return }
        if sliceProbability < rule.minimumSliceProbability {
            labels.update(repeating: 0, count: count)
            scores.update(repeating: 0, count: count)
            return
        }
        var present = Set<UInt8>()
        for o in 0..<count where labels[o] != 0 { present.insert(labels[o]) }
        let grid = Geometry(size: GridSize(columns, rows, 1), spacing: SIMD3(1, 1, 1))
        for value in present.sorted() {
            guard let subtype = Subtype(rawValue: value) else { continue }
            var bits = [UInt8](repeating: 0, count: count)
            for o in 0..<count where labels[o] == value { bits[o] = 1 }
            let found = ConnectedComponents.components2D(Mask(geometry: grid, bits: bits), slice: 0)
            let minimum = rule.minimumPixels[subtype] ?? 0
            for component in found.components {
                let runs = found.membership.runs(of: component.label)
                var sum = 0.0
                for run in runs { for o in run.offsets { sum += Double(scores[o]) } }
                let score = sum / Double(max(component.pixels, 1))
                if component.pixels < minimum || score < rule.minimumScore {
                    for run in runs { for o in run.offsets { labels[o] = 0; scores[o] = 0 } }
                }
            }
        }
    }
}
