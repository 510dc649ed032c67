import Foundation
import HemoCore
import HemoSynth
import Testing

/// Lesion placement judged from the image alone (Hounsfield units of the CT), never from the
/// generator's tissue classes: the masks are the truth, their surroundings are read from `ct`.
/// Densities: bone ≥ 300 HU, parenchyma 20–50 HU, CSF ≤ 15 HU, air < −100 HU.
@Suite struct ImagePlacementTests {
    /// 192-pixel slices (about 1.2 mm) so that thin CSF spaces survive; every case positive.
    static let cohort: [SynthCase] = {
        let generator = try! SynthGenerator(options: SynthOptions(seed: 2024, positiveFraction: 1, inPlanePixels: 192, sliceCount: 10))
        return (0..<20).map { generator.generate(caseIndex: $0, sliceThreads: 2) }
    }()

    static func isBone(_ hu: Int16) -> Bool { hu >= 300 }
    static func isParenchyma(_ hu: Int16) -> Bool { (20...50).contains(hu) }
    static func isCSF(_ hu: Int16) -> Bool { hu <= 15 && hu >= -100 }
    static func isAir(_ hu: Int16) -> Bool { hu < -100 }

    /// Voxels within `radius` pixels in-plane (Chebyshev) of `component`, in its slice, that are no
    /// blood of any subtype.
    static func ring(_ c: SynthCase, _ component: [Int], radius: Int) -> [Int] {
        let size = c.ct.geometry.size
        var seen = Set(component), out: [Int] = []
        for p in component {
            let i = p % size.i, j = (p / size.i) % size.j, k = p / size.sliceCount
            for dj in -radius...radius { for di in -radius...radius {
                let x = i + di, y = j + dj
                guard x >= 0, y >= 0, x < size.i, y < size.j else { continue }
                let q = size.offset(x, y, k)
                if c.paint.voxels[q] == 0 && seen.insert(q).inserted { out.append(q) }
            } }
        }
        return out
    }

    /// In-plane distance in millimetres from each voxel to the nearest bone-density voxel of its
    /// slice (a 3-4 chamfer transform of the image, within 4 % of Euclidean).
    static func boneDistance(_ c: SynthCase) -> [Double] {
        let size = c.ct.geometry.size
        var d = c.ct.voxels.map { isBone($0) ? 0 : Int.max / 4 }
        for k in 0..<size.k {
            for j in 0..<size.j { for i in 0..<size.i {
                let p = size.offset(i, j, k)
                if i > 0 { d[p] = min(d[p], d[p - 1] + 3) }
                if j > 0 { d[p] = min(d[p], d[p - size.i] + 3)
                    if i > 0 { d[p] = min(d[p], d[p - size.i - 1] + 4) }
                    if i < size.i - 1 { d[p] = min(d[p], d[p - size.i + 1] + 4) } }
            } }
            for j in stride(from: size.j - 1, through: 0, by: -1) { for i in stride(from: size.i - 1, through: 0, by: -1) {
                let p = size.offset(i, j, k)
                if i < size.i - 1 { d[p] = min(d[p], d[p + 1] + 3) }
                if j < size.j - 1 { d[p] = min(d[p], d[p + size.i] + 3)
                    if i < size.i - 1 { d[p] = min(d[p], d[p + size.i + 1] + 4) }
                    if i > 0 { d[p] = min(d[p], d[p + size.i - 1] + 4) } }
            } }
        }
        let mm = c.ct.geometry.spacing.x / 3
        return d.map { Double($0) * mm }
    }

    /// The in-plane distance in millimetres from `component` to the nearest bone-density voxel.
    static func distanceToBone(_ distances: [Double], _ component: [Int]) -> Double {
        component.map { distances[$0] }.min() ?? .infinity
    }

    @Test func epiduralAndSubduralBloodTouchesTheInnerTable() {
        var checked = 0
        for c in Self.cohort {
            let size = c.ct.geometry.size
            for s in [Subtype.eph, .sdh] where c.presentSubtypes.contains(s) {
                for component in sliceComponents(size: size, member: { c.paint.voxels[$0] == s.rawValue }) {
                    // Bone-density voxels touching the component (3D neighbourhood).
                    var touches = false
                    var touched: [(Double, Double)] = [] // in the same slice
                    for p in component {
                        let i = p % size.i, j = (p / size.i) % size.j, k = p / size.sliceCount
                        for dk in -1...1 { for dj in -1...1 { for di in -1...1 {
                            let x = i + di, y = j + dj, z = k + dk
                            guard x >= 0, y >= 0, z >= 0, x < size.i, y < size.j, z < size.k else { continue }
                            if Self.isBone(c.ct.voxels[size.offset(x, y, z)]) {
                                touches = true
                                if dk == 0 { touched.append((Double(x), Double(y))) }
                            }
                        } } }
                    }
                    #expect(touches, "\(c.caseID) \(s): a collection of \(component.count) voxels touches no bone-density voxel")
                    #expect(!Self.ring(c, component, radius: 1).contains { Self.isAir(c.ct.voxels[$0]) }, "\(c.caseID) \(s): air beside the collection")
                    guard !touched.isEmpty else { continue }
                    // The inner table: the collection lies nearer the head's centre than the bone it touches.
                    let k = component[0] / size.sliceCount
                    var cx = 0.0, cy = 0.0, n = 0.0
                    for j in 0..<size.j { for i in 0..<size.i where !Self.isAir(c.ct.voxels[size.offset(i, j, k)]) { cx += Double(i); cy += Double(j); n += 1 } }
                    cx /= n; cy /= n
                    func dist(_ x: Double, _ y: Double) -> Double { ((x - cx) * (x - cx) + (y - cy) * (y - cy)).squareRoot() }
                    let blood = component.map { dist(Double($0 % size.i), Double(($0 / size.i) % size.j)) }.reduce(0, +) / Double(component.count)
                    let bone = touched.map { dist($0.0, $0.1) }.reduce(0, +) / Double(touched.count)
                    #expect(blood < bone, "\(c.caseID) \(s): the collection (\(blood) px from the head's centre) is outside the bone it touches (\(bone) px)")
                    checked += 1
                }
            }
        }
        #expect(checked > 10)
    }

    @Test func parenchymalClotsAreSurroundedByParenchyma() {
        var checked = 0
        for c in Self.cohort where c.presentSubtypes.contains(.iph) {
            let bone = Self.boneDistance(c)
            for component in sliceComponents(size: c.ct.geometry.size, member: { c.paint.voxels[$0] == Subtype.iph.rawValue }) {
                let ring = Self.ring(c, component, radius: 2).map { c.ct.voxels[$0] }
                let parenchyma = Double(ring.filter(Self.isParenchyma).count) / Double(max(1, ring.count))
                #expect(!ring.contains(where: Self.isBone) && !ring.contains(where: Self.isAir), "\(c.caseID) IPH: bone or air around the clot")
                #expect(parenchyma >= 0.3, "\(c.caseID) IPH: only \(parenchyma) of the surrounding voxels have parenchyma density")
                #expect(Self.distanceToBone(bone, component) >= 8, "\(c.caseID) IPH: the clot reaches the skull")
                checked += 1
            }
        }
        #expect(checked > 0)
    }

    @Test func ventricularBloodLiesDeepUnderCSFDensityVentricle() {
        var checked = 0
        for c in Self.cohort where c.presentSubtypes.contains(.ivh) {
            let size = c.ct.geometry.size, bone = Self.boneDistance(c)
            var bloodRow = 0.0, bloodCount = 0.0, csfRow = 0.0, csfCount = 0.0
            for component in sliceComponents(size: size, member: { c.paint.voxels[$0] == Subtype.ivh.rawValue }) {
                #expect(Self.distanceToBone(bone, component) >= 10, "\(c.caseID) IVH: not deep in the head")
                let ring = Self.ring(c, component, radius: 3)
                #expect(!ring.contains { Self.isBone(c.ct.voxels[$0]) || Self.isAir(c.ct.voxels[$0]) })
                for p in component { bloodRow += Double((p / size.i) % size.j); bloodCount += 1 }
                for p in ring where Self.isCSF(c.ct.voxels[p]) { csfRow += Double((p / size.i) % size.j); csfCount += 1 }
            }
            // CSF-density ventricle borders the blood, and lies above its level (rows grow toward the
            // dependent side): the blood layers in the ventricle.
            #expect(csfCount > 0, "\(c.caseID) IVH: no CSF-density voxel beside the blood")
            if csfCount > 0 { #expect(csfRow / csfCount < bloodRow / bloodCount, "\(c.caseID) IVH: the CSF is not above the blood") }
            checked += 1
        }
        #expect(checked > 0)
    }

    @Test func subarachnoidBloodLiesInSulciOrCisterns() {
        var checked = 0, nearSkull = 0
        for c in Self.cohort where c.presentSubtypes.contains(.sah) {
            let size = c.ct.geometry.size, bone = Self.boneDistance(c)
            for component in sliceComponents(size: size, member: { c.paint.voxels[$0] == Subtype.sah.rawValue }) {
                let k = component[0] / size.sliceCount
                let d = Self.distanceToBone(bone, component)
                // Sulci reach the inner table; cisterns lie around the brainstem, in the lower half
                // of the head, away from it. Neither bone nor air inside the blood's 1-pixel ring.
                let ring = Self.ring(c, component, radius: 1).map { c.ct.voxels[$0] }
                #expect(d <= 12 || k < size.k / 2, "\(c.caseID) SAH at slice \(k): \(d) mm from the skull, above the cisterns")
                #expect(!ring.contains(where: Self.isAir), "\(c.caseID) SAH at slice \(k): air beside the blood")
                if d <= 12 { nearSkull += 1 }
                checked += 1
            }
        }
        #expect(checked > 10 && nearSkull > 0)
    }

    /// The same 20 heads without blood (positive fraction 0): anatomy, densities, noise and
    /// artefacts are drawn before the lesions, so only the blood (and its mass effect) differs.
    static let bloodFree: [SynthCase] = {
        let generator = try! SynthGenerator(options: SynthOptions(seed: 2024, positiveFraction: 0, inPlanePixels: 192, sliceCount: 10))
        return (0..<20).map { generator.generate(caseIndex: $0, sliceThreads: 2) }
    }()

    /// Subarachnoid blood fills CSF spaces, judged from images: where the blood lies, the same head
    /// imaged without blood shows CSF density (≤ 20 HU) for most voxels (the rest: sulci the blood
    /// distended, partial volume); no air borders the blood; the pieces are thin sheets (most
    /// voxels lie on a piece's border), and the blood forms sheets in 3D, not specks: under a tenth
    /// of its 26-connected lesions are below 0.01 ml.
    @Test func subarachnoidBloodFillsCSFDensitySpacesAsSheets() {
        var lesions = 0, specks = 0, cases = 0
        var borderVoxels = 0, bloodVoxels = 0
        for c in Self.cohort where c.presentSubtypes.contains(.sah) {
            let size = c.ct.geometry.size
            let twin = Self.bloodFree[c.index]
            #expect(twin.presentSubtypes.isEmpty)
            // Away from the inner table (≥ 6 mm from bone density in the image), where the thick
            // slices mix bone into the CSF layer: thin CSF spaces blur with the cortex around them
            // (1.2 mm pixels) and blood distends the sulci it fills, so the median lies below grey
            // matter (37–42 HU) and a quarter lies at or below the bottom of white matter (25 HU).
            let bone = Self.boneDistance(c)
            var under = [Int16]()
            for (p, v) in c.paint.voxels.enumerated() where v == Subtype.sah.rawValue && bone[p] >= 6 { under.append(twin.ct.voxels[p]) }
            guard under.count >= 20 else { continue }
            under.sort()
            let median = under[under.count / 2], lowQuartile = under[under.count / 4]
            #expect(median < 33 && lowQuartile <= 25,
                    "\(c.caseID) SAH: in the same head without blood the blood's voxels have median \(median) HU, lower quartile \(lowQuartile) HU")
            cases += 1
            for component in sliceComponents(size: size, member: { c.paint.voxels[$0] == Subtype.sah.rawValue }) {
                let ring = Self.ring(c, component, radius: 1).map { c.ct.voxels[$0] }
                #expect(!ring.contains(where: Self.isAir), "\(c.caseID) SAH: air beside the blood")
                let members = Set(component)
                for p in component {
                    let i = p % size.i, j = (p / size.i) % size.j
                    var interior = i > 0 && j > 0 && i < size.i - 1 && j < size.j - 1
                    if interior {
                        for q in [p - 1, p + 1, p - size.i, p + size.i] where !members.contains(q) { interior = false }
                    }
                    bloodVoxels += 1
                    if !interior { borderVoxels += 1 }
                }
            }
            // 26-connected lesions in 3D and their volumes.
            let voxelML = c.ct.geometry.spacing.x * c.ct.geometry.spacing.y * c.ct.geometry.spacing.z / 1000
            var seen = [Bool](repeating: false, count: size.count)
            for start in 0..<size.count where c.paint.voxels[start] == Subtype.sah.rawValue && !seen[start] {
                var stack = [start], count = 0
                seen[start] = true
                while let p = stack.popLast() {
                    count += 1
                    let i = p % size.i, j = (p / size.i) % size.j, k = p / size.sliceCount
                    for dk in -1...1 { for dj in -1...1 { for di in -1...1 {
                        let x = i + di, y = j + dj, z = k + dk
                        guard x >= 0, y >= 0, z >= 0, x < size.i, y < size.j, z < size.k else { continue }
                        let q = size.offset(x, y, z)
                        if !seen[q] && c.paint.voxels[q] == Subtype.sah.rawValue { seen[q] = true; stack.append(q) }
                    } } }
                }
                lesions += 1
                if Double(count) * voxelML < 0.01 { specks += 1 }
            }
        }
        #expect(cases > 3)
        // Sheets: at least half of the blood voxels lie on a piece's border (a thick clot has few).
        #expect(Double(borderVoxels) >= 0.5 * Double(bloodVoxels), "\(borderVoxels) of \(bloodVoxels) SAH voxels on a border")
        #expect(lesions > 0 && Double(specks) <= 0.1 * Double(lesions), "\(specks) of \(lesions) SAH lesions are under 0.01 ml")
    }
}
