/// A DICOM file or study that cannot be read: the file and the reason, as one sentence.
public struct DICOMError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file (or study folder) concerned.
    public var path: String
    /// What is wrong, as a sentence a user can act on.
    public var reason: String

    /// An error about `path`.
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    /// `path: reason`.
    public var description: String { "\(path): \(reason)" }
}

/// A data-element tag: group in the high 16 bits, element in the low 16 bits.
public struct DICOMTag: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// `group << 16 | element`.
    public var value: UInt32

    /// The tag (group, element).
    public init(_ group: UInt16, _ element: UInt16) { value = UInt32(group) << 16 | UInt32(element) }
    /// The tag from its 32-bit value.
    public init(value: UInt32) { self.value = value }

    /// The group number.
    public var group: UInt16 { UInt16(value >> 16) }
    /// The element number.
    public var element: UInt16 { UInt16(value & 0xFFFF) }

    public static func < (a: DICOMTag, b: DICOMTag) -> Bool { a.value < b.value }

    /// `(gggg,eeee)` in upper-case hex.
    public var description: String {
        func hex(_ v: UInt16) -> String {
            let s = String(v, radix: 16, uppercase: true)
            return String(repeating: "0", count: 4 - s.count) + s
        }
        return "(\(hex(group)),\(hex(element)))"
    }

    static let item = DICOMTag(0xFFFE, 0xE000)
    static let itemDelimitation = DICOMTag(0xFFFE, 0xE00D)
    static let sequenceDelimitation = DICOMTag(0xFFFE, 0xE0DD)

    /// (0002,0010) Transfer Syntax UID.
    public static let transferSyntaxUID = DICOMTag(0x0002, 0x0010)
    /// (0008,0008) Image Type.
    public static let imageType = DICOMTag(0x0008, 0x0008)
    /// (0008,0016) SOP Class UID.
    public static let sopClassUID = DICOMTag(0x0008, 0x0016)
    /// (0008,0018) SOP Instance UID.
    public static let sopInstanceUID = DICOMTag(0x0008, 0x0018)
    /// (0008,0060) Modality.
    public static let modality = DICOMTag(0x0008, 0x0060)
    /// (0008,103E) Series Description.
    public static let seriesDescription = DICOMTag(0x0008, 0x103E)
    /// (0010,0010) Patient's Name (read only by tests that prove it never reaches a release).
    public static let patientName = DICOMTag(0x0010, 0x0010)
    /// (0018,0050) Slice Thickness.
    public static let sliceThickness = DICOMTag(0x0018, 0x0050)
    /// (0018,1120) Gantry/Detector Tilt.
    public static let gantryTilt = DICOMTag(0x0018, 0x1120)
    /// (0018,1210) Convolution Kernel.
    public static let convolutionKernel = DICOMTag(0x0018, 0x1210)
    /// (0020,000D) Study Instance UID.
    public static let studyInstanceUID = DICOMTag(0x0020, 0x000D)
    /// (0020,000E) Series Instance UID.
    public static let seriesInstanceUID = DICOMTag(0x0020, 0x000E)
    /// (0020,0011) Series Number.
    public static let seriesNumber = DICOMTag(0x0020, 0x0011)
    /// (0020,0013) Instance Number.
    public static let instanceNumber = DICOMTag(0x0020, 0x0013)
    /// (0020,0032) Image Position (Patient).
    public static let imagePositionPatient = DICOMTag(0x0020, 0x0032)
    /// (0020,0037) Image Orientation (Patient).
    public static let imageOrientationPatient = DICOMTag(0x0020, 0x0037)
    /// (0028,0002) Samples per Pixel.
    public static let samplesPerPixel = DICOMTag(0x0028, 0x0002)
    /// (0028,0004) Photometric Interpretation.
    public static let photometricInterpretation = DICOMTag(0x0028, 0x0004)
    /// (0028,0008) Number of Frames.
    public static let numberOfFrames = DICOMTag(0x0028, 0x0008)
    /// (0028,0010) Rows.
    public static let rows = DICOMTag(0x0028, 0x0010)
    /// (0028,0011) Columns.
    public static let columns = DICOMTag(0x0028, 0x0011)
    /// (0028,0030) Pixel Spacing (row spacing, column spacing).
    public static let pixelSpacing = DICOMTag(0x0028, 0x0030)
    /// (0028,0100) Bits Allocated.
    public static let bitsAllocated = DICOMTag(0x0028, 0x0100)
    /// (0028,0101) Bits Stored.
    public static let bitsStored = DICOMTag(0x0028, 0x0101)
    /// (0028,0103) Pixel Representation (0 unsigned, 1 two's complement).
    public static let pixelRepresentation = DICOMTag(0x0028, 0x0103)
    /// (0028,0120) Pixel Padding Value.
    public static let pixelPaddingValue = DICOMTag(0x0028, 0x0120)
    /// (0028,1052) Rescale Intercept.
    public static let rescaleIntercept = DICOMTag(0x0028, 0x1052)
    /// (0028,1053) Rescale Slope.
    public static let rescaleSlope = DICOMTag(0x0028, 0x1053)
    /// (5200,9229) Shared Functional Groups Sequence (enhanced images).
    public static let sharedFunctionalGroups = DICOMTag(0x5200, 0x9229)
    /// (5200,9230) Per-frame Functional Groups Sequence (enhanced images).
    public static let perFrameFunctionalGroups = DICOMTag(0x5200, 0x9230)
    /// (0020,9113) Plane Position Sequence (holds Image Position (Patient)).
    public static let planePositionSequence = DICOMTag(0x0020, 0x9113)
    /// (0020,9116) Plane Orientation Sequence (holds Image Orientation (Patient)).
    public static let planeOrientationSequence = DICOMTag(0x0020, 0x9116)
    /// (0028,9110) Pixel Measures Sequence (Pixel Spacing, Slice Thickness).
    public static let pixelMeasuresSequence = DICOMTag(0x0028, 0x9110)
    /// (0028,9145) Pixel Value Transformation Sequence (Rescale Slope/Intercept).
    public static let pixelValueTransformationSequence = DICOMTag(0x0028, 0x9145)
    /// (0020,9111) Frame Content Sequence.
    public static let frameContentSequence = DICOMTag(0x0020, 0x9111)
    /// (0028,2110) Lossy Image Compression ("01": the image has been lossy-compressed).
    public static let lossyImageCompression = DICOMTag(0x0028, 0x2110)
    /// (0008,2111) Derivation Description.
    public static let derivationDescription = DICOMTag(0x0008, 0x2111)
    /// (7FE0,0010) Pixel Data.
    public static let pixelData = DICOMTag(0x7FE0, 0x0010)
}

/// A transfer syntax: how the data set is encoded and how its pixel data is compressed.
public enum TransferSyntax: Sendable, Hashable {
    /// 1.2.840.10008.1.2
    case implicitLittle
    /// 1.2.840.10008.1.2.1
    case explicitLittle
    /// 1.2.840.10008.1.2.2
    case explicitBig
    /// 1.2.840.10008.1.2.1.99: explicit little endian after raw DEFLATE.
    case deflatedExplicitLittle
    /// Encapsulated pixel data (explicit little endian data set) in one of the compressed forms.
    case encapsulated(Compression)

    /// The compressed pixel-data forms.
    public enum Compression: String, Sendable, Hashable {
        /// RLE Lossless (1.2.840.10008.1.2.5).
        case rle = "RLE"
        /// JPEG Lossless, process 14 (1.2.840.10008.1.2.4.57) and its first-order predictor form SV1 (.4.70).
        case jpegLossless = "JPEG lossless"
        /// JPEG baseline or extended (lossy, 1.2.840.10008.1.2.4.50/.51).
        case jpegLossy = "JPEG lossy"
        /// JPEG-LS lossless or near-lossless (.4.80/.4.81).
        case jpegLS = "JPEG-LS"
        /// JPEG 2000 lossless or lossy (.4.90/.4.91).
        case jpeg2000 = "JPEG 2000"
    }

    /// The syntax of a Transfer Syntax UID, or nil when unknown.
    public init?(uid: String) {
        switch uid {
        case "1.2.840.10008.1.2": self = .implicitLittle
        case "1.2.840.10008.1.2.1": self = .explicitLittle
        case "1.2.840.10008.1.2.2": self = .explicitBig
        case "1.2.840.10008.1.2.1.99": self = .deflatedExplicitLittle
        case "1.2.840.10008.1.2.5": self = .encapsulated(.rle)
        case "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70": self = .encapsulated(.jpegLossless)
        case "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51": self = .encapsulated(.jpegLossy)
        case "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81": self = .encapsulated(.jpegLS)
        case "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91": self = .encapsulated(.jpeg2000)
        default: return nil
        }
    }

    /// Whether the data set uses explicit VRs.
    var isExplicit: Bool { self != .implicitLittle }
    /// Whether pixel data is native (not encapsulated) little endian.
    var isUncompressedLittleEndian: Bool { self == .implicitLittle || self == .explicitLittle || self == .deflatedExplicitLittle }
    /// Whether numbers are big endian.
    var isBigEndian: Bool { self == .explicitBig }
}

/// One data element: its tag, VR and where its value lies in the data set's bytes.
public struct DICOMElement: Sendable {
    /// The tag.
    public var tag: DICOMTag
    /// The two-letter VR (from the file when explicit, from the dictionary when implicit; "UN" if unknown).
    public var vr: String
    /// The value's byte range in ``DICOMDataSet/bytes`` (empty for sequences and encapsulated pixel data).
    public var range: Range<Int>
    /// For encapsulated pixel data: the byte ranges of the fragments (the basic offset table excluded).
    public var fragments: [Range<Int>]?
}

/// A parsed DICOM data set: the top-level elements and the bytes they point into.
///
/// Only top-level elements are kept; sequences are walked (to skip undefined lengths and check
/// every length) but their items are not stored.
public struct DICOMDataSet: Sendable {
    /// The file the data set came from (for error messages).
    public var path: String
    /// The (possibly inflated) bytes the element ranges point into.
    public var bytes: [UInt8]
    /// The transfer syntax of the data set.
    public var transferSyntax: TransferSyntax
    /// Top-level elements by tag.
    public var elements: [DICOMTag: DICOMElement]
    /// Whether only the elements before Pixel Data were parsed (the first pass of a study read);
    /// the pixel data element of such a set is a placeholder and the file must be read again.
    public var isHeaderOnly = false

    /// Whether the data set holds `tag`.
    public func contains(_ tag: DICOMTag) -> Bool { elements[tag] != nil }

    /// The value of a text element (AE, AS, CS, DA, DS, IS, LO, PN, SH, UI, …), trailing spaces and NULs removed.
    public func string(_ tag: DICOMTag) -> String? {
        guard let e = elements[tag] else { return nil }
        var end = e.range.upperBound
        while end > e.range.lowerBound, bytes[end - 1] == 0x20 || bytes[end - 1] == 0 { end -= 1 }
        var start = e.range.lowerBound
        while start < end, bytes[start] == 0x20 { start += 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    /// The backslash-separated values of a text element, each trimmed.
    public func strings(_ tag: DICOMTag) -> [String]? {
        guard let s = string(tag) else { return nil }
        return s.split(separator: "\\", omittingEmptySubsequences: false).map {
            String($0).trimmingCharacters(in: " \0")
        }
    }

    /// The numbers of a DS/IS/FD/FL/US/SS/UL/SL element.
    public func doubles(_ tag: DICOMTag) -> [Double]? {
        guard let e = elements[tag] else { return nil }
        let big = transferSyntax.isBigEndian
        func u16(_ o: Int) -> UInt16 {
            big ? UInt16(bytes[o]) << 8 | UInt16(bytes[o + 1]) : UInt16(bytes[o]) | UInt16(bytes[o + 1]) << 8
        }
        func u32(_ o: Int) -> UInt32 {
            big ? UInt32(u16(o)) << 16 | UInt32(u16(o + 2)) : UInt32(u16(o)) | UInt32(u16(o + 2)) << 16
        }
        func u64(_ o: Int) -> UInt64 {
            big ? UInt64(u32(o)) << 32 | UInt64(u32(o + 4)) : UInt64(u32(o)) | UInt64(u32(o + 4)) << 32
        }
        func each(_ width: Int, _ f: (Int) -> Double) -> [Double] {
            stride(from: e.range.lowerBound, to: e.range.upperBound - width + 1, by: width).map(f)
        }
        switch e.vr {
        case "US": return each(2) { Double(u16($0)) }
        case "SS": return each(2) { Double(Int16(bitPattern: u16($0))) }
        case "UL": return each(4) { Double(u32($0)) }
        case "SL": return each(4) { Double(Int32(bitPattern: u32($0))) }
        case "FL": return each(4) { Double(Float(bitPattern: u32($0))) }
        case "FD": return each(8) { Double(bitPattern: u64($0)) }
        default:
            guard let parts = strings(tag) else { return nil }
            var out: [Double] = []
            for p in parts where !p.isEmpty {
                guard let v = Double(p), v.isFinite else { return nil }
                out.append(v)
            }
            return out
        }
    }

    /// The first number of an element.
    public func double(_ tag: DICOMTag) -> Double? { doubles(tag)?.first }

    /// The first number of an element as an integer, when it is a whole number in `Int32`'s range.
    public func int(_ tag: DICOMTag) -> Int? {
        guard let d = double(tag), d == d.rounded(), abs(d) < 2_147_483_648 else { return nil }
        return Int(d)
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        let chars = Set(set)
        var s = Substring(self)
        while let f = s.first, chars.contains(f) { s = s.dropFirst() }
        while let l = s.last, chars.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
