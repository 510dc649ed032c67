import HemoCore

/// Why synthesis options or a synthesis run are not acceptable.
public struct SynthError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The case concerned, when there is one.
    public let caseID: String?
    /// A sentence naming the reason.
    public let reason: String
    /// An error about `caseID` (or the whole run when `nil`) with `reason`.
    public init(caseID: String? = nil, reason: String) { self.caseID = caseID; self.reason = reason }
    /// A readable sentence.
    public var description: String { caseID.map { "\($0): \(reason)" } ?? reason }
}

/// Everything that decides a synthetic case besides its index.
///
/// Case `i` depends only on (`seed`, `i`, these options): never on the number of cases, threads or
/// the order of generation.
public struct SynthOptions: Sendable, Hashable {
    /// Master seed.
    public var seed: UInt64
    /// Fraction of cases with at least one planned hemorrhage (0...1). Positives are allotted
    /// exactly per block of ``blockSize`` consecutive cases (see ``CohortPlan``).
    public var positiveFraction: Double
    /// Pixels per row and column of each axial slice (default 512).
    public var inPlanePixels: Int
    /// Fixed number of slices, or `nil` for the per-case coverage divided by the thickness.
    public var sliceCount: Int?
    /// Fixed slice thickness in mm, or `nil` (5 mm, or the coverage divided by ``sliceCount``).
    public var sliceThickness: Double?
    /// When ``sliceThickness`` is `nil`: draw each case's thickness from the usual reconstructions
    /// (``reconstructionThicknesses``) within this range instead of 5 mm.
    public var sliceThicknessRange: ClosedRange<Double>?
    /// Whether the annotations written beside the CT (label map, subtype masks) imitate a human
    /// annotator: per case, every outline dilated or eroded by one pixel in-plane (or left exact),
    /// drawn from the seed. `truth/` always stays exact.
    public var annotatorNoise: Bool = false
    /// Whether physiological calcifications (choroid plexus, pineal) may appear.
    public var calcifications: Bool
    /// Whether cases may carry the look of real scans that a phantom otherwise lacks, all without
    /// blood of their own (see ``CaseModel/features``): skull-stripped exams (everything outside the
    /// cranial cavity set to a fill value, with the bright partial-volume rim and skull-base bone
    /// remnants that stripping leaves, bright or dim and wide, and small dense patches of 54–130 HU
    /// 1.4–5.4 mm under the brain's surface, never in CSF, and a parasellar look-alike over the
    /// sella: textured brain of 56–135 HU with bone-bright clinoid spots, never in CSF), bone blurred into the brain over the
    /// skull base (up to 200 HU at the brain's surface, never in the CSF spaces where SAH and IVH are
    /// drawn), dense basal cisterns, partial volume of the inner table and skull base over a wider
    /// slab, and spatially correlated noise. Drawn from a stream of their own
    /// (seed, case), so the anatomy, lesions and labels of a case are the same with or without them.
    public var realScanMimics: Bool = false

    /// Reconstruction thicknesses (mm) a case may draw from ``sliceThicknessRange``.
    public static let reconstructionThicknesses: [Double] = [0.625, 1, 1.25, 1.5, 2, 2.5, 3, 4, 5]

    /// Consecutive cases whose positives and primary subtypes are allotted together.
    public static let blockSize = 20

    /// Options with the documented defaults: seed 0, positive fraction 0.5, 512 pixels, 5 mm slices,
    /// 28–40 slices per case, calcifications on.
    public init(seed: UInt64 = 0, positiveFraction: Double = 0.5, inPlanePixels: Int = 512,
                sliceCount: Int? = nil, sliceThickness: Double? = nil, sliceThicknessRange: ClosedRange<Double>? = nil,
                calcifications: Bool = true) {
        self.sliceThicknessRange = sliceThicknessRange
        self.seed = seed
        self.positiveFraction = positiveFraction
        self.inPlanePixels = inPlanePixels
        self.sliceCount = sliceCount
        self.sliceThickness = sliceThickness
        self.calcifications = calcifications
    }

    /// Throws when an option is outside what the generator supports, with a sentence a user can act on.
    public func validate() throws(SynthError) {
        guard positiveFraction >= 0, positiveFraction <= 1 else {
            throw SynthError(reason: "positive fraction \(positiveFraction) must be between 0 and 1")
        }
        guard (32...2048).contains(inPlanePixels) else {
            throw SynthError(reason: "in-plane size \(inPlanePixels) must be between 32 and 2048 pixels")
        }
        if let sliceCount, !(4...1000).contains(sliceCount) {
            throw SynthError(reason: "slice count \(sliceCount) must be between 4 and 1000")
        }
        if let range = sliceThicknessRange, !(range.lowerBound >= 0.25 && range.upperBound <= 20) {
            throw SynthError(reason: "slice thickness range \(range.lowerBound)–\(range.upperBound) mm must lie between 0.25 and 20 mm")
        }
        if let sliceThickness, !(sliceThickness >= 0.25 && sliceThickness <= 20) {
            throw SynthError(reason: "slice thickness \(sliceThickness) mm must be between 0.25 and 20 mm")
        }
    }
}
