/* inflight.h -- the requests in flight, by request id.
 *
 * A reply is matched to its request through this table only (never through a
 * pointer a callback kept): an id that is not here is late, duplicate, or
 * for a client that left. Putting a request in and taking it out allocate
 * nothing: the lists are linked through the requests (inflight_link). */
#ifndef GW_INFLIGHT_H
#define GW_INFLIGHT_H

#include <stddef.h>

#include "req.h"

void gw_inflight_init(void);
void gw_inflight_deinit(void);
/* r->id set, r not in the table. Sets r->in_flight. */
void gw_inflight_add(struct gw_req *r);
/* r in the table. Clears r->in_flight. */
void gw_inflight_del(struct gw_req *r);
/* The request in flight with this id (len bytes), or NULL. */
struct gw_req *gw_inflight_find(const char *id, size_t len);
size_t gw_inflight_count(void);
/* Calls fn on requests still in the table until it is empty; fn must take
 * the request it is given out of the table (and may take out others). */
void gw_inflight_each_first(void (*fn)(struct gw_req *r));

#endif
