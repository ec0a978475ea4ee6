/* hforward.h -- a request to an HTTP upstream of the routes file, and its
 * response streamed back (SPEC §11).
 *
 *   forward.c (after CORS, auth, rate limit) --gw_hforward_start--> pick an upstream
 *     --> a pooled connection, or connect (hclient.h) --> request head + body written
 *     <-- response parsed as it arrives (uresp.h): head --> client (gw_req_stream_head)
 *                                                  body --> client, re-chunked if chunked,
 *         reading paused while the client's output is above GW_CONN_OUTPUT_HIGH
 *     --> complete: connection back to the pool (if reusable), response ended
 *
 * Tries: at most GW_HFORWARD_MAX_TRIES; a failed try is tried again on
 * another upstream only when nothing of the request was sent, or when the
 * method is idempotent and no byte of the response arrived. Errors: 502
 * upstream_error, 504 timeout, 503 no_instance (every upstream ejected);
 * after the response head was sent, the client's connection is closed
 * (the response is cut short). */
#ifndef GW_HFORWARD_H
#define GW_HFORWARD_H

#include "req.h"

struct gw_route;

#define GW_HFORWARD_MAX_TRIES 2
/* A streamed request body: above HIGH bytes waiting in the upstream
 * connection's output the client is not read, until it is down to LOW. */
#define GW_HFORWARD_BODY_HIGH (256 * 1024)
#define GW_HFORWARD_BODY_LOW (64 * 1024)

/* r matched rt (rt->http set) and passed the checks: forward it. */
void gw_hforward_start(struct gw_req *r, struct gw_route *rt);
/* r's client is gone (r->hx set): the exchange ends, the upstream
 * connection is closed; r is the caller's. */
void gw_hforward_cancel(struct gw_req *r);
/* Frees what is kept for reuse (process exit). */
void gw_hforward_deinit(void);

#endif
