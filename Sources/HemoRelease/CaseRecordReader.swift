import HemoCore

/// Reads the JSON of a ``CaseRecord`` in the shape `JSONEncoder` writes it (and
/// ``JournalLineEncoder`` mirrors), without `JSONDecoder`'s generic machinery: a coordinator
/// decodes one record per result on its poll thread, and `JSONDecoder` was half of that thread's
/// CPU (`scripts/bench/scale.sh` under `perf`).
///
/// It is a fast path, not a second format: any value it does not expect (a DICOM exam's record,
/// a missing or extra key, a number of the wrong kind, an unknown subtype) gives `nil`, and the
/// caller decodes with `JSONDecoder`, which either reads it or names the problem. The tests check
/// that both readers give equal records.
public enum CaseRecordReader {
    /// The record of `value`, or `nil` when it is not in the expected shape.
    public static func record(_ value: JSONValue) -> CaseRecord? {
        // A DICOM exam's record (series and instances) takes the JSONDecoder path.
        guard let fields = object(value, ["boxes", "geometry", "id", "lesions", "millilitres", "slices", "subtypes"], optional: ["exam"]),
              let idText = fields["id"]?.stringValue, let id = CaseID(idText),
              let geometry = fields["geometry"].flatMap(Self.geometry),
              let slices = Self.every(fields["slices"], Self.slice),
              let boxes = Self.every(fields["boxes"], Self.box),
              let lesions = Self.every(fields["lesions"], Self.lesion),
              let millilitres = fields["millilitres"].flatMap(Self.millilitres),
              let subtypes = fields["subtypes"].flatMap(Self.subtypes) else { return nil }
        var exam: ExamCall? = nil
        if let e = fields["exam"] {
            guard let call = Self.exam(e) else { return nil }
            exam = call
        }
        var record = CaseRecord(id: id, geometry: geometry, sliceDecisions: [], sliceProbabilities: [])
        record.slices = slices
        record.boxes = boxes
        record.lesions = lesions
        record.millilitres = millilitres
        record.subtypes = subtypes
        record.exam = exam
        return record
    }

    /// The members of an object with exactly the keys `required` plus any of `optional`, each once
    /// (a linear lookup: records' objects have at most six members).
    static func object(_ v: JSONValue, _ required: [String], optional: [String] = []) -> Members? {
        guard case .object(let members) = v, members.count >= required.count, members.count <= required.count + optional.count else { return nil }
        for (n, (k, _)) in members.enumerated() {
            guard required.contains(k) || optional.contains(k) else { return nil }
            for m in 0..<n where members[m].0 == k { return nil }
        }
        for k in required where !members.contains(where: { $0.0 == k }) { return nil }
        return Members(members: members)
    }

    /// An object's members, looked up by key.
    struct Members {
        let members: [(String, JSONValue)]
        subscript(_ key: String) -> JSONValue? { members.first { $0.0 == key }?.1 }
    }

    /// Each element of the array `v` read by `read`, or `nil` when `v` is not an array or any element is out of shape.
    static func every<T>(_ v: JSONValue?, _ read: (JSONValue) -> T?) -> [T]? {
        guard let a = v?.arrayValue else { return nil }
        var out: [T] = []
        out.reserveCapacity(a.count)
        for e in a { guard let x = read(e) else { return nil }; out.append(x) }
        return out
    }

    static func int(_ v: JSONValue?) -> Int? {
        guard case .numberText(let t)? = v else { return nil }
        return Int(t)
    }

    static func double(_ v: JSONValue?) -> Double? {
        guard case .numberText(let t)? = v, let d = Double(t), d.isFinite else { return nil }
        return d
    }

    static func doubles(_ v: JSONValue?, count: Int? = nil) -> [Double]? {
        guard let d = every(v, { double($0) }), count == nil || d.count == count else { return nil }
        return d
    }

    static func ints(_ v: JSONValue?, count: Int) -> [Int]? {
        guard let n = every(v, { int($0) }), n.count == count else { return nil }
        return n
    }

    static func subtype(_ v: JSONValue?) -> Subtype? {
        guard let n = int(v), let raw = UInt8(exactly: n) else { return nil }
        return Subtype(rawValue: raw)
    }

    static func subtypes(_ v: JSONValue) -> Set<Subtype>? {
        every(v, { subtype($0) }).map(Set.init)
    }

    static func geometry(_ v: JSONValue) -> Geometry? {
        guard let g = object(v, ["affine", "qformCode", "sformCode", "size", "spacing"]),
              let affine = g["affine"].flatMap({ object($0, ["rows"]) }), let rows = affine["rows"]?.arrayValue, rows.count == 4,
              let size = g["size"].flatMap({ object($0, ["i", "j", "k"]) }),
              let i = int(size["i"]), let j = int(size["j"]), let k = int(size["k"]),
              let spacing = doubles(g["spacing"], count: 3),
              let q = int(g["qformCode"]), let s = int(g["sformCode"]) else { return nil }
        var affineRows: [SIMD4<Double>] = []
        for r in rows {
            guard let d = doubles(r, count: 4) else { return nil }
            affineRows.append(SIMD4(d[0], d[1], d[2], d[3]))
        }
        return Geometry(size: GridSize(i, j, k), spacing: SIMD3(spacing[0], spacing[1], spacing[2]),
                        affine: Affine(rows: affineRows), qformCode: q, sformCode: s)
    }

    static func slice(_ v: JSONValue) -> SliceRow? {
        guard let s = object(v, ["slice", "subtypes"], optional: ["any", "probabilities"]),
              let k = int(s["slice"]), let subtypes = s["subtypes"].flatMap(Self.subtypes) else { return nil }
        var row = SliceRow(slice: k, subtypes: subtypes, probabilities: nil)
        if let p = s["probabilities"] {
            guard let values = doubles(p) else { return nil }
            row.probabilities = values
        }
        if let a = s["any"] {
            guard case .bool(let b) = a else { return nil }
            row.any = b
        }
        return row
    }

    static func box(_ v: JSONValue) -> BoxRow? {
        guard let b = object(v, ["box", "pixels", "slice", "subtype"], optional: ["score"]),
              let box = b["box"].flatMap({ object($0, ["xMax", "xMin", "yMax", "yMin"]) }),
              let x0 = int(box["xMin"]), let x1 = int(box["xMax"]), let y0 = int(box["yMin"]), let y1 = int(box["yMax"]),
              let pixels = int(b["pixels"]), let k = int(b["slice"]), let subtype = subtype(b["subtype"]) else { return nil }
        var score: Double? = nil
        if let raw = b["score"] {
            guard let s = double(raw) else { return nil }
            score = s
        }
        return BoxRow(slice: k, subtype: subtype, box: BoundingBox2D(xMin: x0, yMin: y0, xMax: x1, yMax: y1), pixels: pixels, score: score)
    }

    static func lesion(_ v: JSONValue) -> LesionRow? {
        guard let l = object(v, ["box", "centroid", "lesion", "ml", "subtype", "voxels"]),
              let box = l["box"].flatMap({ object($0, ["max", "min"]) }),
              let hi = ints(box["max"], count: 3), let lo = ints(box["min"], count: 3),
              let c = doubles(l["centroid"], count: 3), let n = int(l["lesion"]), let ml = double(l["ml"]),
              let subtype = subtype(l["subtype"]), let voxels = int(l["voxels"]) else { return nil }
        return LesionRow(lesion: n, subtype: subtype, voxels: voxels, ml: ml,
                         box: BoundingBox3D(min: SIMD3(lo[0], lo[1], lo[2]), max: SIMD3(hi[0], hi[1], hi[2])),
                         centroid: SIMD3(c[0], c[1], c[2]))
    }

    /// `[subtype, ml, subtype, ml, …]`, as a dictionary with non-string keys is encoded.
    static func millilitres(_ v: JSONValue) -> [Subtype: Double]? {
        guard let a = v.arrayValue, a.count % 2 == 0 else { return nil }
        var out: [Subtype: Double] = [:]
        for n in stride(from: 0, to: a.count, by: 2) {
            guard let s = subtype(a[n]), let ml = double(a[n + 1]), out.updateValue(ml, forKey: s) == nil else { return nil }
        }
        return out
    }

    static func exam(_ v: JSONValue) -> ExamCall? {
        guard let e = object(v, ["any", "probabilities", "subtypes"]), case .bool(let any)? = e["any"],
              let p = doubles(e["probabilities"]), let subtypes = e["subtypes"].flatMap(Self.subtypes) else { return nil }
        return ExamCall(probabilities: p, any: any, subtypes: subtypes)
    }
}
