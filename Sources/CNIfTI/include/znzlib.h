// Forwarding header: see CNIfTI.h for why it exists.
#include <nifti/znzlib.h>
