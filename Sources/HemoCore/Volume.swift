/// The voxel data types a ``Volume`` can hold, named as NumPy and nibabel name them.
public enum VoxelType: String, CaseIterable, Sendable, Codable {
    case uint8, int16, uint16, int32, float32, float64

    /// Bytes per voxel.
    public var byteWidth: Int {
        switch self {
        case .uint8: 1
        case .int16, .uint16: 2
        case .int32, .float32: 4
        case .float64: 8
        }
    }

    /// Whether values are floating point.
    public var isFloatingPoint: Bool { self == .float32 || self == .float64 }
}

/// A scalar type that can be a voxel.
public protocol VoxelScalar: Numeric, Comparable, Sendable, Hashable {
    /// The ``VoxelType`` tag of this scalar.
    static var voxelType: VoxelType { get }
    /// The value as a `Double`, exactly where representable.
    var doubleValue: Double { get }
    /// Converts a `Double`, rounding to nearest and clamping to the type's range for integers.
    init(clamping value: Double)
}

extension UInt8: VoxelScalar {
    public static var voxelType: VoxelType { .uint8 }
    @inlinable public var doubleValue: Double { Double(self) }
    @inlinable public init(clamping value: Double) { self = value.isNaN ? 0 : UInt8(Swift.min(255, Swift.max(0, value.rounded()))) }
}
extension Int16: VoxelScalar {
    public static var voxelType: VoxelType { .int16 }
    @inlinable public var doubleValue: Double { Double(self) }
    @inlinable public init(clamping value: Double) { self = value.isNaN ? 0 : Int16(Swift.min(32767, Swift.max(-32768, value.rounded()))) }
}
extension UInt16: VoxelScalar {
    public static var voxelType: VoxelType { .uint16 }
    @inlinable public var doubleValue: Double { Double(self) }
    @inlinable public init(clamping value: Double) { self = value.isNaN ? 0 : UInt16(Swift.min(65535, Swift.max(0, value.rounded()))) }
}
extension Int32: VoxelScalar {
    public static var voxelType: VoxelType { .int32 }
    @inlinable public var doubleValue: Double { Double(self) }
    @inlinable public init(clamping value: Double) {
        self = value.isNaN ? 0 : Int32(Swift.min(2_147_483_647, Swift.max(-2_147_483_648, value.rounded())))
    }
}
extension Float: VoxelScalar {
    public static var voxelType: VoxelType { .float32 }
    @inlinable public var doubleValue: Double { Double(self) }
    @inlinable public init(clamping value: Double) { self = Float(value) }
}
extension Double: VoxelScalar {
    public static var voxelType: VoxelType { .float64 }
    @inlinable public var doubleValue: Double { self }
    @inlinable public init(clamping value: Double) { self = value }
}

/// A 3D (or 3D + time) image: typed voxels in NIfTI order (i fastest, then j, k, t)
/// and the geometry that places them in the world.
public struct Volume<Scalar: VoxelScalar>: Sendable, Equatable {
    /// Where the grid sits in the world.
    public var geometry: Geometry
    /// Extent of the fourth dimension (1 for a plain 3D volume).
    public var frames: Int
    /// Voxel values, `geometry.size.count × frames` of them, i fastest.
    public var voxels: [Scalar]

    /// A volume from existing voxels; the count must match the geometry.
    public init(geometry: Geometry, frames: Int = 1, voxels: [Scalar]) {
        precondition(frames >= 1 && voxels.count == geometry.size.count * frames,
                     "voxel count \(voxels.count) does not match \(geometry.size) × \(frames)")
        self.geometry = geometry
        self.frames = frames
        self.voxels = voxels
    }

    /// A volume filled with `value`.
    public init(geometry: Geometry, frames: Int = 1, repeating value: Scalar) {
        self.init(geometry: geometry, frames: frames,
                  voxels: [Scalar](repeating: value, count: geometry.size.count * frames))
    }

    /// The grid size.
    @inlinable public var size: GridSize { geometry.size }

    /// Voxel at (i, j, k) of the first frame.
    @inlinable public subscript(i: Int, j: Int, k: Int) -> Scalar {
        get { voxels[geometry.size.offset(i, j, k)] }
        set { voxels[geometry.size.offset(i, j, k)] = newValue }
    }

    /// The voxels of slice `k` (first frame), i fastest.
    public func slice(_ k: Int) -> ArraySlice<Scalar> {
        let n = geometry.size.sliceCount
        return voxels[(k * n)..<((k + 1) * n)]
    }

    /// The same geometry with voxels converted to another type (integers round and clamp).
    ///
    /// Inlinable, so that each caller's pair of types is specialised: through the protocol's
    /// witnesses one voxel at a time, converting a CT took a third of a build.
    @inlinable public func converted<T: VoxelScalar>(to: T.Type = T.self) -> Volume<T> {
        if T.self == Scalar.self, let same = self as? Volume<T> { return same }
        let count = voxels.count
        let converted = [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            voxels.withUnsafeBufferPointer { source in
                for n in 0..<count { buffer[n] = T(clamping: source[n].doubleValue) }
            }
            initialized = count
        }
        return Volume<T>(geometry: geometry, frames: frames, voxels: converted)
    }
}

/// A ``Volume`` whose voxel type is known only at run time, as read from a file.
public enum AnyVolume: Sendable, Equatable {
    case uint8(Volume<UInt8>)
    case int16(Volume<Int16>)
    case uint16(Volume<UInt16>)
    case int32(Volume<Int32>)
    case float32(Volume<Float>)
    case float64(Volume<Double>)

    /// Wraps a typed volume.
    public init<T: VoxelScalar>(_ v: Volume<T>) {
        switch v {
        case let v as Volume<UInt8>: self = .uint8(v)
        case let v as Volume<Int16>: self = .int16(v)
        case let v as Volume<UInt16>: self = .uint16(v)
        case let v as Volume<Int32>: self = .int32(v)
        case let v as Volume<Float>: self = .float32(v)
        case let v as Volume<Double>: self = .float64(v)
        default: fatalError("unreachable: every VoxelScalar is listed")
        }
    }

    /// The voxel type.
    public var voxelType: VoxelType {
        switch self {
        case .uint8: .uint8
        case .int16: .int16
        case .uint16: .uint16
        case .int32: .int32
        case .float32: .float32
        case .float64: .float64
        }
    }

    /// The geometry.
    public var geometry: Geometry {
        switch self {
        case .uint8(let v): v.geometry
        case .int16(let v): v.geometry
        case .uint16(let v): v.geometry
        case .int32(let v): v.geometry
        case .float32(let v): v.geometry
        case .float64(let v): v.geometry
        }
    }

    /// Extent of the fourth dimension.
    public var frames: Int {
        switch self {
        case .uint8(let v): v.frames
        case .int16(let v): v.frames
        case .uint16(let v): v.frames
        case .int32(let v): v.frames
        case .float32(let v): v.frames
        case .float64(let v): v.frames
        }
    }

    /// The voxels converted to `T` (integers round and clamp).
    @inlinable public func converted<T: VoxelScalar>(to: T.Type = T.self) -> Volume<T> {
        switch self {
        case .uint8(let v): v.converted(to: T.self)
        case .int16(let v): v.converted(to: T.self)
        case .uint16(let v): v.converted(to: T.self)
        case .int32(let v): v.converted(to: T.self)
        case .float32(let v): v.converted(to: T.self)
        case .float64(let v): v.converted(to: T.self)
        }
    }
}
