/// A CSV table rendered the way the release format needs it: a header line, comma-separated
/// fields, `\n` line ends, quotes only around fields that need them (RFC 4180).
public struct CSVTable: Equatable, Sendable {
    /// Column names.
    public var header: [String]
    /// Rows of already-formatted fields.
    public var rows: [[String]]

    /// A table with `header` and no rows.
    public init(header: [String], rows: [[String]] = []) {
        self.header = header
        self.rows = rows
    }

    /// The table as text.
    public func rendered() -> String {
        var out = header.map(CSVTable.escape).joined(separator: ",") + "\n"
        for r in rows { out += r.map(CSVTable.escape).joined(separator: ",") + "\n" }
        return out
    }

    static func escape(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Parses CSV text (RFC 4180 quoting); the first record is the header.
    /// Throws ``CSVError`` when a quoted field is not closed or a row has the wrong field count.
    public static func parse(_ text: String, source: String) throws -> CSVTable {
        var records: [[String]] = []
        var field = ""
        var record: [String] = []
        var inQuotes = false
        var chars = Array(text.unicodeScalars)[...]
        var line = 1
        while let c = chars.popFirst() {
            if inQuotes {
                if c == "\"" {
                    if chars.first == "\"" { field.unicodeScalars.append("\""); chars.removeFirst() } else { inQuotes = false }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
            } else if c == "\"" && field.isEmpty {
                inQuotes = true
            } else if c == "," {
                record.append(field); field = ""
            } else if c == "\n" || c == "\r" {
                if c == "\r" && chars.first == "\n" { chars.removeFirst() }
                record.append(field); field = ""
                if !(record.count == 1 && record[0].isEmpty) { records.append(record) }
                record = []
                line += 1
            } else {
                field.unicodeScalars.append(c)
            }
        }
        if inQuotes { throw CSVError(source: source, reason: "a quoted field opened near line \(line) is never closed") }
        if !field.isEmpty || !record.isEmpty {
            record.append(field)
            records.append(record)
        }
        guard let header = records.first else { throw CSVError(source: source, reason: "the file is empty; a header line is required") }
        for (n, r) in records.enumerated().dropFirst() where r.count != header.count {
            throw CSVError(source: source, reason: "row \(n + 1) has \(r.count) fields, the header has \(header.count)")
        }
        return CSVTable(header: header, rows: Array(records.dropFirst()))
    }

    /// The index of column `name`, if present.
    public func column(_ name: String) -> Int? { header.firstIndex(of: name) }
}

/// A CSV file that could not be parsed.
public struct CSVError: Error, CustomStringConvertible, Sendable {
    /// The file (or a description of the source).
    public var source: String
    /// What is wrong.
    public var reason: String
    public var description: String { "\(source): \(reason)" }
}
