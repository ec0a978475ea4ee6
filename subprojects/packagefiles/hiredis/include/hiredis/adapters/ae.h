/* Forwarding header (portico wrap): makes <hiredis/adapters/ae.h> work in-tree. */
#include "../../../adapters/ae.h"
