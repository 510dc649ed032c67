// Refuses to run `hemo` on an x86-64 CPU without AVX2 and FMA with a sentence instead of SIGILL.
//
// HemoInference is compiled with -target-cpu haswell, and Swift code anywhere in the process may
// reach it, so the check cannot wait for Swift's main: it runs as an ELF constructor of this C
// file, which is compiled for baseline x86-64 and runs before any Swift code of the program.
#include "CCPUCheck.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__)
static int simulated_missing(const char *feature) {
    const char *list = getenv("HEMO_SIMULATE_CPU_WITHOUT");
    return list != NULL && strstr(list, feature) != NULL;
}

int hemo_cpu_supported(void) {
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && !simulated_missing("avx2");
    int fma = __builtin_cpu_supports("fma") && !simulated_missing("fma");
    return avx2 && fma;
}

int hemo_cpu_has_avx512f(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && !simulated_missing("avx512");
}

static void say(const char *text) {
    size_t n = strlen(text);
    while (n > 0) {
        ssize_t w = write(2, text, n);
        if (w <= 0) return;
        text += w;
        n -= (size_t)w;
    }
}

__attribute__((constructor(101))) static void hemo_require_cpu(void) {
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && !simulated_missing("avx2");
    int fma = __builtin_cpu_supports("fma") && !simulated_missing("fma");
    if (avx2 && fma) return;
    say("hemo: error: this CPU lacks ");
    say(!avx2 && !fma ? "AVX2 and FMA" : (!avx2 ? "AVX2" : "FMA"));
    say(", which this build of hemo needs: it is compiled for x86-64 CPUs from Intel Haswell (2013) or "
        "AMD Excavator (2015) on. Run it on such a machine, or build hemo without -target-cpu haswell "
        "for this one (see Package.swift).\n");
    _exit(3);
}
#else
int hemo_cpu_supported(void) { return 1; }
int hemo_cpu_has_avx512f(void) { return 0; }
#endif
