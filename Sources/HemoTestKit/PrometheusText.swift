/// A parsed Prometheus text exposition (format 0.0.4): samples, and the HELP and TYPE of each
/// family. Enough for tests, the scale benchmark and scripts; not a full validator.
public struct PrometheusText: Sendable {
    /// One sample line: `name{label="value",…} value`.
    public struct Sample: Sendable, Equatable {
        /// The metric name (for histograms: with its `_bucket`, `_sum` or `_count` suffix).
        public var name: String
        /// The labels, in the order written.
        public var labels: [String: String]
        /// The value (`+Inf`, `-Inf` and `NaN` allowed).
        public var value: Double
    }

    /// Every sample, in order.
    public private(set) var samples: [Sample] = []
    /// Family name → HELP text.
    public private(set) var help: [String: String] = [:]
    /// Family name → TYPE (`counter`, `gauge`, `histogram`, …).
    public private(set) var types: [String: String] = [:]

    /// A line that is not a comment, a blank or a sample.
    public struct ParseError: Error, CustomStringConvertible, Sendable {
        /// 1-based line number.
        public var line: Int
        /// Why.
        public var reason: String
        /// `line N: reason`.
        public var description: String { "exposition line \(line): \(reason)" }
    }

    /// Parses `text`.
    /// - Throws: ``ParseError`` naming the first line that is not valid exposition text.
    public init(_ text: String) throws(ParseError) {
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingTrailingSpaces()
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: true)
                guard parts.count >= 3 else { continue }
                switch parts[1] {
                case "HELP": help[String(parts[2])] = parts.count > 3 ? String(parts[3]) : ""
                case "TYPE": types[String(parts[2])] = parts.count > 3 ? String(parts[3]) : ""
                default: break
                }
                continue
            }
            samples.append(try Self.sample(line, number: index + 1))
        }
    }

    private static func sample(_ line: Substring, number: Int) throws(ParseError) -> Sample {
        var labels: [String: String] = [:]
        let name: Substring
        var rest: Substring
        if let brace = line.firstIndex(of: "{") {
            name = line[..<brace]
            var i = line.index(after: brace)
            while true {
                guard i < line.endIndex else { throw ParseError(line: number, reason: "unterminated label set") }
                if line[i] == "}" { i = line.index(after: i); break }
                if line[i] == "," || line[i] == " " { i = line.index(after: i); continue }
                guard let eq = line[i...].firstIndex(of: "="), line.index(after: eq) < line.endIndex,
                      line[line.index(after: eq)] == "\"" else {
                    throw ParseError(line: number, reason: "a label without =\"value\"")
                }
                let key = String(line[i..<eq])
                var j = line.index(eq, offsetBy: 2)
                var value = ""
                while true {
                    guard j < line.endIndex else { throw ParseError(line: number, reason: "unterminated label value") }
                    let ch = line[j]
                    if ch == "\"" { break }
                    if ch == "\\" {
                        j = line.index(after: j)
                        guard j < line.endIndex else { throw ParseError(line: number, reason: "dangling escape") }
                        value.append(line[j] == "n" ? "\n" : line[j])
                    } else {
                        value.append(ch)
                    }
                    j = line.index(after: j)
                }
                labels[key] = value
                i = line.index(after: j)
            }
            rest = line[i...]
        } else {
            guard let space = line.firstIndex(of: " ") else { throw ParseError(line: number, reason: "a sample without a value") }
            name = line[..<space]
            rest = line[space...]
        }
        guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == ":") }) else {
            throw ParseError(line: number, reason: "'\(name)' is not a metric name")
        }
        rest = rest.drop(while: { $0 == " " })
        let valueText = rest.split(separator: " ").first.map(String.init) ?? ""
        let value: Double?
        switch valueText {
        case "+Inf": value = .infinity
        case "-Inf": value = -.infinity
        case "NaN": value = .nan
        default: value = Double(valueText)
        }
        guard let value else { throw ParseError(line: number, reason: "'\(valueText)' is not a number") }
        return Sample(name: String(name), labels: labels, value: value)
    }

    /// The value of the sample named `name` whose labels include `labels`, or `nil`.
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { sample in sample.name == name && labels.allSatisfy { k, v in sample.labels[k] == v } }?.value
    }

    /// The sum over every sample named `name` (e.g. a counter over all its label values).
    public func sum(_ name: String) -> Double {
        samples.filter { $0.name == name }.reduce(0) { $0 + $1.value }
    }
}

extension Substring {
    fileprivate func trimmingTrailingSpaces() -> Substring {
        var s = self
        while let last = s.last, last == " " || last == "\r" || last == "\t" { s = s.dropLast() }
        return s
    }
}
