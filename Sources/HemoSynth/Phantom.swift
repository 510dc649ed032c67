import HemoCore

/// The lesions that can reach one slice, found once per slice.
struct ActiveLesions {
    var extraAxial: [ExtraAxialLesion] = []
    var maxExtraAxialThickness: Float = 0
    var subarachnoid: [SubarachnoidLesion] = []
    var parenchymal: [ParenchymalLesion] = []
}

@inline(__always) private func smoothstep(_ x: Float) -> Float {
    let t = min(1, max(0, x))
    return t * t * (3 - 2 * t)
}

extension CaseModel {
    /// World (LPS) z of the head-frame point `q`.
    func worldZ(ofHeadPoint q: SIMD3<Float>) -> Float {
        // head = M · (dx, −dy, dz); M is orthonormal, so the world delta is Mᵀ·head with y negated.
        headCentre.z + m0.z * q.x + m1.z * q.y + m2.z * q.z
    }

    func activeLesions(slice k: Int) -> ActiveLesions {
        let zWorld = origin.z + Float(k) * thickness
        let half = thickness
        var active = ActiveLesions()
        for lesion in extraAxial {
            let centre = lesion.n * innerRadius(along: lesion.n)
            let reach = (max(lesion.w1, lesion.w2) * 1.1) * 100 + lesion.thickness
            if abs(worldZ(ofHeadPoint: centre) - zWorld) < reach + half {
                active.extraAxial.append(lesion)
                active.maxExtraAxialThickness = max(active.maxExtraAxialThickness, lesion.thickness)
            }
        }
        for lesion in subarachnoid where abs(worldZ(ofHeadPoint: lesion.centre) - zWorld) < lesion.radius + half + (lesion.basal ? 0 : 26) {
            active.subarachnoid.append(lesion)
        }
        for lesion in parenchymal where abs(worldZ(ofHeadPoint: lesion.centre) - zWorld) < lesion.boundingRadius + half {
            active.parenchymal.append(lesion)
        }
        return active
    }

    /// Height of the cranial-cavity floor under (x, y): anterior fossa, middle fossae with the sella
    /// between them, petrous ridges, posterior fossa and the foramen magnum.
    @inline(__always) func floorHeight(_ x: Float, _ y: Float) -> Float {
        let ax = abs(x)
        if x * x + (y + 22) * (y + 22) < 13 * 13 { return -1000 }
        // Orbital roofs: domed, rising toward the frontal bone.
        let anterior: Float = -24 + 0.15 * max(0, y - 14) + 0.004 * x * x
        let middle: Float = -40 + (ax < 16 ? (16 - ax) * 1.1 : 0)
        let posterior: Float = -57 + 0.0025 * x * x
        // Sphenoid wings curve forward laterally; petrous ridges run from anteromedial to posterolateral.
        let wingY = 12 + 0.006 * x * x
        let ridgeY = -2 - 0.3 * ax
        let wa = smoothstep((y - wingY) / 10)
        let wp = smoothstep((ridgeY - 4 - y) / 10)
        var f = middle + (anterior - middle) * wa
        f += (posterior - f) * wp
        let ridge = (y - ridgeY) / 5
        f += 11 * min(1, ax / 22) * max(0, 1 - ridge * ridge * 0.5)
        return f
    }

    /// Whether the head-frame point lies within 6 mm of the inner table or near the skull base,
    /// where a thick slice mixes bone into the brain (partial volume through the slice).
    @inline(__always) func nearSkull(_ q: SIMD3<Float>) -> Bool {
        if q.z < 16 { return true }
        let ax = a * (1 - 0.07 * max(-1, min(1, q.y / b)))
        let nx = q.x / ax, ny = q.y / b, nz = q.z / cTop
        let rho2 = nx * nx + ny * ny + nz * nz
        if rho2 >= 1 { return false }
        let r = (q.x * q.x + q.y * q.y + q.z * q.z).squareRoot()
        let rho = rho2.squareRoot()
        let depth: Float = rho > 0.02 ? r * (1 / rho - 1) : 200
        return depth < skullEnd + 6
    }

    /// Beam-hardening near the skull base: a dark band between the petrous bones and radial streaks
    /// from the base, fading above it. Applied to every intracranial voxel, blood included.
    @inline(__always) func streak(_ x: Float, _ y: Float, _ z: Float) -> Float {
        guard streakHU > 0, z < 0, z > -62 else { return 0 }
        let envelope = smoothstep(-z / 20) * smoothstep((z + 62) / 8)
        var v: Float = 0
        let by = (y + 4) / 9, bz = (z + 36) / 9
        let band = 1 - by * by - bz * bz
        if band > 0 { v -= streakHU * band }
        let s = sinApprox(7 * fastAtan2(y + 6, x) + streakPhase)
        if s > 0.95 { v -= 0.5 * streakHU * (s - 0.95) * 20 } else if s < -0.97 { v += 0.3 * streakHU * (-0.97 - s) * 33 }
        return v * envelope
    }

    /// Classifies the head-frame point (x, y, z): its anatomical class, the subtype painted there
    /// (0 for none) and its noiseless HU, with the beam-hardening streaks of the skull base inside the
    /// cranial cavity. `posterior` is the scanner-posterior offset from the head centre. `boneBlur`
    /// false leaves out ``boneHalo`` and ``strippedRim`` (the partial-volume samples of a CSF voxel,
    /// which keeps out of both).
    @inline(__always)
    func evaluate(_ x: Float, _ y: Float, _ z: Float, posterior: Float, active: borrowing ActiveLesions,
                  boneBlur: Bool = true) -> (TissueClass, UInt8, Float) {
        let (tissue, label, hu) = evaluateAnatomy(x, y, z, posterior: posterior, active: active)
        switch tissue {
        case .air, .softTissue, .fat, .corticalBone, .diploe, .sinusAir, .vitreous:
            guard skullStripped else { return (tissue, label, hu) }
            // Stripping keeps only skull-base bone under the cavity floor, and only in part.
            if tissue.isBone && z < 12 {
                let floor = floorHeight(x, y)
                if z < floor && z > floor - remnantDepth {
                    guard dimRemnants else { return (tissue, label, strippedFill + (hu - strippedFill) * boneRemnant) }
                    // Thin, partial-volumed bone: dimmer with depth, textured along the base.
                    let texture = 12 * sinApprox(0.37 * x + 0.29 * y + 0.31 * z + phase.z)
                    return (tissue, label, remnantHU * (1 - 0.3 * (floor - z) / remnantDepth) + texture)
                }
            }
            return (tissue, label, strippedFill)
        case .cisternCSF where label == 0 && cisternOffset > 0:
            // Dense cisterns stay below blood and get no bone blur (see ``boneHalo``).
            return (tissue, label, hu + cisternOffset + streak(x, y, z))
        default:
            guard label == 0 else { return (tissue, label, hu + streak(x, y, z)) }
            // The bone blur and a strip's rim keep out of every CSF space where blood can be drawn
            // (SAH in the subarachnoid spaces and cisterns, IVH in the ventricles): a dense voxel
            // there is blood.
            guard boneBlur, !tissue.keepsOutOfBoneBlur else { return (tissue, label, hu + streak(x, y, z)) }
            let base = skullStripped ? strippedRim(x, y, z, hu: hu, patches: tissue.isParenchyma) : hu
            return (tissue, label, boneHalo(x, y, z, hu: base) + streak(x, y, z))
        }
    }

    /// Bone blur (``haloWidth``, off when 0): on the lowest slices (head z below 12 mm), `hu` of the
    /// brain (never of CSF: ``evaluate`` keeps the subarachnoid spaces, basal cisterns and ventricles,
    /// where SAH and IVH are drawn, out of it) within ``haloWidth`` mm of its surface over the skull
    /// base or under the inner table (the CSF layer, ``csfLayer`` mm, is skipped) rises towards
    /// ``haloHU`` at that surface, quadratically with nearness. Higher up the brain keeps its
    /// density, so a thin subdural collection along the convexity never looks like this blur.
    @inline(__always) func boneHalo(_ x: Float, _ y: Float, _ z: Float, hu: Float) -> Float {
        guard haloWidth > 0, z < 12 else { return hu }
        let ax = a * (1 - 0.07 * max(-1, min(1, y / b)))
        let cz = z >= 0 ? cTop : cBottom
        let nx = x / ax, ny = y / b, nz = z / cz
        let rho = (nx * nx + ny * ny + nz * nz).squareRoot()
        let r = (x * x + y * y + z * z).squareRoot()
        let d = min(rho > 0.02 ? r * (1 / rho - 1) - skullEnd : 200, z - floorHeight(x, y)) - csfLayer
        guard d < haloWidth else { return hu }
        let w = 1 - max(0, d) / haloWidth
        return hu + (haloHU - hu) * w * w
    }

    /// Depth (mm) of the head-frame point under the brain's surface: its distance to the inner
    /// table (or, below head z = 12 mm, to the cavity floor, whichever is nearer) less the CSF
    /// layer, ``csfLayer`` mm; 200 near the head's centre.
    @inline(__always) func depthUnderBrainSurface(_ x: Float, _ y: Float, _ z: Float) -> Float {
        let ax = a * (1 - 0.07 * max(-1, min(1, y / b)))
        let cz = z >= 0 ? cTop : cBottom
        let nx = x / ax, ny = y / b, nz = z / cz
        let rho = (nx * nx + ny * ny + nz * nz).squareRoot()
        let r = (x * x + y * y + z * z).squareRoot()
        var d: Float = rho > 0.02 ? r * (1 / rho - 1) - skullEnd : 200
        if z < 12 { d = min(d, z - floorHeight(x, y)) }
        return d - csfLayer
    }

    /// How far the head-frame point lies inside one of a strip's dense rim patches
    /// (``rimPatchThreshold``): 0 at a patch's edge, 1 in its core, `nil` outside every patch
    /// (and always when the head has none). Patches lie 1.4–5.4 mm under the brain's surface.
    @inline(__always) func rimPatchStrength(_ x: Float, _ y: Float, _ z: Float, depth d: Float) -> Float? {
        guard rimPatchThreshold.isFinite, d > 1.4, d < 5.4 else { return nil }
        let p = rimPatchPhase
        let n = sinApprox(0.6 * x + 0.3 * y + p.x) + sinApprox(0.55 * y - 0.35 * z + p.y)
            + sinApprox(0.6 * z + 0.3 * x + p.z) + 0.7 * sinApprox(1.3 * x - 1.2 * y + 0.9 * z + p.w)
        // Fewer patches at the ends of the layer, so that they keep no flat faces.
        let edge = min(d - 1.4, 5.4 - d)
        let threshold = rimPatchThreshold + 0.6 * max(0, 1 - edge / 0.8)
        guard n > threshold else { return nil }
        return min(1, (n - threshold) / 0.8)
    }

    /// The parasellar look-alike of a stripped head (``parasellarPeakHU``) at the head-frame point,
    /// `d` mm under the brain's surface, whose own density is `hu`: `nil` outside its region (over
    /// the sella, |x| < 22 mm and 7 ± 12 mm along y, below head z = −5 mm, less than 6 mm under the
    /// surface) and always when the head has none. Inside, a textured density of 56 HU up to
    /// ``parasellarPeakHU`` blended into `hu` towards the region's edges, and the four clinoid spots
    /// (up to ``clinoidHU``). The caller applies it to parenchyma only: CSF, where SAH is drawn,
    /// never gets it.
    @inline(__always) func parasellarHU(_ x: Float, _ y: Float, _ z: Float, hu: Float, depth d: Float) -> Float? {
        guard parasellarPeakHU > 0, z < -5, d < 6 else { return nil }
        let ex = x / 22, ey = (y - 7) / 12
        let e2 = ex * ex + ey * ey
        guard e2 < 1 else { return nil }
        // Clinoid processes: anterior ones lateral and forward, posterior ones by the dorsum sellae,
        // each a small ball just over the cavity floor.
        let ax = abs(x)
        let s = clinoidShift
        for (cx, cy) in [(10 + 0.5 * s.x, 15 + s.y), (5 + 0.25 * s.x, 0.5 * s.y)] as [(Float, Float)] {
            let cz = floorHeight(cx, cy) + csfLayer + clinoidRadius + 0.3
            let dx = ax - cx, dy = y - cy, dz = z - cz
            let q = (dx * dx + dy * dy + dz * dz) / (clinoidRadius * clinoidRadius)
            if q < 1 { return max(hu, clinoidHU * (1 - 0.6 * q)) }
        }
        let p = parasellarPhase
        let texture = min(1, max(0, 0.5 + 0.18 * (sinApprox(1.3 * x + 0.8 * y + p.x)
            + sinApprox(1.1 * y - 1.4 * z + p.y) + sinApprox(1.2 * z + 0.9 * x + p.z))))
        let target = 56 + (parasellarPeakHU - 56) * (0.3 + 0.7 * texture)
        let fade = smoothstep((1 - e2) / 0.3) * smoothstep((6 - d) / 1.5) * smoothstep((z + 5) / -3)
        return hu + (target - hu) * fade
    }

    /// Skull-stripped exams: the brain under the removed inner table and over the removed skull base
    /// keeps the partial volume of bone, a rim of about ``rimHU`` (±2 HU along the surface) that
    /// fades into `hu` over 1.5 mm below ``rimWidth``, measured from the brain's surface (the CSF
    /// layer, ``csfLayer`` mm, is skipped). Never applied to CSF (see ``evaluate``): convexity and
    /// basal SAH are drawn there, and a rim over them would teach that dense CSF is no blood. With
    /// `patches` (parenchyma), the dense rim patches (``rimPatchThreshold``) read 54 HU at their
    /// edge up to ``rimPatchPeakHU`` in their core, over the rim, and over the sella the parasellar
    /// look-alike (``parasellarHU(_:_:_:hu:depth:)``) where it is denser.
    @inline(__always) func strippedRim(_ x: Float, _ y: Float, _ z: Float, hu: Float, patches: Bool = false) -> Float {
        let d = depthUnderBrainSurface(x, y, z)
        let rim = strippedRim(x, y, z, hu: hu, patches: patches, depth: d)
        guard patches, let parasellar = parasellarHU(x, y, z, hu: hu, depth: d) else { return rim }
        return max(rim, parasellar)
    }

    /// ``strippedRim(_:_:_:hu:patches:)`` at depth `d` under the brain's surface, without the
    /// parasellar look-alike.
    @inline(__always) func strippedRim(_ x: Float, _ y: Float, _ z: Float, hu: Float, patches: Bool, depth d: Float) -> Float {
        if patches, let strength = rimPatchStrength(x, y, z, depth: d) {
            return max(hu, 54 + (rimPatchPeakHU - 54) * strength)
        }
        let fade = rimWidth + 1.5
        guard d < fade else { return hu }
        let w = d < rimWidth ? 1 : (fade - d) / 1.5
        let target = rimHU + 2 * sinApprox(0.21 * x + 0.17 * y + 0.23 * z + phase.y)
        return hu + (target - hu) * w
    }

    @inline(__always)
    func evaluateAnatomy(_ x: Float, _ y: Float, _ z: Float, posterior: Float, active: borrowing ActiveLesions)
        -> (TissueClass, UInt8, Float) {
        let ax = a * (1 - 0.07 * max(-1, min(1, y / b)))
        let cz = z >= 0 ? cTop : cBottom
        let nx = x / ax, ny = y / b, nz = z / cz
        let rho2 = nx * nx + ny * ny + nz * nz
        if rho2 >= 1 { return (.air, 0, -1000) }
        let r = (x * x + y * y + z * z).squareRoot()
        let rho = rho2.squareRoot()
        let depth: Float = rho > 0.02 ? r * (1 / rho - 1) : 200
        if depth < scalpEnd { return (.softTissue, 0, huScalp) }

        let floor: Float = z < 12 ? floorHeight(x, y) : -1000
        if z < floor {
            let baseThickness: Float = y > 16 ? 3.5 : 8
            if z > floor - baseThickness {
                let compact = z > floor - 2 || z < floor - baseThickness + 2
                return (compact ? .corticalBone : .diploe, 0, compact ? huCortical : huDiploe)
            }
            return faceAndNeck(x, y, z)
        }
        if depth < outerTableEnd { return (.corticalBone, 0, huCortical) }
        if depth < diploeEnd { return (.diploe, 0, huDiploe) }
        if depth < skullEnd { return (.corticalBone, 0, huCortical) }

        // Intracranial.
        let dInner = depth - skullEnd
        var collection: Float = 0
        if !active.extraAxial.isEmpty && dInner < active.maxExtraAxialThickness {
            let unit = SIMD3(x, y, z) / max(r, 1e-3)
            for lesion in active.extraAxial {
                let t = lesion.thickness(along: unit)
                if t > 0 {
                    collection += t
                    if dInner < collection {
                        return (.extraAxialCollection, lesion.subtype.rawValue, posterior > lesion.level ? lesion.huDependent : lesion.hu)
                    }
                }
            }
        }
        var dBrain = dInner - collection
        if z < 12 { dBrain = min(dBrain, z - floor) }
        // Mass effect: the brain inside the cavity is pushed away from the lesion (subfalcine shift).
        var xb = x
        if midlineShift != 0 {
            let dy = (y - shiftCentre.x) / 55, dz = (z - shiftCentre.y) / 40
            let w = 1 / (1 + dy * dy + dz * dz)
            xb = x - midlineShift * w * w
        }
        // Subarachnoid blood distends the sulci and the surface layer it fills.
        var distend: Float = 1
        for lesion in active.subarachnoid where !lesion.basal && lesion.covers(x, y, z) { distend = 1.7 }
        let (tissue, hu) = brain(xb, y, z, dBrain, distend: distend)
        switch tissue {
        case .ventricleCSF:
            if let ivh = ventricular, posterior > ivh.levelOffset, (xb >= 0 ? ivh.sides & 1 : ivh.sides & 2) != 0 {
                return (tissue, Subtype.ivh.rawValue, ivh.hu)
            }
        case .grayMatter, .whiteMatter, .deepGray:
            for lesion in active.parenchymal where x * lesion.centre.x >= 0 || abs(lesion.centre.x) < 4 {
                // A clot stays in its hemisphere (the falx stops it).
                let (nr, surface) = lesion.normalisedRadius(x, y, z)
                if nr < surface { return (tissue, Subtype.iph.rawValue, posterior > lesion.level ? lesion.huDependent : lesion.hu) }
                if nr < surface + lesion.rim {
                    // Oedema fades into the surrounding parenchyma.
                    let f = (nr - surface) / lesion.rim
                    return (tissue, 0, lesion.oedemaHU + (hu - lesion.oedemaHU) * f * f)
                }
            }
        case .subarachnoidCSF, .sulcalCSF, .cisternCSF:
            if tissue == .sulcalCSF {
                // A clot effaces the sulci it grows across: the space becomes compressed parenchyma.
                for lesion in active.parenchymal where x * lesion.centre.x >= 0 || abs(lesion.centre.x) < 4 {
                    let (nr, surface) = lesion.normalisedRadius(x, y, z)
                    if nr < surface * 0.92 { return (.whiteMatter, Subtype.iph.rawValue, lesion.hu) }
                }
            }
            for lesion in active.subarachnoid where lesion.covers(x, y, z) {
                return (tissue, Subtype.sah.rawValue, lesion.hu)
            }
        default: break
        }
        return (tissue, 0, hu)
    }

    /// Below the cranial floor: orbits, sinuses, face soft tissue, cervical spine and cord.
    @inline(__always) func faceAndNeck(_ x: Float, _ y: Float, _ z: Float) -> (TissueClass, UInt8, Float) {
        let ax = abs(x)
        // Orbits: globe in fat.
        let gx = ax - 31, gy = y - 72, gz = z + 36
        let g2 = gx * gx + gy * gy + gz * gz
        if g2 < 11.5 * 11.5 { return (.vitreous, 0, 10) }
        if g2 < 16 * 16 && gy < 6 { return (.fat, 0, huFat) }
        // Nasal cavity and ethmoid cells, with the septum.
        let nxx = x / 10, nyy = (y - 64) / 18
        if z > -66, z < -26, nxx * nxx + nyy * nyy < 1 {
            if ax < 0.8 { return (.corticalBone, 0, huCortical * 0.8) }
            // Turbinates: soft-tissue shelves along the lateral walls.
            if ax > 6 && sinApprox(z * 0.35) > 0.3 { return (.softTissue, 0, huScalp) }
            return (.sinusAir, 0, -950)
        }
        // Maxillary sinuses.
        let mx = (ax - 25) / 12, my = (y - 52) / 14, mz = (z + 62) / 14
        if mx * mx + my * my + mz * mz < 1 { return (.sinusAir, 0, -950) }
        // Sphenoid sinus.
        let sx = x / 11, sy = (y - 20) / 9, sz = (z + 42) / 8
        if sx * sx + sy * sy + sz * sz < 1 { return (.sinusAir, 0, -950) }
        // Cervical spine: cord in CSF inside the canal, bony ring, dens/vertebral body in front.
        let cx = x, cy = y + 22
        let c2 = cx * cx + cy * cy
        if c2 < 6.5 * 6.5 { return (.whiteMatter, 0, huWhite + 2) }
        if c2 < 9.5 * 9.5 { return (.cisternCSF, 0, huCSF) }
        if c2 < 13 * 13 { return (.corticalBone, 0, huCortical * 0.85) }
        let vx = x / 9, vy = (y + 2) / 8
        if vx * vx + vy * vy < 1 { return (.diploe, 0, huDiploe * 0.6) }
        return (.softTissue, 0, huScalp)
    }

    /// The brain at depth `d` below the cavity wall; `distend` widens the surface CSF layer and the
    /// sulci (subarachnoid blood fills and distends them).
    @inline(__always) func brain(_ x: Float, _ y: Float, _ z: Float, _ d: Float, distend: Float = 1) -> (TissueClass, Float) {
        let ax = abs(x)
        // Superior sagittal sinus: a dense triangle at the vertex midline (a mimic of blood).
        if d < 5 && ax < 4.5 - 0.8 * d && z > -10 && y < 45 { return (.vessel, huSinus) }
        let layer = distend > 1 ? max(1.6, csfLayer * distend) : csfLayer
        if d < layer { return (.subarachnoidCSF, huCSF) }
        // A dense middle cerebral artery in the left Sylvian cistern (a mimic of SAH).
        if denseVessel && x > 14 && x < 36 {
            let vy = y - (9 + 0.08 * (x - 14)), vz = z + 17
            if vy * vy + vz * vz < 1.5 * 1.5 { return (.vessel, huVessel) }
        }
        // Foramen magnum and below: medulla / cord in CSF.
        if z < -56 {
            let c2 = x * x + (y + 22) * (y + 22)
            return c2 < 8 * 8 ? (.whiteMatter, huWhite + 2) : (.cisternCSF, huCSF)
        }
        // Posterior fossa under the tentorium.
        let tentorium = -24 + 0.3 * (y + 12)
        if y < -8 && z < tentorium {
            if tentorium - z < 0.35 && ax > 6 { return (.dura, huDura) }
            let vx = x / (6 * ventricleScale), vy = (y + 31) / 4, vz = (z + 42) / 7
            if vx * vx + vy * vy + vz * vz < 1 { return (.ventricleCSF, huCSF) }
            let px = x / 13, py = (y + 20) / 10
            let p2 = px * px + py * py
            if p2 < 1 { return (.whiteMatter, huWhite + 3) }
            if p2 < 1.35 * 1.35 && y > -24 { return (.cisternCSF, huCSF) }
            // Cerebellum: cortex around a white-matter core, the vermis with a posterior midline notch.
            let fx = x, fy = y + 40, fz = z + 38
            let rr = (fx * fx + fy * fy * 1.3 + fz * fz).squareRoot()
            if ax < 1.2 && y < -50 { return (.sulcalCSF, huCSF) }
            if rr < 12 + 3 * sinApprox(ax * 0.2) && ax > 5 { return (.whiteMatter, huWhite + 1) }
            return (.grayMatter, huGray - 1)
        }
        // Interhemispheric fissure and falx, except around the corpus callosum and deep nuclei.
        if ax < fissureHalf {
            let ey = y / 44, ez = (z - 2) / 28
            if !(ey * ey + ez * ez < 1 && d > 16) {
                if falxCalcified && ax < 1.3 {
                    let fy = (y - 18) / 9, fz = (z - 32) / 5
                    if fy * fy + fz * fz < 1 { return (.calcification, huCalc) }
                }
                return ax < 0.45 ? (.dura, huDura) : (.sulcalCSF, huCSF)
            }
        }
        if d > 8 {
            if let deep = deepStructures(x, y, z, ax) { return deep }
        }
        // Sylvian fissures: lateral clefts from the surface to the insula, gently wavy.
        if z > -26 && z < 6 && ax > 34 {
            let line = 8 + 0.15 * (ax - 30) + 0.1 * z + 1.5 * sinApprox(0.25 * ax + phase.x)
            if abs(y - line) < 0.9 + fissureHalf * 0.5 { return (.sulcalCSF, huCSF) }
        }
        // Cortex: sulci running inward from the surface, bending with depth, grey ribbon around them.
        if d < 26 {
            let r2 = (x * x + y * y).squareRoot()
            if r2 > 26 {
                let theta = fastAtan2(y, x)
                let psi = sulcusCount * theta
                    + 2.0 * wobble.x * sinApprox(3 * theta + 0.06 * z + phase.x)
                    + 1.4 * wobble.y * sinApprox(0.12 * z + 5 * theta + phase.y)
                    + 0.16 * d * sinApprox(7 * theta + 0.05 * z + phase.w)
                    + (x < 0 ? phase.w : 0)
                let turns = psi * (1 / (2 * Float.pi))
                let sulcus = turns.rounded()
                let w = turns - sulcus
                // Each sulcus gets its own depth and width from a hash of its index.
                let h1 = sinApprox(sulcus * 12.9898 + phase.z) , h2 = sinApprox(sulcus * 78.233 + phase.x)
                let arc = abs(w) * 2 * Float.pi * r2 / sulcusCount
                let depthOfSulcus = 8 + 4 * h1 + 2 * sinApprox(0.08 * z + sulcus)
                let halfWidth = sulcusHalf * (0.8 + 0.35 * h2) * distend
                if d < depthOfSulcus && arc < halfWidth * (1.15 - 0.4 * d / depthOfSulcus) { return (.sulcalCSF, huCSF) }
                if d < grayThickness + layer || (arc < halfWidth + grayThickness && d < depthOfSulcus + grayThickness) {
                    return (.grayMatter, huGray)
                }
            } else if d < grayThickness + layer {
                return (.grayMatter, huGray)
            }
        }
        return (.whiteMatter, huWhite)
    }

    /// Ventricles, calcifications, midbrain with basal cisterns, deep grey nuclei; `nil` elsewhere.
    @inline(__always) func deepStructures(_ x: Float, _ y: Float, _ z: Float, _ ax: Float) -> (TissueClass, Float)? {
        var side = x >= 0 ? 1 + ventricleAsymmetry : 1 - ventricleAsymmetry
        // The ventricle on the lesion's side is compressed (the shift points away from the lesion).
        if x * midlineShift < 0 { side *= 1 - ventricleCompression }
        let vs = ventricleScale * side
        // Lateral ventricles: a curved banana per side, frontal horn to occipital horn.
        let vz = (z - 12) / 17
        if vz > -1 && vz < 1 && ax > 1.0 {
            let yFront: Float = 28 - 0.25 * max(0, z - 8)
            let yBack: Float = -31 + 0.5 * max(0, z - 10)
            if y < yFront + 7 && y > yBack - 7 {
                let yc = min(yFront, max(yBack, y))
                let u = (yFront - yc) / (yFront - yBack)
                let xc = (5 + 13 * u * u.squareRoot()) * vs.squareRoot()
                let fh = (u - 0.05) / 0.16, at = (u - 0.82) / 0.16
                let taper = (1 - vz * vz).squareRoot()
                let w = (2.0 + 2.2 / (1 + fh * fh * fh * fh) + 4.0 / (1 + at * at * at * at)) * vs * taper
                let dx = ax - xc, dy = y - yc
                if dx * dx + dy * dy < w * w {
                    if choroidCalcified {
                        let cu: Float = 0.82
                        let cyA = yFront - cu * (yFront - yBack)
                        let cxA = (5 + 13 * cu * cu.squareRoot()) * vs.squareRoot()
                        let qx = ax - cxA, qy = y - cyA, qz = z - 9
                        if qx * qx + qy * qy + qz * qz < 2.6 * 2.6 { return (.calcification, huCalc) }
                    }
                    return (.ventricleCSF, huCSF)
                }
            }
        }
        // Temporal horns.
        if z > -30 && z < -14 && y > -2 && y < 12 && abs(ax - (29 - 0.1 * y)) < (1.0 + 0.04 * (12 - y)) * ventricleScale {
            return (.ventricleCSF, huCSF)
        }
        // Pineal gland, calcified or not, behind the third ventricle.
        let px = x, py = y + 13, pz = z - 1
        if px * px + py * py + pz * pz < 2.8 * 2.8 { return pinealCalcified ? (.calcification, huCalc * 0.8) : (.deepGray, huDeep) }
        // Third ventricle.
        if ax < 1.4 * ventricleScale && y > -11 && y < 10 && z > -20 && z < 4 { return (.ventricleCSF, huCSF) }
        // Midbrain with the ambient, quadrigeminal and suprasellar cisterns.
        if z > -30 && z < -11 {
            let mx = x / 11, my = (y + 6) / 9.5
            let m2 = mx * mx + my * my
            if m2 < 1 { return (.whiteMatter, huWhite + 3) }
            if m2 < 1.38 * 1.38 { return (.cisternCSF, huCSF) }
            let sx = x / 10, sy = (y - 12) / 8
            if z < -15 && sx * sx + sy * sy < 1 { return (.cisternCSF, huCSF) }
        }
        // Basal-ganglia (pallidal) calcification, both sides.
        if gangliaCalcified {
            let gx = (ax - 17) / 2.6, gy = (y - 5) / 3.2, gz = (z + 1) / 2.6
            if gx * gx + gy * gy + gz * gz < 1 { return (.calcification, huCalc * 0.7) }
        }
        // Deep grey nuclei.
        let cxx = (ax - 11) / 4.5, cyy = (y - 16) / 8, czz = (z - 8) / 9
        if cxx * cxx + cyy * cyy + czz * czz < 1 { return (.deepGray, huDeep) }
        let lx = (ax - 21) / 5.5, ly = (y - 4) / 12, lz = (z + 1) / 8
        if lx * lx + ly * ly + lz * lz < 1 { return (.deepGray, huDeep) }
        let tx = (ax - 10) / 7, ty = (y + 9) / 10, tz = (z - 1) / 8
        if tx * tx + ty * ty + tz * tz < 1 { return (.deepGray, huDeep) }
        return nil
    }

    /// Evaluates slice `k`: noiseless HU, anatomy class and painted subtype per voxel (i fastest).
    func fillSlice(_ k: Int, hu: UnsafeMutablePointer<Float>, tissue: UnsafeMutablePointer<UInt8>,
                   label: UnsafeMutablePointer<UInt8>) {
        let active = activeLesions(slice: k)
        let s = spacing
        // u = (dx, −dy, dz) in LAS; head = M·u, linear in (i, j).
        let du = SIMD3<Float>(s, 0, 0), dv = SIMD3<Float>(0, -s, 0)
        let stepI = SIMD3<Float>((m0 * du).sum(), (m1 * du).sum(), (m2 * du).sum())
        let stepJ = SIMD3<Float>((m0 * dv).sum(), (m1 * dv).sum(), (m2 * dv).sum())
        let u0 = SIMD3<Float>(origin.x - headCentre.x, -(origin.y - headCentre.y), origin.z + Float(k) * thickness - headCentre.z)
        let q0 = SIMD3<Float>((m0 * u0).sum(), (m1 * u0).sum(), (m2 * u0).sum())
        // Partial volume through thick slices near the skull: two more samples at ±thickness/4 (at
        // most ±1.25 mm; with real-scan mimics sometimes ±thickness/2.5, at most ±2 mm) for intracranial voxels without blood (`active` holds every lesion within a
        // thickness), so bone mixes into the brain under the inner table and over the skull base.
        let stepK = SIMD3<Float>(m0.z, m1.z, m2.z) * partialVolumeHalf
        // A CSF voxel keeps the plain slab (±thickness/4, three samples) without mimics: the
        // wider one would mix more bone into the CSF where SAH and IVH are drawn.
        let plainStepK = SIMD3<Float>(m0.z, m1.z, m2.z) * min(thickness / 4, 1.25)
        let slab = thickness > 1.5
        for j in 0..<height {
            let posterior = origin.y + Float(j) * s - headCentre.y
            let rowStart = q0 + Float(j) * stepJ
            let base = j * width
            for i in 0..<width {
                let q = rowStart + Float(i) * stepI
                let (c, l, h) = evaluate(q.x, q.y, q.z, posterior: posterior, active: active)
                if slab && l == 0 && c.isIntracranial && nearSkull(q) {
                    // A CSF voxel's slab leaves the bone blur and a strip's rim out too, and is
                    // never the wider one: the mimics keep out of CSF.
                    let blur = !c.keepsOutOfBoneBlur
                    let step = blur ? stepK : plainStepK
                    let above = evaluate(q.x + step.x, q.y + step.y, q.z + step.z, posterior: posterior, active: active, boneBlur: blur).2
                    let below = evaluate(q.x - step.x, q.y - step.y, q.z - step.z, posterior: posterior, active: active, boneBlur: blur).2
                    if partialVolumeFine && blur {
                        let h2 = 0.5 * stepK
                        let a2 = evaluate(q.x + h2.x, q.y + h2.y, q.z + h2.z, posterior: posterior, active: active, boneBlur: blur).2
                        let b2 = evaluate(q.x - h2.x, q.y - h2.y, q.z - h2.z, posterior: posterior, active: active, boneBlur: blur).2
                        hu[base + i] = (h + above + below + a2 + b2) / 5
                    } else {
                        hu[base + i] = (h + above + below) / 3
                    }
                } else {
                    hu[base + i] = h
                }
                tissue[base + i] = c.rawValue
                label[base + i] = l
            }
        }
    }
}
