// Debian's libnifti2-dev installs its headers under /usr/include/nifti/ and ships
// no pkg-config file. nifti2_io.h includes "nifti1.h" and "nifti2.h" with quotes,
// which resolve next to it, but includes <znzlib.h> with angle brackets, which
// needs /usr/include/nifti on the search path. SwiftPM puts this module's own
// folder on the search path, so znzlib.h beside this file forwards to the real
// header; no -I flag, no unsafeFlags, no pkg-config file is needed.
#ifndef HEMOCLUSTER_CNIFTI_SHIM_H
#define HEMOCLUSTER_CNIFTI_SHIM_H
#include <nifti/nifti2_io.h>
#endif
