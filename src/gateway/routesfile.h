/* routesfile.h -- routes served by plain HTTP upstreams (--routes-file, SPEC §11).
 *
 *   {"routes":[{"service":"legacy", "methods":["GET","POST"], "path":"/legacy/" "*",
 *               "upstreams":["http://127.0.0.1:9001"], "timeout_ms":5000,
 *               "strip_prefix":"/legacy"}]}
 *
 * The file is loaded as one table (validated whole: any error refuses it),
 * and its (method, pattern) pairs go into the router as struct gw_route
 * values with ->http set, owned by the route's service; a Redis
 * announcement of such a pair is refused (route_taken). The table is a
 * reload part (reload.c): prepared, then committed (swapped in) or
 * discarded; it is also re-read when the file changes on disk (checked once
 * a second). Requests in flight keep the table they started with
 * (reference counted).
 *
 * A pair the new table no longer has is *released*: it keeps being served
 * by its upstreams until a Redis announcement of the same pair takes it
 * (gw_routesfile_yield), or for --route-grace-ms; the gateway publishes
 * discover after such a reload, so services announce at once. That is how a
 * route moves from the file to the bus with no failed request
 * (docs/operations.md). */
#ifndef GW_ROUTESFILE_H
#define GW_ROUTESFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"

struct gw_route;
struct gw_upstream;
struct gw_rtable;

#define GW_ROUTESFILE_MAX_BYTES (4 * 1024 * 1024) /* bytes of a routes file */
#define GW_ROUTESFILE_MAX_ROUTES 10000            /* routes in the file */
#define GW_ROUTESFILE_MAX_UPSTREAMS 64            /* upstreams of one route */
#define GW_ROUTESFILE_POLL_MS 1000                /* how often the file is checked for a change */

/* One route of the file (one per entry, shared by its methods). */
struct gw_http_route {
    const char *service;
    const char *pattern;
    struct gw_upstream **up; /* referenced */
    size_t nup;
    size_t rr;                /* round-robin cursor among equals */
    int timeout_ms;           /* 0: --timeout-ms */
    size_t strip_segments;    /* leading path segments removed ("strip_prefix") */
    const char *strip_prefix; /* as written, or NULL */
    struct gw_rtable *table;
};

/* Reload part (reload.h): the file of next->routes_file into a new table
 * (NULL when no file is set). */
int gw_routesfile_prepare(const struct gw_config *next, void **staged, char *err, size_t errlen);
void gw_routesfile_commit(void *staged, struct gw_config *cfg);
void gw_routesfile_discard(void *staged);

/* The router exists: the committed table goes into it, and the file is
 * watched for changes. */
void gw_routesfile_init(void);
/* Out of the router, everything freed (after the connections: nothing is in
 * flight). */
void gw_routesfile_deinit(void);

/* A request uses hr (and its table) until _drop. */
void gw_http_route_hold(struct gw_http_route *hr);
void gw_http_route_drop(struct gw_http_route *hr);

/* rt is a routes-file route and a Redis announcement wants its pair: true
 * when rt was released (it is then removed from the router: the caller adds
 * its own), false when the file owns it (route_taken). */
bool gw_routesfile_yield(struct gw_route *rt);

/* The fields of a routes-file route after "pattern" in /routes:
 * ,"kind":"http",... (no closing brace). */
void gw_routesfile_render(pc_buf *o, const struct gw_route *rt, uint64_t now);

#endif
