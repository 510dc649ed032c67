import HemoCore
import HemoTransforms

/// One row of `boxes2d.csv`: an 8-connected component of one subtype's mask in one slice.
public struct BoxRow: Sendable, Hashable, Codable {
    /// Slice index k.
    public var slice: Int
    /// The subtype whose mask the component belongs to.
    public var subtype: Subtype
    /// Box in pixels (x = i, y = j), max exclusive.
    public var box: BoundingBox2D
    /// Pixels in the component.
    public var pixels: Int
    /// 1 for annotations; the model's mean probability inside the component for pseudo-labels.
    public var score: Double?
}

/// One row of `lesions3d.csv`: a 26-connected component of one subtype's 3D mask.
public struct LesionRow: Sendable, Hashable, Codable {
    /// 1-based number within the case (subtype order, then component order).
    public var lesion: Int
    /// The subtype.
    public var subtype: Subtype
    /// Voxels in the component.
    public var voxels: Int
    /// Volume in millilitres.
    public var ml: Double
    /// Voxel box, max exclusive.
    public var box: BoundingBox3D
    /// Centroid in world millimetres (the affine applied to the mean voxel index).
    public var centroid: SIMD3<Double>
}

/// Per-slice labels: whether each subtype is present in slice k.
public struct SliceRow: Sendable, Hashable, Codable {
    /// Slice index k.
    public var slice: Int
    /// Subtypes present in the slice.
    public var subtypes: Set<Subtype>
    /// For pseudo-labels: probabilities of any hemorrhage and of each subtype (any first).
    public var probabilities: [Double]?
    /// A classifier's own `any` decision (its `p_any` reached its threshold), which may hold with no
    /// subtype over its threshold; `nil` (masks): any = some subtype present.
    public var any: Bool? = nil

    /// The slice's `any` label: the classifier's decision, or some subtype present.
    public var isPositive: Bool { any ?? !subtypes.isEmpty }
}

/// An exam-level classifier's call on a whole exam: its probabilities and its labels by its thresholds.
public struct ExamCall: Sendable, Hashable, Codable {
    /// `p_any, p_EPH, …, p_IVH` of the exam.
    public var probabilities: [Double]
    /// The exam's `any` label: `p_any` reached its threshold, or some subtype holds.
    public var any: Bool
    /// The subtypes whose probability reached their threshold.
    public var subtypes: Set<Subtype>

    /// A call.
    public init(probabilities: [Double], any: Bool, subtypes: Set<Subtype>) {
        self.probabilities = probabilities; self.any = any; self.subtypes = subtypes
    }

    private enum CodingKeys: String, CodingKey { case any, probabilities, subtypes }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(any, forKey: .any)
        try c.encode(probabilities, forKey: .probabilities)
        try c.encode(subtypes.sorted(), forKey: .subtypes)
    }
}

/// Everything a release says about one case apart from its volumes: the rows of every table.
///
/// Computed from the case's per-subtype masks by ``CaseRecord/init(id:masks:sliceProbabilities:boxScore:)``;
/// the verifier recomputes it from the released masks and compares.
public struct CaseRecord: Sendable, Hashable, Codable {
    /// The case.
    public var id: CaseID
    /// The released grid.
    public var geometry: Geometry
    /// One row per slice.
    public var slices: [SliceRow]
    /// 2D components, ordered by slice, subtype, component order.
    public var boxes: [BoxRow]
    /// 3D lesions in `lesion` order.
    public var lesions: [LesionRow]
    /// Volume per subtype in millilitres, from voxel counts and spacing.
    public var millilitres: [Subtype: Double]
    /// Subtypes present anywhere in the case.
    public var subtypes: Set<Subtype>
    /// For DICOM-sourced exams: the instance of each slice and the study's series (hashed UIDs).
    public var dicom: DICOMCaseInfo?
    /// A model with an exam-level classification output: its call on the exam, which gives the
    /// patient labels and the patient `p_*` columns (the slice rows keep the slice-level outputs).
    public var exam: ExamCall? = nil

    /// Slices with any hemorrhage.
    public var positiveSlices: Int { slices.filter(\.isPositive).count }
    /// Whether the case's release files include masks (`labelsTr/`, `masks3d/`, `masks2d/`): false
    /// for a classifier's record (its slices carry the classifier's `any` decision).
    public var hasMasks: Bool { !slices.contains { $0.any != nil } }
    /// Whether the case has any hemorrhage: the exam-level classifier's call when the model has one,
    /// else a subtype present or a slice a classifier called positive.
    public var anyHemorrhage: Bool {
        if let exam { return exam.any }
        return !subtypes.isEmpty || slices.contains { $0.any == true }
    }
    /// The patient's subtypes in `patient_labels.csv`: the exam-level classifier's when the model
    /// has one, else ``subtypes`` (those of the slices).
    public var patientSubtypes: Set<Subtype> { exam?.subtypes ?? subtypes }
    /// Slice width (i extent) and height (j extent).
    public var width: Int { geometry.size.i }
    /// Slice height (j extent).
    public var height: Int { geometry.size.j }
    /// Number of slices.
    public var sliceCount: Int { geometry.size.k }

    /// The zero-padded slice name: 3 digits, 4 when the volume has more than 1000 slices.
    public func sliceName(_ k: Int) -> String {
        let width = sliceCount > 1000 ? 4 : 3
        let s = String(k)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}

extension CaseRecord {
    /// Analyses `masks` (each subtype on its own mask) into the rows of every table.
    ///
    /// - Parameters:
    ///   - sliceProbabilities: for pseudo-labels, per slice `[p_any, p_EPH, …, p_IVH]`.
    ///   - boxScore: for pseudo-labels, the score of a 2D component (the model's mean probability inside it).
    public init(id: CaseID, masks: SubtypeMasks, threads: Int = 1,
                sliceProbabilities: [[Double]]? = nil,
                boxScore: ((Lesion2D) -> Double)? = nil) {
        let f = CaseFindings.analyse(masks, threads: threads)
        self.id = id
        geometry = masks.geometry
        slices = f.slices.map {
            SliceRow(slice: $0.slice, subtypes: Set($0.subtypes), probabilities: sliceProbabilities?[$0.slice])
        }
        boxes = f.lesions2D.map {
            BoxRow(slice: $0.slice, subtype: $0.subtype, box: $0.box, pixels: $0.pixels, score: boxScore?($0))
        }
        lesions = f.lesions3D.map {
            LesionRow(lesion: $0.index, subtype: $0.subtype, voxels: $0.voxels, ml: $0.ml, box: $0.box, centroid: $0.centroidWorld)
        }
        millilitres = f.patient.ml
        subtypes = Set(f.patient.subtypes)
    }
}

extension CaseRecord {
    /// The record of a classifier-only model's prediction (no masks): per slice, the subtypes and
    /// the `any` decision by the model's thresholds, with the probabilities. No boxes, lesions or
    /// volumes; the patient's subtypes are the union of the slices'.
    public init(id: CaseID, geometry: Geometry, sliceDecisions: [(any: Bool, subtypes: Set<Subtype>)], sliceProbabilities: [[Double]]) {
        self.id = id
        self.geometry = geometry
        slices = sliceDecisions.enumerated().map { k, d in
            SliceRow(slice: k, subtypes: d.subtypes, probabilities: sliceProbabilities[k], any: d.any)
        }
        boxes = []
        lesions = []
        millilitres = [:]
        subtypes = sliceDecisions.reduce(into: Set<Subtype>()) { $0.formUnion($1.subtypes) }
    }
}

// Sets and dictionaries iterate in a per-process order; these encoders write them sorted, so a
// record's JSON (journals, a partial release's journal.jsonl) is the same bytes in every process.
// Decoding is the synthesized one, which accepts any order.

extension SliceRow {
    private enum CodingKeys: String, CodingKey { case slice, subtypes, probabilities, any }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(slice, forKey: .slice)
        try c.encode(subtypes.sorted(), forKey: .subtypes)
        try c.encodeIfPresent(probabilities, forKey: .probabilities)
        try c.encodeIfPresent(any, forKey: .any)
    }
}

extension CaseRecord {
    private enum CodingKeys: String, CodingKey { case id, geometry, slices, boxes, lesions, millilitres, subtypes, dicom, exam }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(geometry, forKey: .geometry)
        try c.encode(slices, forKey: .slices)
        try c.encode(boxes, forKey: .boxes)
        try c.encode(lesions, forKey: .lesions)
        // A dictionary with non-string keys is encoded as [key, value, key, value, …].
        var ml = c.nestedUnkeyedContainer(forKey: .millilitres)
        for s in millilitres.keys.sorted() {
            try ml.encode(s)
            try ml.encode(millilitres[s]!)
        }
        try c.encode(subtypes.sorted(), forKey: .subtypes)
        try c.encodeIfPresent(dicom, forKey: .dicom)
        try c.encodeIfPresent(exam, forKey: .exam)
    }
}
