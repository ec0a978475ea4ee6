/* cluster_int.h -- what the two files of the cluster client share
 * (cluster_client.c: map, command connections, life cycle; cluster_sub.c:
 * subscriber connections and subscriptions). Private to them. */
#ifndef PC_CLUSTER_INT_H
#define PC_CLUSTER_INT_H

#include <event2/event.h>
#include <hiredis/async.h>

#include "buf.h"
#include "cluster.h"

enum cl_state { CL_IDLE, CL_DOWN, CL_MAPPING, CL_CONNECTING, CL_UP };

#define CL_TICK_MS 1000
#define CL_MISSES 3      /* ticks without an answer: connect timeout, dead link */
#define CL_KEEP_CALLS 64 /* command buffers kept for reuse */
#define CL_KEEP_BYTES 8192

struct cl_sub { /* a subscriber connection */
    redisContext *rc;
    struct event *rev, *wev;
    bool connected;
};

struct cl_node {
    struct pc_cluster *c;
    int idx; /* -1: the seed connection asking for the map */
    redisAsyncContext *cmd;
    bool ready;
    bool reply_skip; /* CLIENT REPLY allowed here: cluster_skip.c */
    int pings;
    struct cl_sub sub;
};

struct cl_chan {
    struct cl_chan *next;
    bool sharded, confirmed, report;
    int node; /* where it is subscribed */
    unsigned slot;
    size_t len;
    char name[];
};

struct cl_call {
    struct pc_cluster *c;
    pc_cluster_reply_fn *fn;
    void *priv;
    unsigned slot;
    int redirects;
    pc_buf cmd;
    struct cl_call *next; /* in the free list, or the held PUBLISHes */
    /* ordering across primaries (cluster_client.c, "SET before PUBLISH") */
    bool is_set;
    uint64_t seq;                  /* a SET: its number; a held PUBLISH: the last SET before it */
    long route;                    /* a held PUBLISH: where it goes */
    struct cl_call *sprev, *snext; /* a SET in the pending list */
};

struct pc_cluster {
    struct event_base *base;
    struct pc_redis_addr addr;
    struct pc_cluster_ops ops;
    void *ud;
    enum cl_state state;
    unsigned attempt;
    unsigned long attempts;
    size_t seed;
    struct cl_node seednode;
    struct pc_cluster_map map, fresh;
    struct cl_node nodes[PC_CLUSTER_MAX_NODES];
    size_t ready;
    struct cl_chan *chans;
    struct event *tick, *retry, *reset;
    unsigned ticks;
    bool refresh_soon, refreshing;
    size_t refresh_from;
    unsigned home; /* random: picks the primary for cluster-wide channels */
    struct cl_call *free_calls;
    size_t nfree;
    uint64_t seq;                     /* SETs issued */
    struct cl_call *sets, *sets_tail; /* SETs not answered yet, in issue order */
    struct cl_call *held, *held_tail; /* PUBLISHes waiting for earlier SETs */
};


void pc_cl_log(struct pc_cluster *c, enum pc_cluster_log lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Something failed: the client is torn down from the loop, not from here. */
void pc_cl_fail(struct pc_cluster *c, const char *why);
/* The primary this client uses for cluster-wide channels (PUBLISH and
 * SUBSCRIBE of registration, discover, events): any node would do, since
 * the cluster carries such a PUBLISH to every node; a random one per
 * client spreads the fan-out of many gateways and the heartbeats of many
 * services over all primaries. */
static inline int pc_cl_home(const struct pc_cluster *c) { return (int)(c->home % c->map.nnodes); }

/* Sends CLIENT REPLY ON on n's new command connection (before its first
 * PING): its answer says whether n may take pc_cl_skip_send. */
void pc_cl_skip_probe(struct cl_node *n);
/* Sends a command nobody waits for, the bytes a[0..alen) then b[0..blen),
 * after CLIENT REPLY SKIP on primary node's connection. Returns 0, or -1
 * (nothing sent) when that primary does not take SKIP, node is -1, or a
 * SET is unanswered (SET before PUBLISH, cluster_client.c). */
int pc_cl_skip_send(struct pc_cluster *c, int node, const char *a, size_t alen, const char *b,
                    size_t blen);

/* Closes a subscriber connection (nothing is told). */
void pc_cl_sub_close(struct cl_sub *s);

#endif
