#ifndef HEMOCLUSTER_CDEFLATE_SHIM_H
#define HEMOCLUSTER_CDEFLATE_SHIM_H
#include <libdeflate.h>
#endif
