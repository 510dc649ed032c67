import Foundation
import HemoCore
import HemoTransforms
import NIfTI

/// One exam after reading, mask building and geometry transforms: what a release stores.
public struct CaseProduct: Sendable {
    /// The case.
    public var id: CaseID
    /// CT in HU on the released grid.
    public var ct: Volume<Int16>
    /// Per-subtype masks on the same grid.
    public var masks: SubtypeMasks
    /// Input files with their SHA-256, for provenance.
    public var inputs: [InputFile]
    /// For DICOM-sourced exams: the hashed series rows and each released slice's instance.
    public var dicom: DICOMCaseInfo?
    /// For pseudo-labels with `--probabilities`: one quantised map per subtype EPH…IVH (``ProbabilityMaps``).
    public var probabilities: [Volume<UInt8>]?

    /// A product from its parts.
    public init(id: CaseID, ct: Volume<Int16>, masks: SubtypeMasks, inputs: [InputFile], dicom: DICOMCaseInfo? = nil,
                probabilities: [Volume<UInt8>]? = nil) {
        self.id = id; self.ct = ct; self.masks = masks; self.inputs = inputs; self.dicom = dicom
        self.probabilities = probabilities
    }
}

/// An input file of a case: its cohort-relative path and SHA-256.
public struct InputFile: Sendable, Hashable, Codable {
    /// Path relative to the cohort folder.
    public var path: String
    /// Hex SHA-256 of the file's bytes.
    public var sha256: String
    /// An input file.
    public init(path: String, sha256: String) { self.path = path; self.sha256 = sha256 }
}

/// The per-exam work shared by `hemo build`, `hemo infer` and the cluster's workers:
/// read the CT and the annotations, build per-subtype 3D masks, apply the geometry transforms.
/// A pure function of the input files and the options.
public enum CasePipeline {
    /// Reads the CT of `c` in HU as Float, checking its size against `options.maxVoxels`.
    public static func readCT(_ c: CohortCase, options: ReleaseOptions) throws -> Volume<Float> {
        try readCTWithProvenance(c, options: options).ct
    }

    /// Reads the CT like ``readCT(_:options:)`` and, from the same single read of the file, its
    /// provenance entry (cohort-relative path and SHA-256 of the file's bytes).
    public static func readCTWithProvenance(_ c: CohortCase, options: ReleaseOptions) throws -> (ct: Volume<Float>, input: InputFile) {
        var ro = NIfTIReadOptions()
        ro.maxVoxels = options.maxVoxels
        ro.applyScaling = true
        do {
            let (_, v, sha256) = try NIfTIFile.readScaledImageHashed(c.ct, as: Float.self, options: ro)
            guard v.frames == 1 else {
                throw CaseFailure(stage: "read", reason: "\(c.relative(c.ct)): a CT must be 3D, this file has \(v.frames) frames")
            }
            return (v, InputFile(path: c.relative(c.ct), sha256: sha256))
        } catch let e as NIfTIError {
            throw CaseFailure(stage: "read", reason: relativeMessage(e.description, c))
        }
    }

    /// Builds the per-subtype masks of `c` on `grid` from the annotation form `options` selects.
    ///
    /// Annotations whose grid differs from the CT's (size, or affine beyond
    /// `options.gridTolerance` mm) fail the exam; they are never silently resampled.
    public static func readMasks(_ c: CohortCase, grid: Geometry, options: ReleaseOptions) throws -> SubtypeMasks {
        var digests: [String: String] = [:]
        return try readMasks(c, grid: grid, options: options, digests: &digests)
    }

    /// ``readMasks(_:grid:options:)`` that also records, in `digests` (hex SHA-256 by absolute
    /// path), the hash of every annotation file it reads, taken from that same read.
    static func readMasks(_ c: CohortCase, grid: Geometry, options: ReleaseOptions,
                          digests: inout [String: String]) throws -> SubtypeMasks {
        let source: AnnotationSource
        switch options.annotations {
        case .auto:
            if !c.subtypeMasks.isEmpty { source = .subtypeMasks }
            else if c.labelMap != nil { source = .labelmap }
            else if c.polygons != nil { source = .polygons }
            else { return SubtypeMasks(geometry: grid) } // no annotation: a negative exam
        default: source = options.annotations
        }
        var ro = NIfTIReadOptions()
        ro.maxVoxels = options.maxVoxels
        ro.applyScaling = false
        func load(_ path: String) throws -> Volume<UInt8> {
            let image: NIfTIImage
            do {
                let (decoded, sha256) = try NIfTIFile.readHashed(path, options: ro)
                image = decoded
                digests[path] = sha256
            } catch {
                throw CaseFailure(stage: "annotations", reason: relativeMessage(error.description, c))
            }
            let g = image.volume.geometry
            guard image.volume.frames == 1, g.size == grid.size else {
                throw CaseFailure(stage: "annotations", reason: "\(c.relative(path)): grid \(g.size)×\(image.volume.frames) does not match the CT's \(grid.size)")
            }
            let d = g.affine.maxAbsoluteDifference(to: grid.affine)
            guard d <= options.gridTolerance else {
                throw CaseFailure(stage: "annotations", reason: "\(c.relative(path)): affine differs from the CT's by \(formatFixed(d, decimals: 4)) mm (tolerance \(options.gridTolerance) mm); annotations must be on the CT grid")
            }
            if case .uint8(let v) = image.volume { return Volume(geometry: grid, voxels: v.voxels) }
            let values = image.volume.converted(to: Double.self).voxels
            var out = [UInt8](repeating: 0, count: values.count)
            for (i, v) in values.enumerated() {
                guard v.isFinite, v >= 0, v <= 255, v == v.rounded() else {
                    throw CaseFailure(stage: "annotations", reason: "\(c.relative(path)): voxel \(i) holds \(v); annotations must hold whole numbers 0...5")
                }
                out[i] = UInt8(v)
            }
            return Volume(geometry: grid, voxels: out)
        }
        switch source {
        case .subtypeMasks:
            guard !c.subtypeMasks.isEmpty else {
                throw CaseFailure(stage: "annotations", reason: "no masks/<SUBTYPE>.nii.gz files for this case (--annotations subtype-masks)")
            }
            var m = SubtypeMasks(geometry: grid)
            for s in Subtype.allCases {
                guard let p = c.subtypeMasks[s] else { continue }
                let v = try load(p)
                m[s] = Mask(geometry: grid, bits: v.voxels.map { $0 != 0 ? 1 : 0 })
            }
            return m
        case .labelmap:
            guard let p = c.labelMap else {
                throw CaseFailure(stage: "annotations", reason: "no labelmap.nii.gz for this case (--annotations labelmap)")
            }
            let v = try load(p)
            if let bad = v.voxels.first(where: { $0 > 5 }) {
                throw CaseFailure(stage: "annotations", reason: "\(c.relative(p)): label value \(bad) is not one of 0...5")
            }
            return SubtypeMasks(labelMap: v)
        case .polygons:
            guard let p = c.polygons else {
                throw CaseFailure(stage: "annotations", reason: "no polygons.json for this case (--annotations polygons)")
            }
            guard let data = FileManager.default.contents(atPath: p) else {
                throw CaseFailure(stage: "annotations", reason: "\(c.relative(p)): cannot be read")
            }
            digests[p] = SHA256.hex(of: data)
            do {
                let doc = try JSONDecoder().decode(PolygonDocument.self, from: data)
                return try doc.masks(geometry: grid)
            } catch {
                throw CaseFailure(stage: "annotations", reason: "\(c.relative(p)): \(error)")
            }
        case .auto:
            return SubtypeMasks(geometry: grid)
        }
    }

    /// Applies the options' geometry transforms to the CT and the masks together.
    public static func transform(ct: Volume<Float>, masks: SubtypeMasks, options: ReleaseOptions, threads: Int) throws
        -> (ct: Volume<Float>, masks: SubtypeMasks)
    {
        var target: SIMD3<Double>? = nil
        if case .millimetres(let s) = options.spacing { target = s }
        guard options.canonical || target != nil else { return (ct, masks) }
        do {
            let out = try transformGrid(ct: ct, bitmask: masks.bitmask, canonical: options.canonical, spacing: target,
                                        interpolation: options.interpolation, threads: threads)
            return (out.0, SubtypeMasks(bitmask: out.1))
        } catch {
            throw CaseFailure(stage: "transform", reason: error.description)
        }
    }

    static func transformGrid(ct: Volume<Float>, bitmask: Volume<UInt8>, canonical: Bool, spacing: SIMD3<Double>?,
                              interpolation: Interpolation, threads: Int) throws(TransformError)
        -> (Volume<Float>, Volume<UInt8>)
    {
        var image = ct
        var bits = bitmask
        if canonical {
            let (reoriented, reorientation) = try Reorientation.toCanonical(image)
            image = reoriented
            bits = reorientation.apply(bits)
        }
        if let spacing {
            let plan = try ResamplePlan(source: image.geometry, targetSpacing: spacing)
            image = Resampler.resample(image, plan: plan, interpolation: interpolation,
                                       fill: Resampler.defaultCTFill, threads: threads)
            bits = Resampler.resample(bits, plan: plan, interpolation: .nearest,
                                      fill: Resampler.defaultLabelFill, threads: threads)
        }
        return (image, bits)
    }

    /// The whole per-exam pipeline: read, build masks, transform. Adds stage times to `times`.
    ///
    /// Every input file is read from disk once: the CT and the annotation files the masks come
    /// from are hashed while they are decoded; only inputs the options leave unused (say a
    /// label map beside subtype masks) are read just for their hash.
    public static func run(_ c: CohortCase, options: ReleaseOptions, threads: Int, times: inout StageTimes) throws -> CaseProduct {
        var digests: [String: String] = [:]
        var dicom: (inputs: [InputFile], source: DICOMSourceRead)? = nil
        let ct = try timed("read", &times) { () throws -> Volume<Float> in
            if c.isDICOM {
                let r = try readDICOM(c, options: options)
                dicom = (r.inputs, r.source)
                return r.ct
            }
            let (ct, input) = try readCTWithProvenance(c, options: options)
            digests[c.ct] = input.sha256
            return ct
        }
        let masks = try timed("masks", &times) { try readMasks(c, grid: ct.geometry, options: options, digests: &digests) }
        let inputs = try timed("hash", &times) {
            try c.inputFiles.flatMap { p -> [InputFile] in
                if p == c.ct, let dicom { return dicom.inputs }
                if let known = digests[p] { return [InputFile(path: c.relative(p), sha256: known)] }
                do { return [InputFile(path: c.relative(p), sha256: try Manifest.sha256(ofFile: p))] } catch {
                    throw CaseFailure(stage: "read", reason: "\(c.relative(p)): cannot be read")
                }
            }
        }
        let out = try timed("transform", &times) { try transform(ct: ct, masks: masks, options: options, threads: threads) }
        let info = dicom.map { DICOMCaseInfo(series: $0.source.series, slices: $0.source.sliceInstances(on: out.ct.geometry)) }
        return CaseProduct(id: c.id, ct: out.ct.converted(to: Int16.self), masks: out.masks, inputs: inputs, dicom: info)
    }

    /// Reads the CT of `c` (a NIfTI file or a DICOM study) in HU, with its provenance entries and,
    /// for DICOM, what is needed to map released slices back to instances.
    public static func readCTSource(_ c: CohortCase, options: ReleaseOptions) throws
        -> (ct: Volume<Float>, inputs: [InputFile], dicom: DICOMSourceRead?)
    {
        if c.isDICOM {
            let r = try readDICOM(c, options: options)
            return (r.ct, r.inputs, r.source)
        }
        let (ct, input) = try readCTWithProvenance(c, options: options)
        return (ct, [input], nil)
    }

    /// An error message with the cohort's absolute prefix removed.
    static func relativeMessage(_ message: String, _ c: CohortCase) -> String {
        let prefix = c.root.hasSuffix("/") ? c.root : c.root + "/"
        var m = message.replacingOccurrences(of: prefix, with: "")
        if c.isDICOM {
            // A study folder's name may be a patient's: name it by the case.
            let rel = c.relative(c.ct)
            if rel != c.id.rawValue { m = m.replacingOccurrences(of: rel, with: c.id.rawValue) }
        }
        return m
    }
}
