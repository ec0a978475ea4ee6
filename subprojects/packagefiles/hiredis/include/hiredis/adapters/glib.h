/* Forwarding header (portico wrap): makes <hiredis/adapters/glib.h> work in-tree. */
#include "../../../adapters/glib.h"
