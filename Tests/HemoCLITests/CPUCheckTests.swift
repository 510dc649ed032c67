import Foundation
import Testing

/// `hemo` on a CPU without AVX2 or FMA (simulated with HEMO_SIMULATE_CPU_WITHOUT, read by the ELF
/// constructor in Sources/CCPUCheck before any Swift code runs) prints a sentence and exits 3
/// instead of dying of SIGILL. scripts/system-tests/38-unsupported-cpu.sh runs the real check
/// under qemu-x86_64 with a CPU model that has neither.
@Suite struct CPUCheckTests {
    @Test(arguments: [("avx2", "lacks AVX2,"), ("fma", "lacks FMA,"), ("avx2,fma", "lacks AVX2 and FMA,")])
    func aMissingFeatureIsASentenceNotSIGILL(_ missing: String, _ phrase: String) throws {
        #if arch(x86_64)
        let r = try CLI.run(["--version"], environment: ["HEMO_SIMULATE_CPU_WITHOUT": missing])
        #expect(r.status == 3, "\(r.stderr)")
        #expect(r.stderr.contains("hemo: error: this CPU \(phrase) which this build of hemo needs"), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
        #endif
    }

    @Test func aSupportedCPURunsAsUsual() throws {
        let r = try CLI.run(["--version"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!r.stdout.isEmpty)
    }
}
