#ifndef CCPUCHECK_H
#define CCPUCHECK_H

/// Whether this CPU has every feature the `hemo` binary was compiled for (x86-64: AVX2 and FMA,
/// since HemoInference is built with -target-cpu haswell; elsewhere always 1). Honours the test
/// override HEMO_SIMULATE_CPU_WITHOUT (e.g. "avx2", "fma", "avx2,fma").
int hemo_cpu_supported(void);

#endif
