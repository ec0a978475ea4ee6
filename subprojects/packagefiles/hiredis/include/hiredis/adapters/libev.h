/* Forwarding header (portico wrap): makes <hiredis/adapters/libev.h> work in-tree. */
#include "../../../adapters/libev.h"
