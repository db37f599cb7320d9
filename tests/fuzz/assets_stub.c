/* The fuzz targets are built without the web client: no file is built in,
 * so sp_static_builtin() always answers NULL and the fuzz build does not
 * depend on the generated build/gen/web_assets.c. */
#include "net/assets.h"

const struct sp_asset sp_web_assets[] = {{0}};
