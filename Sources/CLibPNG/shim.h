// Test-only access to Debian's libpng (libpng-dev): its simplified read API decodes PNGs
// independently of the project's own encoder.
#include <png.h>

/// PNG_FORMAT_RGB and PNG_FORMAT_GRAY as constants Swift can import.
static const png_uint_32 clibpng_format_rgb = PNG_FORMAT_RGB;
static const png_uint_32 clibpng_format_gray = PNG_FORMAT_GRAY;
static const png_uint_32 clibpng_image_version = PNG_IMAGE_VERSION;
