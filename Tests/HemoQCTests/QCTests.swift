import Foundation
import Testing
import HemoCore
import HemoRelease
import HemoRaster
import HemoSynth
import NIfTI
import PNG
@testable import HemoQC

/// A small raw cohort on disk: case_000 negative, the others with IPH blobs, SDH strips and, for
/// every third case, an SAH track; weak labels that disagree for case_002.
struct QCCohort {
    let root: String
    static let geometry = Geometry(size: GridSize(40, 32, 16), spacing: SIMD3(0.9, 0.9, 5),
                                   affine: Affine(rowMajor: [0.9, 0, 0, -18, 0, 0.9, 0, -14, 0, 0, 5, -40, 0, 0, 0, 1]))

    static func make(count: Int) throws -> QCCohort {
        let root = NSTemporaryDirectory() + "hemo-qc-cohort-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        var weak = "case,any,EPH,SDH,SAH,IPH,IVH\n"
        for n in 0..<count {
            let name = String(format: "case_%03d", n)
            let dir = root + "/" + name
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            var ct = Volume<Int16>(geometry: geometry, repeating: 0)
            var labels = Volume<UInt8>(geometry: geometry, repeating: 0)
            let g = geometry.size
            for k in 0..<g.k {
                for j in 0..<g.j {
                    for i in 0..<g.i {
                        let dc = (i - 20) * (i - 20) + (j - 16) * (j - 16)
                        ct[i, j, k] = dc < 196 ? Int16(30 + (i * 3 + j + k) % 11) : (dc < 225 ? 900 : -1000)
                        guard n > 0, k >= 2, k < 2 + 3 + n else { continue }
                        let di = i - (14 + n), dj = j - 15
                        if di * di + dj * dj <= 10 { labels[i, j, k] = 4 }
                        if i == 31 && j >= 8 && j < 22 { labels[i, j, k] = 2 }
                        if n % 3 == 0 && i + j == 30 && k == 3 { labels[i, j, k] = 3 }
                    }
                }
            }
            try NIfTIFile.write(ct, to: dir + "/ct.nii.gz", options: NIfTIWriteOptions())
            try NIfTIFile.write(labels, to: dir + "/labelmap.nii.gz", options: NIfTIWriteOptions())
            let truth = n == 0 ? "0,0,0,0,0,0" : (n == 2 ? "0,0,0,0,0,0" : "1,0,1,\(n % 3 == 0 ? 1 : 0),1,0")
            weak += "\(name),\(truth)\n"
        }
        try weak.write(toFile: root + "/weak_labels.csv", atomically: true, encoding: .utf8)
        return QCCohort(root: root)
    }

    func buildRelease() throws -> String {
        let out = root + "-release"
        _ = try ReleaseBuilder(options: ReleaseOptions(), threads: 2, force: false).build(cohort: try Cohort.open(root), destination: out)
        return out
    }
}

/// Checks HTML5 structure: the doctype, and that every non-void element is closed in order.
func unbalancedTags(_ html: String) -> [String] {
    let void: Set<String> = ["meta", "img", "br", "hr", "link", "input", "line", "rect"]
    var stack: [String] = [], problems: [String] = []
    var scanner = html[...]
    while let open = scanner.firstIndex(of: "<") {
        guard let close = scanner[open...].firstIndex(of: ">") else { problems.append("unterminated tag"); break }
        let tag = scanner[scanner.index(after: open)..<close]
        scanner = scanner[scanner.index(after: close)...]
        if tag.hasPrefix("!") { continue }
        let selfClosing = tag.hasSuffix("/")
        let name = tag.drop { $0 == "/" }.prefix { $0.isLetter || $0.isNumber }.lowercased()
        if tag.hasPrefix("/") {
            if stack.last == name { stack.removeLast() } else { problems.append("</\(name)> closes <\(stack.last ?? "nothing")>") }
        } else if !selfClosing && !void.contains(name) {
            stack.append(name)
        }
    }
    return problems + stack.map { "<\($0)> never closed" }
}

@Suite(.serialized) struct QCTests {
    @Test func slicesAreAllPositivesUpToTheCapThenEvenlySpaced() {
        #expect(CaseMontage.chooseSlices(positive: [3, 4, 9], sliceCount: 20) == [3, 4, 9])
        let many = Array(10..<40)
        let chosen = CaseMontage.chooseSlices(positive: many, sliceCount: 50)
        #expect(chosen.count == CaseMontage.maximumPanels)
        #expect(chosen.first == 10 && chosen.last == 39)
        #expect(chosen == chosen.sorted() && Set(chosen).count == chosen.count)
        #expect(CaseMontage.chooseSlices(positive: [], sliceCount: 35) == [5, 10, 15, 20, 25, 30])
        #expect(CaseMontage.chooseSlices(positive: [], sliceCount: 3) == [0, 1, 2])
    }

    @Test func montageDrawsOutlinesAndBoxesInSubtypeColoursAndLibPNGDecodesItExactly() throws {
        let geometry = Geometry(size: GridSize(32, 24, 4), spacing: SIMD3(1, 1, 1), affine: Affine(rowMajor: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]))
        let hu = Volume<Float>(geometry: geometry, repeating: 40)
        var bits = Volume<UInt8>(geometry: geometry, repeating: 0)
        for j in 8..<14 { for i in 10..<18 { bits[i, j, 2] = 0b1000 } }  // IPH in slice 2
        let boxes = [QCBox(slice: 2, subtype: .iph, xMin: 10, yMin: 8, xMax: 18, yMax: 14)]
        let canvas = CaseMontage.render(caseID: CaseID("m1")!, hu: hu, bitmask: bits, boxes: boxes)
        let iph = CaseMontage.colour(.iph)
        var colours = Set<[UInt8]>()
        for p in stride(from: 0, to: canvas.rgb.count, by: 3) { colours.insert(Array(canvas.rgb[p..<(p + 3)])) }
        #expect(colours.contains([iph.red, iph.green, iph.blue]))
        #expect(colours.contains([128, 128, 128]))  // HU 40 is mid-grey in W80/L40
        // One panel (slice 2), enlarged 8×, at (6, 46): header 26 px, caption 20 px, gap 6 px.
        func pixel(_ x: Int, _ y: Int) -> [UInt8] { let p = (y * canvas.width + x) * 3; return Array(canvas.rgb[p..<(p + 3)]) }
        #expect(canvas.width == 620 && canvas.height == 46 + 24 * 8 + 6 + 26)
        #expect(pixel(6 + 10 * 8, 46 + 8 * 8) == [iph.red, iph.green, iph.blue])        // outline corner
        #expect(pixel(6 + 10 * 8 - 1, 46 + 11 * 8) == [iph.red, iph.green, iph.blue])   // outline, one pixel outside
        #expect(pixel(6 + 14 * 8, 46 + 11 * 8) == [102, 153, 108])                      // 30 % tint inside
        #expect(pixel(6 + 10 * 8 - 3, 46 + 8 * 8 - 3) == [iph.red, iph.green, iph.blue]) // dashed box corner
        #expect(pixel(6 + 2, 46 + 2) == [128, 128, 128])                                // plain brain window
        let png = try CaseMontage.png(canvas)
        let decoded = try decodeWithLibPNG(png)
        #expect(decoded.width == canvas.width && decoded.height == canvas.height)
        #expect(decoded.pixels == canvas.rgb)
    }

    @Test func libPNGRejectsACorruptedMontage() throws {
        let canvas = RGBCanvas(width: 8, height: 8, background: RGBColour(1, 2, 3))
        var png = try CaseMontage.png(canvas)
        #expect(try decodeWithLibPNG(png).pixels == canvas.rgb)
        png[png.count / 2] ^= 0xFF
        #expect(throws: LibPNGFailure.self) { try decodeWithLibPNG(png) }
    }

    @Test func qcOfABuiltReleaseWritesDecodableMontagesAndAStaticValidReport() throws {
        let cohort = try QCCohort.make(count: 4)
        let release = try cohort.buildRelease()
        let out = cohort.root + "-qc"
        let summary = try QualityControl.run(release: release, output: out, threads: 2)
        #expect(summary.problems.isEmpty)
        #expect(summary.montages == 4)
        #expect(summary.files == ["cases/case_000.png", "cases/case_001.png", "cases/case_002.png", "cases/case_003.png", "index.html"])
        for file in summary.files where file.hasSuffix(".png") {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: out + "/" + file)))
            let decoded = try decodeWithLibPNG(bytes)
            let ours = try PNGStructure(parsing: bytes)
            #expect(decoded.width == ours.width && decoded.height == ours.height)
            #expect(try ours.unfilteredPixels() == decoded.pixels)
        }
        // The release's own grayscale mask slices decode too.
        let maskSlice = release + "/masks2d/case_001/003.png"
        let mask = try decodeWithLibPNG([UInt8](try Data(contentsOf: URL(fileURLWithPath: maskSlice))), rgb: false)
        #expect(mask.width == 40 && mask.height == 32 && mask.pixels.contains(4))

        let html = try String(contentsOfFile: out + "/index.html", encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>\n<html lang=\"en\">"))
        #expect(unbalancedTags(html).isEmpty, "\(unbalancedTags(html))")
        #expect(!html.lowercased().contains("<script"))
        #expect(!html.contains("http://") && !html.contains("https://"))
        for n in 0..<4 { #expect(html.contains("href=\"cases/case_00\(n).png\"")) }
        #expect(html.contains("<svg class=\"chart\""))
        // Weak labels: case_002 has blood but weak labels say none.
        #expect(html.contains("Cases that disagree with their weak labels"))
        let disagreeSection = html.components(separatedBy: "Cases that disagree")[1].components(separatedBy: "<h2>")[0]
        #expect(disagreeSection.contains("case_002") && !disagreeSection.contains("case_001"))
        #expect(!html.contains("Slice probabilities"))
        // IPH row: 3 positive cases.
        #expect(html.contains("IPH <span class=\"muted\">"))
    }

    @Test func outputBytesDoNotDependOnThreads() throws {
        let cohort = try QCCohort.make(count: 3)
        let release = try cohort.buildRelease()
        let one = try QualityControl.run(release: release, output: cohort.root + "-qc1", threads: 1)
        let three = try QualityControl.run(release: release, output: cohort.root + "-qc3", threads: 3)
        #expect(one.files == three.files)
        for file in one.files {
            let a = try Data(contentsOf: URL(fileURLWithPath: cohort.root + "-qc1/" + file))
            let b = try Data(contentsOf: URL(fileURLWithPath: cohort.root + "-qc3/" + file))
            #expect(a == b, "\(file) differs")
        }
    }

    @Test func pseudoLabelReportShowsProbabilityDistributions() throws {
        let cohort = try QCCohort.make(count: 2)
        let release = try cohort.buildRelease()
        // Turn the release into a pseudo-label one: kind and p_* columns.
        let datasetPath = release + "/dataset.json"
        let dataset = try String(contentsOfFile: datasetPath, encoding: .utf8)
        try dataset.replacingOccurrences(of: "\"annotations\"", with: "\"pseudo-labels\"").write(toFile: datasetPath, atomically: true, encoding: .utf8)
        let slicePath = release + "/labels/slice_labels.csv"
        let table = try CSVTable.parse(try String(contentsOfFile: slicePath, encoding: .utf8), source: slicePath)
        var pseudo = CSVTable(header: table.header + ["p_any", "p_EPH", "p_SDH", "p_SAH", "p_IPH", "p_IVH"])
        for row in table.rows {
            let any = row[table.column("any")!] == "1"
            pseudo.rows.append(row + [any ? "0.9500" : "0.0200", "0.0000", "0.1000", "0.0000", any ? "0.8800" : "0.0100", "1.0000"])
        }
        try pseudo.rendered().write(toFile: slicePath, atomically: true, encoding: .utf8)
        let contents = try ReleaseContents(root: release)
        #expect(contents.isPseudoLabels)
        #expect(contents.sliceProbabilities.map(\.column) == ["p_any", "p_EPH", "p_SDH", "p_SAH", "p_IPH", "p_IVH"])
        #expect(QCReport.probabilityHistogram(contents.sliceProbabilities[5].values)[9] == table.rows.count)
        let html = QCReport.html(contents, title: "pseudo", montages: [:])
        #expect(html.contains("<h2>Slice probabilities</h2>"))
        #expect(html.contains("p_IPH (\(table.rows.count) slices)"))
        #expect(unbalancedTags(html).isEmpty, "\(unbalancedTags(html))")
    }

    @Test func histogramsBinVolumesAndProbabilities() {
        #expect(QCReport.volumeHistogram([0.001, 0.05, 0.5, 0.5, 5, 50, 500]) == [1, 1, 2, 1, 1, 1])
        #expect(QCReport.probabilityHistogram([0, 0.05, 0.1, 0.99, 1.0]) == [2, 1, 0, 0, 0, 0, 0, 0, 0, 2])
        #expect(QCReport.escape("a<b & \"c\">") == "a&lt;b &amp; &quot;c&quot;&gt;")
    }

    @Test func missingTablesAreTypedErrorsNamingTheFile() {
        let empty = NSTemporaryDirectory() + "hemo-qc-empty-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        do {
            _ = try ReleaseContents(root: empty)
            Issue.record("expected an error")
        } catch {
            #expect(error.subject.hasSuffix("labels/patient_labels.csv"))
        }
    }
}
