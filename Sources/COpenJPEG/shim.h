#ifndef HEMOCLUSTER_COPENJPEG_SHIM_H
#define HEMOCLUSTER_COPENJPEG_SHIM_H
#include <openjpeg.h>
#endif
