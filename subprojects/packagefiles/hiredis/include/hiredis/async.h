/* Forwarding header (portico wrap): makes <hiredis/async.h> work in-tree. */
#include "../../async.h"
