import HemoCore

/// The voxel types the resampling kernels read and write, with the conversions ITK's
/// `ResampleImageFilter` applies (`CastPixelWithBoundsChecking`: clamp to the type's range,
/// then C++ `static_cast`, which truncates toward zero for integers).
protocol ResampleSample: VoxelScalar {
    /// The value as a `Float` (exact for 8- and 16-bit integers).
    var floatValue: Float { get }
    /// The value as a `Double` (exact for every voxel type).
    var double: Double { get }
    /// ITK's cast of an interpolated value: clamp to the range, truncate toward zero; NaN becomes 0.
    static func castInterpolated(_ x: Float) -> Self
    /// ITK's cast of an interpolated value computed in double precision.
    static func castInterpolated(_ x: Double) -> Self
}

extension ResampleSample where Self: FixedWidthInteger {
    @inline(__always) static func castInterpolated(_ x: Double) -> Self {
        if x.isNaN { return 0 }
        if x <= Double(Self.min) { return Self.min }
        if x >= Double(Self.max) { return Self.max }
        // In range: the conversion to Int64 truncates toward zero, like C++ static_cast.
        return Self(truncatingIfNeeded: Int64(x))
    }
    @inline(__always) static func castInterpolated(_ x: Float) -> Self { castInterpolated(Double(x)) }
    @inline(__always) var floatValue: Float { Float(self) }
    @inline(__always) var double: Double { Double(self) }
}

extension UInt8: ResampleSample {}
extension Int16: ResampleSample {}
extension UInt16: ResampleSample {}
extension Int32: ResampleSample {}

extension Float: ResampleSample {
    @inline(__always) var floatValue: Float { self }
    @inline(__always) var double: Double { Double(self) }
    @inline(__always) static func castInterpolated(_ x: Float) -> Float { x }
    @inline(__always) static func castInterpolated(_ x: Double) -> Float { Float(x) }
}

extension Double: ResampleSample {
    @inline(__always) var floatValue: Float { Float(self) }
    @inline(__always) var double: Double { self }
    @inline(__always) static func castInterpolated(_ x: Float) -> Double { Double(x) }
    @inline(__always) static func castInterpolated(_ x: Double) -> Double { x }
}

/// Calls `body` with the voxels of `volume` viewed as their concrete ``ResampleSample`` type.
///
/// `VoxelScalar` is a closed set (the six NIfTI types HemoCore lists), so the cast always succeeds.
func withSamples<T: VoxelScalar, R>(_ voxels: [T], _ body: (any ResampleSampleArray) -> R) -> R {
    // Compare metatypes and reinterpret (O(1)); `as?` on arrays would cast element by element.
    if T.self == UInt8.self { return body(unsafeBitCast(voxels, to: [UInt8].self)) }
    if T.self == Int16.self { return body(unsafeBitCast(voxels, to: [Int16].self)) }
    if T.self == UInt16.self { return body(unsafeBitCast(voxels, to: [UInt16].self)) }
    if T.self == Int32.self { return body(unsafeBitCast(voxels, to: [Int32].self)) }
    if T.self == Float.self { return body(unsafeBitCast(voxels, to: [Float].self)) }
    if T.self == Double.self { return body(unsafeBitCast(voxels, to: [Double].self)) }
    fatalError("unreachable: every VoxelScalar is a ResampleSample")
}

/// Reinterprets `array` as an array of `U`, which must be the same type as `T` (O(1)).
@inline(__always)
func sameTypeArray<T, U>(_ array: [T], as: U.Type) -> [U] {
    precondition(T.self == U.self, "sameTypeArray between different element types")
    return unsafeBitCast(array, to: [U].self)
}

/// An array of a concrete ``ResampleSample`` type, so generic kernels can be opened on it.
protocol ResampleSampleArray {
    associatedtype Element: ResampleSample
    /// The array itself.
    var samples: [Element] { get }
}

extension Array: ResampleSampleArray where Element: ResampleSample {
    var samples: [Element] { self }
}
