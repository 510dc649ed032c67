/// The five intracranial-hemorrhage subtypes, with the label values of the release format.
public enum Subtype: UInt8, CaseIterable, Sendable, Codable, Comparable, CustomStringConvertible {
    /// Epidural hemorrhage.
    case eph = 1
    /// Subdural hemorrhage.
    case sdh = 2
    /// Subarachnoid hemorrhage.
    case sah = 3
    /// Intraparenchymal hemorrhage.
    case iph = 4
    /// Intraventricular hemorrhage.
    case ivh = 5

    /// The release-format name: `EPH`, `SDH`, `SAH`, `IPH`, `IVH`.
    public var name: String {
        switch self {
        case .eph: "EPH"
        case .sdh: "SDH"
        case .sah: "SAH"
        case .iph: "IPH"
        case .ivh: "IVH"
        }
    }

    /// The clinical name, e.g. "epidural".
    public var longName: String {
        switch self {
        case .eph: "epidural"
        case .sdh: "subdural"
        case .sah: "subarachnoid"
        case .iph: "intraparenchymal"
        case .ivh: "intraventricular"
        }
    }

    /// Label value in single-label maps (1...5).
    public var labelValue: UInt8 { rawValue }
    /// YOLO class index (0...4).
    public var yoloClass: Int { Int(rawValue) - 1 }

    /// The subtype named `name` (case-insensitive), if any.
    public init?(name: String) {
        guard let s = Subtype.allCases.first(where: { $0.name == name.uppercased() }) else { return nil }
        self = s
    }

    public static func < (a: Subtype, b: Subtype) -> Bool { a.rawValue < b.rawValue }
    public var description: String { name }
}

