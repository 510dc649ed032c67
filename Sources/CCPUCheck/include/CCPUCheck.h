#ifndef CCPUCHECK_H
#define CCPUCHECK_H

/// Whether this CPU has every feature the `hemo` binary was compiled for (x86-64: AVX2 and FMA,
/// since HemoInference is built with -target-cpu haswell; elsewhere always 1). Honours the test
/// override HEMO_SIMULATE_CPU_WITHOUT (e.g. "avx2", "fma", "avx2,fma").
int hemo_cpu_supported(void);

/// Whether this CPU and OS run AVX-512F (HemoInference's wide GEMM tiles); 0 when
/// HEMO_SIMULATE_CPU_WITHOUT names "avx512", and always 0 off x86-64.
int hemo_cpu_has_avx512f(void);

#endif
