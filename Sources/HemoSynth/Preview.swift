import HemoCore
import HemoRaster
import PNG

/// One panel of a preview: an axial slice with its painted blood and a caption.
public struct PreviewTile: Sendable {
    /// Caption drawn in the panel's top-left corner (letters are drawn upper-case; digits, `_`, `=`, `/`, space).
    public var caption: String
    /// Slice width and height in pixels.
    public var width: Int, height: Int
    /// HU values, row-major (row 0 = anterior, column 0 = patient right, radiological view).
    public var hu: [Int16]
    /// Painted subtype per pixel (0 none, 1…5).
    public var paint: [UInt8]

    /// Slice `k` of `synthCase`, captioned with the case and slice.
    public init(synthCase: SynthCase, slice k: Int, caption: String? = nil) {
        let n = synthCase.ct.geometry.size.sliceCount
        width = synthCase.ct.geometry.size.i
        height = synthCase.ct.geometry.size.j
        hu = Array(synthCase.ct.voxels[(k * n)..<((k + 1) * n)])
        paint = Array(synthCase.paint.voxels[(k * n)..<((k + 1) * n)])
        self.caption = caption ?? "\(synthCase.caseID) k=\(k)"
    }
}

/// Draws preview sheets: slices in a brain window (W80/L40) with lesion outlines per subtype and a legend.
///
/// Colours: EPH red, SDH orange, SAH yellow, IPH green, IVH blue.
public enum PreviewRenderer {
    /// Outline colour (R, G, B) of each subtype: ``SubtypePalette``'s.
    public static func colour(_ subtype: Subtype) -> (UInt8, UInt8, UInt8) {
        let c = SubtypePalette.colour(subtype)
        return (c.red, c.green, c.blue)
    }

    /// Window centre (HU) of the brain window.
    public static let windowLevel: Float = BrainWindow.level
    /// Window width (HU) of the brain window.
    public static let windowWidth: Float = BrainWindow.width

    /// Renders `tiles` in a grid of `columns` with a legend strip; returns RGB bytes.
    public static func render(tiles: [PreviewTile], columns: Int) -> (width: Int, height: Int, rgb: [UInt8]) {
        let tileW = tiles.map(\.width).max() ?? 64, tileH = tiles.map(\.height).max() ?? 64
        let cols = max(1, min(columns, tiles.count))
        let rows = max(1, (tiles.count + cols - 1) / cols)
        let gap = 4, legendH = 28
        let width = cols * tileW + (cols + 1) * gap
        let height = rows * tileH + (rows + 1) * gap + legendH
        var rgb = [UInt8](repeating: 16, count: width * height * 3)
        func put(_ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8)) {
            guard x >= 0, y >= 0, x < width, y < height else { return }
            let p = (y * width + x) * 3
            rgb[p] = c.0; rgb[p + 1] = c.1; rgb[p + 2] = c.2
        }
        let low = windowLevel - windowWidth / 2
        for (t, tile) in tiles.enumerated() {
            let ox = gap + (t % cols) * (tileW + gap), oy = gap + (t / cols) * (tileH + gap)
            let w = tile.width, h = tile.height
            for y in 0..<h {
                for x in 0..<w {
                    let v = (Float(tile.hu[y * w + x]) - low) / windowWidth * 255
                    let g = UInt8(max(0, min(255, v.rounded())))
                    put(ox + x, oy + y, (g, g, g))
                }
            }
            // Outline: painted pixels with a differently painted 4-neighbour, thickened outward by one pixel.
            for y in 0..<h {
                for x in 0..<w {
                    let s = tile.paint[y * w + x]
                    guard s != 0, let subtype = Subtype(rawValue: s) else { continue }
                    var edge = false
                    for (dx, dy) in [(1, 0), (-1, 0), (0, 1), (0, -1)] {
                        let nx = x + dx, ny = y + dy
                        if nx < 0 || ny < 0 || nx >= w || ny >= h || tile.paint[ny * w + nx] != s { edge = true; break }
                    }
                    guard edge else { continue }
                    let c = colour(subtype)
                    put(ox + x, oy + y, c)
                    for (dx, dy) in [(1, 0), (-1, 0), (0, 1), (0, -1)] {
                        let nx = x + dx, ny = y + dy
                        if nx >= 0, ny >= 0, nx < w, ny < h, tile.paint[ny * w + nx] == 0 { put(ox + nx, oy + ny, c) }
                    }
                }
            }
            let scale = max(1, tileW / 200)
            drawText(tile.caption, x: ox + 4, y: oy + 4, scale: scale, colour: (255, 255, 255), put: put)
        }
        // Legend: a swatch and the name of each subtype.
        var lx = gap + 4
        let ly = height - legendH + 6
        for s in Subtype.allCases {
            for y in 0..<14 { for x in 0..<14 { put(lx + x, ly + y, colour(s)) } }
            lx += 18
            drawText(s.name, x: lx, y: ly, scale: 2, colour: (230, 230, 230), put: put)
            lx += 3 * 12 + 16
        }
        drawText("W80/L40", x: lx + 8, y: ly, scale: 2, colour: (160, 160, 160), put: put)
        return (width, height, rgb)
    }

    /// Renders and encodes `tiles` as an RGB PNG.
    public static func png(tiles: [PreviewTile], columns: Int) throws(PNGError) -> [UInt8] {
        let image = render(tiles: tiles, columns: columns)
        return try PNGEncoder.encode(width: image.width, height: image.height, colorType: .rgb, pixels: image.rgb)
    }

    /// Draws `text` with the shared ``BitmapFont``.
    static func drawText(_ text: String, x: Int, y: Int, scale: Int, colour: (UInt8, UInt8, UInt8),
                         put: (Int, Int, (UInt8, UInt8, UInt8)) -> Void) {
        BitmapFont.draw(text, x: x, y: y, scale: scale) { px, py in put(px, py, colour) }
    }
}

extension PreviewRenderer {
    /// Picks up to `count` panels from a written cohort: for each subtype (EPH … IVH) the slice of the
    /// cohort where it is largest, then slices of negative cases at the ventricle level and near the
    /// skull base; regenerates those cases (deterministically) to draw them.
    public static func cohortTiles(_ written: [WrittenCase], generator: SynthGenerator, count: Int = 6,
                                   sliceThreads: Int = 1) -> [PreviewTile] {
        var picks: [(index: Int, slice: Int, caption: String)] = []
        for s in Subtype.allCases {
            let best = written.compactMap { c in c.largestSlice[s].map { (c, $0) } }
                .max { $0.1.pixels < $1.1.pixels || ($0.1.pixels == $1.1.pixels && $0.0.index > $1.0.index) }
            if let (c, slice) = best, picks.count < count { picks.append((c.index, slice.slice, "\(c.caseID) k=\(slice.slice) \(s.name)")) }
        }
        let negatives = written.filter { $0.presentSubtypes.isEmpty }
        var fractions: [Double] = [0.62, 0.2, 0.85, 0.45]
        for c in negatives.prefix(count) where picks.count < count && !fractions.isEmpty {
            let k = Int(Double(c.slices - 1) * fractions.removeFirst())
            picks.append((c.index, k, "\(c.caseID) k=\(k) normal"))
        }
        var cache: [Int: SynthCase] = [:]
        return picks.map { pick in
            let synthCase = cache[pick.index] ?? generator.generate(caseIndex: pick.index, sliceThreads: sliceThreads)
            cache[pick.index] = synthCase
            return PreviewTile(synthCase: synthCase, slice: pick.slice, caption: pick.caption + " (" + synthCase.model.features + ")")
        }
    }
}
