/* Forwarding header (portico wrap): makes <hiredis/sds.h> work in-tree. */
#include "../../sds.h"
