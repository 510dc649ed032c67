/// The anatomical class of a synthetic voxel, *before* any blood was painted into it.
///
/// The generator returns one class per voxel next to the CT so tests can check HU statistics and
/// where each lesion lies. Blood never has a class of its own: an EPH/SDH voxel has class
/// ``extraAxialCollection`` (the space the collection opens between skull and brain), an IVH voxel
/// ``ventricleCSF``, an IPH voxel a parenchymal class, an SAH voxel a CSF-space class.
public enum TissueClass: UInt8, CaseIterable, Sendable, CustomStringConvertible {
    /// Outside the head, −1000 HU.
    case air = 0
    /// Scalp, face and neck soft tissue, 20–60 HU.
    case softTissue
    /// Orbital fat, about −80 HU.
    case fat
    /// Compact bone (outer and inner table, skull base), 1400–1950 HU.
    case corticalBone
    /// Diploë and cancellous bone, 700–1000 HU.
    case diploe
    /// Air in paranasal sinuses, about −950 HU.
    case sinusAir
    /// The thin CSF layer over the convexity, 0–15 HU.
    case subarachnoidCSF
    /// CSF in sulci and fissures (interhemispheric, Sylvian), 0–15 HU.
    case sulcalCSF
    /// CSF in the basal cisterns and around the brainstem and cord, 0–15 HU.
    case cisternCSF
    /// CSF in the lateral, third and fourth ventricles, 0–15 HU.
    case ventricleCSF
    /// Cortical and cerebellar grey matter, 35–45 HU.
    case grayMatter
    /// White matter and brainstem, 25–32 HU.
    case whiteMatter
    /// Caudate, lentiform nucleus and thalamus, 33–42 HU.
    case deepGray
    /// Falx and tentorium, about 45–55 HU.
    case dura
    /// Physiological calcification (choroid plexus, pineal), 120–400 HU: a hyperdense distractor.
    case calcification
    /// The extra-axial space opened by an epidural or subdural collection.
    case extraAxialCollection
    /// Vitreous of the globe, about 10 HU.
    case vitreous
    /// Blood in a vessel: the superior sagittal sinus and a dense middle cerebral artery, 45–80 HU
    /// (a hyperdense mimic of haemorrhage, never labelled).
    case vessel

    /// A short name.
    public var description: String { String(describing: self) }
    /// Whether the class is a CSF space where subarachnoid blood may lie.
    public var isSubarachnoidSpace: Bool { self == .subarachnoidCSF || self == .sulcalCSF || self == .cisternCSF }
    /// Whether the class is a CSF space where blood may be drawn (SAH in the subarachnoid spaces and
    /// cisterns, IVH in the ventricles), which the bone-blur mimic, a strip's rim and the wider
    /// partial-volume slab leave at its own density, and the soft edges' extra blur passes leave out.
    var keepsOutOfBoneBlur: Bool { isSubarachnoidSpace || self == .ventricleCSF }
    /// Whether the class is brain parenchyma.
    public var isParenchyma: Bool { self == .grayMatter || self == .whiteMatter || self == .deepGray }
    /// Whether the class lies inside the cranial cavity (brain, CSF, dura, vessels, collections).
    public var isIntracranial: Bool {
        switch self {
        case .air, .softTissue, .fat, .corticalBone, .diploe, .sinusAir, .vitreous: false
        default: true
        }
    }
    /// Whether the class is bone.
    public var isBone: Bool { self == .corticalBone || self == .diploe }
}
