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
        let half = thickness / 2
        var active = ActiveLesions()
        for lesion in extraAxial {
            let centre = lesion.n * innerRadius(along: lesion.n)
            let reach = (max(lesion.w1, lesion.w2) * 1.1) * 100 + lesion.thickness
            if abs(worldZ(ofHeadPoint: centre) - zWorld) < reach + half {
                active.extraAxial.append(lesion)
                active.maxExtraAxialThickness = max(active.maxExtraAxialThickness, lesion.thickness)
            }
        }
        for lesion in subarachnoid where abs(worldZ(ofHeadPoint: lesion.centre) - zWorld) < lesion.radius + half {
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
        let anterior: Float = -21 + 0.0015 * x * x
        let middle: Float = -40 + (ax < 16 ? (16 - ax) * 1.1 : 0)
        let posterior: Float = -57 + 0.0025 * x * x
        let wa = smoothstep((y - 14) / 12)
        let wp = smoothstep((-10 - y) / 12)
        var f = middle + (anterior - middle) * wa
        f += (posterior - f) * wp
        let ridge = (y + 14) / 5
        f += 11 * min(1, ax / 22) * max(0, 1 - ridge * ridge * 0.5)
        return f
    }

    /// Classifies the head-frame point (x, y, z): its anatomical class, the subtype painted there
    /// (0 for none) and its noiseless HU. `posterior` is the scanner-posterior offset from the head centre.
    @inline(__always)
    func evaluate(_ x: Float, _ y: Float, _ z: Float, posterior: Float, active: borrowing ActiveLesions)
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
            if z > floor - 8 {
                return (z > floor - 2.5 || z < floor - 6 ? .corticalBone : .diploe, 0, z > floor - 2.5 || z < floor - 6 ? huCortical : huDiploe)
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
                    if dInner < collection { return (.extraAxialCollection, lesion.subtype.rawValue, lesion.hu) }
                }
            }
        }
        var dBrain = dInner - collection
        if z < 12 { dBrain = min(dBrain, z - floor) }
        let (tissue, hu) = brain(x, y, z, dBrain)
        switch tissue {
        case .ventricleCSF:
            if let ivh = ventricular, posterior > ivh.levelOffset, (x >= 0 ? ivh.sides & 1 : ivh.sides & 2) != 0 {
                return (tissue, Subtype.ivh.rawValue, ivh.hu)
            }
        case .grayMatter, .whiteMatter, .deepGray:
            for lesion in active.parenchymal {
                let (nr, surface) = lesion.normalisedRadius(x, y, z)
                if nr < surface { return (tissue, Subtype.iph.rawValue, lesion.hu) }
                if nr < surface + lesion.rim {
                    // Oedema fades into the surrounding parenchyma.
                    let f = (nr - surface) / lesion.rim
                    return (tissue, 0, lesion.oedemaHU + (hu - lesion.oedemaHU) * f * f)
                }
            }
        case .subarachnoidCSF, .sulcalCSF, .cisternCSF:
            for lesion in active.subarachnoid {
                let dx = x - lesion.centre.x, dy = y - lesion.centre.y, dz = z - lesion.centre.z
                let d2 = dx * dx + dy * dy + dz * dz
                if d2 < lesion.radius * lesion.radius && (!lesion.basal || tissue != .subarachnoidCSF || dBrain < 40) {
                    return (tissue, Subtype.sah.rawValue, lesion.hu)
                }
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
        if ax < 11, y > 48, z > -66, z < -26 {
            if ax < 1 { return (.corticalBone, 0, huCortical * 0.8) }
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

    /// The brain at depth `d` below the cavity wall.
    @inline(__always) func brain(_ x: Float, _ y: Float, _ z: Float, _ d: Float) -> (TissueClass, Float) {
        if d < csfLayer { return (.subarachnoidCSF, huCSF) }
        let ax = abs(x)
        // Foramen magnum and below: medulla / cord in CSF.
        if z < -56 {
            let c2 = x * x + (y + 22) * (y + 22)
            return c2 < 8 * 8 ? (.whiteMatter, huWhite + 2) : (.cisternCSF, huCSF)
        }
        // Posterior fossa under the tentorium.
        let tentorium = -24 + 0.3 * (y + 12)
        if y < -8 && z < tentorium {
            if tentorium - z < 0.7 { return (.dura, huDura) }
            let vx = x / (6 * ventricleScale), vy = (y + 31) / 4, vz = (z + 42) / 7
            if vx * vx + vy * vy + vz * vz < 1 { return (.ventricleCSF, huCSF) }
            let px = x / 13, py = (y + 20) / 10
            let p2 = px * px + py * py
            if p2 < 1 { return (.whiteMatter, huWhite + 3) }
            if p2 < 1.35 * 1.35 && y > -24 { return (.cisternCSF, huCSF) }
            // Cerebellum: folia around the vermis, white matter core.
            let fx = x, fy = y + 40, fz = z + 38
            let rr = (fx * fx + fy * fy * 1.3 + fz * fz).squareRoot()
            if ax < 1.2 && y < -45 { return (.sulcalCSF, huCSF) }
            if rr < 12 + 3 * sinApprox(ax * 0.2) { return (.whiteMatter, huWhite + 1) }
            let folium = sinApprox(rr * 1.6 + ax * 0.15)
            if folium > 0.82 && d < 18 { return (.sulcalCSF, huCSF) }
            return (.grayMatter, huGray - 1)
        }
        // Interhemispheric fissure and falx, except around the corpus callosum and deep nuclei.
        if ax < fissureHalf {
            let ey = y / 44, ez = (z - 2) / 28
            if !(ey * ey + ez * ez < 1 && d > 16) {
                return ax < 0.45 ? (.dura, huDura) : (.sulcalCSF, huCSF)
            }
        }
        if d > 8 {
            if let deep = deepStructures(x, y, z, ax) { return deep }
        }
        // Sylvian fissures.
        if z > -28 && z < 8 {
            let line = 9 + 0.12 * (ax - 20) + 0.1 * z
            let reach: Float = z < -12 ? 12 : 33
            if ax > reach && abs(y - line) < 1.0 + fissureHalf * 0.6 { return (.sulcalCSF, huCSF) }
        }
        // Cortex: radial sulci with a wobbling phase, grey ribbon around them.
        if d < 24 {
            let theta = fastAtan2(y, x)
            let r2 = max(22, (x * x + y * y).squareRoot())
            let psi = sulcusCount * theta
                + wobble.x * sinApprox(2 * theta + 0.05 * z + phase.x)
                + wobble.y * sinApprox(0.09 * z + 3 * theta + phase.y)
                + (x < 0 ? phase.w : 0)
            var w = psi * (1 / (2 * Float.pi))
            w -= w.rounded()
            let arc = abs(w) * 2 * Float.pi * r2 / sulcusCount
            let depthOfSulcus = 10 + 5 * sinApprox(5 * theta + 0.07 * z + phase.z)
            if d < depthOfSulcus && arc < sulcusHalf { return (.sulcalCSF, huCSF) }
            if d < grayThickness + csfLayer || (arc < sulcusHalf + grayThickness && d < depthOfSulcus + grayThickness) {
                return (.grayMatter, huGray)
            }
        }
        return (.whiteMatter, huWhite)
    }

    /// Ventricles, calcifications, midbrain with basal cisterns, deep grey nuclei; `nil` elsewhere.
    @inline(__always) func deepStructures(_ x: Float, _ y: Float, _ z: Float, _ ax: Float) -> (TissueClass, Float)? {
        let side = x >= 0 ? 1 + ventricleAsymmetry : 1 - ventricleAsymmetry
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
        if z > -30 && z < -12 && y > -4 && y < 20 && abs(ax - (27 - 0.12 * y)) < 1.5 * ventricleScale {
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
        for j in 0..<height {
            let posterior = origin.y + Float(j) * s - headCentre.y
            let rowStart = q0 + Float(j) * stepJ
            let base = j * width
            for i in 0..<width {
                let q = rowStart + Float(i) * stepI
                let (c, l, h) = evaluate(q.x, q.y, q.z, posterior: posterior, active: active)
                hu[base + i] = h
                tissue[base + i] = c.rawValue
                label[base + i] = l
            }
        }
    }
}
