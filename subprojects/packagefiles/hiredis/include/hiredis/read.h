/* Forwarding header (portico wrap): makes <hiredis/read.h> work in-tree. */
#include "../../read.h"
