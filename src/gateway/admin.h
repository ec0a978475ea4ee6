/* admin.h -- the admin listener's endpoints (SPEC §6): /health, /routes, /metrics. */
#ifndef GW_ADMIN_H
#define GW_ADMIN_H

#include "req.h"

void gw_admin_handle(struct gw_req *r);

#endif
