import Testing
import HemoCore
import HemoSynth

/// The lead's guard until the generator's own suite lands: same seed, same voxels.
@Suite struct GeneratorSmokeTests {
    @Test func sameSeedGivesTheSameCaseWhateverTheSliceThreads() throws {
        let g = try SynthGenerator(options: SynthOptions(seed: 7, inPlanePixels: 96, sliceCount: 6))
        let a = g.generate(caseIndex: 3, sliceThreads: 1)
        let b = g.generate(caseIndex: 3, sliceThreads: 2)
        #expect(a.ct == b.ct)
        #expect(a.paint == b.paint)
        let other = try SynthGenerator(options: SynthOptions(seed: 8, inPlanePixels: 96, sliceCount: 6)).generate(caseIndex: 3)
        #expect(other.ct != a.ct)
    }
}
