import HemoCore

/// What a metric is about: hemorrhage of any subtype, or one subtype.
public enum EvalTarget: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Any hemorrhage (the union of the five subtypes).
    case any
    /// One subtype.
    case subtype(Subtype)

    /// `any` followed by the five subtypes in label order.
    public static let all: [EvalTarget] = [.any] + Subtype.allCases.map { .subtype($0) }

    /// `any`, `EPH`, `SDH`, `SAH`, `IPH`, `IVH`: the release-format column names.
    public var name: String {
        switch self {
        case .any: "any"
        case let .subtype(s): s.name
        }
    }

    /// The target named `name` (`any` or a subtype name), if any.
    public init?(name: String) {
        if name == "any" { self = .any; return }
        guard let s = Subtype(name: name) else { return nil }
        self = .subtype(s)
    }

    /// Whether a bitmask voxel value (bit v−1 set = subtype v present) belongs to this target.
    @inlinable public func contains(bitmask value: UInt8) -> Bool {
        switch self {
        case .any: value & 0x1F != 0
        case let .subtype(s): value & (1 << (s.rawValue - 1)) != 0
        }
    }

    /// `any` sorts first, then subtypes in label order.
    public static func < (a: EvalTarget, b: EvalTarget) -> Bool {
        func rank(_ t: EvalTarget) -> Int {
            switch t {
            case .any: 0
            case let .subtype(s): Int(s.rawValue)
            }
        }
        return rank(a) < rank(b)
    }

    /// Same as ``name``.
    public var description: String { name }
}
