/* forward.h -- requests to services and their replies.
 *
 *   client request --> router match --> pick instance --> envelope
 *        --> PUBLISH P:svc:<instance> --(0 receivers: drop it, try another, 3 tries)
 *        --> in-flight table[id] + deadline timer
 *   P:reply:<gateway-id> --> decode --> table[id] --> response (or 502)
 *   deadline --> 504;  bus down --> 503 for everything in flight
 *
 * Requests are found by id, never by a pointer a callback kept: a reply for
 * an id that is not in the table (late, duplicate, client gone) is dropped
 * and counted. */
#ifndef GW_FORWARD_H
#define GW_FORWARD_H

#include <stddef.h>

#include "req.h"

void gw_forward_init(void);
void gw_forward_deinit(void);

/* A complete request from a public connection. */
void gw_forward_handle(struct gw_req *r);
/* The request's connection is gone: forget it (freed, or orphaned while a
 * PUBLISH for it is outstanding). */
void gw_forward_cancel(struct gw_req *r);
/* A message on this gateway's reply channel. */
void gw_forward_on_reply(const char *msg, size_t len);
/* PUBLISH outcome (bus callback): receivers, or -1 when the bus failed. */
void gw_forward_on_published(void *priv, long long receivers);
/* Redis went away: every request in flight gets 503 now. */
void gw_forward_on_bus_down(void);
size_t gw_forward_inflight(void);

#define GW_FORWARD_MAX_TRIES 3 /* PUBLISH attempts per request (SPEC §5) */

#endif
