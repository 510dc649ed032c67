// libnifti (Debian's libnifti2-dev), NIfTI-1 and NIfTI-2 I/O.
//
// Debian installs the headers under /usr/include/nifti/ and ships no pkg-config file.
// nifti2_io.h includes "nifti1.h"/"nifti2.h" with quotes, which resolve beside it, but
// <znzlib.h> with angle brackets, which needs /usr/include/nifti on the search path.
// This target's include/ folder is on every dependent's search path (SwiftPM adds a C
// target's public headers folder), so the one-line znzlib.h beside this file forwards
// to the real header: no -I flag, no unsafeFlags, no hand-written .pc file.
#ifndef HEMOCLUSTER_CNIFTI_H
#define HEMOCLUSTER_CNIFTI_H
#include <nifti/nifti2_io.h>

/// 1 when the NIfTI-1 and NIfTI-2 header structs have their on-disk sizes (348 and 540 bytes).
int cnifti_header_sizes_ok(void);
#endif
