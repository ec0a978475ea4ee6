/* sentinel.h -- where the primary is, as Redis Sentinel says, on a libevent
 * loop (never blocking it). Used by the gateway's and the SDK's bus when the
 * URL is redis-sentinel://... (redisurl.h).
 *
 * Locating follows the Sentinel client guidelines (redis.io, "Sentinel client
 * spec"): the sentinels are asked in the order of the URL,
 * `SENTINEL get-master-addr-by-name <name>`, each within
 * PC_SENTINEL_TIMEOUT_MS (connect and answer); the first address given is
 * then checked on the node itself (AUTH with the URL's credentials, then
 * `ROLE`, which must answer "master", within the same timeout). A sentinel
 * that does not answer, knows no such master, or names a node that is not a
 * primary, is passed over for the next one; when none is left the attempt
 * fails (the caller retries on its own schedule).
 *
 * Watching: one connection to a sentinel (the first that answers, in order)
 * is SUBSCRIBEd to +switch-master; each switch of our master is reported. A
 * lost or refused watch connection moves to the next sentinel after
 * PC_SENTINEL_RETRY_MS. */
#ifndef PC_SENTINEL_H
#define PC_SENTINEL_H

#include <event2/event.h>

#include "redisurl.h"

#define PC_SENTINEL_TIMEOUT_MS 1000 /* per sentinel, and for the ROLE check */
#define PC_SENTINEL_RETRY_MS 500    /* before the watch tries the next sentinel */

struct pc_sentinel;

struct pc_sentinel_ops {
    /* The outcome of pc_sentinel_locate: the verified primary's host and
     * port, or host NULL and why (one line). Called from the loop, never from
     * inside pc_sentinel_locate; the pc_sentinel may be freed in it. */
    void (*located)(void *ud, const char *host, int port, const char *why);
    /* +switch-master for our master: the new primary's host and port. Called
     * while a reply is read: the pc_sentinel must not be freed in it. */
    void (*switched)(void *ud, const char *host, int port);
    /* Diagnostics, one line each (debug level; warn when warn is true). */
    void (*log)(void *ud, bool warn, const char *msg);
};

/* addr->mode must be PC_REDIS_SENTINEL. The watch starts at once. */
struct pc_sentinel *pc_sentinel_new(struct event_base *base, const struct pc_redis_addr *addr,
                                    const struct pc_sentinel_ops *ops, void *ud);
/* Starts locating the primary; an attempt in progress is abandoned (its
 * outcome never reported). */
void pc_sentinel_locate(struct pc_sentinel *s);
/* Abandons an attempt in progress, if any. */
void pc_sentinel_cancel(struct pc_sentinel *s);
void pc_sentinel_free(struct pc_sentinel *s);

#endif
