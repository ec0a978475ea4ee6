/* Forwarding header (portico wrap): makes <hiredis/hiredis.h> work in-tree. */
#include "../../hiredis.h"
