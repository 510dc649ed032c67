#include "CNIfTI.h"

int cnifti_header_sizes_ok(void) {
    return sizeof(nifti_1_header) == 348 && sizeof(nifti_2_header) == 540;
}
