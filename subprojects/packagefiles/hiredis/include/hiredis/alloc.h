/* Forwarding header (portico wrap): makes <hiredis/alloc.h> work in-tree. */
#include "../../alloc.h"
