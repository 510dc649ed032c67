#ifndef HEMOCLUSTER_CTURBOJPEG_SHIM_H
#define HEMOCLUSTER_CTURBOJPEG_SHIM_H
#include <turbojpeg.h>
#endif
