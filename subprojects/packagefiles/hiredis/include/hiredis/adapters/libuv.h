/* Forwarding header (portico wrap): makes <hiredis/adapters/libuv.h> work in-tree. */
#include "../../../adapters/libuv.h"
