import Foundation
import Testing
@testable import HemoInference

/// DenseNet's pattern: every layer concatenates all earlier feature maps again. The planner
/// writes each map once into the chain's last Concat and reads the earlier Concats as its first
/// channels (no copies); the values must be those of plain concatenations.
@Suite("Concat chains")
struct ConcatChainTests {
    /// A small dense block: x0 = Relu(x); x1 = Conv1x1(Concat(x0)); x2 = Conv3x3(Concat(x0, x1));
    /// features = Concat(x0, x1, x2); y = Conv1x1(features). Outputs `features` and `y`.
    static func denseBlockModel() throws -> String {
        func tensor(_ name: String, _ dims: [Int], seed: UInt64) -> Onnx_TensorProto {
            ONNXTestGraphs.tensor(name, dims, KernelTests.values(dims.reduce(1, *), seed: seed).map { $0 - 0.5 })
        }
        func node(_ op: String, _ inputs: [String], _ output: String, ints: [String: [Int]] = [:], int: [String: Int] = [:]) -> Onnx_NodeProto {
            var n = Onnx_NodeProto()
            n.opType = op
            n.name = output
            n.input = inputs
            n.output = [output]
            for (name, values) in ints {
                var a = Onnx_AttributeProto()
                a.name = name
                a.type = .ints
                a.ints = values.map(Int64.init)
                n.attribute.append(a)
            }
            for (name, value) in int {
                var a = Onnx_AttributeProto()
                a.name = name
                a.type = .int
                a.i = Int64(value)
                n.attribute.append(a)
            }
            return n
        }
        let port = ONNXTestGraphs.port
        var graph = Onnx_GraphProto()
        graph.name = "dense_block"
        graph.initializer = [tensor("w1", [3, 2, 1, 1], seed: 51), tensor("b1", [3], seed: 52),
                             tensor("w2", [2, 5, 3, 3], seed: 53), tensor("b2", [2], seed: 54),
                             tensor("w3", [4, 7, 1, 1], seed: 55), tensor("b3", [4], seed: 56)]
        graph.node = [
            node("Relu", ["x"], "x0"),
            node("Concat", ["x0"], "c1", int: ["axis": 1]),
            node("Conv", ["c1", "w1", "b1"], "x1"),
            node("Concat", ["x0", "x1"], "c2", int: ["axis": 1]),
            node("Conv", ["c2", "w2", "b2"], "x2", ints: ["pads": [1, 1, 1, 1]]),
            node("Concat", ["x0", "x1", "x2"], "features", int: ["axis": 1]),
            node("Conv", ["features", "w3", "b3"], "y"),
        ]
        graph.input = [port("x", [nil, 2, 5, 6])]
        graph.output = [port("features", [nil, 7, 5, 6]), port("y", [nil, 4, 5, 6])]
        return try ONNXTestGraphs.write(graph, stem: "dense-block")
    }

    /// The dense block in Double: `features` and `y` of one image (C×5×6).
    static func reference(_ image: [Float]) -> (features: [Float], y: [Float]) {
        let plane = 30
        func weights(_ count: Int, _ seed: UInt64) -> [Double] { KernelTests.values(count, seed: seed).map { Double($0 - 0.5) } }
        let w1 = weights(6, 51), b1 = weights(3, 52), w2 = weights(90, 53), b2 = weights(2, 54), w3 = weights(28, 55), b3 = weights(4, 56)
        let x0 = image.map { Double(max($0, 0)) }
        var x1 = [Double](repeating: 0, count: 3 * plane)
        for o in 0..<3 {
            for p in 0..<plane { x1[o * plane + p] = b1[o] + (0..<2).reduce(0) { $0 + w1[o * 2 + $1] * x0[$1 * plane + p] } }
        }
        // Rounded to float as the engine stores it, before the next layer reads it.
        let x1f = x1.map { Double(Float($0)) }
        let c2 = x0 + x1f
        var x2 = [Double](repeating: 0, count: 2 * plane)
        for o in 0..<2 {
            for y in 0..<5 {
                for x in 0..<6 {
                    var sum = b2[o]
                    for c in 0..<5 {
                        for ky in 0..<3 {
                            for kx in 0..<3 {
                                let iy = y + ky - 1, ix = x + kx - 1
                                if iy < 0 || iy >= 5 || ix < 0 || ix >= 6 { continue }
                                sum += w2[((o * 5 + c) * 3 + ky) * 3 + kx] * c2[c * plane + iy * 6 + ix]
                            }
                        }
                    }
                    x2[o * plane + y * 6 + x] = sum
                }
            }
        }
        let features = c2 + x2.map { Double(Float($0)) }
        var out = [Double](repeating: 0, count: 4 * plane)
        for o in 0..<4 {
            for p in 0..<plane { out[o * plane + p] = b3[o] + (0..<7).reduce(0) { $0 + w3[o * 7 + $1] * features[$1 * plane + p] } }
        }
        return (features.map { Float($0) }, out.map { Float($0) })
    }

    @Test("A dense block's Concats copy nothing at batch 1 (each one at batch 2), and both give the values of plain concatenations for 1 and 2 threads")
    func denseBlockConcatenatesInPlace() throws {
        let path = try Self.denseBlockModel()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let model = try ONNXModel(path: path)
        func copyingConcats(_ batch: Int) throws -> Int {
            try model.plan(for: [[batch, 2, 5, 6]]).steps.filter { step in
                if case .concat(let s) = step { return s.inPlace.contains(false) }
                return false
            }.count
        }
        #expect(try copyingConcats(1) == 0)
        #expect(try copyingConcats(2) == 3)
        for batch in [1, 2] {
            let input = KernelTests.values(batch * 60, seed: 57).map { 2 * $0 - 1 }
            for threads in [1, 2] {
                let outputs = try model.run(["x": Tensor(shape: [batch, 2, 5, 6], data: input)], threads: threads)
                let features = try #require(outputs["features"]), y = try #require(outputs["y"])
                #expect(features.shape == [batch, 7, 5, 6] && y.shape == [batch, 4, 5, 6])
                for image in 0..<batch {
                    let expected = Self.reference(Array(input[(image * 60)..<((image + 1) * 60)]))
                    let gotFeatures = features.data[(image * 210)..<((image + 1) * 210)]
                    let gotY = y.data[(image * 120)..<((image + 1) * 120)]
                    let bad = zip(gotFeatures, expected.features).filter { !(abs($0 - $1) <= 1e-5 * max(1, abs($1))) }.count
                        + zip(gotY, expected.y).filter { !(abs($0 - $1) <= 1e-5 * max(1, abs($1))) }.count
                    #expect(bad == 0, "batch \(batch), image \(image), \(threads) threads")
                }
            }
        }
    }
}
