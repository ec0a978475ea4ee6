/* Forwarding header (portico wrap): makes <hiredis/adapters/ivykis.h> work in-tree. */
#include "../../../adapters/ivykis.h"
