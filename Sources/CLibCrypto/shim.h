#ifndef HEMOCLUSTER_CLIBCRYPTO_SHIM_H
#define HEMOCLUSTER_CLIBCRYPTO_SHIM_H
#include <openssl/evp.h>
#endif
