import Foundation
import HemoCore

/// An epidural or subdural collection: a thickness profile over the inner table around direction `n`.
struct ExtraAxialLesion: Sendable {
    var subtype: Subtype
    /// Unit direction (head frame) of the collection's centre.
    var n: SIMD3<Float>
    /// Horizontal and vertical unit tangents at `n`.
    var e1: SIMD3<Float>, e2: SIMD3<Float>
    /// Half-extents along `e1`, `e2`, as chord lengths on the unit sphere.
    var w1: Float, w2: Float
    /// Maximum thickness in mm.
    var thickness: Float
    /// Blood density in HU (above the haematocrit level when there is one).
    var hu: Float
    /// Haematocrit level: blood where the scanner-posterior offset exceeds `level` has `huDependent`.
    var level: Float = .infinity, huDependent: Float = 0

    /// Thickness (mm) of the collection along the direction `unit` (0 outside it).
    /// EPH: parabolic profile, a biconvex lens. SDH: flat profile falling off at the ends, a crescent.
    @inline(__always) func thickness(along unit: SIMD3<Float>) -> Float {
        let c = unit.x * n.x + unit.y * n.y + unit.z * n.z
        guard c > 0.2 else { return 0 }
        // A subdural collection stays on its side of the falx.
        if subtype == .sdh && unit.x * n.x <= 0 { return 0 }
        let dx = unit.x - n.x, dy = unit.y - n.y, dz = unit.z - n.z
        let a = (dx * e1.x + dy * e1.y + dz * e1.z) / w1
        let b = (dx * e2.x + dy * e2.y + dz * e2.z) / w2
        let alpha2 = a * a + b * b
        guard alpha2 < 1 else { return 0 }
        if subtype == .eph { return thickness * (1 - alpha2) }
        return thickness * (1 - alpha2 * alpha2 * alpha2).squareRoot()
    }
}

/// Subarachnoid blood: a continuous sheet in the CSF spaces.
///
/// Convexity blood covers every CSF voxel (surface layer and whole sulci, which it distends) whose
/// direction from the head centre lies within a cone around `centre`, so each sulcus is filled from
/// the surface to its depth and stays joined to the surface sheet. Basal blood fills the cisterns,
/// fissures and sulci within a ball around the basal cisterns.
struct SubarachnoidLesion: Sendable {
    var centre: SIMD3<Float>
    var radius: Float
    var hu: Float
    /// Whether the ball sits on the basal cisterns (aneurysmal pattern) rather than the convexity.
    var basal: Bool
    /// Convexity: unit direction of the centre and the cosine of the cone's half-angle.
    var direction: SIMD3<Float> = .zero, cosHalfAngle: Float = 1

    /// Whether the head-frame point lies in the lesion's territory.
    @inline(__always) func covers(_ x: Float, _ y: Float, _ z: Float) -> Bool {
        if basal {
            let dx = x - centre.x, dy = y - centre.y, dz = z - centre.z
            return dx * dx + dy * dy + dz * dz < radius * radius
        }
        let r = (x * x + y * y + z * z).squareRoot()
        return x * direction.x + y * direction.y + z * direction.z > cosHalfAngle * r
    }
}

/// An intraparenchymal clot: a lobulated rotated ellipsoid, optionally with an oedema rim.
struct ParenchymalLesion: Sendable {
    var centre: SIMD3<Float>
    var radii: SIMD3<Float>
    var cosA: Float, sinA: Float
    var lobulation: Float
    var lobePhase: SIMD3<Float>
    var hu: Float
    /// Haematocrit level (scanner-posterior offset) and the density below it.
    var level: Float = .infinity, huDependent: Float = 0
    /// Oedema rim thickness as a fraction of the normalised radius (0 = none).
    var rim: Float
    var oedemaHU: Float

    /// Normalised radius (1 = on the nominal surface) and the lobulated surface value.
    @inline(__always) func normalisedRadius(_ x: Float, _ y: Float, _ z: Float) -> (r: Float, surface: Float) {
        let dx = x - centre.x, dy = y - centre.y, dz = z - centre.z
        let u = (cosA * dx + sinA * dy) / radii.x
        let v = (-sinA * dx + cosA * dy) / radii.y
        let w = dz / radii.z
        let r = (u * u + v * v + w * w).squareRoot()
        let lobes = lobulation * sinApprox(u * 2.7 + lobePhase.x) * sinApprox(v * 2.3 + lobePhase.y) * sinApprox(w * 2.1 + lobePhase.z)
        return (r, 1 + lobes)
    }

    var boundingRadius: Float { max(radii.x, radii.y, radii.z) * (1 + lobulation + rim) + 2 }
}

/// Intraventricular blood layering behind a horizontal (scanner-frame) fluid level.
struct VentricularLesion: Sendable {
    /// Sides with blood: bit 0 = left (head x > 0), bit 1 = right.
    var sides: UInt8
    /// Blood where the scanner-posterior offset from the head centre exceeds this (mm).
    var levelOffset: Float
    var hu: Float
}

/// A planned lesion, as reported in ``CasePlan``.
public struct PlannedLesion: Sendable, Hashable, CustomStringConvertible {
    /// The subtype.
    public let subtype: Subtype
    /// Where and how it was placed, in words.
    public let summary: String
    /// A readable line.
    public var description: String { "\(subtype.name): \(summary)" }
}

/// Everything that decides one synthetic case: grid, head pose, anatomy and lesions.
///
/// Built from (seed, case index, options) only; evaluated voxel by voxel by ``CaseModel/fillSlice(_:hu:tissue:label:)``.
public struct CaseModel: Sendable {
    // Grid.
    /// The case index.
    public let index: Int
    /// The CT grid (LPS voxel order, NIfTI RAS affine diag(−s, −s, t) with an origin).
    public let geometry: Geometry
    /// The primary subtype the planner was dealt, `nil` for a planned negative.
    public let primary: Subtype?
    /// The lesions placed, in painting order.
    public private(set) var lesions: [PlannedLesion] = []

    let width: Int, height: Int, slices: Int
    let spacing: Float, thickness: Float
    /// LPS world position of voxel (0, 0, 0) and of the head centre.
    let origin: SIMD3<Float>, headCentre: SIMD3<Float>
    /// Rows of the LAS-delta → head-frame rotation.
    let m0: SIMD3<Float>, m1: SIMD3<Float>, m2: SIMD3<Float>

    // Head shape.
    let a: Float, b: Float, cTop: Float, cBottom: Float
    let scalpEnd: Float, outerTableEnd: Float, diploeEnd: Float, skullEnd: Float
    // Densities.
    let huScalp: Float, huCortical: Float, huDiploe: Float, huCSF: Float, huGray: Float, huWhite: Float
    let huDeep: Float, huDura: Float, huFat: Float, huCalc: Float
    // Brain.
    let csfLayer: Float, fissureHalf: Float, sulcusHalf: Float, grayThickness: Float
    let sulcusCount: Float, phase: SIMD4<Float>, wobble: SIMD2<Float>
    let ventricleScale: Float, ventricleAsymmetry: Float
    let choroidCalcified: Bool, pinealCalcified: Bool
    let noiseSigma: Float
    let seed: UInt64
    // Real-scan mimics (``SynthOptions/realScanMimics``), never blood.
    /// Skull-stripped: every extracranial voxel becomes `strippedFill` HU, except skull-base bone
    /// within `remnantDepth` mm (2–7) of the cavity floor, kept at `boneRemnant` × its density or,
    /// when `dimRemnants`, at about `remnantHU` (60–120 HU, textured: the partial volume of thin
    /// bone that a real strip leaves over the lowest slices).
    let skullStripped: Bool, strippedFill: Float, boneRemnant: Float
    /// See ``skullStripped``.
    let remnantDepth: Float, dimRemnants: Bool, remnantHU: Float
    /// Bone blur: brain within `haloWidth` mm of its surface over the skull base (below head z =
    /// 12 mm) and under the inner table reads up to `haloHU` there, falling quadratically to its own
    /// density (bone blurred into brain by a thick or soft reconstruction, or left by a skull strip);
    /// 0 for none. CSF spaces, where SAH and IVH are drawn, keep their own density.
    let haloWidth: Float, haloHU: Float
    /// Skull-stripped: brain within `rimWidth` mm (2–7) of its surface under the removed inner table
    /// or over the skull base reads about `rimHU` (43–48 HU, ±2 along the surface: the partial volume
    /// of bone that stripping leaves, a few HU over the cortex as in a real stripped atlas, never as
    /// dense as sulcal SAH), fading over 1.5 mm; CSF, where SAH and IVH are drawn, keeps its own density.
    let rimWidth: Float, rimHU: Float
    /// Skull-stripped, in 9 of 10 such heads: irregular dense patches in the rim's brain,
    /// 1.4–5.4 mm under its surface, reading 54 HU at their edge up to `rimPatchPeakHU` (75–130 HU)
    /// in their core, where a smooth 3-D field passes `rimPatchThreshold` (1.1–2.1: about 5–20 % of
    /// that layer, as the real atlas's 10 % over 54 HU). A real stripped atlas carries such patches (the inner table's partial volume,
    /// unevenly removed); without them a network calls them blood. Never in CSF, where SAH and IVH
    /// are drawn; `rimPatchThreshold` is infinite for none.
    let rimPatchThreshold: Float, rimPatchPeakHU: Float, rimPatchPhase: SIMD4<Float>
    /// Skull-stripped, in 17 of 20 such heads: a parasellar look-alike at the central skull base.
    /// A real stripped atlas keeps the parasellar soft tissue and the clinoid processes around the
    /// sella (56–132 HU, 2–5 mm under the stripped surface), just where a phantom draws basal SAH in
    /// its CSF. So the brain (never CSF) over the sella, within 6 mm of the cavity floor and up to
    /// 22 mm either side of the midline, reads a textured density towards `parasellarPeakHU`
    /// (90–135 HU, 0 for none; `parasellarPhase` moves the texture), with four small bone-bright
    /// spots (the anterior and posterior clinoids, `clinoidRadius` 1.4–2.4 mm, up to `clinoidHU`,
    /// 150–260 HU, moved by `clinoidShift` mm). See ``parasellarHU(_:_:_:hu:depth:)``.
    let parasellarPeakHU: Float, parasellarPhase: SIMD3<Float>
    /// See ``parasellarPeakHU``.
    let clinoidHU: Float, clinoidRadius: Float, clinoidShift: SIMD2<Float>
    /// HU added to the basal cisterns (partial volume of vessels and bone), 0 for none.
    let cisternOffset: Float
    /// Half-width (mm, along the head axis) of the partial-volume slab near the skull, and whether
    /// it is sampled at five depths (±half, ±half/2, 0) rather than three (±half, 0).
    let partialVolumeHalf: Float, partialVolumeFine: Bool
    /// Extra in-plane [¼ ½ ¼] blur passes before the noise (a wider point-spread function: the
    /// soft edge between bone and brain of a real reconstruction), 0 for none. CSF spaces, where SAH
    /// and IVH are drawn, keep the plain blur: the extra passes would spread the inner table into them.
    let extraBlurPasses: Int
    /// Whether the noise is spatially correlated (blurred white noise, rescaled to the same σ).
    let correlatedNoise: Bool
    // Mimics and artefacts.
    /// Density of the superior sagittal sinus and of the dense-vessel mimic (MCA segment), HU.
    let huSinus: Float, huVessel: Float
    /// Whether a dense middle cerebral artery, falx calcification, basal-ganglia calcification appear.
    let denseVessel: Bool, falxCalcified: Bool, gangliaCalcified: Bool
    /// Beam-hardening streak amplitude (HU) near the skull base, 0 for none, and the streak phase.
    let streakHU: Float, streakPhase: Float
    /// Mass effect: midline shift (mm, signed along head x) centred at (y, z) of the largest lesion,
    /// and the compression of the ipsilateral lateral ventricle (0–0.6).
    var midlineShift: Float = 0, shiftCentre: SIMD2<Float> = .zero, ventricleCompression: Float = 0

    // Lesions.
    var extraAxial: [ExtraAxialLesion] = []
    var subarachnoid: [SubarachnoidLesion] = []
    var parenchymal: [ParenchymalLesion] = []
    var ventricular: VentricularLesion?

    /// Plans case `index` under `options`.
    public init(index: Int, options: SynthOptions) {
        self.index = index
        seed = options.seed
        var rng = Xoshiro256(key: options.seed, UInt64(index), 0xA7A7)

        // Head shape first: the field of view must hold it.
        a = rng.uniformF(67...77)
        b = a * rng.uniformF(1.22...1.34)
        // Grid: field of view 0.35–0.6 mm × 512 (at least the head's length plus margins),
        // coverage 140–200 mm (28–40 slices of 5 mm).
        let pixels = options.inPlanePixels
        let fov = max(rng.uniform(179...307), 2 * Double(b) + 40)
        let coverageSlices = rng.int(28...40)
        var coverage = Double(coverageSlices) * 5
        let drawn = options.sliceThicknessRange.map { range in
            let choices = SynthOptions.reconstructionThicknesses.filter { range.contains($0) }
            return choices.isEmpty ? range.lowerBound : choices[rng.int(0...(choices.count - 1))]
        }
        let k: Int, t: Double
        switch (options.sliceCount, options.sliceThickness ?? drawn) {
        case let (count?, thick?): k = count; t = thick; coverage = Double(count) * thick
        case let (count?, nil): k = count; t = coverage / Double(count)
        case let (nil, thick?): t = thick; k = max(4, Int((coverage / thick).rounded()))
        case (nil, nil): k = coverageSlices; t = 5
        }
        width = pixels; height = pixels; slices = k
        let s = fov / Double(pixels)
        spacing = Float(s); thickness = Float(t)

        // Head pose.
        cTop = rng.uniformF(84...96)
        cBottom = rng.uniformF(108...122)
        let scalp = rng.uniformF(4...6.5), outer = rng.uniformF(1.5...2.3), dip = rng.uniformF(2.0...3.8), inner = rng.uniformF(1.3...2.0)
        scalpEnd = scalp; outerTableEnd = scalp + outer; diploeEnd = scalp + outer + dip; skullEnd = scalp + outer + dip + inner
        let yaw = rng.uniform(-12...12) * .pi / 180
        let tilt = rng.uniform(-8...20) * .pi / 180
        let roll = rng.uniform(-4...4) * .pi / 180
        // head = Rx(tilt) · Ry(roll) · Rz(yaw) · (LAS delta)
        let cy = cos(yaw), sy = sin(yaw), ct = cos(tilt), st = sin(tilt), cr = cos(roll), sr = sin(roll)
        let rz: [[Double]] = [[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]]
        let ry: [[Double]] = [[cr, 0, sr], [0, 1, 0], [-sr, 0, cr]]
        let rx: [[Double]] = [[1, 0, 0], [0, ct, -st], [0, st, ct]]
        func mul(_ p: [[Double]], _ q: [[Double]]) -> [[Double]] {
            (0..<3).map { r in (0..<3).map { c in (0..<3).reduce(0) { $0 + p[r][$1] * q[$1][c] } } }
        }
        let m = mul(rx, mul(ry, rz))
        m0 = SIMD3(Float(m[0][0]), Float(m[0][1]), Float(m[0][2]))
        m1 = SIMD3(Float(m[1][0]), Float(m[1][1]), Float(m[1][2]))
        m2 = SIMD3(Float(m[2][0]), Float(m[2][1]), Float(m[2][2]))
        let tableZ = rng.uniform(80...220)
        let head = SIMD3<Double>(rng.uniform(-8...8), rng.uniform(-10...6), tableZ)
        headCentre = SIMD3<Float>(head)
        // Top slice 2–10 mm above the vertex (measured along the head axis).
        let vertexWorldZ = head.z + Double(cTop) * cos(tilt) * cos(roll)
        let top = vertexWorldZ + rng.uniform(2...10)
        let originD = SIMD3<Double>(-Double(pixels - 1) / 2 * s, -Double(pixels - 1) / 2 * s, top - Double(k - 1) * t)
        origin = SIMD3<Float>(originD)
        // LPS → RAS: negate x and y, as scanners' NIfTI exports do.
        let affine = Affine(rowMajor: [-s, 0, 0, -originD.x,
                                       0, -s, 0, -originD.y,
                                       0, 0, t, originD.z,
                                       0, 0, 0, 1])
        geometry = Geometry(size: GridSize(pixels, pixels, k), spacing: SIMD3(s, s, t), affine: affine)

        // Densities (per-case variation).
        huScalp = rng.uniformF(30...48)
        huCortical = rng.uniformF(1550...1900)
        huDiploe = rng.uniformF(760...980)
        huCSF = rng.uniformF(4...11)
        huGray = rng.uniformF(37...42)
        huWhite = rng.uniformF(26...30)
        huDeep = rng.uniformF(35...39)
        // A dense falx (up to 70 HU) in a quarter of the heads: a mimic of interhemispheric blood.
        huDura = rng.chance(0.25) ? rng.uniformF(55...70) : rng.uniformF(45...55)
        huFat = rng.uniformF(-95 ... -70)
        huCalc = rng.uniformF(160...380)
        // Brain: atrophy widens sulci, the CSF layer and ventricles together.
        let atrophy = rng.uniformF(0...1)
        csfLayer = 0.9 + 1.6 * atrophy
        fissureHalf = 1.0 + 1.2 * atrophy
        // Sulci stay at least half a pixel wide so coarse test grids still sample them.
        sulcusHalf = max(0.55 + 0.8 * atrophy, 0.55 * Float(s))
        grayThickness = rng.uniformF(2.4...3.1)
        sulcusCount = Float(rng.int(34...42))
        phase = SIMD4(rng.uniformF(0...6.283), rng.uniformF(0...6.283), rng.uniformF(0...6.283), rng.uniformF(0...6.283))
        wobble = SIMD2(rng.uniformF(0.6...1.4), rng.uniformF(0.5...1.2))
        ventricleScale = 0.85 + 0.45 * atrophy + rng.uniformF(-0.05...0.05)
        ventricleAsymmetry = rng.uniformF(-0.1...0.1)
        choroidCalcified = options.calcifications && rng.chance(0.55)
        pinealCalcified = options.calcifications && rng.chance(0.5)
        // Thinner slices are noisier (σ ∝ 1/√thickness, up to 2.2× at 1 mm).
        let sigma = rng.uniformF(3...8) * Float(min(2.2, (5 / t).squareRoot()))
        huSinus = rng.uniformF(45...72)
        huVessel = rng.uniformF(55...80)
        denseVessel = rng.chance(0.2)
        falxCalcified = options.calcifications && rng.chance(0.2)
        gangliaCalcified = options.calcifications && rng.chance(0.15)
        streakHU = rng.chance(0.7) ? rng.uniformF(4...18) : 0
        streakPhase = rng.uniformF(0...6.283)

        // Real-scan mimics come from a stream of their own: everything above is the same without them.
        var mimic = Xoshiro256(key: options.seed, UInt64(index), 0x5EA1)
        let on = options.realScanMimics
        skullStripped = on && mimic.chance(0.3)
        strippedFill = mimic.chance(0.7) ? 0 : -1024
        boneRemnant = mimic.uniformF(0.06...0.3)
        rimWidth = mimic.uniformF(2...7)
        rimHU = mimic.uniformF(43...48)
        cisternOffset = on && mimic.chance(0.35) ? mimic.uniformF(8...22) : 0
        let wideSlab = on && mimic.chance(0.5)
        partialVolumeHalf = wideSlab ? min(Float(t) / 2.5, 2.0) : min(Float(t) / 4, 1.25)
        partialVolumeFine = wideSlab
        extraBlurPasses = on ? [0, 0, 1, 2, 3][mimic.int(0...4)] : 0
        correlatedNoise = on && mimic.chance(0.5)
        // A skull-stripped exam is often an average or a denoised series: much less noise.
        noiseSigma = skullStripped ? sigma * mimic.uniformF(0.15...0.5) : sigma
        // Drawn after the mimics above, so that adding them left those unchanged.
        remnantDepth = mimic.uniformF(2...7)
        dimRemnants = mimic.chance(0.6)
        remnantHU = mimic.uniformF(60...120)
        let halo = on && mimic.chance(0.5)
        let haloWidthDrawn = mimic.uniformF(1.5...5)
        haloWidth = halo ? haloWidthDrawn : 0
        // A stripped head keeps dim bone; an unstripped one blurs compact bone in up to 200 HU.
        haloHU = skullStripped ? mimic.uniformF(60...120) : mimic.uniformF(60...200)
        // Drawn last, so that adding them left every draw above unchanged.
        let patches = skullStripped && mimic.chance(0.9)
        let patchThreshold = mimic.uniformF(1.1...2.1)
        rimPatchThreshold = patches ? patchThreshold : .infinity
        rimPatchPeakHU = mimic.uniformF(75...130)
        rimPatchPhase = SIMD4(mimic.uniformF(0...6.283), mimic.uniformF(0...6.283), mimic.uniformF(0...6.283), mimic.uniformF(0...6.283))
        // Drawn after the rim patches, so that adding it left every draw above unchanged.
        let parasellar = skullStripped && mimic.chance(0.85)
        let parasellarPeak = mimic.uniformF(90...135)
        parasellarPeakHU = parasellar ? parasellarPeak : 0
        parasellarPhase = SIMD3(mimic.uniformF(0...6.283), mimic.uniformF(0...6.283), mimic.uniformF(0...6.283))
        clinoidHU = mimic.uniformF(150...260)
        clinoidRadius = mimic.uniformF(1.4...2.4)
        clinoidShift = SIMD2(mimic.uniformF(-2...2), mimic.uniformF(-2...2))

        primary = CohortPlan.primarySubtype(caseIndex: index, options: options)
        planLesions(rng: &rng)
    }

    /// The case's realism features in a few words (slice thickness, mass effect, haematocrit levels,
    /// mimics, streaks), for preview captions.
    public var features: String {
        var f = [String(format: "%.3g mm", Double(thickness))]
        if abs(midlineShift) >= 0.5 { f.append(String(format: "shift %.0f mm", Double(abs(midlineShift)))) }
        if extraAxial.contains(where: { $0.level.isFinite }) || parenchymal.contains(where: { $0.level.isFinite }) { f.append("Hct level") }
        if huDura > 55 { f.append("dense falx") }
        if denseVessel { f.append("dense MCA") }
        if falxCalcified || gangliaCalcified { f.append("calcification") }
        if streakHU > 0 { f.append("streaks") }
        if skullStripped { f.append(dimRemnants ? "skull-stripped, dim skull-base remnants" : "skull-stripped") }
        if rimPatchThreshold.isFinite { f.append("dense rim patches") }
        if parasellarPeakHU > 0 { f.append("parasellar look-alike") }
        if haloWidth > 0 { f.append("bone blur") }
        if cisternOffset > 0 { f.append("dense cisterns") }
        if correlatedNoise { f.append("correlated noise") }
        if partialVolumeFine { f.append("wide skull partial volume") }
        if extraBlurPasses > 0 { f.append("soft edges") }
        return f.joined(separator: ", ")
    }

    // MARK: Lesion planning

    /// Distance from the head centre to the inner table along the unit direction `u` (head frame).
    func innerRadius(along u: SIMD3<Float>) -> Float {
        let ax = a * (1 - 0.07 * max(-1, min(1, u.y)))
        let c = u.z >= 0 ? cTop : cBottom
        let q = (u.x / ax) * (u.x / ax) + (u.y / b) * (u.y / b) + (u.z / c) * (u.z / c)
        return 1 / q.squareRoot() - skullEnd
    }

    static func direction(lateral side: Float, azimuth: Double, elevation: Double) -> SIMD3<Float> {
        SIMD3(Float(Double(side) * cos(elevation) * cos(azimuth)), Float(cos(elevation) * sin(azimuth)), Float(sin(elevation)))
    }

    static func tangents(_ n: SIMD3<Float>) -> (SIMD3<Float>, SIMD3<Float>) {
        var e1 = SIMD3<Float>(-n.y, n.x, 0)
        e1 /= max(1e-6, (e1 * e1).sum().squareRoot())
        let e2 = SIMD3<Float>(n.y * e1.z - n.z * e1.y, n.z * e1.x - n.x * e1.z, n.x * e1.y - n.y * e1.x)
        return (e1, e2)
    }

    /// Acute blood density: mostly 52–85 HU, sometimes hyperdense (85–95) or subacute (35–52).
    static func bloodHU(_ rng: inout Xoshiro256) -> Float {
        let r = rng.unit()
        if r < 0.08 { return rng.uniformF(35...52) }
        if r < 0.2 { return rng.uniformF(85...95) }
        return rng.uniformF(52...85)
    }

    /// Scanner-posterior offset (mm) of the head-frame point `q` from the head centre.
    func posteriorOffset(ofHeadPoint q: SIMD3<Float>) -> Float {
        -(m0.y * q.x + m1.y * q.y + m2.y * q.z)
    }

    /// A haematocrit level through `centre` in a quarter of the collections: (level, dependent HU, upper HU).
    static func haematocrit(_ rng: inout Xoshiro256, hu: Float, posterior: Float) -> (Float, Float, Float) {
        guard rng.chance(0.25) else { return (.infinity, hu, hu) }
        let delta = rng.uniformF(8...18)
        return (posterior + rng.uniformF(-4...4), min(95, hu + delta), max(35, hu - delta))
    }

    /// Midline shift and ventricle compression from the volume (ml) of a lesion on `side`.
    mutating func addMassEffect(volume: Float, side: Float, at centre: SIMD3<Float>) {
        let shift = min(12, 0.13 * volume)
        guard shift > abs(midlineShift) else { return }
        midlineShift = -side * shift
        shiftCentre = SIMD2(centre.y, max(-10, min(30, centre.z)))
        ventricleCompression = min(0.6, shift / 14)
    }

    mutating func planLesions(rng: inout Xoshiro256) {
        guard let primary else { return }
        var wanted: [Subtype] = [primary]
        switch primary {
        case .sdh:
            if rng.chance(0.35) { wanted.append(.sah) }
            if rng.chance(0.10) { wanted.append(.sdh) }
            if rng.chance(0.12) { wanted.append(.iph) }
        case .sah:
            if rng.chance(0.15) { wanted.append(.sdh) }
            if rng.chance(0.25) { wanted.append(.ivh) }
        case .iph:
            if rng.chance(0.15) { wanted.append(.sah) }
        case .ivh:
            if rng.chance(0.20) { wanted.append(.sah) }
        case .eph:
            if rng.chance(0.25) { wanted.append(.sah) }
            if rng.chance(0.10) { wanted.append(.sdh) }
        }
        var usedSide: Float = rng.chance(0.5) ? 1 : -1
        for subtype in wanted {
            switch subtype {
            case .eph:
                let n = Self.direction(lateral: usedSide, azimuth: rng.uniform(-0.9...0.9), elevation: rng.uniform(-0.1...0.8))
                let (e1, e2) = Self.tangents(n)
                let w = rng.uniformF(0.28...0.42)
                var lesion = ExtraAxialLesion(subtype: .eph, n: n, e1: e1, e2: e2, w1: w, w2: w * rng.uniformF(0.8...1.1),
                                              thickness: rng.uniformF(9...22), hu: Self.bloodHU(&rng))
                let centre = n * innerRadius(along: n)
                (lesion.level, lesion.huDependent, lesion.hu) = Self.haematocrit(&rng, hu: lesion.hu, posterior: posteriorOffset(ofHeadPoint: centre))
                extraAxial.append(lesion)
                let r = lesion.w1 * innerRadius(along: n)
                addMassEffect(volume: 0.5 * Float.pi * r * r * lesion.thickness * lesion.w2 / lesion.w1 / 1000, side: usedSide, at: centre)
                lesions.append(PlannedLesion(subtype: .eph, summary: "biconvex lens, \(Int(lesion.thickness)) mm thick, \(usedSide > 0 ? "left" : "right") convexity"))
            case .sdh:
                let side: Float = extraAxial.isEmpty ? usedSide : -usedSide
                let n = Self.direction(lateral: side, azimuth: rng.uniform(-0.5...0.6), elevation: rng.uniform(0.1...0.7))
                let (e1, e2) = Self.tangents(n)
                var lesion = ExtraAxialLesion(subtype: .sdh, n: n, e1: e1, e2: e2, w1: rng.uniformF(0.7...1.1), w2: rng.uniformF(0.55...0.9),
                                              thickness: rng.uniformF(4...14), hu: Self.bloodHU(&rng))
                let centre = n * innerRadius(along: n)
                (lesion.level, lesion.huDependent, lesion.hu) = Self.haematocrit(&rng, hu: lesion.hu, posterior: posteriorOffset(ofHeadPoint: centre))
                extraAxial.append(lesion)
                let r = innerRadius(along: n)
                addMassEffect(volume: 0.6 * Float.pi * lesion.w1 * lesion.w2 * r * r * lesion.thickness / 1000, side: side, at: centre)
                lesions.append(PlannedLesion(subtype: .sdh, summary: "crescent, \(Int(lesion.thickness)) mm thick, \(side > 0 ? "left" : "right") hemisphere"))
                usedSide = side
            case .sah:
                if rng.chance(0.5) {
                    let lesion = SubarachnoidLesion(centre: SIMD3(rng.uniformF(-6...6), rng.uniformF(2...12), rng.uniformF(-22 ... -12)),
                                                    radius: rng.uniformF(30...45), hu: Self.bloodHU(&rng) * 0.3 + rng.uniformF(40...55), basal: true)
                    subarachnoid.append(lesion)
                    lesions.append(PlannedLesion(subtype: .sah, summary: "basal cisterns and Sylvian fissures, radius \(Int(lesion.radius)) mm"))
                } else {
                    let n = Self.direction(lateral: rng.chance(0.5) ? 1 : -1, azimuth: rng.uniform(-1.0...1.0), elevation: rng.uniform(0.1...0.9))
                    let centre = n * (innerRadius(along: n) - 6)
                    let radius = rng.uniformF(18...32)
                    // The cone whose cap on the surface has about `radius` mm of half-width.
                    let cosHalf = cos(radius / innerRadius(along: n))
                    let lesion = SubarachnoidLesion(centre: centre, radius: radius, hu: Self.bloodHU(&rng) * 0.3 + rng.uniformF(38...55),
                                                    basal: false, direction: n, cosHalfAngle: cosHalf)
                    subarachnoid.append(lesion)
                    lesions.append(PlannedLesion(subtype: .sah, summary: "convexity sulci, radius \(Int(lesion.radius)) mm"))
                }
            case .iph:
                let site = rng.int(0...99)
                let side: Float = rng.chance(0.5) ? 1 : -1
                var size = rng.uniformF(6...17)
                let centre: SIMD3<Float>
                let name: String
                if site < 35 {
                    centre = SIMD3(side * rng.uniformF(19...24), rng.uniformF(0...8), rng.uniformF(-4...4)); name = "putaminal"
                } else if site < 55 {
                    centre = SIMD3(side * rng.uniformF(9...13), rng.uniformF(-12 ... -6), rng.uniformF(-2...4)); name = "thalamic"
                    size = min(size, 12)
                } else if site < 90 {
                    let n = Self.direction(lateral: side, azimuth: rng.uniform(-1.1...1.1), elevation: rng.uniform(0.15...0.8))
                    centre = n * (innerRadius(along: n) - size - rng.uniformF(9...16)); name = "lobar"
                } else {
                    centre = SIMD3(side * rng.uniformF(14...22), rng.uniformF(-50 ... -40), rng.uniformF(-44 ... -38)); name = "cerebellar"
                    size = min(size, 12)
                }
                let angle = rng.uniformF(0...3.1416)
                let hasOedema = rng.chance(0.7)
                var radii = SIMD3(size * rng.uniformF(0.75...1.0), size * rng.uniformF(1.0...1.35), size * rng.uniformF(0.8...1.2))
                if name == "putaminal" {
                    // Keep a ganglionic clot lateral to the ventricles (whatever its rotation).
                    let limit = abs(centre.x) - 8
                    radii = SIMD3(min(radii.x, limit), min(radii.y, limit * 1.4), radii.z)
                }
                var lesion = ParenchymalLesion(centre: centre, radii: radii,
                                               cosA: cos(angle), sinA: sin(angle), lobulation: rng.uniformF(0...0.14),
                                               lobePhase: SIMD3(rng.uniformF(0...6.28), rng.uniformF(0...6.28), rng.uniformF(0...6.28)),
                                               hu: Self.bloodHU(&rng), rim: hasOedema ? rng.uniformF(0.15...0.45) : 0, oedemaHU: rng.uniformF(14...21))
                (lesion.level, lesion.huDependent, lesion.hu) = Self.haematocrit(&rng, hu: lesion.hu, posterior: posteriorOffset(ofHeadPoint: centre))
                parenchymal.append(lesion)
                addMassEffect(volume: 4.19 * radii.x * radii.y * radii.z * (1 + lesion.rim) / 1000, side: side, at: centre)
                lesions.append(PlannedLesion(subtype: .iph, summary: "\(name) clot, \(Int(size * 2)) mm\(hasOedema ? " with oedema rim" : "")"))
                // Deep clots often rupture into the ventricles.
                if name != "lobar", !wanted.contains(.ivh), rng.chance(0.45) { addIVH(rng: &rng) }
            case .ivh:
                addIVH(rng: &rng)
            }
        }
    }

    mutating func addIVH(rng: inout Xoshiro256) {
        guard ventricular == nil else { return }
        let r = rng.int(0...9)
        let sides: UInt8 = r < 4 ? 3 : (r < 7 ? 1 : 2)
        let cast = rng.chance(0.1)
        let level = cast ? rng.uniformF(-6...2) : rng.uniformF(12...22)
        ventricular = VentricularLesion(sides: sides, levelOffset: level, hu: Self.bloodHU(&rng))
        let where_ = sides == 3 ? "both lateral ventricles" : (sides == 1 ? "left lateral ventricle" : "right lateral ventricle")
        lesions.append(PlannedLesion(subtype: .ivh, summary: cast ? "cast of \(where_)" : "layering in the dependent \(where_)"))
    }
}

/// A smooth, cheap sine approximation (Bhaskara-style parabola, error < 0.06) for shape modulation.
@inline(__always) func sinApprox(_ x: Float) -> Float {
    // Wrap to [-π, π].
    var t = x * (1 / (2 * Float.pi))
    t -= (t + 0.5).rounded(.down)
    let y = t * 2 * Float.pi
    let p = 4 / Float.pi * y - 4 / (Float.pi * Float.pi) * y * abs(y)
    return p
}

/// atan2 with a polynomial (max error ≈ 0.0015 rad), deterministic and fast.
@inline(__always) func fastAtan2(_ y: Float, _ x: Float) -> Float {
    let ax = abs(x), ay = abs(y)
    let mx = max(ax, ay)
    if mx == 0 { return 0 }
    let t = min(ax, ay) / mx
    let s = t * t
    var r = ((-0.0464964749 * s + 0.15931422) * s - 0.327622764) * s * t + t
    if ay > ax { r = 1.57079637 - r }
    if x < 0 { r = 3.14159274 - r }
    return y < 0 ? -r : r
}
