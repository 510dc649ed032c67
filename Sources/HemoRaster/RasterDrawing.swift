/// An 8-bit RGB colour.
public struct RGBColour: Sendable, Equatable {
    /// Red, green and blue intensities.
    public var red: UInt8, green: UInt8, blue: UInt8
    /// A colour from its three components.
    public init(_ red: UInt8, _ green: UInt8, _ blue: UInt8) {
        self.red = red; self.green = green; self.blue = blue
    }
}

/// An RGB raster (row-major, top row first, 3 bytes per pixel) with the few drawing primitives the
/// preview sheets and the QC montages share: pixels, blends, rectangles, dashed frames and text.
public struct RGBCanvas: Sendable {
    /// Width and height in pixels.
    public let width: Int, height: Int
    /// The pixels, `width × height × 3` bytes.
    public var rgb: [UInt8]

    /// A canvas filled with `background`.
    public init(width: Int, height: Int, background: RGBColour) {
        self.width = width
        self.height = height
        rgb = [UInt8](repeating: 0, count: width * height * 3)
        fillRect(x: 0, y: 0, width: width, height: height, colour: background)
    }

    /// Sets one pixel; pixels outside the canvas are ignored.
    @inlinable public mutating func set(_ x: Int, _ y: Int, _ c: RGBColour) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let p = (y * width + x) * 3
        rgb[p] = c.red; rgb[p + 1] = c.green; rgb[p + 2] = c.blue
    }

    /// Mixes `c` into one pixel with weight `alpha` (0 keeps the pixel, 1 replaces it).
    public mutating func blend(_ x: Int, _ y: Int, _ c: RGBColour, alpha: Float) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let p = (y * width + x) * 3
        func mix(_ old: UInt8, _ new: UInt8) -> UInt8 {
            UInt8(max(0, min(255, (Float(old) * (1 - alpha) + Float(new) * alpha).rounded())))
        }
        rgb[p] = mix(rgb[p], c.red); rgb[p + 1] = mix(rgb[p + 1], c.green); rgb[p + 2] = mix(rgb[p + 2], c.blue)
    }

    /// Fills the rectangle with top-left corner (`x`, `y`), clipped to the canvas.
    public mutating func fillRect(x: Int, y: Int, width w: Int, height h: Int, colour: RGBColour) {
        for yy in max(0, y)..<max(max(0, y), min(height, y + h)) {
            for xx in max(0, x)..<max(max(0, x), min(width, x + w)) { set(xx, yy, colour) }
        }
    }

    /// Draws the one-pixel frame of the rectangle spanning columns `x0...x1` and rows `y0...y1`;
    /// `dash` > 0 draws `dash` pixels on, then `dash / 2 + 1` off, along each side.
    public mutating func strokeRect(x0: Int, y0: Int, x1: Int, y1: Int, colour: RGBColour, dash: Int = 0) {
        guard x1 >= x0, y1 >= y0 else { return }
        func on(_ n: Int) -> Bool { dash <= 0 || n % (dash + dash / 2 + 1) < dash }
        for x in x0...x1 where on(x - x0) { set(x, y0, colour); set(x, y1, colour) }
        for y in y0...y1 where on(y - y0) { set(x0, y, colour); set(x1, y, colour) }
    }

    /// Draws `text` with ``BitmapFont`` at `scale`, top-left corner at (`x`, `y`).
    public mutating func drawText(_ text: String, x: Int, y: Int, scale: Int, colour: RGBColour) {
        BitmapFont.draw(text, x: x, y: y, scale: scale) { px, py in set(px, py, colour) }
    }
}

/// A tiny 5×7 bitmap font for captions: upper-case letters (lower-case letters without a glyph of
/// their own are drawn upper-case), digits and `_ = / . - : ( ) +` and space.
public enum BitmapFont {
    /// Horizontal advance of one character at scale 1, in pixels.
    public static let advance = 6
    /// Glyph height at scale 1, in pixels.
    public static let glyphHeight = 7

    /// Width in pixels of `text` drawn at `scale`.
    public static func width(of text: String, scale: Int) -> Int { text.count * advance * scale }

    /// Calls `plot(x, y)` for every pixel of `text` drawn at `scale` from (`x`, `y`).
    public static func draw(_ text: String, x: Int, y: Int, scale: Int, plot: (Int, Int) -> Void) {
        var cx = x
        for ch in text {
            let glyph = Array(glyphs[ch] ?? glyphs[Character(ch.uppercased())] ?? glyphs[" "]!)
            for row in 0..<7 {
                for col in 0..<5 where glyph[row * 5 + col] == "#" {
                    for sy in 0..<scale { for sx in 0..<scale { plot(cx + col * scale + sx, y + row * scale + sy) } }
                }
            }
            cx += advance * scale
        }
    }

    /// 5×7 glyphs, one string of 7 rows × 5 columns per character.
    static let glyphs: [Character: String] = [
        "A": ".###.#...##...#######...##...##...#", "B": "####.#...##...#####.#...##...#####.",
        "C": ".#####....#....#....#....#.....####", "D": "####.#...##...##...##...##...#####.",
        "E": "######....#....####.#....#....#####", "F": "######....#....####.#....#....#....",
        "G": ".#####....#....#..###...##...#.####", "H": "#...##...##...#######...##...##...#",
        "I": ".###...#....#....#....#....#...###.", "J": "..###...#....#....#....##..#..##...",
        "K": "#...##..#.#.#..##...#.#..#..#.#...#", "L": "#....#....#....#....#....#....#####",
        "M": "#...###.###.#.##...##...##...##...#", "N": "#...###..##.#.##..###...##...##...#",
        "O": ".###.#...##...##...##...##...#.###.", "P": "####.#...##...#####.#....#....#....",
        "Q": ".###.#...##...##...##.#.##..#..##.#", "R": "####.#...##...#####.#.#..#..#.#...#",
        "S": ".#####....#.....###.....#....#####.", "T": "#####..#....#....#....#....#....#..",
        "U": "#...##...##...##...##...##...#.###.", "V": "#...##...##...##...##...#.#.#...#..",
        "W": "#...##...##...##.#.##.#.##.#.#.#.#.", "X": "#...##...#.#.#...#...#.#.#...##...#",
        "Y": "#...##...#.#.#...#....#....#....#..", "Z": "#####....#...#...#...#...#....#####",
        "_": "..............................#####", "=": "..........#####.....#####..........",
        "/": "....#....#...#...#...#...#....#....", " ": "...................................",
        ".": ".........................##...##...", "-": "...............###.................",
        ":": "......##...##.........##...##......", "(": "...#...#...#....#....#.....#.....#.",
        ")": ".#.....#.....#....#....#...#...#...", "+": "......#....#..#####..#....#........",
        "0": ".###.#...##..###.#.###..##...#.###.", "1": "..#...##....#....#....#....#...###.",
        "2": ".###.#...#....#...#...#...#...#####", "3": ".###.#...#....#..##.....##...#.###.",
        "4": "...#...##..#.#.#..#.#####...#....#.", "5": "######....####.....#....##...#.###.",
        "6": ".###.#....#....####.#...##...#.###.", "7": "#####....#...#...#...#....#....#...",
        "8": ".###.#...##...#.###.#...##...#.###.", "9": ".###.#...##...#.####....#....#.###.",
        "a": ".....................###.#..#.####.", "e": "...............###.#####.#.....###.",
        "s": "................####.##.....##.###.", "k": "#....#....#..#.#.#..##...#.#..#..#.",
    ]
}
