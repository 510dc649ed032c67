import Foundation
import HemoCore

/// The JSON of a ``JournalEntry`` written by hand: the same bytes `JSONEncoder` with
/// `.sortedKeys` writes (the tests compare the two), several times faster, because a coordinator
/// writes one journal line per released exam and `JSONEncoder`'s intermediate tree was a fifth of
/// its writer threads' CPU (scripts/bench/scale.sh). Keys in `JSONEncoder`'s sorted order, doubles
/// as `description` without a trailing `.0`, `/` escaped as `\/`; a non-finite double throws as
/// `JSONEncoder` does.
enum JournalLineEncoder {
    /// The entry's JSON bytes.
    /// - Throws: `EncodingError` for a non-finite number (`JSONEncoder` refuses them too).
    static func encode(_ e: JournalEntry) throws -> [UInt8] {
        var w = JSONBytes()
        w.out.reserveCapacity(1024)
        w.open()
        w.key("caseName", first: true); w.string(e.caseName)
        if let f = e.failure {
            w.key("failure")
            w.open()
            w.key("caseName", first: true); w.string(f.caseName)
            w.key("reason"); w.string(f.reason)
            w.key("stage"); w.string(f.stage)
            w.close()
        }
        if let inputs = e.inputs {
            w.key("inputs")
            w.array(inputs) { w, i in
                w.open()
                w.key("path", first: true); w.string(i.path)
                w.key("sha256"); w.string(i.sha256)
                w.close()
            }
        }
        if let r = e.record {
            w.key("record")
            try record(r, &w)
        }
        w.close()
        return w.out
    }

    private static func record(_ r: CaseRecord, _ w: inout JSONBytes) throws {
        w.open()
        w.key("boxes", first: true)
        try w.array(r.boxes) { w, b in
            w.open()
            w.key("box", first: true)
            w.open()
            w.key("xMax", first: true); w.int(b.box.xMax)
            w.key("xMin"); w.int(b.box.xMin)
            w.key("yMax"); w.int(b.box.yMax)
            w.key("yMin"); w.int(b.box.yMin)
            w.close()
            w.key("pixels"); w.int(b.pixels)
            if let s = b.score { w.key("score"); try w.double(s) }
            w.key("slice"); w.int(b.slice)
            w.key("subtype"); w.int(Int(b.subtype.rawValue))
            w.close()
        }
        if let d = r.dicom {
            w.key("dicom")
            w.open()
            w.key("series", first: true)
            try w.array(d.series) { w, s in try series(s, &w) }
            w.key("slices")
            w.array(d.slices) { w, s in
                guard let s else { w.raw("null"); return }
                w.open()
                var first = true
                if let n = s.instanceNumber { w.key("instanceNumber", first: true); w.int(n); first = false }
                w.key("sopInstanceUID", first: first); w.string(s.sopInstanceUID)
                w.close()
            }
            w.close()
        }
        if let x = r.exam {
            w.key("exam")
            w.open()
            w.key("any", first: true); w.raw(x.any ? "true" : "false")
            w.key("probabilities"); try w.doubles(x.probabilities)
            w.key("subtypes"); w.ints(x.subtypes.sorted().map { Int($0.rawValue) })
            w.close()
        }
        w.key("geometry")
        w.open()
        w.key("affine", first: true)
        w.open()
        w.key("rows", first: true)
        try w.array(r.geometry.affine.rows) { w, row in try w.doubles([row.x, row.y, row.z, row.w]) }
        w.close()
        w.key("qformCode"); w.int(r.geometry.qformCode)
        w.key("sformCode"); w.int(r.geometry.sformCode)
        w.key("size")
        w.open()
        w.key("i", first: true); w.int(r.geometry.size.i)
        w.key("j"); w.int(r.geometry.size.j)
        w.key("k"); w.int(r.geometry.size.k)
        w.close()
        w.key("spacing"); try w.doubles([r.geometry.spacing.x, r.geometry.spacing.y, r.geometry.spacing.z])
        w.close()
        w.key("id"); w.string(r.id.rawValue)
        w.key("lesions")
        try w.array(r.lesions) { w, l in
            w.open()
            w.key("box", first: true)
            w.open()
            w.key("max", first: true); w.ints([l.box.max.x, l.box.max.y, l.box.max.z])
            w.key("min"); w.ints([l.box.min.x, l.box.min.y, l.box.min.z])
            w.close()
            w.key("centroid"); try w.doubles([l.centroid.x, l.centroid.y, l.centroid.z])
            w.key("lesion"); w.int(l.lesion)
            w.key("ml"); try w.double(l.ml)
            w.key("subtype"); w.int(Int(l.subtype.rawValue))
            w.key("voxels"); w.int(l.voxels)
            w.close()
        }
        // As CaseRecord.encode(to:) writes it: [subtype, ml, subtype, ml, …] by subtype.
        w.key("millilitres")
        w.raw("[")
        for (n, s) in r.millilitres.keys.sorted().enumerated() {
            if n > 0 { w.raw(",") }
            w.int(Int(s.rawValue)); w.raw(","); try w.double(r.millilitres[s]!)
        }
        w.raw("]")
        w.key("slices")
        try w.array(r.slices) { w, s in
            w.open()
            var first = true
            if let a = s.any { w.key("any", first: true); w.raw(a ? "true" : "false"); first = false }
            if let p = s.probabilities { w.key("probabilities", first: first); try w.doubles(p); first = false }
            w.key("slice", first: first); w.int(s.slice)
            w.key("subtypes"); w.ints(s.subtypes.sorted().map { Int($0.rawValue) })
            w.close()
        }
        w.key("subtypes"); w.ints(r.subtypes.sorted().map { Int($0.rawValue) })
        w.close()
    }

    private static func series(_ s: SeriesRow, _ w: inout JSONBytes) throws {
        w.open()
        w.key("columns", first: true); w.int(s.columns)
        w.key("imageType"); w.string(s.imageType)
        w.key("images"); w.int(s.images)
        w.key("kernel"); w.string(s.kernel)
        w.key("modality"); w.string(s.modality)
        w.key("notes"); w.string(s.notes)
        w.key("reason"); w.string(s.reason)
        w.key("rows"); w.int(s.rows)
        w.key("selected"); w.raw(s.selected ? "true" : "false")
        w.key("seriesHash"); w.string(s.seriesHash)
        if let n = s.seriesNumber { w.key("seriesNumber"); w.int(n) }
        w.key("studyHash"); w.string(s.studyHash)
        if let t = s.thickness { w.key("thickness"); try w.double(t) }
        w.key("tilt"); try w.double(s.tilt)
        w.close()
    }
}

/// A byte buffer JSON is written into.
struct JSONBytes {
    var out: [UInt8] = []

    mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { out.append(contentsOf: $0) }
    }
    mutating func open() { out.append(UInt8(ascii: "{")) }
    mutating func close() { out.append(UInt8(ascii: "}")) }

    /// `"key":`, preceded by a comma unless it is the object's first.
    mutating func key(_ k: StaticString, first: Bool = false) {
        if !first { out.append(UInt8(ascii: ",")) }
        out.append(UInt8(ascii: "\""))
        k.withUTF8Buffer { out.append(contentsOf: $0) }
        out.append(UInt8(ascii: "\""))
        out.append(UInt8(ascii: ":"))
    }

    mutating func int(_ v: Int) {
        if v == 0 { out.append(UInt8(ascii: "0")); return }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = v.magnitude, count = 0
        withUnsafeMutableBytes(of: &digits) { d in
            while n > 0 { d[count] = UInt8(ascii: "0") + UInt8(n % 10); n /= 10; count += 1 }
            if v < 0 { out.append(UInt8(ascii: "-")) }
            for i in stride(from: count - 1, through: 0, by: -1) { out.append(d[i]) }
        }
    }

    mutating func ints(_ values: [Int]) {
        out.append(UInt8(ascii: "["))
        for (n, v) in values.enumerated() {
            if n > 0 { out.append(UInt8(ascii: ",")) }
            int(v)
        }
        out.append(UInt8(ascii: "]"))
    }

    /// `JSONEncoder`'s rendering: the shortest round-trip `description`, a trailing `.0` dropped.
    mutating func double(_ v: Double) throws {
        guard v.isFinite else {
            throw EncodingError.invalidValue(v, .init(codingPath: [], debugDescription: "Unable to encode Double.\(v) directly in JSON."))
        }
        var s = v.description
        if s.hasSuffix(".0") { s.removeLast(2) }
        out.append(contentsOf: s.utf8)
    }

    mutating func doubles(_ values: [Double]) throws {
        out.append(UInt8(ascii: "["))
        for (n, v) in values.enumerated() {
            if n > 0 { out.append(UInt8(ascii: ",")) }
            try double(v)
        }
        out.append(UInt8(ascii: "]"))
    }

    mutating func array<T>(_ items: [T], _ body: (inout JSONBytes, T) throws -> Void) rethrows {
        out.append(UInt8(ascii: "["))
        for (n, item) in items.enumerated() {
            if n > 0 { out.append(UInt8(ascii: ",")) }
            try body(&self, item)
        }
        out.append(UInt8(ascii: "]"))
    }

    /// A JSON string as `JSONEncoder` escapes it: `"`, `\`, `/` and control characters.
    mutating func string(_ s: String) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(b)
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(b)
            case UInt8(ascii: "/"): out.append(UInt8(ascii: "\\")); out.append(b)
            case 0x08: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "b"))
            case 0x0C: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "f"))
            case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                        hex[Int(b >> 4)], hex[Int(b & 15)]])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
