#ifndef HEMOCLUSTER_CCHARLS_SHIM_H
#define HEMOCLUSTER_CCHARLS_SHIM_H
#include <charls/charls.h>
#endif
