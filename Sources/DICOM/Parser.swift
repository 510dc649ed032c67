import Zlib

/// Reads DICOM Part 10 files (and bare data sets) into ``DICOMDataSet``s.
///
/// Handles the 128-byte preamble and `DICM` prefix, the explicit little-endian file meta group,
/// implicit and explicit VR little endian, explicit VR big endian, deflated explicit little
/// endian (through the `Zlib` wrapper) and encapsulated pixel data. Sequences with defined or
/// undefined lengths are walked to any depth up to ``maximumDepth``. Every length is checked
/// against the bytes that remain before anything is read, so a hostile file ends in a
/// ``DICOMError`` naming the file, the element and the byte offset, never in a crash.
public enum DICOMParser {
    /// Deepest sequence nesting accepted.
    public static let maximumDepth = 32
    /// Largest data set a deflated file may inflate to.
    public static let maximumInflatedBytes = 1 << 28

    /// VRs whose explicit encoding has two reserved bytes and a 32-bit length.
    static let longVRs: Set<String> = ["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]

    /// The VRs of the implicit-VR elements read as binary numbers.
    static let implicitVRs: [DICOMTag: String] = [
        .samplesPerPixel: "US", .rows: "US", .columns: "US", .bitsAllocated: "US", .bitsStored: "US",
        DICOMTag(0x0028, 0x0102): "US", .pixelRepresentation: "US", DICOMTag(0x0028, 0x0006): "US",
        .pixelPaddingValue: "US", .pixelData: "OW",
        // The functional groups of enhanced (multi-frame) images and their sequences.
        .sharedFunctionalGroups: "SQ", .perFrameFunctionalGroups: "SQ", .planePositionSequence: "SQ",
        .planeOrientationSequence: "SQ", .pixelMeasuresSequence: "SQ", .pixelValueTransformationSequence: "SQ",
        .frameContentSequence: "SQ",
    ]

    /// Parses the file at `path`.
    /// - Throws: ``DICOMError`` naming `path` when it cannot be read or is not valid DICOM.
    public static func parse(contentsOf path: String) throws(DICOMError) -> DICOMDataSet {
        try parse(FileBytes.read(path), path: path)
    }

    /// Parses the bytes of a Part 10 file (or a bare implicit/explicit little-endian data set).
    /// - Parameter path: the name used in errors.
    public static func parse(_ bytes: [UInt8], path: String) throws(DICOMError) -> DICOMDataSet {
        try parse(bytes, path: path, stopAtPixelData: false)
    }

    /// Parses `bytes`; with `stopAtPixelData`, stops at the first top-level tag at or past Pixel
    /// Data (7FE0,0010) and returns a header-only data set (``DICOMDataSet/isHeaderOnly``, its
    /// pixel data element a placeholder) whose bytes end there, so `bytes` may be a prefix of the
    /// file. A data set that reached the end of `bytes` first is returned whole (not header-only).
    static func parse(_ bytes: [UInt8], path: String, stopAtPixelData: Bool) throws(DICOMError) -> DICOMDataSet {
        var reader = Reader(bytes: bytes, path: path, explicit: true, big: false)
        var syntax: TransferSyntax
        var start = 0
        if bytes.count >= 132 && bytes[128] == 0x44 && bytes[129] == 0x49 && bytes[130] == 0x43 && bytes[131] == 0x4D {
            start = 132
        } else if bytes.count >= 4 && bytes[0] == 0x44 && bytes[1] == 0x49 && bytes[2] == 0x43 && bytes[3] == 0x4D {
            start = 4
        }
        if bytes.count < start + 8 {
            throw DICOMError(path: path, reason: "is not a DICOM file (\(bytes.count) bytes, too short for one data element)")
        }
        // File meta information: group 0002, always explicit VR little endian.
        reader.offset = start
        var metaSyntax: String? = nil
        if reader.peekGroup() == 0x0002 {
            while reader.offset + 6 <= bytes.count, reader.peekGroup() == 0x0002 {
                let e = try reader.element(depth: 0)
                if e.tag == .transferSyntaxUID {
                    metaSyntax = DICOMDataSet(path: path, bytes: bytes, transferSyntax: .explicitLittle,
                                              elements: [e.tag: e]).string(e.tag)
                }
            }
            guard let uid = metaSyntax else {
                throw DICOMError(path: path, reason: "the file meta information has no Transfer Syntax UID (0002,0010)")
            }
            guard let s = TransferSyntax(uid: uid) else {
                throw DICOMError(path: path, reason: "transfer syntax \(uid) is not supported (supported: implicit/explicit VR little endian, explicit big endian, deflated, RLE, JPEG lossless, JPEG-LS, JPEG 2000)")
            }
            syntax = s
        } else {
            guard start == 0 || start == 132 || start == 4 else { throw DICOMError(path: path, reason: "is not a DICOM file") }
            // No meta group: a bare data set; explicit when the bytes after the tag are a VR.
            guard bytes.count >= start + 6 else { throw DICOMError(path: path, reason: "is not a DICOM file") }
            let vr0 = bytes[start + 4], vr1 = bytes[start + 5]
            let explicit = (0x41...0x5A).contains(vr0) && (0x41...0x5A).contains(vr1)
            if start == 0 && reader.peekGroup() > 0x00FF && reader.peekGroup() != 0x0800 {
                // Neither a preamble nor a plausible first group: do not guess further.
                throw DICOMError(path: path, reason: "is not a DICOM file (no DICM prefix and no plausible first element)")
            }
            syntax = explicit ? .explicitLittle : .implicitLittle
        }
        var dataBytes = bytes
        var dataStart = reader.offset
        if syntax == .deflatedExplicitLittle {
            do {
                dataBytes = try Inflate.decompressRaw(Array(bytes[reader.offset...]), maximumOutput: maximumInflatedBytes)
            } catch {
                throw DICOMError(path: path, reason: "the deflated data set cannot be inflated (\(error))")
            }
            dataStart = 0
        }
        var body = Reader(bytes: dataBytes, path: path, explicit: syntax.isExplicit, big: syntax.isBigEndian)
        body.offset = dataStart
        var elements: [DICOMTag: DICOMElement] = [:]
        var previous: UInt32 = 0
        if let at = try walk(&body, stopAtPixelData: stopAtPixelData, previous: &previous, elements: &elements) {
            return DICOMDataSet(path: path, bytes: Array(dataBytes[..<at]), transferSyntax: syntax, elements: elements, isHeaderOnly: true)
        }
        return DICOMDataSet(path: path, bytes: dataBytes, transferSyntax: syntax, elements: elements)
    }

    /// The whole data set of a file whose first bytes gave the header-only set `header` (the
    /// caller has checked that `bytes` begins with `header.bytes`): the header's elements are
    /// kept and only the elements from Pixel Data on are parsed.
    static func parse(_ bytes: [UInt8], continuing header: DICOMDataSet) throws(DICOMError) -> DICOMDataSet {
        guard header.isHeaderOnly, header.transferSyntax != .deflatedExplicitLittle, bytes.count >= header.bytes.count else {
            return try parse(bytes, path: header.path)
        }
        var body = Reader(bytes: bytes, path: header.path, explicit: header.transferSyntax.isExplicit, big: header.transferSyntax.isBigEndian)
        body.offset = header.bytes.count
        var elements = header.elements
        elements[.pixelData] = nil
        var previous = elements.keys.max()?.value ?? 0
        _ = try walk(&body, stopAtPixelData: false, previous: &previous, elements: &elements)
        return DICOMDataSet(path: header.path, bytes: bytes, transferSyntax: header.transferSyntax, elements: elements)
    }

    /// Reads top-level elements from `body`'s offset to the end of its bytes (tags ascending, a
    /// trailing run of zero bytes or the FFFC,FFFC padding element ends it). With
    /// `stopAtPixelData`, stops before the first tag at or past Pixel Data and returns its offset
    /// (recording a placeholder Pixel Data element when it is Pixel Data).
    static func walk(_ body: inout Reader, stopAtPixelData: Bool, previous: inout UInt32,
                     elements: inout [DICOMTag: DICOMElement]) throws(DICOMError) -> Int? {
        let dataBytes = body.bytes, path = body.path
        while body.offset < dataBytes.count {
            if stopAtPixelData && dataBytes.count - body.offset >= 8 {
                let at = body.offset
                let t = try body.tag("an element header")
                body.offset = at
                if t.value >= DICOMTag.pixelData.value && t.value >= previous {
                    if t == .pixelData { elements[t] = DICOMElement(tag: t, vr: "OW", range: at..<at, fragments: nil) }
                    return at
                }
            }
            if dataBytes.count - body.offset < 8 {
                // Trailing padding shorter than an element header.
                if dataBytes[body.offset...].allSatisfy({ $0 == 0 }) { break }
                throw DICOMError(path: path, reason: "truncated: \(dataBytes.count - body.offset) stray bytes at offset \(body.offset), too few for an element")
            }
            let e = try body.element(depth: 0)
            if e.tag.value == 0xFFFC_FFFC { break } // data set trailing padding
            if e.tag.value < previous {
                throw DICOMError(path: path, reason: "element \(e.tag) at offset \(body.offset) is out of order (after \(DICOMTag(value: previous))); the file is corrupt")
            }
            previous = e.tag.value
            elements[e.tag] = e
        }
        return nil
    }
}

extension DICOMDataSet {
    /// The items of sequence `tag` as data sets (for enhanced images' functional groups); nil
    /// when the element is absent or not a sequence.
    /// - Throws: ``DICOMError`` naming the file when the items are malformed.
    public func items(_ tag: DICOMTag) throws(DICOMError) -> [DICOMDataSet]? {
        guard let e = elements[tag], ["SQ", "SQ ", "UN"].contains(e.vr) else { return nil }
        // An explicit UN sequence of undefined length holds implicit-VR items ("SQ ").
        let explicit = transferSyntax.isExplicit && e.vr != "SQ "
        let content = Array(bytes[e.range])
        var r = Reader(bytes: content, path: path, explicit: explicit, big: transferSyntax.isBigEndian)
        var out: [DICOMDataSet] = []
        while content.count - r.offset >= 8 {
            let at = r.offset
            let t = try r.tag("sequence \(tag)")
            let length = try r.u32("sequence \(tag)")
            if t == .sequenceDelimitation { break }
            guard t == .item else { throw DICOMError(path: path, reason: "sequence \(tag) holds \(t) at item offset \(at) where an item was expected") }
            var elements: [DICOMTag: DICOMElement] = [:]
            if length == 0xFFFF_FFFF {
                while true {
                    guard content.count - r.offset >= 8 else { throw DICOMError(path: path, reason: "an item of sequence \(tag) has no item delimiter") }
                    let save = r.offset
                    if try r.tag("an item of \(tag)") == .itemDelimitation { _ = try r.u32("an item of \(tag)"); break }
                    r.offset = save
                    let el = try r.element(depth: 1)
                    elements[el.tag] = el
                }
                out.append(DICOMDataSet(path: path, bytes: content, transferSyntax: transferSyntax, elements: elements))
            } else {
                let n = Int(length)
                guard n <= content.count - r.offset else {
                    throw DICOMError(path: path, reason: "an item of sequence \(tag) claims \(n) bytes but only \(content.count - r.offset) remain")
                }
                let item = Array(content[r.offset..<(r.offset + n)])
                r.offset += n
                var ir = Reader(bytes: item, path: path, explicit: explicit, big: transferSyntax.isBigEndian)
                while item.count - ir.offset >= 8 {
                    let el = try ir.element(depth: 1)
                    elements[el.tag] = el
                }
                out.append(DICOMDataSet(path: path, bytes: item, transferSyntax: transferSyntax, elements: elements))
            }
            guard out.count <= 1 << 20 else { throw DICOMError(path: path, reason: "sequence \(tag) holds over 2^20 items") }
        }
        return out
    }
}

/// A bounds-checked cursor over a data set's bytes.
struct Reader {
    let bytes: [UInt8]
    let path: String
    var explicit: Bool
    let big: Bool
    var offset = 0

    init(bytes: [UInt8], path: String, explicit: Bool, big: Bool) {
        self.bytes = bytes; self.path = path; self.explicit = explicit; self.big = big
    }

    func fail(_ reason: String) -> DICOMError { DICOMError(path: path, reason: reason) }

    func peekGroup() -> UInt16 {
        guard offset + 2 <= bytes.count else { return 0 }
        return UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }

    mutating func u16(_ tagForError: String) throws(DICOMError) -> UInt16 {
        guard offset + 2 <= bytes.count else { throw fail("truncated inside \(tagForError) at offset \(offset)") }
        let v = big ? UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1]) : UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
        offset += 2
        return v
    }

    mutating func u32(_ tagForError: String) throws(DICOMError) -> UInt32 {
        let a = UInt32(try u16(tagForError)), b = UInt32(try u16(tagForError))
        return big ? a << 16 | b : a | b << 16
    }

    /// Reads a tag; item and delimitation tags are always little endian in LE syntaxes and big in BE.
    mutating func tag(_ context: String) throws(DICOMError) -> DICOMTag {
        let g = try u16(context), e = try u16(context)
        return DICOMTag(g, e)
    }

    /// Reads one element (header and value), walking undefined-length sequences.
    mutating func element(depth: Int) throws(DICOMError) -> DICOMElement {
        let at = offset
        // The file meta group is explicit little endian whatever the data set's syntax.
        let t = try tag("an element header")
        if t == .item || t == .itemDelimitation || t == .sequenceDelimitation {
            throw fail("unexpected item or delimitation tag \(t) at offset \(at) outside a sequence")
        }
        var vr = "UN"
        var length: UInt32
        if explicit {
            guard offset + 2 <= bytes.count else { throw fail("truncated in the header of element \(t) at offset \(at)") }
            let a = bytes[offset], b = bytes[offset + 1]
            guard (0x41...0x5A).contains(a), (0x41...0x5A).contains(b) else {
                throw fail("element \(t) at offset \(at) has an invalid VR (bytes \(a), \(b)); the file is corrupt or its transfer syntax is wrong")
            }
            vr = String(decoding: [a, b], as: UTF8.self)
            offset += 2
            if DICOMParser.longVRs.contains(vr) {
                guard offset + 6 <= bytes.count else { throw fail("truncated in the header of element \(t) at offset \(at)") }
                offset += 2
                length = try u32("element \(t)")
            } else {
                length = UInt32(try u16("element \(t)"))
            }
        } else {
            length = try u32("element \(t)")
            vr = DICOMParser.implicitVRs[t] ?? "UN"
        }
        if length == 0xFFFF_FFFF {
            if t == .pixelData {
                let fragments = try encapsulated(t, at: at)
                return DICOMElement(tag: t, vr: vr, range: offset..<offset, fragments: fragments)
            }
            guard vr == "SQ" || vr == "UN" else {
                throw fail("element \(t) at offset \(at) (VR \(vr)) has an undefined length, which only sequences and pixel data may have")
            }
            // An explicit UN with undefined length is an implicit-VR sequence.
            let saved = explicit
            if vr == "UN" { explicit = false }
            defer { explicit = saved }
            let start = offset
            try sequence(t, depth: depth + 1)
            // The range spans the items and the sequence delimiter (read by DICOMDataSet.items).
            return DICOMElement(tag: t, vr: vr == "UN" ? "SQ " : "SQ", range: start..<offset, fragments: nil)
        }
        let n = Int(length)
        guard n <= bytes.count - offset else {
            throw fail("element \(t) at offset \(at) claims \(n) bytes but only \(bytes.count - offset) remain (truncated file or absurd length)")
        }
        if let width = Self.numericWidth[vr], n % width != 0 {
            throw fail("element \(t) at offset \(at) has VR \(vr) but a length of \(n), not a multiple of \(width)")
        }
        let range = offset..<(offset + n)
        offset += n
        return DICOMElement(tag: t, vr: vr, range: range, fragments: nil)
    }

    static let numericWidth: [String: Int] = ["US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8, "AT": 4]

    /// Walks the items of an undefined-length sequence up to its delimiter.
    mutating func sequence(_ owner: DICOMTag, depth: Int) throws(DICOMError) {
        guard depth <= DICOMParser.maximumDepth else {
            throw fail("sequences nested deeper than \(DICOMParser.maximumDepth) levels in \(owner)")
        }
        while true {
            let at = offset
            let t = try tag("sequence \(owner)")
            let length = try u32("sequence \(owner)")
            if t == .sequenceDelimitation { return }
            guard t == .item else { throw fail("sequence \(owner) holds \(t) at offset \(at) where an item was expected") }
            if length == 0xFFFF_FFFF {
                // Elements until the item delimiter.
                while true {
                    guard offset + 8 <= bytes.count else { throw fail("truncated inside an item of sequence \(owner) (no item delimiter)") }
                    let save = offset
                    let it = try tag("an item of \(owner)")
                    if it == .itemDelimitation { _ = try u32("an item of \(owner)"); break }
                    offset = save
                    _ = try element(depth: depth)
                }
            } else {
                let n = Int(length)
                guard n <= bytes.count - offset else {
                    throw fail("an item of sequence \(owner) at offset \(at) claims \(n) bytes but only \(bytes.count - offset) remain")
                }
                offset += n
            }
        }
    }

    /// Reads encapsulated pixel data: the basic offset table item, then fragments to the delimiter.
    mutating func encapsulated(_ owner: DICOMTag, at: Int) throws(DICOMError) -> [Range<Int>] {
        var fragments: [Range<Int>] = []
        var first = true
        while true {
            let itemAt = offset
            let t = try tag("encapsulated pixel data")
            let length = try u32("encapsulated pixel data")
            if t == .sequenceDelimitation { break }
            guard t == .item else {
                throw fail("encapsulated pixel data holds \(t) at offset \(itemAt) where a fragment item was expected")
            }
            guard length != 0xFFFF_FFFF else { throw fail("a pixel-data fragment at offset \(itemAt) has an undefined length") }
            let n = Int(length)
            guard n <= bytes.count - offset else {
                throw fail("a pixel-data fragment at offset \(itemAt) claims \(n) bytes but only \(bytes.count - offset) remain (truncated file?)")
            }
            if !first { fragments.append(offset..<(offset + n)) }
            first = false
            offset += n
        }
        return fragments
    }
}

/// Reading a whole file (or its head) into memory with a clear error: one `open`, one `fstat` and
/// one `read` per file into an array of the right size (no chunk copies), retrying short reads and
/// `EINTR`.
enum FileBytes {
    static func read(_ path: String) throws(DICOMError) -> [UInt8] {
        try withOpenFile(path) { (fd, size) throws(DICOMError) in
            var bytes = try readUpTo(size, from: fd, path: path)
            // The file grew meanwhile: read the rest the ordinary way.
            if bytes.count == size {
                var chunk = [UInt8](repeating: 0, count: 1 << 16)
                while true {
                    let n = chunk.withUnsafeMutableBytes { posixRead(fd, $0.baseAddress, $0.count) }
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { break }
                    bytes.append(contentsOf: chunk[0..<n])
                    guard bytes.count <= maximumFileBytes else {
                        throw DICOMError(path: path, reason: "grows past the \(maximumFileBytes)-byte limit while being read")
                    }
                }
            }
            return bytes
        }
    }

    /// The first `limit` bytes of the file (all of it when shorter) and the file's size.
    static func readPrefix(_ path: String, limit: Int) throws(DICOMError) -> (bytes: [UInt8], fileSize: Int) {
        try withOpenFile(path) { (fd, size) throws(DICOMError) in
            (try readUpTo(min(size, max(0, limit)), from: fd, path: path), size)
        }
    }

    /// Opens `path` read-only, checks its size against `maximumFileBytes` and hands the descriptor
    /// and the size to `body`; the descriptor is closed when `body` returns or throws.
    private static func withOpenFile<T>(
        _ path: String, _ body: (Int32, Int) throws(DICOMError) -> T
    ) throws(DICOMError) -> T {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DICOMError(path: path, reason: "cannot be opened (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw DICOMError(path: path, reason: "cannot be read (fstat failed)") }
        let size = Int(st.st_size)
        guard size >= 0, size <= maximumFileBytes else {
            throw DICOMError(path: path, reason: "is \(size) bytes, over the \(maximumFileBytes)-byte limit for one DICOM file")
        }
        return try body(fd, size)
    }

    /// Reads up to `count` bytes from the current offset of `fd`: fewer only when the file ends
    /// first (it shrank meanwhile).
    private static func readUpTo(_ count: Int, from fd: Int32, path: String) throws(DICOMError) -> [UInt8] {
        var failed: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, filled in
            var done = 0
            while done < count {
                let n = posixRead(fd, buffer.baseAddress! + done, count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    failed = errno
                    break
                }
                if n == 0 { break }
                done += n
            }
            filled = done
        }
        if failed != 0 { throw DICOMError(path: path, reason: "cannot be read (\(String(cString: strerror(failed))))") }
        return bytes
    }

    /// Largest DICOM file read (4 GiB: the most a 32-bit element length can describe).
    static let maximumFileBytes = 1 << 32
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `read(2)`, named apart from ``FileBytes/read(_:)``.
@inline(__always) private func posixRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(fd, buffer, count)
}
