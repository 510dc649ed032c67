import Foundation
import HemoCore
import HemoRaster
import NIfTI
import PNG

/// A case's montage: the slices that matter in a brain window, subtype masks as outlines over a
/// light tint, the 2D boxes as dashed frames in their subtype's colour, and a legend.
public enum CaseMontage {
    /// At most this many panels per case.
    public static let maximumPanels = 12
    /// Panels shown for a case without blood.
    public static let negativePanels = 6
    /// Panels per row.
    public static let columns = 4
    /// Panels are enlarged by a whole factor until their longer side reaches this many pixels.
    public static let targetPanelSide = 256
    /// Background of the sheet.
    static let background = RGBColour(16, 16, 20)

    /// The slices shown for a volume of `sliceCount` slices whose positive slices are `positive`
    /// (ascending): all of them up to ``maximumPanels``, else ``maximumPanels`` evenly spaced among
    /// them; for a negative case ``negativePanels`` evenly spaced slices.
    public static func chooseSlices(positive: [Int], sliceCount: Int) -> [Int] {
        if positive.isEmpty {
            let count = min(negativePanels, sliceCount)
            return (0..<count).map { ($0 + 1) * sliceCount / (count + 1) }
        }
        guard positive.count > maximumPanels else { return positive }
        let last = positive.count - 1
        return (0..<maximumPanels).map { positive[($0 * last + (maximumPanels - 1) / 2) / (maximumPanels - 1)] }
    }

    /// The colour of `subtype`: ``SubtypePalette``'s, shared with the synthetic previews.
    public static func colour(_ subtype: Subtype) -> RGBColour { SubtypePalette.colour(subtype) }

    /// Renders the montage of a case from its CT in HU and its per-subtype bitmask (bit v−1 = subtype v),
    /// both on the same grid, and its 2D boxes.
    public static func render(caseID: CaseID, hu: Volume<Float>, bitmask: Volume<UInt8>, boxes: [QCBox]) -> RGBCanvas {
        let size = hu.geometry.size
        let w = size.i, h = size.j, n = w * h
        var positive: [Int] = []
        for k in 0..<size.k where bitmask.voxels[(k * n)..<((k + 1) * n)].contains(where: { $0 != 0 }) { positive.append(k) }
        let slices = chooseSlices(positive: positive, sliceCount: size.k)

        // Large slices are reduced by a whole factor (CT averaged, masks OR-ed, so no lesion vanishes),
        // small ones enlarged by a whole factor, so panels have about targetPanelSide pixels.
        let reduce = max(1, (max(w, h) + targetPanelSide - 1) / targetPanelSide)
        let sw = (w + reduce - 1) / reduce, sh = (h + reduce - 1) / reduce
        let scale = max(1, targetPanelSide / max(sw, sh))
        let panelW = sw * scale, panelH = sh * scale
        let gap = 6, textScale = 2, lineH = BitmapFont.glyphHeight * textScale
        let headerH = lineH + 2 * gap, captionH = lineH + 6, legendH = lineH + 2 * gap
        let cols = max(1, min(columns, slices.count))
        let rows = max(1, (slices.count + cols - 1) / cols)
        let sheetW = max(cols * panelW + (cols + 1) * gap, 620)
        let sheetH = headerH + rows * (captionH + panelH + gap) + legendH
        var canvas = RGBCanvas(width: sheetW, height: sheetH, background: background)

        let shownNote = positive.isEmpty ? "no blood - \(slices.count) of \(size.k) slices"
            : positive.count > slices.count ? "\(slices.count) of \(positive.count) positive slices"
            : "\(positive.count) positive of \(size.k) slices"
        canvas.drawText("\(caseID.rawValue)  \(shownNote)".uppercased(), x: gap, y: gap, scale: textScale, colour: RGBColour(255, 255, 255))

        for (p, k) in slices.enumerated() {
            let ox = gap + (p % cols) * (panelW + gap)
            let top = headerH + (p / cols) * (captionH + panelH + gap)
            let oy = top + captionH
            let (panelHU, panelBits) = reduced(hu: hu, bitmask: bitmask, slice: k, factor: reduce)
            var present: UInt8 = 0
            for v in panelBits { present |= v }
            let names = Subtype.allCases.filter { present & (1 << ($0.rawValue - 1)) != 0 }.map(\.name)
            let caption = (["K=\(k)"] + names).joined(separator: " ")
            canvas.drawText(caption, x: ox, y: top + 2, scale: textScale,
                            colour: names.isEmpty ? RGBColour(190, 190, 190) : RGBColour(255, 255, 255))
            // Brain window, nearest-neighbour enlarged.
            for y in 0..<panelH {
                for x in 0..<panelW {
                    let g = BrainWindow.grey(panelHU[(y / scale) * sw + x / scale])
                    canvas.set(ox + x, oy + y, RGBColour(g, g, g))
                }
            }
            // Each subtype's own mask: a light tint inside and a solid outline on its border, drawn at
            // panel resolution so outlines stay one pixel wide inside and one outside.
            for subtype in Subtype.allCases where present & (1 << (subtype.rawValue - 1)) != 0 {
                let bit = UInt8(1 << (subtype.rawValue - 1))
                let c = colour(subtype)
                func inside(_ x: Int, _ y: Int) -> Bool {
                    x >= 0 && y >= 0 && x < panelW && y < panelH && panelBits[(y / scale) * sw + x / scale] & bit != 0
                }
                for y in 0..<panelH {
                    for x in 0..<panelW where inside(x, y) {
                        let edge = !inside(x + 1, y) || !inside(x - 1, y) || !inside(x, y + 1) || !inside(x, y - 1)
                        if edge {
                            canvas.set(ox + x, oy + y, c)
                            for (dx, dy) in [(1, 0), (-1, 0), (0, 1), (0, -1)] {
                                let nx = x + dx, ny = y + dy
                                if nx >= 0, ny >= 0, nx < panelW, ny < panelH, !inside(nx, ny) { canvas.set(ox + nx, oy + ny, c) }
                            }
                        } else {
                            canvas.blend(ox + x, oy + y, c, alpha: 0.3)
                        }
                    }
                }
            }
            // 2D boxes: dashed frames two pixels outside the box, clipped to the panel.
            for box in boxes where box.slice == k {
                let x0 = max(0, box.xMin / reduce * scale - 3), y0 = max(0, box.yMin / reduce * scale - 3)
                let x1 = min(panelW - 1, (box.xMax + reduce - 1) / reduce * scale + 2)
                let y1 = min(panelH - 1, (box.yMax + reduce - 1) / reduce * scale + 2)
                canvas.strokeRect(x0: ox + x0, y0: oy + y0, x1: ox + x1, y1: oy + y1, colour: colour(box.subtype), dash: 4)
            }
        }

        // Legend: a swatch per subtype, then what the marks mean and the window.
        var lx = gap
        let ly = sheetH - legendH + gap
        for s in Subtype.allCases {
            canvas.fillRect(x: lx, y: ly, width: lineH, height: lineH, colour: colour(s))
            lx += lineH + 4
            canvas.drawText(s.name, x: lx, y: ly, scale: textScale, colour: RGBColour(230, 230, 230))
            lx += BitmapFont.width(of: s.name, scale: textScale) + 10
        }
        canvas.drawText("LINE=MASK  DASH=BOX  W80/L40", x: lx + 6, y: ly, scale: textScale, colour: RGBColour(160, 160, 160))
        return canvas
    }

    /// Slice `k` reduced by `factor` in both directions: the mean HU and the OR of the bitmask over
    /// each `factor × factor` block (edge blocks use the voxels they have).
    static func reduced(hu: Volume<Float>, bitmask: Volume<UInt8>, slice k: Int, factor: Int) -> ([Float], [UInt8]) {
        let w = hu.geometry.size.i, h = hu.geometry.size.j, base = k * w * h
        if factor == 1 { return (Array(hu.voxels[base..<(base + w * h)]), Array(bitmask.voxels[base..<(base + w * h)])) }
        let sw = (w + factor - 1) / factor, sh = (h + factor - 1) / factor
        var means = [Float](repeating: 0, count: sw * sh), bits = [UInt8](repeating: 0, count: sw * sh)
        for y in 0..<sh {
            for x in 0..<sw {
                var sum: Float = 0, count: Float = 0, any: UInt8 = 0
                for yy in (y * factor)..<min(h, (y + 1) * factor) {
                    for xx in (x * factor)..<min(w, (x + 1) * factor) {
                        sum += hu.voxels[base + yy * w + xx]; count += 1
                        any |= bitmask.voxels[base + yy * w + xx]
                    }
                }
                means[y * sw + x] = sum / count
                bits[y * sw + x] = any
            }
        }
        return (means, bits)
    }

    /// Reads a case's CT and masks from the release at `root` and renders its montage. Uses
    /// `masks3d/<case>.nii.gz`, or the single-label map in `labelsTr/` when the release has no bitmasks.
    public static func render(release root: String, entry: QCCaseEntry) throws(QCError) -> RGBCanvas {
        let imagePath = root + "/imagesTr/\(entry.caseID.rawValue)_0000.nii.gz"
        let bitmaskPath = root + "/masks3d/\(entry.caseID.rawValue).nii.gz"
        let labelPath = root + "/labelsTr/\(entry.caseID.rawValue).nii.gz"
        let hu: Volume<Float>
        do { hu = try NIfTIFile.readScaled(imagePath, as: Float.self) } catch { throw QCError(imagePath, "\(error)") }
        var bitmask: Volume<UInt8>
        let useBitmask = FileManager.default.fileExists(atPath: bitmaskPath)
        let maskPath = useBitmask ? bitmaskPath : labelPath
        do {
            guard case .uint8(let v) = try NIfTIFile.read(maskPath).volume else {
                throw QCError(maskPath, "the mask is not stored as uint8")
            }
            bitmask = v
        } catch let error as QCError { throw error } catch { throw QCError(maskPath, "\(error)") }
        if !useBitmask {
            for i in bitmask.voxels.indices where bitmask.voxels[i] != 0 {
                bitmask.voxels[i] = bitmask.voxels[i] <= 5 ? UInt8(1 << (bitmask.voxels[i] - 1)) : 0
            }
        }
        guard bitmask.geometry.size == hu.geometry.size, hu.voxels.count == hu.geometry.size.count,
              bitmask.voxels.count == bitmask.geometry.size.count else {
            throw QCError(maskPath, "the mask grid \(bitmask.geometry.size) differs from the image grid \(hu.geometry.size)")
        }
        return render(caseID: entry.caseID, hu: hu, bitmask: bitmask, boxes: entry.boxes)
    }

    /// Encodes a canvas as an RGB PNG.
    public static func png(_ canvas: RGBCanvas) throws(QCError) -> [UInt8] {
        do { return try PNGEncoder.encode(width: canvas.width, height: canvas.height, colorType: .rgb, pixels: canvas.rgb) } catch {
            throw QCError("montage", "\(error)")
        }
    }
}
