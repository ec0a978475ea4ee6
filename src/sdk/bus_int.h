/* bus_int.h -- what the three files of the SDK's bus share (bus.c:
 * connections, handshake, reconnect, subscribe, the dispatch by Redis mode;
 * bus_publish.c: PUBLISH and commands with an answer; bus_cluster.c: the
 * Redis Cluster glue). Private to them: the rest of the SDK sees only the
 * opaque struct pt_bus of internal.h. These are the only SDK files that
 * include hiredis. */
#ifndef PT_BUS_INT_H
#define PT_BUS_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "internal.h"

struct pc_cluster;
struct pc_sentinel;

enum pt_bus_state {
    PT_BUS_IDLE,       /* not started, or closed for good */
    PT_BUS_CONNECTING, /* contexts created, handshake replies outstanding */
    PT_BUS_UP,         /* both connections authenticated and answering */
    PT_BUS_WAITING,    /* down; reconnect timer armed */
};

#define PUB_KEEP 64 /* publish callback tokens kept for reuse */

/* What a PUBLISH with a callback carries through hiredis: the caller's
 * callback, and the way back to the bus for the token's reuse. */
struct pt_pub {
    pt_published_fn *fn;
    void *ud;
    struct pt_bus *bus;
    struct pt_pub *next; /* in the bus's free list */
};

struct pt_cmd { /* privdata of a command (pt_bus_command) */
    pt_command_fn *fn;
    void *ud;
};

struct pt_bus {
    struct event_base *base;
    portico_service *svc; /* for logging */
    struct pc_redis_addr addr;
    redisAsyncContext *sub; /* subscriber connection */
    redisAsyncContext *cmd; /* PUBLISH connection */
    enum pt_bus_state state;
    int handshake_left;        /* PING replies still expected */
    bool reply_skip;           /* CLIENT REPLY allowed on cmd: see pt_bus_publish_resp */
    unsigned attempt;          /* retries since the bus was last up (backoff.h) */
    bool closing;              /* pt_bus_close called: no reconnect */
    struct event *timer_ev;    /* reconnect delay / connect timeout */
    struct event *teardown_ev; /* deferred teardown (never inside hiredis) */
    const struct pt_bus_ops *ops;
    void *ud;
    struct pt_pub *free_pubs; /* tokens kept for reuse */
    size_t nfree_pubs;
    /* redis-sentinel://: addr.host/port is the primary last located */
    struct pc_sentinel *sentinel;
    bool moved;            /* +switch-master: reconnect without waiting */
    struct pc_cluster *cl; /* redis-cluster://: everything goes through it */
    /* the message on_message is handling (pt_bus_take_message); NULL on the
     * cluster path (its messages are not ours to take: the caller copies) */
    redisReply *cur_msg;
};

/* ---- bus.c ---- */

/* Schedules a teardown from the loop (safe inside hiredis callbacks). */
void pt_bus_fail(struct pt_bus *bus, const char *why);

/* ---- bus_publish.c ---- */

/* A token for fn, or NULL when out of memory. */
struct pt_pub *pt_bus_pub_get(struct pt_bus *bus, pt_published_fn *fn, void *ud);
/* Gives a token back: kept for the next PUBLISH, up to PUB_KEEP. */
void pt_bus_pub_put(struct pt_bus *bus, struct pt_pub *p);
/* hiredis callbacks (ac unused: the cluster path passes NULL). The first
 * takes a struct pt_pub (given back), the second a struct pt_cmd (freed). */
void pt_bus_on_published(redisAsyncContext *ac, void *r, void *privdata);
void pt_bus_on_command(redisAsyncContext *ac, void *r, void *privdata);

/* ---- bus_cluster.c: redis-cluster:// (bus->cl set) ---- */

/* NULL when out of memory. Calls back into bus->ops with the bus. */
struct pc_cluster *pt_bus_cl_new(struct pt_bus *bus, const struct pc_redis_addr *addr);
void pt_bus_cl_free(struct pt_bus *bus); /* pending callbacks run */
void pt_bus_cl_start(struct pt_bus *bus);
void pt_bus_cl_close(struct pt_bus *bus);
/* Like the pt_bus_ functions of the same names, bus up. */
int pt_bus_cl_subscribe(struct pt_bus *bus, const char *const *channels, size_t n);
int pt_bus_cl_unsubscribe(struct pt_bus *bus, const char *channel);
/* A PUBLISH: cmd written in RESP (len > 0), or channel/msg. */
int pt_bus_cl_publish(struct pt_bus *bus, const char *cmd, size_t len, const char *channel,
                      const void *msg, pt_published_fn *fn, void *ud);
/* 0, or -1 (c, when not NULL, is then still the caller's). */
int pt_bus_cl_command(struct pt_bus *bus, int argc, const char *const *argv, const size_t *argvlen,
                      struct pt_cmd *c);

#endif
