/* reqhead.h -- the headers a request goes on with, to a service (the bus
 * envelope's, forward.c) or to an HTTP upstream (hforward.c): one function
 * for both, so that both get the same rules. */
#ifndef GW_REQHEAD_H
#define GW_REQHEAD_H

#include <stddef.h>

#include "req.h"

/* r's headers as forwarded: the rules of SPEC §4 (gw_headers_to_service)
 * and the trace context of §10 (gw_trace_headers: r->trace is fixed at the
 * first call, so every try carries the same traceparent). *out points to
 * scratch valid until the next call. */
size_t gw_reqhead_headers(struct gw_req *r, const struct pc_kv **out);

/* Frees the scratch (process exit). */
void gw_reqhead_deinit(void);

#endif
