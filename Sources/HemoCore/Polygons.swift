/// A point in continuous pixel coordinates: the centre of pixel (column i, row j) is (x = i, y = j).
///
/// Encoded in JSON as a two-element array `[x, y]`.
public struct PolygonPoint: Hashable, Sendable, Codable {
    /// Column coordinate (pixel centres at integers).
    public var x: Double
    /// Row coordinate (pixel centres at integers).
    public var y: Double

    /// A point at (`x`, `y`).
    public init(x: Double, y: Double) { self.x = x; self.y = y }

    public init(from decoder: Decoder) throws {
        var c = try decoder.unkeyedContainer()
        x = try c.decode(Double.self)
        y = try c.decode(Double.self)
        guard c.isAtEnd else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "a point is [x, y] with two numbers")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(x)
        try c.encode(y)
    }
}

/// Why a polygon document cannot be turned into masks: names the case and the reason.
public struct PolygonError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The case the document belongs to.
    public let caseID: String
    /// A sentence naming the problem.
    public let reason: String
    /// An error for `caseID` with `reason`.
    public init(caseID: String, reason: String) { self.caseID = caseID; self.reason = reason }
    /// A readable sentence.
    public var description: String { "polygons of \(caseID): \(reason)" }
}

/// One annotated region on one axial slice: a subtype and one or more closed rings.
///
/// ## Rasterisation rule
/// A pixel (column i, row j) belongs to the annotation when its centre (x = i, y = j) lies inside
/// the rings by the **even-odd rule**: the rings of one annotation are combined, so a ring inside
/// another ring is a hole, and a ring inside a hole is an island. Rings are implicitly closed (the
/// last point connects back to the first); rings with fewer than three points cover nothing.
///
/// Points exactly on an edge are decided by the standard half-open scanline test: for row j, an
/// edge from (x0, y0) to (x1, y1) crosses the row when `min(y0, y1) ≤ j < max(y0, y1)` (horizontal
/// edges never cross), at `xc = x0 + (j − y0)(x1 − x0)/(y1 − y0)`; the pixel is inside when the number
/// of crossings with `xc > i` is odd. So a centre exactly on a left edge or a top edge is inside, one
/// exactly on a right or bottom edge is outside, and every rule is deterministic.
///
/// Polygons traced by ``PolygonTracer`` run along pixel edges (vertices at half-integer coordinates),
/// so no pixel centre is ever on an edge and rasterising them gives the traced mask back exactly.
public struct PolygonAnnotation: Hashable, Sendable, Codable {
    /// Slice index k (0-based, along the third voxel axis).
    public var slice: Int
    /// The subtype the region was annotated as.
    public var subtype: Subtype
    /// Closed rings of points; even-odd combination (outer boundary, holes, islands).
    public var rings: [[PolygonPoint]]

    /// An annotation on `slice` of `subtype` with `rings`.
    public init(slice: Int, subtype: Subtype, rings: [[PolygonPoint]]) {
        self.slice = slice; self.subtype = subtype; self.rings = rings
    }

    enum CodingKeys: String, CodingKey { case slice, subtype, rings }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        slice = try c.decode(Int.self, forKey: .slice)
        let name = try c.decode(String.self, forKey: .subtype)
        guard let s = Subtype(name: name) else {
            throw DecodingError.dataCorruptedError(forKey: .subtype, in: c,
                                                   debugDescription: "unknown subtype '\(name)' (EPH, SDH, SAH, IPH, IVH)")
        }
        subtype = s
        rings = try c.decode([[PolygonPoint]].self, forKey: .rings)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(slice, forKey: .slice)
        try c.encode(subtype.name, forKey: .subtype)
        try c.encode(rings, forKey: .rings)
    }

    /// Whether every coordinate is finite.
    public var isFinite: Bool { rings.allSatisfy { $0.allSatisfy { $0.x.isFinite && $0.y.isFinite } } }

    /// The pixels inside the rings on a `width × height` slice (row-major, 0/1), by the rule above.
    public func rasterize(width: Int, height: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: max(0, width * height))
        rasterize(into: &out, width: width, height: height)
        return out
    }

    /// Sets to 1 the pixels of `buffer` (row-major `width × height`) inside the rings; others are untouched.
    public func rasterize(into buffer: inout [UInt8], width: Int, height: Int) {
        guard width > 0, height > 0, buffer.count >= width * height, isFinite else { return }
        var crossings = [[Double]](repeating: [], count: height)
        for ring in rings where ring.count >= 3 {
            for e in ring.indices {
                let a = ring[e], b = ring[(e + 1) % ring.count]
                guard a.y != b.y else { continue }
                let lo = min(a.y, b.y), hi = max(a.y, b.y)
                let firstRow = max(0, Int(lo.rounded(.up)))
                // Rows j with lo <= j < hi.
                var lastRow = Int(hi.rounded(.up)) - 1
                lastRow = min(lastRow, height - 1)
                guard firstRow <= lastRow else { continue }
                let slope = (b.x - a.x) / (b.y - a.y)
                for j in firstRow...lastRow {
                    crossings[j].append(a.x + (Double(j) - a.y) * slope)
                }
            }
        }
        for j in 0..<height where !crossings[j].isEmpty {
            var xs = crossings[j]
            xs.sort()
            var t = 0
            while t + 1 < xs.count {
                // Pixels with xs[t] <= i < xs[t + 1].
                let from = max(0, Int(max(-1, xs[t]).rounded(.up)))
                let to = min(width - 1, Int(min(Double(width), xs[t + 1]).rounded(.up)) - 1)
                if from <= to {
                    for i in from...to { buffer[j * width + i] = 1 }
                }
                t += 2
            }
        }
    }
}

/// A case's 2D polygon annotations, as annotators deliver them: the `polygons.json` of a raw cohort.
///
/// ```json
/// {"format": "hemocluster-polygons", "version": 1, "case": "case_000",
///  "width": 512, "height": 512, "slices": 32,
///  "annotations": [ {"slice": 12, "subtype": "SDH", "rings": [[[x, y], [x, y], ...], [...hole...]]} ]}
/// ```
/// `width`/`height`/`slices` are the CT grid's i, j and k extents. Coordinates follow
/// ``PolygonPoint`` (pixel centres at integers) and each annotation rasterises by the rule of
/// ``PolygonAnnotation``; annotations of the same subtype and slice are unioned.
public struct PolygonDocument: Hashable, Sendable, Codable {
    /// The format tag, `hemocluster-polygons`.
    public static let formatName = "hemocluster-polygons"
    /// The format version this code writes and reads.
    public static let currentVersion = 1

    /// Always ``formatName``.
    public var format: String
    /// Always ``currentVersion``.
    public var version: Int
    /// The case identifier (JSON key `case`).
    public var caseID: String
    /// Slice width in pixels (grid i extent).
    public var width: Int
    /// Slice height in pixels (grid j extent).
    public var height: Int
    /// Number of slices (grid k extent).
    public var slices: Int
    /// The annotations.
    public var annotations: [PolygonAnnotation]

    enum CodingKeys: String, CodingKey {
        case format, version, caseID = "case", width, height, slices, annotations
    }

    /// A document for `caseID` on a `width × height × slices` grid.
    public init(caseID: String, width: Int, height: Int, slices: Int, annotations: [PolygonAnnotation]) {
        format = Self.formatName
        version = Self.currentVersion
        self.caseID = caseID
        self.width = width; self.height = height; self.slices = slices
        self.annotations = annotations
    }

    /// Traces every 8-connected component of every subtype on every slice of `masks`
    /// (see ``PolygonTracer``); rasterising the result gives `masks` back exactly.
    public init(tracing masks: SubtypeMasks, caseID: String) {
        let size = masks.geometry.size
        var annotations: [PolygonAnnotation] = []
        let n = size.sliceCount
        for k in 0..<size.k {
            for s in Subtype.allCases {
                guard let m = masks.masks[s] else { continue }
                let slice = m.bits[(k * n)..<((k + 1) * n)]
                guard slice.contains(where: { $0 != 0 }) else { continue }
                for rings in PolygonTracer.components(of: Array(slice), width: size.i, height: size.j) {
                    annotations.append(PolygonAnnotation(slice: k, subtype: s, rings: rings))
                }
            }
        }
        self.init(caseID: caseID, width: size.i, height: size.j, slices: size.k, annotations: annotations)
    }

    /// Rasterises every annotation onto `geometry` and unions them per subtype.
    ///
    /// Throws when the document's format or version is unknown, its `width`/`height`/`slices`
    /// differ from the grid, an annotation's slice is out of range, or a coordinate is not finite.
    public func masks(geometry: Geometry) throws(PolygonError) -> SubtypeMasks {
        guard format == Self.formatName else {
            throw PolygonError(caseID: caseID, reason: "format is '\(format)', expected '\(Self.formatName)'")
        }
        guard version == Self.currentVersion else {
            throw PolygonError(caseID: caseID, reason: "version \(version) is not supported (expected \(Self.currentVersion))")
        }
        let size = geometry.size
        guard width == size.i, height == size.j, slices == size.k else {
            throw PolygonError(caseID: caseID,
                               reason: "document grid \(width)×\(height)×\(slices) does not match the CT grid \(size)")
        }
        var bits = [Subtype: [UInt8]]()
        let n = size.sliceCount
        var plane = [UInt8](repeating: 0, count: n)
        for (index, a) in annotations.enumerated() {
            guard (0..<size.k).contains(a.slice) else {
                throw PolygonError(caseID: caseID,
                                   reason: "annotation \(index) (\(a.subtype.name)) is on slice \(a.slice), outside 0..<\(size.k)")
            }
            guard a.isFinite else {
                throw PolygonError(caseID: caseID, reason: "annotation \(index) has a non-finite coordinate")
            }
            for p in plane.indices { plane[p] = 0 }
            a.rasterize(into: &plane, width: size.i, height: size.j)
            var target = bits[a.subtype] ?? [UInt8](repeating: 0, count: size.count)
            let base = a.slice * n
            for p in 0..<n where plane[p] != 0 { target[base + p] = 1 }
            bits[a.subtype] = target
        }
        var out = SubtypeMasks(geometry: geometry)
        for (s, b) in bits { out[s] = Mask(geometry: geometry, bits: b) }
        return out
    }

    /// Compact, deterministic JSON text with keys in the documented order and one annotation per line.
    public func jsonText() -> String {
        func number(_ v: Double) -> String {
            if v == v.rounded(), abs(v) < 1e15 { return String(Int(v)) }
            return "\(v)"
        }
        func quoted(_ s: String) -> String {
            var out = "\""
            for ch in s.unicodeScalars {
                switch ch {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case _ where ch.value < 0x20: out += "\\u" + String(ch.value, radix: 16).leftPadded(to: 4)
                default: out.unicodeScalars.append(ch)
                }
            }
            return out + "\""
        }
        var text = "{\"format\": \(quoted(format)), \"version\": \(version), \"case\": \(quoted(caseID)),\n"
        text += " \"width\": \(width), \"height\": \(height), \"slices\": \(slices),\n \"annotations\": ["
        for (index, a) in annotations.enumerated() {
            text += index == 0 ? "\n  " : ",\n  "
            let rings = a.rings.map { ring in
                "[" + ring.map { "[\(number($0.x)),\(number($0.y))]" }.joined(separator: ",") + "]"
            }
            text += "{\"slice\": \(a.slice), \"subtype\": \(quoted(a.subtype.name)), \"rings\": [\(rings.joined(separator: ", "))]}"
        }
        text += annotations.isEmpty ? "]}\n" : "\n ]}\n"
        return text
    }
}

/// Turns a binary slice into polygons that rasterise back to it exactly.
///
/// Each 8-connected component becomes one annotation. Its rings follow the pixel edges between the
/// component and the background, with vertices on pixel corners (half-integer coordinates), so the
/// even-odd rule of ``PolygonAnnotation`` reproduces the component, holes included. Collinear
/// vertices are dropped; where two pixels of the component touch only at a corner, the ring passes
/// through that corner from one to the other.
public enum PolygonTracer {
    /// The rings of each 8-connected component of the non-zero pixels of a `width × height` slice,
    /// components ordered by their first pixel in row-major order.
    public static func components(of slice: [UInt8], width: Int, height: Int) -> [[[PolygonPoint]]] {
        precondition(slice.count == width * height, "slice size does not match width × height")
        var label = [Int32](repeating: 0, count: slice.count)
        var result: [[[PolygonPoint]]] = []
        var stack: [Int] = []
        var members: [Int] = []
        var next: Int32 = 0
        for start in 0..<slice.count where slice[start] != 0 && label[start] == 0 {
            next += 1
            label[start] = next
            stack.append(start)
            members.removeAll(keepingCapacity: true)
            while let p = stack.popLast() {
                members.append(p)
                let i = p % width, j = p / width
                for dj in -1...1 {
                    let y = j + dj
                    guard y >= 0, y < height else { continue }
                    for di in -1...1 {
                        let x = i + di
                        guard x >= 0, x < width, di != 0 || dj != 0 else { continue }
                        let q = y * width + x
                        if slice[q] != 0 && label[q] == 0 { label[q] = next; stack.append(q) }
                    }
                }
            }
            result.append(rings(ofComponent: members, label: label, id: next, width: width, height: height))
        }
        return result
    }

    /// Directions of travel along pixel edges, in corner-index space (y down).
    private static let steps: [(dx: Int, dy: Int)] = [(1, 0), (0, 1), (-1, 0), (0, -1)]

    private static func rings(ofComponent members: [Int], label: [Int32], id: Int32,
                              width: Int, height: Int) -> [[PolygonPoint]] {
        // Directed boundary edges, clockwise on screen around the component (it lies to the right
        // of the direction of travel): top (+x), right (+y), bottom (−x), left (−y).
        let cornerWidth = width + 1
        var outgoing: [Int: [(to: Int, direction: Int)]] = [:]
        var edgeCount = 0
        func inside(_ x: Int, _ y: Int) -> Bool {
            x >= 0 && y >= 0 && x < width && y < height && label[y * width + x] == id
        }
        func add(_ fx: Int, _ fy: Int, _ direction: Int) {
            let s = steps[direction]
            outgoing[fy * cornerWidth + fx, default: []].append((to: (fy + s.dy) * cornerWidth + fx + s.dx, direction: direction))
            edgeCount += 1
        }
        for p in members {
            let i = p % width, j = p / width
            if !inside(i, j - 1) { add(i, j, 0) }
            if !inside(i + 1, j) { add(i + 1, j, 1) }
            if !inside(i, j + 1) { add(i + 1, j + 1, 2) }
            if !inside(i - 1, j) { add(i, j + 1, 3) }
        }
        var rings: [[PolygonPoint]] = []
        let starts = outgoing.keys.sorted()
        for start in starts {
            while let first = outgoing[start]?.first {
                outgoing[start]!.removeFirst()
                var corners = [start]
                var directions = [first.direction]
                var at = first.to
                var heading = first.direction
                while at != start || !(outgoing[at]?.isEmpty ?? true) {
                    guard var options = outgoing[at], !options.isEmpty else { break }
                    // Prefer a left turn (joins diagonal neighbours), then straight, then right.
                    let preference = [(heading + 3) % 4, heading, (heading + 1) % 4]
                    var chosen = 0
                    if options.count > 1 {
                        chosen = options.indices.min { preference.firstIndex(of: options[$0].direction) ?? 9
                            < preference.firstIndex(of: options[$1].direction) ?? 9 }!
                    }
                    let edge = options.remove(at: chosen)
                    outgoing[at] = options
                    corners.append(at)
                    directions.append(edge.direction)
                    heading = edge.direction
                    at = edge.to
                    if at == start && (outgoing[start]?.isEmpty ?? true) { break }
                }
                // Keep only corners where the direction changes.
                var ring: [PolygonPoint] = []
                for c in corners.indices {
                    let previous = directions[(c + directions.count - 1) % directions.count]
                    guard previous != directions[c] else { continue }
                    let corner = corners[c]
                    ring.append(PolygonPoint(x: Double(corner % cornerWidth) - 0.5, y: Double(corner / cornerWidth) - 0.5))
                }
                rings.append(ring)
            }
        }
        return rings
    }
}
