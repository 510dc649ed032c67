import Testing
@testable import HemoPseudoLabel

/// Order-3 resampling against nnU-Net v2's own `resample_data_or_seg` and SciPy's `zoom`
/// (fixtures from scripts/fixtures/make-cubic-resize-fixtures.py).
@Suite struct CubicResizeTests {
    @Test(arguments: CubicResizeFixture.all)
    func equalsThePeer(_ f: CubicResizeFixture) {
        let rules = f.rules.map { $0 == "c" ? GridResize.AxisRule.cubic : .nearest }
        var got = GridResize.resize(f.input, channels: f.channels, shape: f.shape, to: f.target, rules: rules)
        if !f.clipped {
            // SciPy's zoom alone: undo nothing, but compare only where the clip would not act.
            let lo = f.input.min()!, hi = f.input.max()!
            for n in got.indices where got[n] <= lo || got[n] >= hi { got[n] = f.expected[n] }
        }
        #expect(got.count == f.expected.count)
        let worst = zip(got, f.expected).map { abs($0 - $1) }.max() ?? 0
        #expect(worst < 2e-5, "\(f.name): largest difference \(worst)")
    }

    @Test func theClipActsOnTheFixtures() {
        // The fixtures' spikes make an unclipped order-3 resize overshoot the input range.
        let f = CubicResizeFixture.all[0]
        let lo = f.input.min()!, hi = f.input.max()!
        #expect(f.expected.contains { $0 == lo || $0 == hi })
    }

    @Test func cubicSamplingAtTheKnotsReturnsTheInput() {
        let a: [Float] = (0..<30).map { Float(($0 * 7) % 11) - 3 }
        // 1 × 5 × 6 → 1 × 5 × 6 along two axes changes nothing; 5 → 10 → back is close.
        #expect(GridResize.resize(a, channels: 1, shape: [1, 5, 6], to: [1, 5, 6], rules: [.cubic, .cubic, .cubic]) == a)
        let up = GridResize.resize(a, channels: 1, shape: [1, 5, 6], to: [1, 5, 12], rules: [.cubic, .cubic, .cubic])
        #expect(up.count == 60)
    }
}
