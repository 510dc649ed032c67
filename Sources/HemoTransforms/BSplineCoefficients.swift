import HemoConcurrency
import Foundation
import HemoCore

/// The cubic B-spline prefilter: turns samples into interpolation coefficients, as ITK's
/// `BSplineDecompositionImageFilter` (spline order 3, mirror boundaries, tolerance 1e-10) does.
///
/// Each axis in turn (i, then j, then k) is filtered by the recursive filter of Unser (1999): a gain of
/// `(1 - z)(1 - 1/z) = 6`, a causal pass started from the mirror-symmetric sum truncated at the horizon
/// where `|z|ⁿ < 1e-10`, and an anti-causal pass, with the pole `z = √3 − 2`. An axis of length 1 is left
/// unchanged. The operations are ITK's, in the same order, in `Double`.
enum BSplineCoefficients {
    /// The single pole of the cubic B-spline.
    static let pole = 3.0.squareRoot() - 2.0
    /// ITK's default tolerance for the causal initial value.
    static let tolerance = 1e-10

    static func compute<S: ResampleSample>(_ src: UnsafeBufferPointer<S>, size n: GridSize,
                                           threads: Int) -> [Double] {
        var c = src.map { $0.double }
        c.withUnsafeMutableBufferPointer { buffer in
            let base = SharedMutablePointer(buffer.baseAddress!)
            // Along i: one line per row, width 1.
            Parallel.forEachRange(n.j * n.k, threads: threads, minimumPerThread: 64) { rows in
                for row in rows {
                    filterLine(base.base + row * n.i, length: n.i, stride: 1, width: 1)
                }
            }
            // Along j: one line per slice; each element is a whole row (width n.i).
            Parallel.forEachRange(n.k, threads: threads) { slices in
                for k in slices {
                    filterLine(base.base + k * n.j * n.i, length: n.j, stride: n.i, width: n.i)
                }
            }
            // Along k: one line whose elements are whole slices, split across threads by columns.
            let plane = n.i * n.j
            Parallel.forEachRange(plane, threads: threads, minimumPerThread: 1024) { columns in
                filterLine(base.base + columns.lowerBound, length: n.k, stride: plane, width: columns.count)
            }
        }
        return c
    }

    /// Filters `width` interleaved lines: element `e` of line `w` is at `p[e * stride + w]`.
    static func filterLine(_ p: UnsafeMutablePointer<Double>, length: Int, stride: Int, width: Int) {
        guard length > 1 else { return }
        let z = pole
        let gain = (1.0 - z) * (1.0 - 1.0 / z)
        @inline(__always) func at(_ e: Int) -> UnsafeMutablePointer<Double> { p + e * stride }
        for e in 0..<length {
            let q = at(e)
            for w in 0..<width { q[w] *= gain }
        }
        // Causal initial value.
        let horizon = Int((log(tolerance) / log(abs(z))).rounded(.up))
        let first = at(0)
        if horizon < length {
            for w in 0..<width {
                var zn = z
                var sum = first[w]
                var e = 1
                while e < horizon {
                    sum += zn * at(e)[w]
                    zn *= z
                    e += 1
                }
                first[w] = sum
            }
        } else {
            let iz = 1.0 / z
            for w in 0..<width {
                var zn = z
                var z2n = pow(z, Double(length - 1))
                var sum = first[w] + z2n * at(length - 1)[w]
                z2n *= z2n * iz
                var e = 1
                while e <= length - 2 {
                    sum += (zn + z2n) * at(e)[w]
                    zn *= z
                    z2n *= iz
                    e += 1
                }
                first[w] = sum / (1.0 - zn * zn)
            }
        }
        // Causal recursion.
        for e in 1..<length {
            let q = at(e), prev = at(e - 1)
            for w in 0..<width { q[w] += z * prev[w] }
        }
        // Anti-causal initial value and recursion.
        let last = at(length - 1), beforeLast = at(length - 2)
        for w in 0..<width { last[w] = (z / (z * z - 1.0)) * (z * beforeLast[w] + last[w]) }
        var e = length - 2
        while e >= 0 {
            let q = at(e), next = at(e + 1)
            for w in 0..<width { q[w] = z * (next[w] - q[w]) }
            e -= 1
        }
    }
}
