import Foundation
import HemoCore
import HemoInference
import HemoRelease

extension PseudoLabelModel {
    /// A classifier-only format-3 model over `ct` (HU): every slice and its K − 1 neighbours (edge
    /// slices replicated) resized to `input.size` and windowed, batches of ``batchSize`` slices
    /// through every network, the activation, the ensemble's mean probability, then `p_*` and the
    /// labels by the sidecar's thresholds. No masks: ``VolumePrediction/labels`` is all background.
    /// See the article "The model sidecar".
    func predictClassifier(_ ct: Volume<Float>, rules s: VolumetricSidecar, threads: Int, times: inout StageTimes,
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
        for first in stride(from: 0, to: slices, by: Self.batchSize) {
            if isCancelled() { throw CancellationError() }
            let count = min(Self.batchSize, slices - first)
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
            var prediction = VolumePrediction(labels: Volume(geometry: ct.geometry, voxels: [UInt8](repeating: 0, count: size.count)),
                                              scores: [], sliceProbabilities: reported)
            prediction.sliceDecisions = decisions
            return prediction
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
