/// Winograd F(2×2, 3×3) for 3×3 convolutions of stride and dilation 1, ungrouped.
///
/// Each 2×2 block of outputs ("tile") comes from a 4×4 input window `d`: with the transforms
/// `V = Bᵀ d B` (per input channel) and `U = G g Gᵀ` (per weight, once at load), the 16
/// positions ξ of the 4×4 transformed domain are 16 independent matrix products
/// `M_ξ[co, tile] = Σ_ci U_ξ[co, ci] · V_ξ[ci, tile]`, run by ``GEMM`` on packed `U_ξ`; the
/// outputs are `Y = Aᵀ M A` (+ bias, activation). That is 16 multiply-adds per tile, channel
/// pair instead of 36: 2.25× fewer.
///
/// Tiles go in bands of whole tile rows, each band's transformed input and products in a
/// scratch of about 512 KiB (one core's L2), bands dealt to threads. Every output's sum runs in
/// a fixed order whatever the thread count.
enum Winograd {
    /// Transformed weights: 16 packed `Cout × Cin` matrices, position ξ = 4·row + column.
    static func transformWeights(_ weights: UnsafePointer<Float>, outputChannels: Int, inputChannels: Int) -> [PackedMatrix] {
        // U = G g Gᵀ with G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]].
        var transformed = [Float](repeating: 0, count: 16 * outputChannels * inputChannels)
        for co in 0..<outputChannels {
            for ci in 0..<inputChannels {
                let g = weights + (co * inputChannels + ci) * 9
                var gg = [Float](repeating: 0, count: 12)  // G g: 4 × 3
                for column in 0..<3 {
                    let g0 = g[column], g1 = g[3 + column], g2 = g[6 + column]
                    gg[column] = g0
                    gg[3 + column] = 0.5 * (g0 + g1 + g2)
                    gg[6 + column] = 0.5 * (g0 - g1 + g2)
                    gg[9 + column] = g2
                }
                for row in 0..<4 {
                    let r0 = gg[row * 3], r1 = gg[row * 3 + 1], r2 = gg[row * 3 + 2]
                    let values = [r0, 0.5 * (r0 + r1 + r2), 0.5 * (r0 - r1 + r2), r2]
                    for column in 0..<4 {
                        transformed[((row * 4 + column) * outputChannels + co) * inputChannels + ci] = values[column]
                    }
                }
            }
        }
        return (0..<16).map { position in
            transformed.withUnsafeBufferPointer { u in
                let base = position * outputChannels * inputChannels
                return PackedMatrix(rows: outputChannels, depth: inputChannels) { co, ci in u[base + co * inputChannels + ci] }
            }
        }
    }

    /// Whether a convolution runs through Winograd: 3×3, stride 1, dilation 1, one group and
    /// enough channels for the 16 small products to keep the micro-kernel busy: from 16 input and
    /// 32 output channels Winograd beats the im2col GEMM; with 16 output channels neither wins
    /// clearly (the measurements: scripts/bench/README.md).
    static func applies(kernelHeight: Int, kernelWidth: Int, groups: Int, inputChannels: Int, outputChannels: Int,
                        strides: [Int], dilations: [Int]) -> Bool {
        kernelHeight == 3 && kernelWidth == 3 && groups == 1 && strides == [1, 1] && dilations == [1, 1]
            && inputChannels >= 16 && outputChannels >= 32
    }

    /// One image: `output = activation(bias + conv3×3(input))`. Output channel planes are
    /// `outputChannelStride` floats apart (default: one plane; 3-D convolutions write one depth
    /// slice of each channel). `inputPlanes`, when given, holds each input channel's plane
    /// (3-D convolutions: the depth slices a slice reads, without copying them).
    static func convolve(
        _ u: [PackedMatrix], input: UnsafePointer<Float>, inputChannels: Int, inputHeight: Int, inputWidth: Int,
        output: UnsafeMutablePointer<Float>, outputChannels: Int, outputHeight: Int, outputWidth: Int,
        padTop: Int, padLeft: Int, bias: UnsafePointer<Float>?, activation: Activation, threads: Int,
        outputChannelStride: Int? = nil, inputPlanes: UnsafePointer<UnsafePointer<Float>>? = nil
    ) {
        typealias V8 = SIMD8<Float>
        let tilesX = (outputWidth + 1) / 2, tilesY = (outputHeight + 1) / 2
        // Tile columns in groups of 8 (one SIMD8 lane per tile); the row buffer is zero-padded.
        let groupsX = (tilesX + 7) / 8
        let paddedTilesX = groupsX * 8
        let rowLength = paddedTilesX * 2 + 2 + 16
        // Band: whole tile rows, a multiple of 16 columns, about 128 Ki floats of scratch, or up
        // to a quarter of the transformed weights (at most 1 Mi floats) when those are larger:
        // every band streams all 16·Cin·Cout transformed weights, so a 512→512 layer on an 8×8
        // image cut into four one-tile-row bands read 64 MiB of weights for 0.1 GFLOP.
        let perColumn = 16 * (inputChannels + outputChannels)
        let budget = max(131_072, min(1 << 20, 4 * inputChannels * outputChannels))
        var rowsPerBand = max(1, min(tilesY, (budget / perColumn) / paddedTilesX))
        // Wide layers on small maps (the DenseNet U-Net's first decoder block: 4320 → 256 channels
        // on 16×16, a 4 MiB budget of 73 Ki floats per column): a band of one tile row gave the
        // products 8 or 16 columns, under one 32-wide register tile (half or three quarters of
        // each tile's multiply-adds wasted on padding, the rest through the edge-tile copies),
        // and streamed all 16·Cin·Cout transformed weights (71 MB there) once per band. Bands under
        // 32 columns grow to 32 (or every tile), within 5 Mi floats (20 MiB) of scratch (64
        // columns were slower: 17.0 against 13.6 ms for the 4320 → 256 layer, its V outgrowing L2).
        // Bands of 32 or more keep their L2-sized scratch: 512 → 256 on 32×32 ran slower in two
        // bands of 128 columns than in eight of 32 (its transformed input then outgrew the L2).
        if rowsPerBand * paddedTilesX < 32 {
            let wantedRows = min(tilesY, (32 + paddedTilesX - 1) / paddedTilesX)
            rowsPerBand = max(rowsPerBand, min(wantedRows, (5 << 20) / (perColumn * paddedTilesX)))
        }
        // The same number of bands with their rows spread evenly (no short last band).
        let bands = (tilesY + rowsPerBand - 1) / rowsPerBand
        rowsPerBand = (tilesY + bands - 1) / bands
        let columns = (rowsPerBand * paddedTilesX + 15) / 16 * 16

        let workers = max(1, min(threads, bands))
        // Fewer bands than threads (small images, wide layers): the bands run one after the
        // other and the 16 independent products of each band run in parallel instead.
        let productThreads = max(1, threads / workers)
        let vStride = inputChannels * columns
        let mStride = outputChannels * columns
        parallelFor(workers, threads: workers) { worker in
            ScratchPool.shared.with(count: 16 * vStride + 16 * mStride + 4 * rowLength) { scratch in
                let transformed = scratch, products = scratch + 16 * vStride, rowBuffer = products + 16 * mStride
                // Columns past a band's tiles are not written by the transform; zero keeps their
                // (unused) products finite and free of denormals left by an earlier call.
                let full = rowsPerBand * paddedTilesX
                if full < columns {
                    for row in 0..<(16 * inputChannels) { (transformed + row * columns + full).update(repeating: 0, count: columns - full) }
                }
                for band in stride(from: worker, to: bands, by: workers) {
                    let ty0 = band * rowsPerBand
                    let bandRows = min(rowsPerBand, tilesY - ty0)
                    if bandRows < rowsPerBand {
                        let used = bandRows * paddedTilesX
                        for row in 0..<(16 * inputChannels) { (transformed + row * columns + used).update(repeating: 0, count: columns - used) }
                    }
                    transformInput(input, channels: inputChannels, height: inputHeight, width: inputWidth, padTop: padTop,
                                   padLeft: padLeft, firstTileRow: ty0, tileRows: bandRows, groupsX: groupsX,
                                   rowBuffer: rowBuffer, rowLength: rowLength, into: transformed, columns: columns,
                                   planes: inputPlanes)
                    // The 16 products M_ξ = U_ξ · V_ξ.
                    parallelFor(16, threads: productThreads) { position in
                        GEMM.multiply(u[position], input: transformed + position * vStride,
                                      geometry: .matrix(rows: inputChannels, columns: columns),
                                      output: products + position * mStride, bias: nil, activation: .identity, threads: 1)
                    }
                    transformOutput(products, channels: outputChannels, columns: columns, firstTileRow: ty0, tileRows: bandRows,
                                    groupsX: groupsX, into: output, height: outputHeight, width: outputWidth, bias: bias,
                                    activation: activation, channelStride: outputChannelStride ?? outputHeight * outputWidth)
                }
            }
        }
    }

    /// `V = Bᵀ d B` for the tiles of `tileRows` tile rows, `Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0],
    /// [0, −1, 1, 0], [0, 1, 0, −1]]`, eight tiles per SIMD8: `V[ξ][channel][column]`.
    @inline(__always)
    static func transformInput(
        _ input: UnsafePointer<Float>, channels: Int, height: Int, width: Int, padTop: Int, padLeft: Int,
        firstTileRow: Int, tileRows: Int, groupsX: Int, rowBuffer: UnsafeMutablePointer<Float>, rowLength: Int,
        into transformed: UnsafeMutablePointer<Float>, columns: Int, planes: UnsafePointer<UnsafePointer<Float>>? = nil
    ) {
        typealias V8 = SIMD8<Float>
        let vStride = channels * columns
        let paddedTilesX = groupsX * 8
        // d·B for one input row of 8 tiles: columns c0 − c2, c1 + c2, c2 − c1, c1 − c3.
        @inline(__always) func rowTransform(_ r: Int, _ group: Int) -> (V8, V8, V8, V8) {
            let raw = UnsafeRawPointer(rowBuffer + r * rowLength + group * 16)
            let low = raw.loadUnaligned(as: SIMD16<Float>.self)
            let high = raw.loadUnaligned(fromByteOffset: 8, as: SIMD16<Float>.self)
            let c0 = low.evenHalf, c1 = low.oddHalf, c2 = high.evenHalf, c3 = high.oddHalf
            return (c0 - c2, c1 + c2, c2 - c1, c1 - c3)
        }
        @inline(__always) func store(_ value: V8, _ position: Int, _ target: UnsafeMutablePointer<Float>) {
            UnsafeMutableRawPointer(target + position * vStride).storeBytes(of: value, as: V8.self)
        }
        for channel in 0..<channels {
            let plane = planes?[channel] ?? input + channel * height * width
            for tileRow in 0..<tileRows {
                let y0 = (firstTileRow + tileRow) * 2 - padTop
                // The 4 input rows of this tile row, zero outside the image.
                for r in 0..<4 {
                    let row = rowBuffer + r * rowLength
                    let iy = y0 + r
                    let first = max(0, padLeft), sourceStart = max(0, -padLeft)
                    let count = min(width - sourceStart, rowLength - first)
                    if iy < 0 || iy >= height || count <= 0 {
                        row.update(repeating: 0, count: rowLength)
                        continue
                    }
                    // Zero only around the copied pixels (the whole row was 10% of the DenseNet
                    // U-Net's run in memset and memmove calls, 4 rows per channel and tile row).
                    for x in 0..<first { row[x] = 0 }
                    (row + first).update(from: plane + iy * width + sourceStart, count: count)
                    for x in (first + count)..<rowLength { row[x] = 0 }
                }
                for group in 0..<groupsX {
                    let d0 = rowTransform(0, group), d1 = rowTransform(1, group)
                    let d2 = rowTransform(2, group), d3 = rowTransform(3, group)
                    let target = transformed + channel * columns + tileRow * paddedTilesX + group * 8
                    // Bᵀ (d·B): rows d0 − d2, d1 + d2, d2 − d1, d1 − d3.
                    store(d0.0 - d2.0, 0, target); store(d0.1 - d2.1, 1, target)
                    store(d0.2 - d2.2, 2, target); store(d0.3 - d2.3, 3, target)
                    store(d1.0 + d2.0, 4, target); store(d1.1 + d2.1, 5, target)
                    store(d1.2 + d2.2, 6, target); store(d1.3 + d2.3, 7, target)
                    store(d2.0 - d1.0, 8, target); store(d2.1 - d1.1, 9, target)
                    store(d2.2 - d1.2, 10, target); store(d2.3 - d1.3, 11, target)
                    store(d1.0 - d3.0, 12, target); store(d1.1 - d3.1, 13, target)
                    store(d1.2 - d3.2, 14, target); store(d1.3 - d3.3, 15, target)
                }
            }
        }
    }

    /// `Y = Aᵀ M A + bias`, `Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]`, then the activation, for the
    /// tiles of `tileRows` tile rows starting at `firstTileRow`.
    @inline(__always)
    static func transformOutput(
        _ products: UnsafePointer<Float>, channels: Int, columns: Int, firstTileRow: Int, tileRows: Int, groupsX: Int,
        into output: UnsafeMutablePointer<Float>, height: Int, width: Int, bias: UnsafePointer<Float>?, activation: Activation,
        channelStride: Int
    ) {
        typealias V8 = SIMD8<Float>
        let mStride = channels * columns
        let paddedTilesX = groupsX * 8
        for channel in 0..<channels {
            let plane = output + channel * channelStride
            let bias8 = V8(repeating: bias?[channel] ?? 0)
            for tileRow in 0..<tileRows {
                let oy = (firstTileRow + tileRow) * 2
                for group in 0..<groupsX {
                    let source = products + channel * columns + tileRow * paddedTilesX + group * 8
                    @inline(__always) func m(_ position: Int) -> V8 {
                        UnsafeRawPointer(source + position * mStride).loadUnaligned(as: V8.self)
                    }
                    // Aᵀ M: t0 = m0 + m1 + m2, t1 = m1 − m2 − m3 (rows of M, per column).
                    let t00 = m(0) + m(4) + m(8), t01 = m(1) + m(5) + m(9)
                    let t02 = m(2) + m(6) + m(10), t03 = m(3) + m(7) + m(11)
                    let t10 = m(4) - m(8) - m(12), t11 = m(5) - m(9) - m(13)
                    let t12 = m(6) - m(10) - m(14), t13 = m(7) - m(11) - m(15)
                    let x0 = group * 16
                    for r in 0..<2 {
                        let y = oy + r
                        if y >= height { continue }
                        let (a, b, c, d) = r == 0 ? (t00, t01, t02, t03) : (t10, t11, t12, t13)
                        let left = a + b + c + bias8
                        let right = b - c - d + bias8
                        let row = plane + y * width
                        if x0 + 16 <= width {
                            var pair = SIMD16<Float>()
                            pair.evenHalf = left
                            pair.oddHalf = right
                            UnsafeMutableRawPointer(row + x0).storeBytes(of: pair, as: SIMD16<Float>.self)
                        } else {
                            for lane in 0..<8 {
                                let x = x0 + 2 * lane
                                if x < width { row[x] = left[lane] }
                                if x + 1 < width { row[x + 1] = right[lane] }
                            }
                        }
                    }
                }
                let y1 = min(oy + 2, height)
                activation.apply(plane + oy * width, count: (y1 - oy) * width)
            }
        }
    }
}
