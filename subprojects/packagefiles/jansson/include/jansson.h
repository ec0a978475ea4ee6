/* Forwarding header (portico wrap): consumers get jansson.h and the generated
 * jansson_config.h only, not the private headers next to it in src/. */
#include "../src/jansson.h"
