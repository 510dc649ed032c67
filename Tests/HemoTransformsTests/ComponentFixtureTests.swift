import Foundation
import HemoCore
import Testing
@testable import HemoTransforms

/// `components.json` written by scripts/fixtures/make-component-fixtures.py (scipy.ndimage).
private struct ComponentManifest: Decodable {
    struct Component3: Decodable {
        let label, voxels: Int
        let min, max: [Int]
        let centroid: [Double]
    }
    struct Component2: Decodable {
        let label, pixels, x_min, y_min, x_max, y_max: Int
        let centroid: [Double]
    }
    struct Slice: Decodable {
        let slice, count: Int
        let components: [Component2]
    }
    struct VolumeCase: Decodable, CustomTestStringConvertible {
        let name, mask, labels3d, labels2d: String
        let size: [Int]
        let count3d: Int
        let components3d: [Component3]
        let slices: [Slice]
        var testDescription: String { name }
    }
    let volumes: [VolumeCase]
}

private let manifest: ComponentManifest = {
    do { return try Fixtures.json("components/components.json") } catch { fatalError("\(error)") }
}()

private func mask(_ v: ComponentManifest.VolumeCase) throws -> Mask {
    let size = GridSize(v.size[0], v.size[1], v.size[2])
    return Mask(geometry: Geometry(size: size, spacing: SIMD3(0.5, 0.5, 5)),
                bits: try Fixtures.raw("components/" + v.mask, as: UInt8.self))
}

@Test("26-connected components equal scipy label + find_objects", arguments: manifest.volumes)
private func components3DEqualScipy(_ v: ComponentManifest.VolumeCase) throws {
    let m = try mask(v)
    let result = ConnectedComponents.components3D(m)
    #expect(result.components.count == v.count3d)
    let expectedLabels = try Fixtures.raw("components/" + v.labels3d, as: Int32.self)
    #expect(result.membership.labelImage() == expectedLabels)
    for (ours, theirs) in zip(result.components, v.components3d) {
        #expect(ours.label == theirs.label)
        #expect(ours.voxels == theirs.voxels)
        #expect(ours.box == BoundingBox3D(min: SIMD3(theirs.min[0], theirs.min[1], theirs.min[2]),
                                          max: SIMD3(theirs.max[0], theirs.max[1], theirs.max[2])))
        for a in 0..<3 { #expect(abs(ours.centroid[a] - theirs.centroid[a]) < 1e-9) }
        let offsets = result.membership.offsets(of: ours.label)
        #expect(offsets.count == ours.voxels)
        #expect(offsets.allSatisfy { expectedLabels[$0] == Int32(ours.label) })
    }
}

@Test("8-connected components per slice equal scipy label + find_objects", arguments: manifest.volumes)
private func components2DEqualScipy(_ v: ComponentManifest.VolumeCase) throws {
    let m = try mask(v)
    let expectedLabels = try Fixtures.raw("components/" + v.labels2d, as: Int32.self)
    let perSlice = ConnectedComponents.componentsPerSlice(m, threads: 1)
    #expect(perSlice.count == v.slices.count)
    var labels = [Int32](repeating: 0, count: m.bits.count)
    for (ours, theirs) in zip(perSlice, v.slices) {
        #expect(ours.slice == theirs.slice)
        #expect(ours.components.count == theirs.count)
        for (c, e) in zip(ours.components, theirs.components) {
            #expect(c.label == e.label && c.slice == theirs.slice)
            #expect(c.pixels == e.pixels)
            #expect(c.box == BoundingBox2D(xMin: e.x_min, yMin: e.y_min, xMax: e.x_max, yMax: e.y_max))
            #expect(abs(c.centroid.x - e.centroid[0]) < 1e-9 && abs(c.centroid.y - e.centroid[1]) < 1e-9)
            for o in ours.membership.offsets(of: c.label) { labels[o] = Int32(c.label) }
        }
    }
    #expect(labels == expectedLabels)
}

@Test("per-slice components do not depend on the thread count", arguments: [2, 3, 8])
private func perSliceComponentsIgnoreThreadCount(threads: Int) throws {
    let m = try mask(manifest.volumes[0])
    #expect(ConnectedComponents.componentsPerSlice(m, threads: threads) == ConnectedComponents.componentsPerSlice(m, threads: 1))
}

@Test func emptyMaskHasNoComponents() {
    let m = Mask(geometry: Geometry(size: GridSize(9, 4, 3), spacing: SIMD3(1, 1, 1)))
    #expect(ConnectedComponents.components3D(m).components.isEmpty)
    #expect(ConnectedComponents.components3D(m).membership.labelImage() == [Int32](repeating: 0, count: 108))
    #expect(ConnectedComponents.components2D(m, slice: 2).components.isEmpty)
}

@Test func fullMaskIsOneComponentWithTheWholeBox() {
    let size = GridSize(17, 5, 3)
    let m = Mask(geometry: Geometry(size: size, spacing: SIMD3(1, 1, 1)), bits: [UInt8](repeating: 1, count: size.count))
    let c = ConnectedComponents.components3D(m).components
    #expect(c.count == 1)
    #expect(c.first?.box == BoundingBox3D(min: .zero, max: SIMD3(17, 5, 3)))
    #expect(c.first?.centroid == SIMD3(8, 2, 1))
}

@Test func zeroSizedMaskHasNoComponents() {
    let m = Mask(geometry: Geometry(size: GridSize(0, 4, 2), spacing: SIMD3(1, 1, 1)))
    #expect(ConnectedComponents.components3D(m).components.isEmpty)
    #expect(CaseFindings.analyse(SubtypeMasks(geometry: m.geometry)).lesions3D.isEmpty)
}

@Test func nonBinaryValuesCountAsSet() {
    let geometry = Geometry(size: GridSize(12, 2, 1), spacing: SIMD3(1, 1, 1))
    var bits = [UInt8](repeating: 0, count: 24)
    for i in 0..<10 { bits[i] = 255 }   // one run longer than eight bytes of non-1 values
    bits[12 + 11] = 7                    // a separate voxel in the second row
    let c = ConnectedComponents.components3D(Mask(geometry: geometry, bits: bits)).components
    #expect(c.map(\.voxels) == [10, 1])
}
