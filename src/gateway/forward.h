/* forward.h -- requests to services and their replies.
 *
 *   client request --> router match --> pick instance --> envelope
 *        --> PUBLISH P:svc:<instance> --(0 receivers: drop it, try another, 3 tries)
 *        --> in-flight table[id] + deadline timer
 *   P:reply:<gateway-id> --> reply.c --> table[id] --> response (or 502)
 *   deadline --> 504;  bus down --> 503 for everything in flight
 *
 * Requests are found by id, never by a pointer a callback kept: a reply for
 * an id that is not in the table (late, duplicate, client gone) is dropped
 * and counted. */
#ifndef GW_FORWARD_H
#define GW_FORWARD_H

#include <stdbool.h>
#include <stddef.h>

#include "outlier.h"
#include "req.h"

void gw_forward_init(void);
void gw_forward_deinit(void);

/* A complete request from a public connection (or, for an HTTP route, one
 * whose head is complete and whose body streams: gw_forward_head said so). */
void gw_forward_handle(struct gw_req *r);
/* r's head is complete and a streamable body follows: true when its route
 * is an HTTP upstream's (the connection then hands r over at once). */
bool gw_forward_head(struct gw_req *r);
/* The request's connection is gone: forget it (freed, or orphaned while a
 * PUBLISH for it is outstanding). */
void gw_forward_cancel(struct gw_req *r);
/* For reply.c: r's request is answered (res: how the try went): out of the
 * in-flight table, timers stopped, instance released. Idempotent. */
void gw_forward_finish(struct gw_req *r, enum gw_try_result res);
/* A reply arrived but r stays in flight (its body is still to come): the
 * try is over (timers of the try, instance released), the deadline runs. */
void gw_forward_try_answered(struct gw_req *r);
/* A streamed reply began (stream.c): the try is over and the deadline no
 * longer applies (the stream's idle timeout does); r stays in flight. */
void gw_forward_stream_started(struct gw_req *r);
/* The envelope is no longer needed (kept small for reuse). */
void gw_forward_envelope_done(struct gw_req *r);
/* PUBLISH outcome (bus callback): receivers, or -1 when the bus failed. */
void gw_forward_on_published(void *priv, long long receivers);
/* A register message was handled: requests waiting for an announcement
 * (PUBLISH answered 0 after a Redis restart) go on if their route now has
 * an instance heard from since the bus came up. */
void gw_forward_on_announce(void);
/* Redis went away: every request in flight gets 503 now. */
void gw_forward_on_bus_down(void);
size_t gw_forward_inflight(void);

#define GW_FORWARD_MAX_TRIES 3 /* PUBLISH attempts per request (SPEC §5) */
/* Longest wait for an announcement after a PUBLISH answered 0 by an
 * instance not heard from since Redis came back (within the deadline). The
 * SDK reconnects 100 ms after a loss, then 200, 400 ms...: a service back
 * with Redis re-announces well within it. */
#define GW_FORWARD_ANNOUNCE_WAIT_MS 1000

#endif
