#ifndef HEMOCLUSTER_CZEROMQ_SHIM_H
#define HEMOCLUSTER_CZEROMQ_SHIM_H
#include <zmq.h>
#endif
