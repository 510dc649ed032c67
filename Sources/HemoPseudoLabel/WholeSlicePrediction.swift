import Foundation
import HemoCore
import HemoInference
import HemoRelease

extension PseudoLabelModel {
    /// A whole-slice format-3 model over `ct` (HU): every slice and its K − 1 neighbours (edge
    /// slices replicated) resized to `input.size` and windowed, batches of ``batchSize`` slices
    /// through every network, the classification activation, the ensemble's mean probability, then
    /// `p_*`. A classifier-only model labels slices by the sidecar's thresholds and has no masks
    /// (``VolumePrediction/labels`` all background); a model with a segmentation output resizes its
    /// logits back to the slice (bilinear half-pixel), takes the activation's decision, and applies
    /// the component filter, as formats 1–2. A model with an exam-level output sees all of the
    /// exam's slices as one batch, and gives the exam's `p_*` and labels
    /// (``VolumePrediction/examCall``). See the article "The model sidecar".
    func predictWholeSlices(_ ct: Volume<Float>, rules s: VolumetricSidecar, threads: Int, times: inout StageTimes,
                           isCancelled: () -> Bool) throws -> VolumePrediction {
        guard let classification = s.classification, let inputSize = s.inputSize, case .windows(let windows) = s.intensity else {
            preconditionFailure("a classifier-only sidecar has a classification output, an input size and windows (checked at load)")
        }
        let size = ct.geometry.size
        let (columns, rows, slices) = (size.i, size.j, size.k)
        let (height, width) = (inputSize[0], inputSize[1])
        let baseC = windows.count, inC = s.inputChannelCount, outC = classification.channels.count
        let half = (s.neighbours - 1) / 2
        let rowTaps = BilinearTaps(input: rows, output: height), columnTaps = BilinearTaps(input: columns, output: width)
        let plane = rows * columns, sliceInput = baseC * height * width
        var scratch = [Float](repeating: 0, count: height * columns)
        // Each slice is resized and windowed once; a 2.5-D input copies its neighbours' planes.
        var prepared = [[Float]?](repeating: nil, count: slices)
        var probabilities = [[Double]](repeating: [Double](repeating: 0, count: outC), count: slices)
        let segC = s.channelLabels.count
        var labels = [UInt8](repeating: 0, count: s.isClassifierOnly ? 0 : size.count)
        var scores = [Float](repeating: 0, count: s.isClassifierOnly ? 0 : size.count)
        let rowsOut = BilinearTaps(input: height, output: rows), columnsOut = BilinearTaps(input: width, output: columns)
        // An exam-level output needs the whole exam in one batch.
        let exam = s.examClassification
        let batch = exam == nil ? Self.batchSize : max(1, slices)
        var examProbabilities = [Double](repeating: 0, count: exam?.channels.count ?? 0)
        if exam != nil {
            // Before anything runs: the whole-exam batch's planned activations must fit the cap.
            let limit = Self.examBatchMemoryLimit
            for (m, network) in onnxModels.enumerated() {
                let bytes: Int
                do { bytes = try network.activationBytes(inputShapes: [s.inputName: [slices, inC, height, width]]) } catch {
                    throw CaseFailure(stage: "inference", reason: "\(s.networks[m].file): \(error)")
                }
                if bytes > limit.bytes {
                    throw CaseFailure(stage: "inference", reason: "\(s.networks[m].file): the exam's \(slices) slices in one batch "
                        + "(the exam-level output needs them together) plan \(bytes / 1_048_576) MiB of activations, over the "
                        + "\(limit.bytes / 1_048_576) MiB cap (\(limit.source))")
                }
            }
        }
        for first in stride(from: 0, to: slices, by: batch) {
            if isCancelled() { throw CancellationError() }
            let count = min(batch, slices - first)
            let input = timed("preprocess", &times) { () -> Tensor in
                var data = [Float](repeating: 0, count: count * inC * height * width)
                for b in 0..<count {
                    for n in 0..<s.neighbours {
                        let source = min(max(first + b + n - half, 0), slices - 1)
                        if prepared[source] == nil {
                            var out = [Float](repeating: 0, count: sliceInput)
                            ct.voxels.withUnsafeBufferPointer { hu in
                                scratch.withUnsafeMutableBufferPointer { tmp in
                                    out.withUnsafeMutableBufferPointer { o in
                                        Self.resizeAndWindow(hu.baseAddress! + source * plane, rows: rows, columns: columns,
                                                             rowTaps: rowTaps, columnTaps: columnTaps, height: height, width: width,
                                                             channels: windows, scratch: tmp.baseAddress!, output: o.baseAddress!)
                                    }
                                }
                            }
                            prepared[source] = out
                        }
                        let offset = (b * inC + n * baseC) * height * width
                        data.replaceSubrange(offset..<(offset + sliceInput), with: prepared[source]!)
                    }
                }
                // Slices no later batch needs are released.
                for k in 0..<max(0, first + count - half) where k < slices { prepared[k] = nil }
                return Tensor(shape: [count, inC, height, width], data: data)
            }
            for (m, network) in onnxModels.enumerated() {
                let results = try timed("inference", &times) { () throws -> [String: Tensor] in
                    do { return try network.run([s.inputName: input], threads: threads) } catch {
                        throw CaseFailure(stage: "inference", reason: "\(s.networks[m].file): \(error)")
                    }
                }
                guard let logits = results[classification.output], logits.shape == [count, outC] else {
                    throw CaseFailure(stage: "inference", reason: "\(s.networks[m].file): \(classification.output) is not [\(count), \(outC)] for a batch of \(count) slices")
                }
                if let exam {
                    let examC = exam.channels.count
                    guard let examLogits = results[exam.output], examLogits.shape == [1, examC] || examLogits.shape == [examC] else {
                        throw CaseFailure(stage: "inference", reason: "\(s.networks[m].file): \(exam.output) is not [1, \(examC)] or [\(examC)] for an exam of \(count) slices")
                    }
                    let p = Self.activate(examLogits.data, exam.activation)
                    for c in 0..<examC { examProbabilities[c] += p[c] }
                }
                if !s.isClassifierOnly {
                    guard let seg = results[s.segmentationOutput], seg.shape == [count, segC, height, width] else {
                        throw CaseFailure(stage: "inference", reason: "\(s.networks[m].file): \(s.segmentationOutput) is not [\(count), \(segC), \(height), \(width)]")
                    }
                    timed("postprocess", &times) {
                        for b in 0..<count {
                            Self.resizeBackAndDecide(seg.data, offset: b * segC * height * width, rules: s, height: height, width: width,
                                                     rowTaps: rowsOut, columnTaps: columnsOut, rows: rows, columns: columns,
                                                     labels: &labels, scores: &scores, at: (first + b) * plane)
                        }
                    }
                }
                timed("postprocess", &times) {
                    for b in 0..<count {
                        let p = Self.activate(Array(logits.data[(b * outC)..<((b + 1) * outC)]), classification.activation)
                        for c in 0..<outC { probabilities[first + b][c] += p[c] }
                    }
                }
            }
        }
        return timed("postprocess", &times) {
            let networks = Double(onnxModels.count)
            var reported: [[Double]] = []
            var decisions: [(any: Bool, subtypes: Set<Subtype>)] = []
            for k in 0..<slices {
                let p = classification.reported(probabilities[k].map { $0 / networks })
                reported.append(p)
                decisions.append(classification.decide(p))
            }
            let examCall = exam.map { exam -> ExamCall in
                let p = exam.reported(examProbabilities.map { $0 / networks })
                let d = exam.decide(p)
                return ExamCall(probabilities: p, any: d.any, subtypes: d.subtypes)
            }
            if s.isClassifierOnly {
                var prediction = VolumePrediction(labels: Volume(geometry: ct.geometry, voxels: [UInt8](repeating: 0, count: size.count)),
                                                  scores: [], sliceProbabilities: reported)
                prediction.sliceDecisions = decisions
                prediction.examCall = examCall
                return prediction
            }
            // Labels from the masks, as formats 1–2: the filter, with the classification's p_any as the slice gate.
            Self.removeSmallLesions(labels: &labels, scores: &scores, size: size, rule: s.filter)
            labels.withUnsafeMutableBufferPointer { labelOut in
                scores.withUnsafeMutableBufferPointer { scoreOut in
                    for k in 0..<slices {
                        Self.filter(labels: labelOut.baseAddress! + k * plane, scores: scoreOut.baseAddress! + k * plane,
                                    rows: rows, columns: columns, sliceProbability: reported[k][0], rule: s.filter)
                    }
                }
            }
            var prediction = VolumePrediction(labels: Volume(geometry: ct.geometry, voxels: labels), scores: scores, sliceProbabilities: reported)
            prediction.examCall = examCall
            return prediction
        }
    }

    /// One slice's `channels × height × width` segmentation logits (at `offset` in `logits`) resized
    /// back to `rows × columns` (bilinear half-pixel: rows, then columns, as formats 1–2), then per
    /// pixel the activation's decision: softmax argmax (ties to the lowest channel; score 1 / Σ exp(l_c − l_max)),
    /// or sigmoid regions in `region_order` above 0.5 (score the winner's sigmoid). Writes `labels`
    /// and `scores` of the slice starting at `at`.
    static func resizeBackAndDecide(_ logits: [Float], offset: Int, rules s: VolumetricSidecar, height: Int, width: Int,
                                    rowTaps: BilinearTaps, columnTaps: BilinearTaps, rows: Int, columns: Int,
                                    labels: inout [UInt8], scores: inout [Float], at: Int) {
        let channels = s.channelLabels.count, planeSize = height * width
        var scratch = [Float](repeating: 0, count: channels * width)
        var values = [Float](repeating: 0, count: channels)
        for j in 0..<rows {
            let r0 = rowTaps.index0[j] * width, r1 = rowTaps.index1[j] * width
            let a = rowTaps.weight0[j], b = rowTaps.weight1[j]
            for c in 0..<channels {
                let plane = offset + c * planeSize
                for w in 0..<width { scratch[c * width + w] = logits[plane + r0 + w] * a + logits[plane + r1 + w] * b }
            }
            for i in 0..<columns {
                let x0 = columnTaps.index0[i], x1 = columnTaps.index1[i], u = columnTaps.weight0[i], v = columnTaps.weight1[i]
                for c in 0..<channels { values[c] = scratch[c * width + x0] * u + scratch[c * width + x1] * v }
                var winner = -1
                var score: Float = 0
                if s.activation == .softmax {
                    winner = 0
                    var best = values[0]
                    for c in 1..<channels where values[c] > best { best = values[c]; winner = c }
                    var sum: Float = 0
                    for c in 0..<channels { sum += Foundation.exp(values[c] - best) }
                    score = 1 / sum
                } else {
                    for c in s.regionOrder {
                        let p = 1 / (1 + Foundation.exp(-values[c]))
                        if p > 0.5 { winner = c; score = p }
                    }
                }
                let o = at + j * columns + i
                if winner >= 0, s.channelLabels[winner] != 0 {
                    labels[o] = s.channelLabels[winner]
                    scores[o] = score
                } else {
                    labels[o] = 0
                    scores[o] = 0
                }
            }
        }
    }

    /// Sigmoid of each logit, or the softmax of all, in double precision.
    static func activate(_ logits: [Float], _ activation: VolumetricSidecar.Activation) -> [Double] {
        let l = logits.map(Double.init)
        switch activation {
        case .sigmoid:
            return l.map { 1 / (1 + Foundation.exp(-$0)) }
        case .softmax:
            let m = l.max() ?? 0
            let e = l.map { Foundation.exp($0 - m) }
            let sum = e.reduce(0, +)
            return e.map { $0 / sum }
        }
    }
}
