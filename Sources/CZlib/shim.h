#ifndef HEMOCLUSTER_CZLIB_SHIM_H
#define HEMOCLUSTER_CZLIB_SHIM_H
#include <zlib.h>
#endif
