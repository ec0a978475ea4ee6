/* Forwarding header (portico wrap): makes <hiredis/adapters/qt.h> work in-tree. */
#include "../../../adapters/qt.h"
