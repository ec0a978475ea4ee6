/* upstream.h -- the HTTP upstreams of the routes file: addresses, pools of
 * kept-alive connections, balancing and passive health.
 *
 * An upstream is one "http://host:port" of the routes file. The same URL in
 * several routes, or in the tables before and after a reload, is the same
 * object (reference counted, kept by URL), so a reload keeps its pool and
 * its ejection. Requests in flight hold a reference too.
 *
 * Balancing: least requests in flight among the upstreams not ejected,
 * round-robin among equals. Passive health: an upstream that refuses or
 * resets a connection before answering is ejected for --upstream-eject-ms
 * (SPEC §11). */
#ifndef GW_UPSTREAM_H
#define GW_UPSTREAM_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "buf.h"

#define GW_UPSTREAM_URL_MAX 300 /* bytes of an upstream URL */

struct gw_uconn;

struct gw_upstream {
    char url[GW_UPSTREAM_URL_MAX + 1]; /* canonical: "http://host:port" */
    struct sockaddr_storage addr;      /* resolved when the file was loaded */
    socklen_t addrlen;
    unsigned refs;               /* tables naming it + requests using it */
    unsigned inflight;           /* requests on it now */
    uint64_t ejected_until;      /* monotonic ms; 0 = not ejected */
    uint64_t ejections;          /* times ejected (shown in /routes) */
    uint64_t retries;            /* tries that failed here and were sent again */
    uint64_t connects, reuses;   /* connections opened; requests on a pooled one */
    TAILQ_HEAD(, gw_uconn) idle; /* kept-alive connections, most recent first */
    unsigned nidle;
};

/* The upstream for url (referenced; the caller unrefs), made on first use.
 * url: "http://host[:port]" with an optional "/" at the end; host an IPv4
 * address, a [IPv6] address or a name (resolved now, first address). NULL
 * with err set (one phrase, no file name) when it is not one. */
struct gw_upstream *gw_upstream_get(const char *url, char *err, size_t errlen);
void gw_upstream_ref(struct gw_upstream *u);
/* The URL's "host:port" ("127.0.0.1:9001", "[::1]:80"). */
static inline const char *gw_upstream_authority(const struct gw_upstream *u)
{
    return u->url + sizeof "http://" - 1;
}
/* The last reference closes its idle connections and frees it. */
void gw_upstream_unref(struct gw_upstream *u);

/* The upstream for the next try among list[0..n): least in flight among
 * those not ejected (round-robin cursor *rr for ties), never avoid unless
 * it is the only one not ejected. NULL when every upstream is ejected. */
struct gw_upstream *gw_upstream_pick(struct gw_upstream *const *list, size_t n, size_t *rr,
                                     const struct gw_upstream *avoid);
/* It refused or reset a connection: out of the pick for --upstream-eject-ms. */
void gw_upstream_eject(struct gw_upstream *u);
bool gw_upstream_is_ejected(const struct gw_upstream *u);

/* A kept-alive connection to reuse, or NULL (the caller connects). */
struct gw_uconn *gw_upstream_idle_take(struct gw_upstream *u);
/* A connection whose exchange ended cleanly: kept (up to --upstream-pool-size,
 * for --upstream-idle-ms, watched for a close from the upstream) or closed. */
void gw_upstream_idle_put(struct gw_upstream *u, struct gw_uconn *c);
/* A pooled connection the upstream closed (or that timed out idle): out of
 * the pool, closed. */
void gw_upstream_idle_drop(struct gw_upstream *u, struct gw_uconn *c);

/* The upstream's state as a JSON object, for /routes. */
void gw_upstream_render(pc_buf *o, const struct gw_upstream *u, uint64_t now);

/* Closes every idle connection (process exit). */
void gw_upstream_deinit(void);

#endif
