import Foundation
import HemoCore

/// The static `index.html` of a QC folder: totals per subtype with lesion-volume histograms, the
/// failures, for pseudo-label releases the probability distributions and the cases that disagree
/// with their weak labels, and a grid of thumbnails linking to each case's montage.
///
/// Plain HTML5 with inline CSS and inline SVG: no scripts, nothing fetched from the network,
/// readable offline. The text is a pure function of its inputs.
public enum QCReport {
    /// Upper edges (ml) of the lesion-volume histogram bins; the last bin is open.
    public static let volumeBinEdges: [Double] = [0.01, 0.1, 1, 10, 100]
    /// Labels of the lesion-volume bins.
    public static let volumeBinLabels = ["<0.01", "0.01-0.1", "0.1-1", "1-10", "10-100", "≥100"]

    /// Counts of `values` in the lesion-volume bins.
    public static func volumeHistogram(_ values: [Double]) -> [Int] {
        var counts = [Int](repeating: 0, count: volumeBinEdges.count + 1)
        for v in values { counts[volumeBinEdges.firstIndex { v < $0 } ?? volumeBinEdges.count] += 1 }
        return counts
    }

    /// Counts of probabilities in ten bins of width 0.1 (1.0 falls in the last).
    public static func probabilityHistogram(_ values: [Double]) -> [Int] {
        var counts = [Int](repeating: 0, count: 10)
        for v in values where v.isFinite { counts[max(0, min(9, Int(v * 10)))] += 1 }
        return counts
    }

    /// Escapes `&`, `<`, `>` and `"` for HTML text and attribute values.
    public static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }

    /// An inline SVG bar chart of `counts` with `labels` under the first and last bars; heights
    /// are proportional to log(1 + count) when `logarithmic`, so small counts stay visible.
    static func barChart(_ counts: [Int], labels: [String], colour: String, logarithmic: Bool, title: String) -> String {
        let barW = 22, chartH = 60, labelH = 14, width = counts.count * barW
        let peak = counts.max() ?? 0
        func height(_ c: Int) -> Int {
            guard peak > 0, c > 0 else { return 0 }
            let f = logarithmic ? log(1 + Double(c)) / log(1 + Double(peak)) : Double(c) / Double(peak)
            return max(1, Int((f * Double(chartH - 12)).rounded()))
        }
        var svg = "<svg class=\"chart\" width=\"\(width)\" height=\"\(chartH + labelH)\" viewBox=\"0 0 \(width) \(chartH + labelH)\" role=\"img\" aria-label=\"\(escape(title))\">"
        svg += "<title>\(escape(title))</title>"
        svg += "<line x1=\"0\" y1=\"\(chartH)\" x2=\"\(width)\" y2=\"\(chartH)\" stroke=\"#888\"/>"
        for (i, c) in counts.enumerated() {
            let h = height(c), x = i * barW
            if h > 0 { svg += "<rect x=\"\(x + 2)\" y=\"\(chartH - h)\" width=\"\(barW - 4)\" height=\"\(h)\" fill=\"\(colour)\"/>" }
            if c > 0 { svg += "<text x=\"\(x + barW / 2)\" y=\"\(chartH - h - 2)\" text-anchor=\"middle\">\(c)</text>" }
        }
        if let first = labels.first { svg += "<text x=\"1\" y=\"\(chartH + labelH - 2)\">\(escape(first))</text>" }
        if labels.count > 1, let last = labels.last {
            svg += "<text x=\"\(width - 1)\" y=\"\(chartH + labelH - 2)\" text-anchor=\"end\">\(escape(last))</text>"
        }
        return svg + "</svg>"
    }

    /// CSS colour of a subtype, matching the montages.
    static func cssColour(_ s: Subtype) -> String {
        let c = CaseMontage.colour(s)
        return "rgb(\(c.red),\(c.green),\(c.blue))"
    }

    /// Renders the report for `contents`; `montages` maps a case to its montage's path relative
    /// to the report (cases without one are listed without a picture), `title` heads the page.
    public static func html(_ contents: ReleaseContents, title: String, montages: [CaseID: String]) -> String {
        var h = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>QC: \(escape(title))</title>
        <style>
        body { font-family: system-ui, sans-serif; margin: 24px; background: #fafafa; color: #222; }
        h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ccc; }
        table { border-collapse: collapse; background: #fff; } th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: middle; }
        td.n { text-align: right; font-variant-numeric: tabular-nums; }
        .swatch { display: inline-block; width: 12px; height: 12px; margin-right: 6px; vertical-align: -1px; border: 1px solid #555; }
        .chart text { font-size: 10px; fill: #333; } .muted { color: #777; }
        .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 12px; }
        figure { margin: 0; background: #fff; border: 1px solid #ccc; padding: 6px; }
        figure img { width: 100%; height: auto; display: block; background: #101014; }
        figcaption { font-size: 13px; margin-top: 4px; } .bad { color: #b00; font-weight: 600; }
        .charts { display: flex; flex-wrap: wrap; gap: 16px; } .charts div { font-size: 13px; }
        </style>
        </head>
        <body>

        """
        let positiveCases = contents.cases.filter { !$0.subtypes.isEmpty }.count
        h += "<h1>QC report: \(escape(title))</h1>\n"
        h += "<p>Release kind: <strong>\(escape(contents.kind))</strong> · \(contents.cases.count) cases (\(positiveCases) with blood) · "
        h += "\(contents.cases.reduce(0) { $0 + $1.slices }) slices · \(contents.failures.count) failures. "
        h += "Montages: brain window W80/L40, mask outlines and dashed 2D boxes in the subtype colour.</p>\n"

        h += "<h2>Totals per subtype</h2>\n<table>\n<thead><tr><th>subtype</th><th>cases</th><th>positive slices</th><th>lesions (3D)</th><th>total ml</th><th>lesion volumes (ml)</th></tr></thead>\n<tbody>\n"
        for s in Subtype.allCases {
            let cases = contents.cases.filter { $0.subtypes.contains(s) }.count
            let volumes = contents.lesionVolumes[s] ?? []
            let total = volumes.reduce(0, +)
            h += "<tr><td><span class=\"swatch\" style=\"background:\(cssColour(s))\"></span>\(s.name) <span class=\"muted\">\(escape(s.longName))</span></td>"
            h += "<td class=\"n\">\(cases)</td><td class=\"n\">\(contents.positiveSlices[s] ?? 0)</td><td class=\"n\">\(volumes.count)</td>"
            h += "<td class=\"n\">\(String(format: "%.2f", total))</td><td>"
            h += volumes.isEmpty ? "<span class=\"muted\">none</span>"
                : barChart(volumeHistogram(volumes), labels: [volumeBinLabels.first!, volumeBinLabels.last!], colour: cssColour(s),
                           logarithmic: false, title: "\(s.name) lesion volumes, bins " + volumeBinLabels.joined(separator: ", ") + " ml")
            h += "</td></tr>\n"
        }
        h += "</tbody>\n</table>\n<p class=\"muted\">Volume bins (ml): \(escape(volumeBinLabels.joined(separator: " | "))).</p>\n"

        h += "<h2>Failures</h2>\n"
        if contents.failures.isEmpty {
            h += "<p>No exam failed.</p>\n"
        } else {
            h += "<table>\n<thead><tr><th>case</th><th>stage</th><th>reason</th></tr></thead>\n<tbody>\n"
            for f in contents.failures {
                h += "<tr><td>\(escape(f.caseID))</td><td>\(escape(f.stage))</td><td>\(escape(f.reason))</td></tr>\n"
            }
            h += "</tbody>\n</table>\n"
        }

        if contents.isPseudoLabels || !contents.sliceProbabilities.isEmpty {
            h += "<h2>Slice probabilities</h2>\n"
            if contents.sliceProbabilities.isEmpty {
                h += "<p>The slice table has no p_* columns.</p>\n"
            } else {
                h += "<p class=\"muted\">Ten bins of 0.1 from 0 to 1; bar height ∝ log(1 + slices).</p>\n<div class=\"charts\">\n"
                for (column, values) in contents.sliceProbabilities {
                    let colour = Subtype(name: String(column.dropFirst(2))).map(cssColour) ?? "#555"
                    h += "<div>\(escape(column)) (\(values.count) slices)<br>"
                    h += barChart(probabilityHistogram(values), labels: ["0", "1"], colour: colour, logarithmic: true,
                                  title: "\(column) distribution")
                    h += "</div>\n"
                }
                h += "</div>\n"
            }
        }
        if contents.cases.contains(where: { $0.agreesWithWeakLabels != nil }) {
            let disagreeing = contents.cases.filter { $0.agreesWithWeakLabels == false }
            h += "<h2>Cases that disagree with their weak labels</h2>\n"
            if disagreeing.isEmpty {
                h += "<p>Every case agrees with its weak patient labels.</p>\n"
            } else {
                h += "<table>\n<thead><tr><th>case</th><th>release labels</th><th>weak labels</th></tr></thead>\n<tbody>\n"
                for c in disagreeing {
                    let ours = c.subtypes.isEmpty ? "none" : c.subtypes.map(\.name).joined(separator: " ")
                    let weak = (c.weakSubtypes ?? []).isEmpty ? "none" : c.weakSubtypes!.map(\.name).joined(separator: " ")
                    let link = montages[c.caseID].map { "<a href=\"\(escape($0))\">\(escape(c.caseID.rawValue))</a>" } ?? escape(c.caseID.rawValue)
                    h += "<tr><td>\(link)</td><td>\(ours)</td><td>\(weak)</td></tr>\n"
                }
                h += "</tbody>\n</table>\n"
            }
        }

        h += "<h2>Cases</h2>\n<div class=\"grid\">\n"
        for c in contents.cases {
            let names = c.subtypes.isEmpty ? "no blood" : c.subtypes.map { s in
                "<span class=\"swatch\" style=\"background:\(cssColour(s))\"></span>\(s.name)" + (c.millilitres[s].map { String(format: " %.1f ml", $0) } ?? "")
            }.joined(separator: " ")
            let flag = c.agreesWithWeakLabels == false ? " <span class=\"bad\">disagrees with weak labels</span>" : ""
            h += "<figure>"
            if let path = montages[c.caseID] {
                h += "<a href=\"\(escape(path))\"><img src=\"\(escape(path))\" alt=\"montage of \(escape(c.caseID.rawValue))\" loading=\"lazy\"></a>"
            } else {
                h += "<p class=\"muted\">no montage</p>"
            }
            h += "<figcaption><strong>\(escape(c.caseID.rawValue))</strong> · \(c.positiveSlices)/\(c.slices) positive slices · \(names)\(flag)</figcaption></figure>\n"
        }
        h += "</div>\n</body>\n</html>\n"
        return h
    }
}
