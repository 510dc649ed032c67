import Foundation
import Testing
import HemoCore
import HemoSynth
import NIfTI
import PNG

/// Small grids keep the suite fast: 96 × 96 pixels, 10 slices spanning the whole head.
let smallOptions = SynthOptions(seed: 2024, inPlanePixels: 96, sliceCount: 10)

/// A 20-case cohort at reduced size, generated once in memory and shared by the tests.
let smallCohort: [SynthCase] = {
    let generator = try! SynthGenerator(options: smallOptions)
    return (0..<20).map { generator.generate(caseIndex: $0, sliceThreads: 2) }
}()

/// In-plane 8-connected components of the voxels where `member` holds, per slice (voxel offsets).
func sliceComponents(size: GridSize, member: (Int) -> Bool) -> [[Int]] {
    var seen = [Bool](repeating: false, count: size.count)
    var components: [[Int]] = []
    for start in 0..<size.count where member(start) && !seen[start] {
        var stack = [start], component: [Int] = []
        seen[start] = true
        while let p = stack.popLast() {
            component.append(p)
            let i = p % size.i, j = (p / size.i) % size.j, k = p / size.sliceCount
            for dj in -1...1 { for di in -1...1 where di != 0 || dj != 0 {
                let x = i + di, y = j + dj
                guard x >= 0, y >= 0, x < size.i, y < size.j else { continue }
                let q = size.offset(x, y, k)
                if member(q) && !seen[q] { seen[q] = true; stack.append(q) }
            } }
        }
        components.append(component)
    }
    return components
}

@Suite struct DeterminismTests {
    @Test func sameSeedGivesIdenticalVoxelsWhateverTheThreadCount() throws {
        let generator = try SynthGenerator(options: smallOptions)
        let one = generator.generate(caseIndex: 5, sliceThreads: 1)
        let three = generator.generate(caseIndex: 5, sliceThreads: 3)
        #expect(one.ct == three.ct)
        #expect(one.paint == three.paint)
        #expect(one.tissue == three.tissue)
        #expect(one.ct == smallCohort[5].ct)
    }

    @Test func differentSeedsOrCasesDiffer() throws {
        var other = smallOptions
        other.seed = 7
        let a = try SynthGenerator(options: other).generate(caseIndex: 0)
        #expect(a.ct.voxels != smallCohort[0].ct.voxels)
        #expect(smallCohort[1].ct.voxels != smallCohort[2].ct.voxels)
    }

    @Test func caseGeometryFollowsTheScannerConvention() {
        for c in smallCohort.prefix(5) {
            let g = c.ct.geometry
            #expect(g.size.i == 96 && g.size.j == 96 && g.size.k == 10)
            // LPS → RAS: negative x and y steps, positive z, no obliquity.
            #expect(g.affine[0, 0] < 0 && g.affine[1, 1] < 0 && g.affine[2, 2] > 0)
            #expect(g.affine[0, 1] == 0 && g.affine[0, 2] == 0 && g.affine[1, 2] == 0)
            // A 179–307 mm field of view (at least the head's length plus 40 mm) over 96 pixels.
            #expect(g.spacing.x > 1.86 && g.spacing.x < 3.2)
        }
    }

    @Test func defaultGridHas28To40SlicesOf5mm() {
        let generator = try! SynthGenerator(options: SynthOptions(seed: 3))
        for index in 0..<30 {
            let model = generator.model(caseIndex: index)
            #expect((28...40).contains(model.geometry.size.k))
            #expect(model.geometry.spacing.z == 5)
            #expect(model.geometry.size.i == 512)
            #expect(model.geometry.spacing.x >= 0.349 && model.geometry.spacing.x <= 0.6)
        }
        let thin = try! SynthGenerator(options: SynthOptions(seed: 3, sliceThickness: 1.25)).model(caseIndex: 0)
        #expect(thin.geometry.spacing.z == 1.25 && thin.geometry.size.k >= 112)
    }

    @Test func thicknessRangeDrawsUsualReconstructionsAndSpacingsSpreadOver035To06mm() {
        let generator = try! SynthGenerator(options: SynthOptions(seed: 5, sliceThicknessRange: 0.6...5))
        var thicknesses = Set<Double>(), spacings: [Double] = []
        for index in 0..<60 {
            let g = generator.model(caseIndex: index).geometry
            thicknesses.insert(g.spacing.z)
            spacings.append(g.spacing.x)
            #expect(SynthOptions.reconstructionThicknesses.contains(g.spacing.z))
            // Coverage 140–200 mm whatever the thickness.
            #expect(Double(g.size.k) * g.spacing.z >= 138 && Double(g.size.k) * g.spacing.z <= 202)
        }
        #expect(thicknesses.contains(0.625) && thicknesses.contains(5) && thicknesses.count >= 6)
        #expect(spacings.min()! < 0.5 && spacings.max()! > 0.55)
        #expect(throws: SynthError.self) { try SynthOptions(seed: 1, sliceThicknessRange: 0.1...5).validate() }
    }
}

@Suite struct PrevalenceTests {
    @Test func everySubtypeAppearsInATwentyCaseCohort() {
        var seen = Set<Subtype>()
        for c in smallCohort { seen.formUnion(c.presentSubtypes) }
        #expect(seen == Set(Subtype.allCases))
        let positives = smallCohort.filter { !$0.presentSubtypes.isEmpty }.count
        #expect(positives == 10)
    }

    @Test func plannedPrimariesFollowTheDocumentedMix() {
        let options = SynthOptions(seed: 11)
        var counts: [Subtype: Int] = [:]
        var positives = 0
        for index in 0..<200 {
            if let s = CohortPlan.primarySubtype(caseIndex: index, options: options) { counts[s, default: 0] += 1; positives += 1 }
        }
        #expect(positives == 100)
        // Per block of 20: SDH 3, SAH 2, IPH 3, IVH 1, EPH 1 primaries.
        #expect(counts == [.sdh: 30, .sah: 20, .iph: 30, .ivh: 10, .eph: 10])
    }
}

@Suite struct AnatomyTests {
    @Test func tissueClassesHaveTheirHounsfieldRanges() throws {
        let generator = try SynthGenerator(options: SynthOptions(seed: 99, positiveFraction: 0, inPlanePixels: 256, sliceCount: 10))
        let c = generator.generate(caseIndex: 0, sliceThreads: 2)
        let size = c.ct.geometry.size
        var sums: [TissueClass: (Double, Int)] = [:]
        for k in 0..<size.k { for j in 1..<(size.j - 1) { for i in 1..<(size.i - 1) {
            let p = size.offset(i, j, k)
            let t = c.tissue.voxels[p]
            var interior = true
            for dj in -1...1 { for di in -1...1 where c.tissue.voxels[p + dj * size.i + di] != t { interior = false } }
            guard interior, let cls = TissueClass(rawValue: t) else { continue }
            let s = sums[cls] ?? (0, 0)
            sums[cls] = (s.0 + Double(c.ct.voxels[p]), s.1 + 1)
        } } }
        func mean(_ t: TissueClass) -> Double { let s = sums[t]!; return s.0 / Double(s.1) }
        #expect(mean(.air) < -990)
        #expect((20...60).contains(mean(.softTissue)))
        #expect((700...2000).contains(mean(.corticalBone)))
        #expect((700...1000).contains(mean(.diploe)) && mean(.diploe) < mean(.corticalBone))
        #expect((35...45).contains(mean(.grayMatter)))
        #expect((25...32).contains(mean(.whiteMatter)))
        #expect((0...15).contains(mean(.ventricleCSF)))
        #expect(sums[.cisternCSF] != nil && sums[.sulcalCSF] != nil)
        #expect(c.presentSubtypes.isEmpty)
    }

    @Test func headCrossSectionShrinksTowardTheVertex() {
        let c = smallCohort[3]
        let size = c.ct.geometry.size
        let heads = (0..<size.k).map { k in c.tissue.slice(k).filter { $0 != TissueClass.air.rawValue }.count }
        let top = heads.last!, middle = heads[size.k / 2]
        #expect(top < middle)
    }
}

@Suite struct LesionPlacementTests {
    @Test func bloodIsAcuteAndOnlyWhereItsSubtypeBelongs() {
        for c in smallCohort {
            for (p, s) in c.paint.voxels.enumerated() where s != 0 {
                let tissue = TissueClass(rawValue: c.tissue.voxels[p])!
                switch Subtype(rawValue: s)! {
                case .eph, .sdh: #expect(tissue == .extraAxialCollection)
                case .sah: #expect(tissue.isSubarachnoidSpace)
                case .iph: #expect(tissue.isParenchyma)
                case .ivh: #expect(tissue == .ventricleCSF)
                }
            }
            // Blood: 35–95 HU on average over the voxels whose in-plane neighbours are the same blood
            // (away from the partial-volume blur at the lesion's edge).
            let size = c.ct.geometry.size
            for s in c.presentSubtypes {
                var sum = 0.0, count = 0.0
                for k in 0..<size.k { for j in 1..<(size.j - 1) { for i in 1..<(size.i - 1) {
                    let p = size.offset(i, j, k)
                    guard c.paint.voxels[p] == s.rawValue else { continue }
                    var interior = true
                    for dj in -1...1 { for di in -1...1 where c.paint.voxels[p + dj * size.i + di] != s.rawValue { interior = false } }
                    if interior { sum += Double(c.ct.voxels[p]); count += 1 }
                } } }
                // 35–95 HU (hyperacute to subacute; haematocrit levels and skull-base streaks included).
                if count > 0 { #expect(sum / count > 30 && sum / count < 100, "\(c.caseID) \(s): mean \(sum / count) HU") }
            }
        }
    }

    @Test func extraAxialCollectionsTouchTheInnerTable() {
        for c in smallCohort {
            let size = c.ct.geometry.size
            for s in [Subtype.eph, .sdh] where c.presentSubtypes.contains(s) {
                let components = sliceComponents(size: size) { c.paint.voxels[$0] == s.rawValue }
                var touching = 0
                for component in components {
                    let touches = component.contains { p in
                        let i = p % size.i, j = (p / size.i) % size.j, k = p / size.sliceCount
                        for dk in -1...1 { for dj in -1...1 { for di in -1...1 {
                            let x = i + di, y = j + dj, z = k + dk
                            guard x >= 0, y >= 0, z >= 0, x < size.i, y < size.j, z < size.k else { continue }
                            if TissueClass(rawValue: c.tissue.voxels[size.offset(x, y, z)])!.isBone { return true }
                        } } }
                        return false
                    }
                    if touches { touching += 1 }
                }
                #expect(touching == components.count, "\(c.caseID) \(s): \(touching) of \(components.count) slice components touch bone")
            }
        }
    }

    @Test func ventricularBloodLayersPosteriorly() {
        var checked = 0
        for c in smallCohort where c.presentSubtypes.contains(.ivh) {
            let size = c.ct.geometry.size
            var bloodRow = 0.0, bloodCount = 0.0, csfRow = 0.0, csfCount = 0.0
            for (p, t) in c.tissue.voxels.enumerated() where t == TissueClass.ventricleCSF.rawValue {
                let row = Double((p / size.i) % size.j)
                if c.paint.voxels[p] == Subtype.ivh.rawValue { bloodRow += row; bloodCount += 1 } else { csfRow += row; csfCount += 1 }
            }
            // Rows grow toward the patient's back (the table side): blood sits behind the clear CSF.
            if csfCount > 0 { #expect(bloodRow / bloodCount > csfRow / csfCount) }
            checked += 1
        }
        #expect(checked > 0)
    }

    @Test func parenchymalClotsLieInsideTheBrain() {
        for c in smallCohort where c.presentSubtypes.contains(.iph) {
            let size = c.ct.geometry.size
            for component in sliceComponents(size: size, member: { c.paint.voxels[$0] == Subtype.iph.rawValue }) {
                // No clot voxel borders bone or air in-plane.
                for p in component {
                    let i = p % size.i, j = (p / size.i) % size.j
                    for (di, dj) in [(1, 0), (-1, 0), (0, 1), (0, -1)] {
                        let t = TissueClass(rawValue: c.tissue.voxels[size.offset(i + di, j + dj, p / size.sliceCount)])!
                        #expect(!t.isBone && t != .air)
                    }
                }
            }
        }
    }
}

@Suite struct PolygonFromTruthTests {
    @Test func tracedPolygonsRasteriseBackToTheTruth() throws {
        var lesionSlices = 0
        for c in smallCohort where !c.presentSubtypes.isEmpty {
            let truth = c.truth
            let document = PolygonDocument(tracing: truth, caseID: c.caseID)
            let decoded = try JSONDecoder().decode(PolygonDocument.self, from: Data(document.jsonText().utf8))
            let back = try decoded.masks(geometry: c.ct.geometry)
            let n = c.ct.geometry.size.sliceCount
            for s in c.presentSubtypes {
                for k in 0..<c.ct.geometry.size.k where truth[s].count(inSlice: k) > 0 {
                    let a = truth[s].bits[(k * n)..<((k + 1) * n)], b = back[s].bits[(k * n)..<((k + 1) * n)]
                    let inter = zip(a, b).filter { $0 != 0 && $1 != 0 }.count
                    let dice = 2 * Double(inter) / Double(a.filter { $0 != 0 }.count + b.filter { $0 != 0 }.count)
                    #expect(dice >= 0.95, "\(c.caseID) \(s) slice \(k): Dice \(dice)")
                    lesionSlices += 1
                }
            }
            #expect(back == truth) // the tracer is exact
        }
        #expect(lesionSlices > 20)
    }
}

@Suite struct CohortFileTests {
    func files(under root: String) -> [String] {
        (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).filter { path in
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDirectory)
            return !isDirectory.boolValue
        }.sorted()
    }

    @Test func writtenCohortHasTheRawLayoutAndIsByteIdenticalAcrossThreadCounts() throws {
        let base = NSTemporaryDirectory() + "hemosynth-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let options = SynthOptions(seed: 5, positiveFraction: 1, inPlanePixels: 96, sliceCount: 8)
        let generator = try SynthGenerator(options: options)
        let forms: AnnotationForms = [.labelmap, .subtypeMasks, .polygons]
        let one = try CohortWriter(directory: base + "/one", generator: generator, forms: forms).run(cases: 3, threads: 1)
        _ = try CohortWriter(directory: base + "/two", generator: generator, forms: forms).run(cases: 3, threads: 2)
        #expect(one.failures.isEmpty && one.written.count == 3)
        let listing = files(under: base + "/one")
        #expect(listing == files(under: base + "/two"))
        for path in listing {
            #expect(FileManager.default.contents(atPath: base + "/one/" + path) == FileManager.default.contents(atPath: base + "/two/" + path), "\(path)")
        }
        #expect(listing.contains("weak_labels.csv") && listing.contains("cohort.csv"))
        let cohortCSV = try String(contentsOfFile: base + "/one/cohort.csv", encoding: .utf8)
        #expect(cohortCSV.hasPrefix("case,ct,labelmap,subtype_masks,polygons\ncase_000,case_000/ct.nii.gz,case_000/labelmap.nii.gz,case_000/masks,case_000/polygons.json\n"))
        let weak = try String(contentsOfFile: base + "/one/weak_labels.csv", encoding: .utf8).split(separator: "\n")
        #expect(weak.first == "case,any,EPH,SDH,SAH,IPH,IVH" && weak.count == 4)
        for w in one.written {
            var isDirectory: ObjCBool = false
            #expect(FileManager.default.fileExists(atPath: "\(base)/one/truth/\(w.caseID)", isDirectory: &isDirectory) && isDirectory.boolValue)
            let synthCase = generator.generate(caseIndex: w.index)
            let ct = try NIfTIFile.read("\(base)/one/\(w.caseID)/ct.nii.gz")
            guard case .int16(let stored) = ct.volume else { Issue.record("CT is not int16"); continue }
            #expect(stored.voxels == synthCase.ct.voxels)
            #expect(stored.geometry.matches(synthCase.ct.geometry, tolerance: 1e-3))
            #expect(ct.header.sclSlope == 1 || ct.header.sclSlope == 0)
            for s in w.presentSubtypes {
                let truth = try NIfTIFile.read("\(base)/one/truth/\(w.caseID)/\(s.name).nii.gz").volume.converted(to: UInt8.self)
                #expect(truth.voxels == synthCase.truth[s].bits)
                #expect(listing.contains("\(w.caseID)/masks/\(s.name).nii.gz"))
            }
            let labelmap = try NIfTIFile.read("\(base)/one/\(w.caseID)/labelmap.nii.gz").volume.converted(to: UInt8.self)
            #expect(labelmap.voxels == synthCase.truth.labelMap.voxels)
            let polygons = try JSONDecoder().decode(PolygonDocument.self, from: Data(contentsOf: URL(fileURLWithPath: "\(base)/one/\(w.caseID)/polygons.json")))
            #expect(try polygons.masks(geometry: synthCase.ct.geometry) == synthCase.truth)
            #expect(w.presentSubtypes.isEmpty == false)
        }
    }

    @Test func unknownAnnotationFormIsRejected() throws {
        #expect(throws: SynthError.self) { try AnnotationForms(list: "labelmap,contours") }
        #expect(try AnnotationForms(list: "labelmap, polygons") == .defaultForms)
    }
}

@Suite struct PreviewTests {
    @Test func previewSheetIsAValidRGBPNGWithLesionColours() throws {
        let c = smallCohort.first { !$0.presentSubtypes.isEmpty }!
        let s = c.presentSubtypes[0]
        let k = (0..<c.ct.geometry.size.k).max { c.truth[s].count(inSlice: $0) < c.truth[s].count(inSlice: $1) }!
        let image = PreviewRenderer.render(tiles: [PreviewTile(synthCase: c, slice: k), PreviewTile(synthCase: c, slice: 2)], columns: 2)
        let colour = PreviewRenderer.colour(s)
        var found = false
        for p in stride(from: 0, to: image.rgb.count, by: 3) where image.rgb[p] == colour.0 && image.rgb[p + 1] == colour.1 && image.rgb[p + 2] == colour.2 {
            found = true; break
        }
        #expect(found)
        let png = try PNGEncoder.encode(width: image.width, height: image.height, colorType: .rgb, pixels: image.rgb)
        let parsed = try PNGStructure(parsing: png)
        #expect(parsed.width == image.width)
        #expect(try parsed.unfilteredPixels() == image.rgb)
    }
}

@Suite struct AnnotatorNoiseTests {
    /// `--annotator-noise`: per case the written outline is dilated or eroded by one pixel (or exact),
    /// only blood labels appear, and every change lies on the truth's in-plane border.
    @Test func outlinesAreDilatedOrErodedByOnePixel() {
        var grew = 0, shrank = 0, same = 0
        for c in smallCohort where !c.presentSubtypes.isEmpty {
            let truth = c.paint.voxels
            let noisy = CohortWriter.annotatorOutline(c.paint, seed: 11, caseIndex: c.index).voxels
            let before = truth.filter { $0 != 0 }.count, after = noisy.filter { $0 != 0 }.count
            if after > before { grew += 1 } else if after < before { shrank += 1 } else { same += 1 }
            let size = c.ct.geometry.size
            for p in 0..<truth.count where noisy[p] != truth[p] {
                let i = p % size.i, j = (p / size.i) % size.j
                var border = false
                for q in [i > 0 ? p - 1 : p, i < size.i - 1 ? p + 1 : p, j > 0 ? p - size.i : p, j < size.j - 1 ? p + size.i : p]
                where truth[q] != truth[p] { border = true }
                #expect(border, "\(c.caseID): voxel \(p) changed away from an outline")
                #expect(noisy[p] == 0 || truth[p] == 0)
            }
            // The same seed and case give the same outline.
            #expect(CohortWriter.annotatorOutline(c.paint, seed: 11, caseIndex: c.index).voxels == noisy)
        }
        #expect(grew > 0 && shrank > 0, "dilated \(grew), eroded \(shrank), exact \(same)")
    }
}
