import CCPUCheck
import HemoInferenceAVX512

/// Packed single-precision GEMM for convolutions: `C[M×N] = A[M×K] · B[K×N]` where A holds
/// the weights (packed once at load) and B is the implicit im2col matrix of the input, packed
/// panel by panel while the product runs.
///
/// Blocking: K in equal blocks of at most `kc`, N in chunks per task, a 6×16 register tile of
/// twelve `SIMD8<Float>` accumulators (AVX2: twelve ymm registers, one FMA per accumulator and
/// k), and a 4×16 tile for the rows left over, so that 16 or 32 output channels are computed
/// as 6+6+4 or 6·4+4+4 rows with no zero-padded row. On AVX-512 CPUs the tiles are 6×32 and
/// 4×32 (twelve `SIMD16<Float>` zmm accumulators, module `HemoInferenceAVX512`), chosen at run
/// time (``GEMMKernels``).
/// The reduction order over K for each output element is fixed (k blocks in order, k in order
/// inside a block, one fused multiply-add per k), whatever the thread count, the chunking of N
/// and the tile width: AVX2 and AVX-512 give the same bits.
enum GEMM {
    /// Rows of the register tile.
    static let mr = 6
    /// Depth of a K block. 128 keeps one strip's B rows (read in place: up to 128 × 2 cache
    /// lines = 16 KiB) and a 6-row weight panel (3 KiB) together in a 32 KiB L1, and is faster
    /// than 256 (the measurement: scripts/bench/README.md).
    static let kc = 128

    /// The depth of every K block but the last: `depth` cut into equal blocks of at most `kc`
    /// (288 = 32 channels × 3×3 is two blocks of 144, not 128 + 128 + 32).
    @inline(__always)
    static func blockDepth(_ depth: Int) -> Int {
        let blocks = max(1, (depth + kc - 1) / kc)
        return (depth + blocks - 1) / blocks
    }

    /// The heights (6 or 4) of the row strips covering `rows` rows: as many 6-row strips as
    /// possible with the rest a multiple of 4 (odd counts are padded by one zero row).
    static func stripHeights(rows: Int) -> [Int] {
        let even = rows + rows % 2
        var fours = [0, 0, 2, 0, 1, 0][even % 6]
        if 4 * fours > even { fours = 1 }
        let sixes = max(0, (even - 4 * fours) / 6)
        return [Int](repeating: 6, count: sixes) + [Int](repeating: 4, count: fours)
    }
    /// Upper bound of output columns (pixels) per task.
    static let ncMax = 512
}

/// The register tiles ``GEMM`` multiplies with: AVX2 (16 columns) or AVX-512 (32 columns).
enum GEMMKernels: Sendable, CaseIterable {
    case avx2, avx512

    /// The widest this CPU runs, decided once per process: AVX-512 when the CPU (and the OS)
    /// support AVX-512F and `HEMO_SIMULATE_CPU_WITHOUT` does not name `avx512`.
    static let best: GEMMKernels = hemo_cpu_has_avx512f() != 0 ? .avx512 : .avx2

    /// Whether this CPU can run these kernels.
    var isAvailable: Bool { self == .avx2 || GEMMKernels.best == .avx512 }

    /// Columns of the register tile.
    var columns: Int { self == .avx512 ? 32 : 16 }
}

/// The weights of one convolution group, packed for ``GEMM``.
///
/// Layout: for each K block starting at `k0` with depth `kcb` (see ``GEMM/blockDepth(_:)``),
/// for each row strip (``GEMM/stripHeights(rows:)``) starting at row `r0` with height `h`,
/// `kcb × h` floats (k-major) at `k0 * paddedRows + r0 * kcb`; rows beyond `rows` are zero.
struct PackedMatrix: Sendable {
    let storage: FloatStorage
    let rows: Int
    let depth: Int
    /// Heights of the row strips, in order.
    let stripHeights: [Int]
    /// The sum of `stripHeights` (at least `rows`).
    let paddedRows: Int

    /// Lays out zeroed storage for a `rows × depth` matrix and calls `fill(panel, r0, height,
    /// k0, kcb)` once per panel (K block × row strip) to write its rows `r0 ..< r0 + height` that
    /// exist (below `rows`) at `panel[k · height + r]`; padded rows stay zero. The one walk of
    /// the layout that both packers share.
    @inline(__always)
    private init(rows: Int, depth: Int,
                 fillingPanels fill: (_ panel: UnsafeMutablePointer<Float>, _ r0: Int, _ height: Int, _ k0: Int, _ kcb: Int) -> Void) {
        self.rows = rows
        self.depth = depth
        stripHeights = GEMM.stripHeights(rows: rows)
        let padded = stripHeights.reduce(0, +)
        paddedRows = padded
        storage = FloatStorage(count: padded * depth)
        let packed = storage.pointer
        let blockDepth = GEMM.blockDepth(depth)
        var k0 = 0
        while k0 < depth {
            let kcb = min(blockDepth, depth - k0)
            let block = packed + k0 * padded
            var r0 = 0
            for height in stripHeights {
                fill(block + r0 * kcb, r0, height, k0, kcb)
                r0 += height
            }
            k0 += kcb
        }
    }

    /// Packs the `rows × depth` matrix whose element `(row, k)` is `element(row, k)`.
    init(rows: Int, depth: Int, element: (Int, Int) -> Float) {
        self.init(rows: rows, depth: depth) { panel, r0, height, k0, kcb in
            for k in 0..<kcb {
                for r in 0..<max(0, min(height, rows - r0)) {
                    panel[k * height + r] = element(r0 + r, k0 + k)
                }
            }
        }
    }

    /// Packs the `rows × depth` matrix whose element `(row, k)` is `source[row · rowStride +
    /// k · depthStride]` (an activation multiplied per run: the same layout as
    /// ``init(rows:depth:element:)``, without a closure call per element).
    init(rows: Int, depth: Int, source: UnsafePointer<Float>, rowStride: Int, depthStride: Int) {
        self.init(rows: rows, depth: depth) { panel, r0, height, k0, kcb in
            for r in 0..<max(0, min(height, rows - r0)) {
                let rowSource = source + (r0 + r) * rowStride + k0 * depthStride
                for k in 0..<kcb { panel[k * height + r] = rowSource[k * depthStride] }
            }
        }
    }
}

/// Where the columns of B come from: an image (channels × height × width) seen through a
/// convolution window. A plain matrix `K × N` is the 1×1, stride-1, unpadded case.
struct Im2ColGeometry: Sendable {
    var channels: Int
    var inputHeight: Int
    var inputWidth: Int
    var kernelHeight: Int
    var kernelWidth: Int
    var strideHeight: Int
    var strideWidth: Int
    var padTop: Int
    var padLeft: Int
    var dilationHeight: Int
    var dilationWidth: Int
    var outputHeight: Int
    var outputWidth: Int
    /// Column `n` of B is the input shifted by `n` (3-D convolutions with stride 1 in-plane
    /// over a zero-padded slab, computed `inputWidth` columns per output row): every strip is
    /// read in place. `columns` must be a multiple of the tile width, and the input must be
    /// readable `(kernelWidth − 1)·dilationWidth + tile` floats past its last channel.
    var flat = false

    /// A plain `rows × columns` matrix (row stride `columns`).
    static func matrix(rows: Int, columns: Int) -> Im2ColGeometry {
        Im2ColGeometry(channels: rows, inputHeight: 1, inputWidth: columns, kernelHeight: 1, kernelWidth: 1,
                       strideHeight: 1, strideWidth: 1, padTop: 0, padLeft: 0, dilationHeight: 1,
                       dilationWidth: 1, outputHeight: 1, outputWidth: columns)
    }

    var depth: Int { channels * kernelHeight * kernelWidth }
    var columns: Int { outputHeight * outputWidth }
    /// True when B is the input itself (1×1 kernel, stride 1, no padding).
    var isPointwise: Bool {
        kernelHeight == 1 && kernelWidth == 1 && strideHeight == 1 && strideWidth == 1
            && padTop == 0 && padLeft == 0 && outputHeight == inputHeight && outputWidth == inputWidth
    }
}

/// A per-row `b·scale[k] + shift[k]` (then ReLU) that ``GEMM`` applies to a pointwise B while
/// packing it (``InputAffine`` at run time: a BatchNormalization and ReLU before a 1×1 conv).
struct PackAffine: Equatable {
    /// `depth` factors, one per row of B.
    let scale: UnsafePointer<Float>
    /// `depth` offsets, added after the product.
    let shift: UnsafePointer<Float>
    /// Whether negative results become zero.
    let relu: Bool
}

/// The left operand of ``GEMM``'s product as the loop reads it: packed weights
/// (``PackedMatrix``), or a row-major matrix read in place (an activation multiplied once per
/// run, as attention's and linear layers' MatMul left operands are).
struct GEMMLeft {
    /// Packed: the first K block's first panel. Row-major: element (0, 0).
    let base: UnsafePointer<Float>
    let rows: Int
    let depth: Int
    /// Heights (6 or 4) of the row strips, in order (``GEMM/stripHeights(rows:)``).
    let stripHeights: [Int]
    /// Packed only: the sum of `stripHeights`.
    let paddedRows: Int
    /// Row-major only: the distance between rows (the depth stride is 1); nil when packed.
    let rowStride: Int?
}

extension GEMM {
    /// `output[m, n] = activation(bias[m] + Σ_k A[m, k] · B[k, n])` for one image and one group.
    ///
    /// - Parameters:
    ///   - input: the image, `geometry.channels × inputHeight × inputWidth` floats.
    ///   - output: `a.rows` rows of `geometry.columns` floats, row stride `outputRowStride`
    ///     (default `geometry.columns`).
    static func multiply(
        _ a: PackedMatrix, input: UnsafePointer<Float>, geometry: Im2ColGeometry,
        output: UnsafeMutablePointer<Float>, outputRowStride: Int? = nil, bias: UnsafePointer<Float>?,
        activation: Activation, threads: Int, kernels: GEMMKernels = .best, inputAffine: PackAffine? = nil
    ) {
        withExtendedLifetime(a.storage) {
            let left = GEMMLeft(base: UnsafePointer(a.storage.pointer), rows: a.rows, depth: a.depth,
                                stripHeights: a.stripHeights, paddedRows: a.paddedRows, rowStride: nil)
            multiply(left, input: input, geometry: geometry, output: output, outputRowStride: outputRowStride, bias: bias,
                     activation: activation, threads: threads, kernels: kernels, inputAffine: inputAffine)
        }
    }

    /// `output[m, n] = Σ_k A[m, k] · B[k, n]` with A a row-major `rows × depth` matrix read in
    /// place (row stride `rowStride`, depth stride 1) instead of packed first: each element sums
    /// its products in the same order as the packed path, so both give the same bits, and so
    /// do the AVX2 and AVX-512 tiles (`kernels`, the best the CPU has by default).
    static func multiply(
        rows: Int, depth: Int, a: UnsafePointer<Float>, rowStride: Int, input: UnsafePointer<Float>, geometry: Im2ColGeometry,
        output: UnsafeMutablePointer<Float>, threads: Int, kernels: GEMMKernels = .best
    ) {
        let left = GEMMLeft(base: a, rows: rows, depth: depth, stripHeights: stripHeights(rows: rows), paddedRows: 0,
                            rowStride: rowStride)
        multiply(left, input: input, geometry: geometry, output: output, outputRowStride: nil, bias: nil,
                 activation: .identity, threads: threads, kernels: kernels)
    }

    /// The product loop shared by both left operands.
    private static func multiply(
        _ a: GEMMLeft, input: UnsafePointer<Float>, geometry: Im2ColGeometry,
        output: UnsafeMutablePointer<Float>, outputRowStride: Int?, bias: UnsafePointer<Float>?,
        activation: Activation, threads: Int, kernels: GEMMKernels, inputAffine: PackAffine? = nil
    ) {
        precondition(kernels.isAvailable, "GEMM: \(kernels) kernels on a CPU without them")
        precondition(inputAffine == nil || (geometry.isPointwise && a.rowStride == nil), "GEMM: an input affine needs a pointwise B")
        let nr = kernels.columns
        let wide = kernels == .avx512
        let n = geometry.columns
        let ldc = outputRowStride ?? n
        let depth = a.depth
        precondition(depth == geometry.depth, "GEMM: packed depth \(depth) vs im2col depth \(geometry.depth)")
        if n == 0 || a.rows == 0 { return }
        precondition(!geometry.flat || n % nr == 0, "GEMM: flat columns \(n) not a multiple of \(nr)")
        let workers = max(1, threads)
        // Chunk N so every worker gets at least two chunks when there is enough work.
        var chunk = (n + 2 * workers - 1) / (2 * workers)
        chunk = min(ncMax, max(nr, (chunk + nr - 1) / nr * nr))
        if workers == 1 { chunk = min(ncMax, (n + nr - 1) / nr * nr) }
        let chunks = (n + chunk - 1) / chunk
        let blockDepth = blockDepth(depth)
        let heights = a.stripHeights
        // Sigmoid and SiLU run over each finished chunk's rows (up to 512 columns, still in
        // cache), not tile by tile: one call per 32-column tile row left the exp's long
        // dependent chains of only two vectors in flight (the same function per element, so
        // the same bits).
        let perChunk = activation == .sigmoid || activation == .silu
        // Offsets of each k row relative to the window's top-left input pixel, worked out once
        // by stepping (channel, ky, kx), not with two divisions per row in every chunk and K
        // block (3% of the DenseNet U-Net's time, whose 1×1 layers read up to 2112 channels):
        // strips whose window lies inside the image read B straight from the input.
        let rowOffsets = UnsafeMutablePointer<Int>.allocate(capacity: max(depth, 1))
        defer { rowOffsets.deallocate() }
        do {
            let g = geometry
            var channel = 0, ky = 0, kx = 0
            for row in 0..<depth {
                rowOffsets[row] = channel * g.inputHeight * g.inputWidth + ky * g.dilationHeight * g.inputWidth + kx * g.dilationWidth
                kx += 1
                if kx == g.kernelWidth {
                    kx = 0
                    ky += 1
                    if ky == g.kernelHeight { ky = 0; channel += 1 }
                }
            }
        }
        parallelFor(chunks, threads: workers) { chunkIndex in
            let n0 = chunkIndex * chunk
            let ncb = min(chunk, n - n0)
            let strips = (ncb + nr - 1) / nr
            // One packed strip (16 × kc floats) at a time: it stays in L1 while every row strip
            // of A streams past it. Its row offsets are k·16, so one kernel reads both packed
            // and in-place B through an offset table.
            let packedB = UnsafeMutablePointer<Float>.allocate(capacity: nr * blockDepth)
            defer { packedB.deallocate() }
            let packedOffsets = UnsafeMutablePointer<Int>.allocate(capacity: blockDepth)
            defer { packedOffsets.deallocate() }
            for k in 0..<blockDepth { packedOffsets[k] = k * nr }
            let edgeTile = UnsafeMutablePointer<Float>.allocate(capacity: mr * nr)
            defer { edgeTile.deallocate() }
            let g = geometry
            let pointwise = g.isPointwise
            // A pointwise B whose rows (channel planes) are a multiple of 1 KiB apart, on maps of
            // up to 32×32, is packed rather than read in place: a strip's kc rows then share a few
            // L1 sets and evict each other (DenseNet's last transition, 2112 → 1056 on 16×16: 7.4
            // → 5.4 ms alone; 64×64 maps gained nothing, so they stay in place).
            let plane = g.inputHeight * g.inputWidth
            let packConflicting = pointwise && plane % 256 == 0 && plane <= 1024
            var k0 = 0
            while k0 < depth {
                let kcb = min(blockDepth, depth - k0)
                let first = k0 == 0
                let last = k0 + kcb == depth
                let offsets = UnsafePointer(rowOffsets + k0)
                let aBlock = a.base + k0 * a.paddedRows
                for strip in 0..<strips {
                    let column = n0 + strip * nr
                    let columnsHere = min(nr, n - column)
                    var direct: UnsafePointer<Float>? = nil
                    if columnsHere == nr && inputAffine == nil {
                        if g.flat || (pointwise && !packConflicting) {
                            direct = input + column
                        } else if g.strideWidth == 1 {
                            let oy = column / g.outputWidth, ox = column % g.outputWidth
                            let top = oy * g.strideHeight - g.padTop, left = ox - g.padLeft
                            if ox + nr <= g.outputWidth && top >= 0 && top + (g.kernelHeight - 1) * g.dilationHeight < g.inputHeight
                                && left >= 0 && left + (g.kernelWidth - 1) * g.dilationWidth + nr <= g.inputWidth {
                                direct = input + top * g.inputWidth + left
                            }
                        }
                    }
                    if let inputAffine {
                        packPointwise(input: input, plane: g.inputHeight * g.inputWidth, k0: k0, kcb: kcb, column: column,
                                      valid: columnsHere, nr: nr, affine: inputAffine, into: packedB)
                    } else if direct == nil {
                        packB(input: input, geometry: geometry, k0: k0, kcb: kcb, n0: column, ncb: columnsHere, nr: nr,
                              into: packedB)
                    }
                    let b = direct ?? UnsafePointer(packedB)
                    let bOffsets = direct == nil ? UnsafePointer(packedOffsets) : UnsafePointer(offsets)
                    var row = 0
                    for height in heights {
                        let rowsHere = min(height, a.rows - row)
                        if rowsHere <= 0 { break }
                        let aPanel = a.rowStride.map { a.base + row * $0 + k0 } ?? aBlock + row * kcb
                        let biasHere = first ? bias.map { $0 + row } : nil
                        let target = output + row * ldc + column
                        let full = columnsHere == nr
                        let c = full ? target : edgeTile
                        let tileStride = full ? ldc : nr
                        if !full && !first {
                            for r in 0..<rowsHere {
                                copyColumns(from: target + r * ldc, to: edgeTile + r * nr, count: columnsHere)
                            }
                        }
                        if let lda = a.rowStride, wide {
                            if height == 6 {
                                avx512RowMajorMicroKernel6x32(depth: kcb, a: aPanel, lda: lda, b: b, offsets: bOffsets, c: c,
                                                              ldc: tileStride, rows: rowsHere, accumulate: !first)
                            } else {
                                avx512RowMajorMicroKernel4x32(depth: kcb, a: aPanel, lda: lda, b: b, offsets: bOffsets, c: c,
                                                              ldc: tileStride, rows: rowsHere, accumulate: !first)
                            }
                        } else if let lda = a.rowStride {
                            if height == 6 {
                                rowMajorMicroKernel6(depth: kcb, a: aPanel, lda: lda, b: b, offsets: bOffsets, c: c, ldc: tileStride,
                                                     rows: rowsHere, accumulate: !first)
                            } else {
                                rowMajorMicroKernel4(depth: kcb, a: aPanel, lda: lda, b: b, offsets: bOffsets, c: c, ldc: tileStride,
                                                     rows: rowsHere, accumulate: !first)
                            }
                        } else if wide {
                            if height == 6 {
                                avx512MicroKernel6x32(depth: kcb, a: aPanel, b: b, offsets: bOffsets, c: c, ldc: tileStride,
                                                      rows: rowsHere, accumulate: !first, bias: biasHere)
                            } else {
                                avx512MicroKernel4x32(depth: kcb, a: aPanel, b: b, offsets: bOffsets, c: c, ldc: tileStride,
                                                      rows: rowsHere, accumulate: !first, bias: biasHere)
                            }
                        } else if height == 6 {
                            microKernel6(depth: kcb, a: aPanel, b: b, offsets: bOffsets, c: c, ldc: tileStride,
                                         rows: rowsHere, accumulate: !first, bias: biasHere)
                        } else {
                            microKernel4(depth: kcb, a: aPanel, b: b, offsets: bOffsets, c: c, ldc: tileStride,
                                         rows: rowsHere, accumulate: !first, bias: biasHere)
                        }
                        if !full {
                            for r in 0..<rowsHere {
                                copyColumns(from: edgeTile + r * nr, to: target + r * ldc, count: columnsHere)
                            }
                        }
                        if last && !perChunk { activation.apply(tile: target, rows: rowsHere, columns: columnsHere, ldc: ldc) }
                        row += height
                    }
                }
                if last && perChunk {
                    if ncb == ldc {
                        // The chunk is whole rows of a contiguous output (squeeze-excitation's 1×1
                        // maps): one call over all of it, not one per single-element row.
                        activation.apply(output + n0, count: a.rows * ncb)
                    } else {
                        for row in 0..<a.rows { activation.apply(output + row * ldc + n0, count: ncb) }
                    }
                }
                k0 += kcb
            }
        }
    }

    /// Packs rows `k0..<k0+kcb`, columns `column..<column+valid` of a pointwise B (rows `plane`
    /// floats apart) into one `kcb × nr` strip as `b·scale[k] + shift[k]`, then ReLU when
    /// `affine.relu` (`y < 0 ? 0 : y`, the vector form of ``Activation/apply(_:count:)``), zero
    /// past `valid`: the values ``ChannelAffineStep`` would have written, multiplied and added
    /// separately (no fused multiply-add), eight lanes at a time on either tile width.
    @inline(__always)
    static func packPointwise(
        input: UnsafePointer<Float>, plane: Int, k0: Int, kcb: Int, column: Int, valid: Int, nr: Int, affine: PackAffine,
        into panel: UnsafeMutablePointer<Float>
    ) {
        typealias V8 = SIMD8<Float>
        let zero = V8()
        for k in 0..<kcb {
            let source = input + (k0 + k) * plane + column
            let row = panel + k * nr
            let scale = affine.scale[k0 + k], shift = affine.shift[k0 + k]
            let scale8 = V8(repeating: scale), shift8 = V8(repeating: shift)
            var c = 0
            while c + 8 <= valid {
                var v = UnsafeRawPointer(source + c).loadUnaligned(as: V8.self) * scale8 + shift8
                if affine.relu { v = v.replacing(with: zero, where: v .< zero) }
                UnsafeMutableRawPointer(row + c).storeBytes(of: v, as: V8.self)
                c += 8
            }
            while c < valid {
                let y = source[c] * scale + shift
                row[c] = affine.relu && y < 0 ? 0 : y
                c += 1
            }
            if valid < nr { (row + valid).update(repeating: 0, count: nr - valid) }
        }
    }

    /// Packs rows `k0..<k0+kcb` and columns `n0..<n0+ncb` of the implicit im2col matrix into
    /// strips of `nr` (16 or 32) columns (`kcb × nr` floats each, k-major), zero where the window
    /// is outside the image or beyond the last column.
    @inline(__always)
    static func packB(
        input: UnsafePointer<Float>, geometry g: Im2ColGeometry, k0: Int, kcb: Int, n0: Int, ncb: Int, nr: Int,
        into packed: UnsafeMutablePointer<Float>
    ) {
        let strips = (ncb + nr - 1) / nr
        let n = g.columns
        let kernelArea = g.kernelHeight * g.kernelWidth
        if g.isPointwise {
            let planeSize = g.inputHeight * g.inputWidth
            for strip in 0..<strips {
                let column = n0 + strip * nr
                let valid = min(nr, n - column)
                let panel = packed + strip * nr * kcb
                if valid == nr {
                    for k in 0..<kcb {
                        let source = UnsafeRawPointer(input + (k0 + k) * planeSize + column)
                        let destination = UnsafeMutableRawPointer(panel + k * nr)
                        copyRun(from: source, to: destination, floats: nr)
                    }
                } else {
                    // The last, partial strip (every row of tiles on 7×7 and 14×14 maps).
                    for k in 0..<kcb {
                        let row = panel + k * nr
                        copyColumns(from: input + (k0 + k) * planeSize + column, to: row, count: valid)
                        (row + valid).update(repeating: 0, count: nr - valid)
                    }
                }
            }
            return
        }
        // Per strip: its first output pixel, and whether its 16 pixels lie in one output row
        // with stride 1 (then each k row is a contiguous 16-float run of one input row).
        withUnsafeTemporaryAllocation(of: Int.self, capacity: strips * 3) { info in
            for strip in 0..<strips {
                let column = n0 + strip * nr
                let valid = min(nr, n - column)
                info[strip * 3] = column / g.outputWidth
                info[strip * 3 + 1] = column % g.outputWidth
                // 1: stride 1, one output row (contiguous runs); 2: wider stride, one output row.
                let oneRow = valid == nr && info[strip * 3 + 1] + nr <= g.outputWidth
                info[strip * 3 + 2] = oneRow ? (g.strideWidth == 1 ? 1 : 2) : 0
            }
            var channel = k0 / kernelArea
            var ky = (k0 - channel * kernelArea) / g.kernelWidth
            var kx = k0 - channel * kernelArea - ky * g.kernelWidth
            let zero = SIMD8<Float>()
            for k in 0..<kcb {
                let plane = input + channel * g.inputHeight * g.inputWidth
                let yOffset = ky * g.dilationHeight - g.padTop
                let xOffset = kx * g.dilationWidth - g.padLeft
                for strip in 0..<strips {
                    let destination = packed + strip * nr * kcb + k * nr
                    let oy0 = info[strip * 3], ox0 = info[strip * 3 + 1]
                    if info[strip * 3 + 2] == 1 {
                        let iy = oy0 * g.strideHeight + yOffset
                        let ix0 = ox0 + xOffset
                        let target = UnsafeMutableRawPointer(destination)
                        if iy < 0 || iy >= g.inputHeight {
                            var byte = 0
                            while byte < nr * 4 { target.storeBytes(of: zero, toByteOffset: byte, as: SIMD8<Float>.self); byte += 32 }
                        } else if ix0 >= 0 && ix0 + nr <= g.inputWidth {
                            copyRun(from: UnsafeRawPointer(plane + iy * g.inputWidth + ix0), to: target, floats: nr)
                        } else {
                            let rowPointer = plane + iy * g.inputWidth
                            for c in 0..<nr {
                                let ix = ix0 + c
                                destination[c] = ix >= 0 && ix < g.inputWidth ? rowPointer[ix] : 0
                            }
                        }
                    } else if info[strip * 3 + 2] == 2 {
                        // A strided run of one input row (stride-2 stems and downsampling layers).
                        let iy = oy0 * g.strideHeight + yOffset
                        let sw = g.strideWidth
                        let ix0 = ox0 * sw + xOffset
                        let target = UnsafeMutableRawPointer(destination)
                        if iy < 0 || iy >= g.inputHeight {
                            var byte = 0
                            while byte < nr * 4 { target.storeBytes(of: zero, toByteOffset: byte, as: SIMD8<Float>.self); byte += 32 }
                        } else {
                            let rowPointer = plane + iy * g.inputWidth
                            if sw == 2 && ix0 >= 0 && ix0 + 2 * nr <= g.inputWidth {
                                var c = 0
                                while c < nr {
                                    let pair = UnsafeRawPointer(rowPointer + ix0 + 2 * c).loadUnaligned(as: SIMD16<Float>.self)
                                    target.storeBytes(of: pair.evenHalf, toByteOffset: c * 4, as: SIMD8<Float>.self)
                                    c += 8
                                }
                            } else if ix0 >= 0 && ix0 + (nr - 1) * sw < g.inputWidth {
                                for c in 0..<nr { destination[c] = rowPointer[ix0 + c * sw] }
                            } else {
                                for c in 0..<nr {
                                    let ix = ix0 + c * sw
                                    destination[c] = ix >= 0 && ix < g.inputWidth ? rowPointer[ix] : 0
                                }
                            }
                        }
                    } else {
                        // Columns over several output rows (or the last, partial strip): one run
                        // per output row, contiguous (stride 1) or strided, checked only at the edges.
                        let valid = min(nr, n - (n0 + strip * nr))
                        var c = 0, oy = oy0, ox = ox0
                        while c < valid {
                            let run = min(valid - c, g.outputWidth - ox)
                            let iy = oy * g.strideHeight + yOffset
                            let ix0 = ox * g.strideWidth + xOffset
                            let sw = g.strideWidth
                            if iy < 0 || iy >= g.inputHeight {
                                for j in 0..<run { destination[c + j] = 0 }
                            } else {
                                let rowPointer = plane + iy * g.inputWidth
                                if ix0 >= 0 && ix0 + (run - 1) * sw < g.inputWidth {
                                    for j in 0..<run { destination[c + j] = rowPointer[ix0 + j * sw] }
                                } else {
                                    for j in 0..<run {
                                        let ix = ix0 + j * sw
                                        destination[c + j] = ix >= 0 && ix < g.inputWidth ? rowPointer[ix] : 0
                                    }
                                }
                            }
                            c += run
                            ox = 0
                            oy += 1
                        }
                        for j in valid..<nr { destination[j] = 0 }
                    }
                }
                kx += 1
                if kx == g.kernelWidth {
                    kx = 0
                    ky += 1
                    if ky == g.kernelHeight { ky = 0; channel += 1 }
                }
            }
        }
    }

    /// Copies `count` (< 32) floats of an edge tile's row, eight at a time, then one by one
    /// (the scalar loop it replaces was 4% of EfficientNet-B0's time, whose 7×7 and 14×14 maps
    /// end every row of tiles with a partial one).
    @inline(__always)
    static func copyColumns(from source: UnsafePointer<Float>, to destination: UnsafeMutablePointer<Float>, count: Int) {
        var column = 0
        while column + 8 <= count {
            UnsafeMutableRawPointer(destination + column).storeBytes(
                of: UnsafeRawPointer(source + column).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
            column += 8
        }
        while column < count { destination[column] = source[column]; column += 1 }
    }

    /// Copies `floats` (a multiple of 8) floats, unaligned.
    @inline(__always)
    static func copyRun(from source: UnsafeRawPointer, to destination: UnsafeMutableRawPointer, floats: Int) {
        var byte = 0
        while byte < floats * 4 {
            destination.storeBytes(of: source.loadUnaligned(fromByteOffset: byte, as: SIMD8<Float>.self), toByteOffset: byte,
                                   as: SIMD8<Float>.self)
            byte += 32
        }
    }

    /// The 6×16 register tile: `C = (accumulate ? C : bias) + A_panel · B` over `depth`, where
    /// row k of B is the 16 floats at `b + offsets[k]`. Only the first `rows` rows of C are read
    /// and written (A is zero-padded beyond them).
    @inline(never)
    static func microKernel6(
        depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
        c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, accumulate: Bool, bias: UnsafePointer<Float>?
    ) {
        typealias V = SIMD8<Float>
        let cRaw = UnsafeMutableRawPointer(c)
        let stride = ldc * 4
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
        var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
        if accumulate {
            c00 = cRaw.loadUnaligned(fromByteOffset: 0 * stride, as: V.self); c01 = cRaw.loadUnaligned(fromByteOffset: 0 * stride + 32, as: V.self)
            if rows > 1 { c10 = cRaw.loadUnaligned(fromByteOffset: 1 * stride, as: V.self); c11 = cRaw.loadUnaligned(fromByteOffset: 1 * stride + 32, as: V.self) }
            if rows > 2 { c20 = cRaw.loadUnaligned(fromByteOffset: 2 * stride, as: V.self); c21 = cRaw.loadUnaligned(fromByteOffset: 2 * stride + 32, as: V.self) }
            if rows > 3 { c30 = cRaw.loadUnaligned(fromByteOffset: 3 * stride, as: V.self); c31 = cRaw.loadUnaligned(fromByteOffset: 3 * stride + 32, as: V.self) }
            if rows > 4 { c40 = cRaw.loadUnaligned(fromByteOffset: 4 * stride, as: V.self); c41 = cRaw.loadUnaligned(fromByteOffset: 4 * stride + 32, as: V.self) }
            if rows > 5 { c50 = cRaw.loadUnaligned(fromByteOffset: 5 * stride, as: V.self); c51 = cRaw.loadUnaligned(fromByteOffset: 5 * stride + 32, as: V.self) }
        } else if let bias {
            c00 = V(repeating: bias[0]); c01 = c00
            if rows > 1 { c10 = V(repeating: bias[1]); c11 = c10 }
            if rows > 2 { c20 = V(repeating: bias[2]); c21 = c20 }
            if rows > 3 { c30 = V(repeating: bias[3]); c31 = c30 }
            if rows > 4 { c40 = V(repeating: bias[4]); c41 = c40 }
            if rows > 5 { c50 = V(repeating: bias[5]); c51 = c50 }
        }
        let bRaw = UnsafeRawPointer(b)
        var ap = a
        for p in 0..<depth {
            let offset = offsets[p] &* 4
            let b0 = bRaw.loadUnaligned(fromByteOffset: offset, as: V.self)
            let b1 = bRaw.loadUnaligned(fromByteOffset: offset &+ 32, as: V.self)
            var av = V(repeating: ap[0])
            c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
            av = V(repeating: ap[1])
            c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
            av = V(repeating: ap[2])
            c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
            av = V(repeating: ap[3])
            c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
            av = V(repeating: ap[4])
            c40 = c40.addingProduct(av, b0); c41 = c41.addingProduct(av, b1)
            av = V(repeating: ap[5])
            c50 = c50.addingProduct(av, b0); c51 = c51.addingProduct(av, b1)
            ap += 6
        }
        cRaw.storeBytes(of: c00, toByteOffset: 0 * stride, as: V.self); cRaw.storeBytes(of: c01, toByteOffset: 0 * stride + 32, as: V.self)
        if rows > 1 { cRaw.storeBytes(of: c10, toByteOffset: 1 * stride, as: V.self); cRaw.storeBytes(of: c11, toByteOffset: 1 * stride + 32, as: V.self) }
        if rows > 2 { cRaw.storeBytes(of: c20, toByteOffset: 2 * stride, as: V.self); cRaw.storeBytes(of: c21, toByteOffset: 2 * stride + 32, as: V.self) }
        if rows > 3 { cRaw.storeBytes(of: c30, toByteOffset: 3 * stride, as: V.self); cRaw.storeBytes(of: c31, toByteOffset: 3 * stride + 32, as: V.self) }
        if rows > 4 { cRaw.storeBytes(of: c40, toByteOffset: 4 * stride, as: V.self); cRaw.storeBytes(of: c41, toByteOffset: 4 * stride + 32, as: V.self) }
        if rows > 5 { cRaw.storeBytes(of: c50, toByteOffset: 5 * stride, as: V.self); cRaw.storeBytes(of: c51, toByteOffset: 5 * stride + 32, as: V.self) }
    }

    /// The 4×16 register tile for the last row strips; otherwise as ``microKernel6``.
    @inline(never)
    static func microKernel4(
        depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
        c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, accumulate: Bool, bias: UnsafePointer<Float>?
    ) {
        typealias V = SIMD8<Float>
        let cRaw = UnsafeMutableRawPointer(c)
        let stride = ldc * 4
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V(), c30 = V(), c31 = V()
        if accumulate {
            c00 = cRaw.loadUnaligned(fromByteOffset: 0 * stride, as: V.self); c01 = cRaw.loadUnaligned(fromByteOffset: 0 * stride + 32, as: V.self)
            if rows > 1 { c10 = cRaw.loadUnaligned(fromByteOffset: 1 * stride, as: V.self); c11 = cRaw.loadUnaligned(fromByteOffset: 1 * stride + 32, as: V.self) }
            if rows > 2 { c20 = cRaw.loadUnaligned(fromByteOffset: 2 * stride, as: V.self); c21 = cRaw.loadUnaligned(fromByteOffset: 2 * stride + 32, as: V.self) }
            if rows > 3 { c30 = cRaw.loadUnaligned(fromByteOffset: 3 * stride, as: V.self); c31 = cRaw.loadUnaligned(fromByteOffset: 3 * stride + 32, as: V.self) }
        } else if let bias {
            c00 = V(repeating: bias[0]); c01 = c00
            if rows > 1 { c10 = V(repeating: bias[1]); c11 = c10 }
            if rows > 2 { c20 = V(repeating: bias[2]); c21 = c20 }
            if rows > 3 { c30 = V(repeating: bias[3]); c31 = c30 }
        }
        let bRaw = UnsafeRawPointer(b)
        var ap = a
        for p in 0..<depth {
            let offset = offsets[p] &* 4
            let b0 = bRaw.loadUnaligned(fromByteOffset: offset, as: V.self)
            let b1 = bRaw.loadUnaligned(fromByteOffset: offset &+ 32, as: V.self)
            var av = V(repeating: ap[0])
            c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
            av = V(repeating: ap[1])
            c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
            av = V(repeating: ap[2])
            c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
            av = V(repeating: ap[3])
            c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
            ap += 4
        }
        cRaw.storeBytes(of: c00, toByteOffset: 0 * stride, as: V.self); cRaw.storeBytes(of: c01, toByteOffset: 0 * stride + 32, as: V.self)
        if rows > 1 { cRaw.storeBytes(of: c10, toByteOffset: 1 * stride, as: V.self); cRaw.storeBytes(of: c11, toByteOffset: 1 * stride + 32, as: V.self) }
        if rows > 2 { cRaw.storeBytes(of: c20, toByteOffset: 2 * stride, as: V.self); cRaw.storeBytes(of: c21, toByteOffset: 2 * stride + 32, as: V.self) }
        if rows > 3 { cRaw.storeBytes(of: c30, toByteOffset: 3 * stride, as: V.self); cRaw.storeBytes(of: c31, toByteOffset: 3 * stride + 32, as: V.self) }
    }

    /// ``microKernel6`` with A read in place from a row-major matrix: row `r` of the tile at
    /// `a + r·lda` (rows at or beyond `rows` re-read the last one and are not stored). The
    /// same fused multiply-adds in the same order, so the same bits as the packed tile.
    @inline(never)
    static func rowMajorMicroKernel6(
        depth: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
        c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, accumulate: Bool
    ) {
        typealias V = SIMD8<Float>
        let cRaw = UnsafeMutableRawPointer(c)
        let stride = ldc * 4
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
        var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
        if accumulate {
            c00 = cRaw.loadUnaligned(fromByteOffset: 0 * stride, as: V.self); c01 = cRaw.loadUnaligned(fromByteOffset: 0 * stride + 32, as: V.self)
            if rows > 1 { c10 = cRaw.loadUnaligned(fromByteOffset: 1 * stride, as: V.self); c11 = cRaw.loadUnaligned(fromByteOffset: 1 * stride + 32, as: V.self) }
            if rows > 2 { c20 = cRaw.loadUnaligned(fromByteOffset: 2 * stride, as: V.self); c21 = cRaw.loadUnaligned(fromByteOffset: 2 * stride + 32, as: V.self) }
            if rows > 3 { c30 = cRaw.loadUnaligned(fromByteOffset: 3 * stride, as: V.self); c31 = cRaw.loadUnaligned(fromByteOffset: 3 * stride + 32, as: V.self) }
            if rows > 4 { c40 = cRaw.loadUnaligned(fromByteOffset: 4 * stride, as: V.self); c41 = cRaw.loadUnaligned(fromByteOffset: 4 * stride + 32, as: V.self) }
            if rows > 5 { c50 = cRaw.loadUnaligned(fromByteOffset: 5 * stride, as: V.self); c51 = cRaw.loadUnaligned(fromByteOffset: 5 * stride + 32, as: V.self) }
        }
        let a0 = a, a1 = a + Swift.min(1, rows - 1) * lda, a2 = a + Swift.min(2, rows - 1) * lda
        let a3 = a + Swift.min(3, rows - 1) * lda, a4 = a + Swift.min(4, rows - 1) * lda, a5 = a + Swift.min(5, rows - 1) * lda
        let bRaw = UnsafeRawPointer(b)
        for p in 0..<depth {
            let offset = offsets[p] &* 4
            let b0 = bRaw.loadUnaligned(fromByteOffset: offset, as: V.self)
            let b1 = bRaw.loadUnaligned(fromByteOffset: offset &+ 32, as: V.self)
            var av = V(repeating: a0[p])
            c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
            av = V(repeating: a1[p])
            c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
            av = V(repeating: a2[p])
            c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
            av = V(repeating: a3[p])
            c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
            av = V(repeating: a4[p])
            c40 = c40.addingProduct(av, b0); c41 = c41.addingProduct(av, b1)
            av = V(repeating: a5[p])
            c50 = c50.addingProduct(av, b0); c51 = c51.addingProduct(av, b1)
        }
        cRaw.storeBytes(of: c00, toByteOffset: 0 * stride, as: V.self); cRaw.storeBytes(of: c01, toByteOffset: 0 * stride + 32, as: V.self)
        if rows > 1 { cRaw.storeBytes(of: c10, toByteOffset: 1 * stride, as: V.self); cRaw.storeBytes(of: c11, toByteOffset: 1 * stride + 32, as: V.self) }
        if rows > 2 { cRaw.storeBytes(of: c20, toByteOffset: 2 * stride, as: V.self); cRaw.storeBytes(of: c21, toByteOffset: 2 * stride + 32, as: V.self) }
        if rows > 3 { cRaw.storeBytes(of: c30, toByteOffset: 3 * stride, as: V.self); cRaw.storeBytes(of: c31, toByteOffset: 3 * stride + 32, as: V.self) }
        if rows > 4 { cRaw.storeBytes(of: c40, toByteOffset: 4 * stride, as: V.self); cRaw.storeBytes(of: c41, toByteOffset: 4 * stride + 32, as: V.self) }
        if rows > 5 { cRaw.storeBytes(of: c50, toByteOffset: 5 * stride, as: V.self); cRaw.storeBytes(of: c51, toByteOffset: 5 * stride + 32, as: V.self) }
    }

    /// ``microKernel4`` with A read in place, as ``rowMajorMicroKernel6``.
    @inline(never)
    static func rowMajorMicroKernel4(
        depth: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
        c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, accumulate: Bool
    ) {
        typealias V = SIMD8<Float>
        let cRaw = UnsafeMutableRawPointer(c)
        let stride = ldc * 4
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V(), c30 = V(), c31 = V()
        if accumulate {
            c00 = cRaw.loadUnaligned(fromByteOffset: 0 * stride, as: V.self); c01 = cRaw.loadUnaligned(fromByteOffset: 0 * stride + 32, as: V.self)
            if rows > 1 { c10 = cRaw.loadUnaligned(fromByteOffset: 1 * stride, as: V.self); c11 = cRaw.loadUnaligned(fromByteOffset: 1 * stride + 32, as: V.self) }
            if rows > 2 { c20 = cRaw.loadUnaligned(fromByteOffset: 2 * stride, as: V.self); c21 = cRaw.loadUnaligned(fromByteOffset: 2 * stride + 32, as: V.self) }
            if rows > 3 { c30 = cRaw.loadUnaligned(fromByteOffset: 3 * stride, as: V.self); c31 = cRaw.loadUnaligned(fromByteOffset: 3 * stride + 32, as: V.self) }
        }
        let a0 = a, a1 = a + Swift.min(1, rows - 1) * lda, a2 = a + Swift.min(2, rows - 1) * lda, a3 = a + Swift.min(3, rows - 1) * lda
        let bRaw = UnsafeRawPointer(b)
        for p in 0..<depth {
            let offset = offsets[p] &* 4
            let b0 = bRaw.loadUnaligned(fromByteOffset: offset, as: V.self)
            let b1 = bRaw.loadUnaligned(fromByteOffset: offset &+ 32, as: V.self)
            var av = V(repeating: a0[p])
            c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
            av = V(repeating: a1[p])
            c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
            av = V(repeating: a2[p])
            c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
            av = V(repeating: a3[p])
            c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
        }
        cRaw.storeBytes(of: c00, toByteOffset: 0 * stride, as: V.self); cRaw.storeBytes(of: c01, toByteOffset: 0 * stride + 32, as: V.self)
        if rows > 1 { cRaw.storeBytes(of: c10, toByteOffset: 1 * stride, as: V.self); cRaw.storeBytes(of: c11, toByteOffset: 1 * stride + 32, as: V.self) }
        if rows > 2 { cRaw.storeBytes(of: c20, toByteOffset: 2 * stride, as: V.self); cRaw.storeBytes(of: c21, toByteOffset: 2 * stride + 32, as: V.self) }
        if rows > 3 { cRaw.storeBytes(of: c30, toByteOffset: 3 * stride, as: V.self); cRaw.storeBytes(of: c31, toByteOffset: 3 * stride + 32, as: V.self) }
    }
}
