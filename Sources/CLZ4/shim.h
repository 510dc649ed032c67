#ifndef HEMOCLUSTER_CLZ4_SHIM_H
#define HEMOCLUSTER_CLZ4_SHIM_H
#include <lz4.h>
#include <lz4frame.h>
#endif
