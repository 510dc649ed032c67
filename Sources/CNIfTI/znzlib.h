// Forwarding header: see shim.h for why it exists.
#include <nifti/znzlib.h>
