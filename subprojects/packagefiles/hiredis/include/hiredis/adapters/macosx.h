/* Forwarding header (portico wrap): makes <hiredis/adapters/macosx.h> work in-tree. */
#include "../../../adapters/macosx.h"
