/* Forwarding header (portico wrap): makes <hiredis/adapters/libevent.h> work in-tree. */
#include "../../../adapters/libevent.h"
