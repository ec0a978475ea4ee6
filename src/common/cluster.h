/* cluster.h -- Redis Cluster (Redis >= 7): sharded pub/sub and keys by slot,
 * for the gateway and the SDK (hiredis 0.14 knows nothing of clusters).
 *
 * Pure part (cluster.c, unit-tested): the key slot (CRC16/XMODEM mod 16384,
 * with {hash tags}), which channels are shard channels, the slot map read
 * from CLUSTER SLOTS, MOVED/ASK errors.
 *
 * Client (cluster_client.c, cluster_sub.c, on a libevent loop through
 * redis_ev.c): the map from the seed nodes, one command connection per
 * primary (commands routed by the slot of their key, PUBLISH of a shard
 * channel sent as SPUBLISH to its owner, MOVED and ASK followed), a
 * subscriber connection per primary that holds a subscription (SSUBSCRIBE
 * at the owner of a shard channel), the cluster-wide channels (PUBLISH and
 * SUBSCRIBE, which the cluster carries to every node) at one primary drawn
 * at random per client, the sunsubscribe a primary sends when a channel's
 * slot moves away answered by subscribing at the new owner, a PING every
 * second and a map refresh every PC_CLUSTER_REFRESH_MS. Losing any
 * connection takes the whole client down (as losing one server does, SPEC
 * §5): the user's pending callbacks get NULL, subscriptions are forgotten,
 * and the client starts again from the seeds on the schedule of backoff.h. */
#ifndef PC_CLUSTER_H
#define PC_CLUSTER_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redisurl.h"

#define PC_CLUSTER_SLOTS 16384
#define PC_CLUSTER_MAX_NODES 64    /* primaries */
#define PC_CLUSTER_NO_NODE 0xff    /* an unassigned slot */
#define PC_CLUSTER_REFRESH_MS 5000 /* the map is read again this often */
#define PC_CLUSTER_MAX_REDIRECTS 5 /* MOVED/ASK followed per command */

/* ---- pure ---- */

/* The hash slot of key[0..len): CRC16 of the key, or of the text between
 * the first '{' and the next '}' when that text is not empty. */
unsigned pc_cluster_slot(const char *key, size_t len);

/* Whether a channel is a point-to-point one, a shard channel on a cluster:
 * "<prefix>:svc:<instance>" and "<prefix>:reply:<id>" (SPEC §3; a prefix
 * has no ':'). Registration, discover and event channels are not. */
bool pc_cluster_channel_sharded(const char *ch, size_t len);

struct pc_cluster_node {
    char host[256];
    int port;
};

struct pc_cluster_map {
    size_t nnodes;
    struct pc_cluster_node node[PC_CLUSTER_MAX_NODES];
    uint8_t owner[PC_CLUSTER_SLOTS]; /* index into node[], or PC_CLUSTER_NO_NODE */
};

/* Fills m from a CLUSTER SLOTS reply (primaries only; an empty or "?" host
 * is asked_host, the node that answered). Returns 0, or -1 with a one-line
 * reason (m is then unspecified). Slots no range covers stay unassigned. */
int pc_cluster_map_parse(const redisReply *r, const char *asked_host, struct pc_cluster_map *m,
                         char *err, size_t errlen);

/* The index of host:port in m, or -1. */
int pc_cluster_map_find(const struct pc_cluster_map *m, const char *host, int port);

/* Reads "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>" (an
 * error reply's text; the host may be "[ipv6]" or bare IPv6). Returns 0
 * with *ask, *slot, host (cap bytes) and *port, or -1 for any other text. */
int pc_cluster_redirect_parse(const char *s, size_t len, bool *ask, unsigned *slot, char *host,
                              size_t cap, int *port);

/* ---- client ---- */

struct event_base;
struct pc_cluster;

enum pc_cluster_log { PC_CLUSTER_LOG_DEBUG, PC_CLUSTER_LOG_INFO, PC_CLUSTER_LOG_WARN };

struct pc_cluster_ops {
    void (*on_up)(void *ud);   /* a map, every primary connected and answering */
    void (*on_down)(void *ud); /* after on_up only; reconnecting */
    void (*on_message)(void *ud, const char *ch, size_t chlen, const char *msg, size_t len);
    /* A pc_cluster_subscribe confirmed (once per call; not again when the
     * client moves the subscription to a channel's new owner). */
    void (*on_subscribed)(void *ud, const char *ch, size_t chlen);
    void (*log)(void *ud, enum pc_cluster_log level, const char *line);
};

/* A command's final reply (after redirections; borrowed, valid during the
 * call), or NULL when the client went down or was freed first. */
typedef void pc_cluster_reply_fn(void *priv, redisReply *reply);

/* addr->mode must be PC_REDIS_CLUSTER. NULL when out of memory. */
struct pc_cluster *pc_cluster_new(struct event_base *base, const struct pc_redis_addr *addr,
                                  const struct pc_cluster_ops *ops, void *ud);
void pc_cluster_start(struct pc_cluster *c);
/* Disconnects for good (pending callbacks get NULL; no on_down). */
void pc_cluster_stop(struct pc_cluster *c);
void pc_cluster_free(struct pc_cluster *c);
bool pc_cluster_is_up(const struct pc_cluster *c);
/* Connection attempts and reconnections (the gateway's counters). */
unsigned long pc_cluster_attempts(const struct pc_cluster *c);

/* Each returns 0, or -1 when the client is down (no callback then). A
 * command's fn (may be NULL) is called exactly once, never from inside. */
int pc_cluster_subscribe(struct pc_cluster *c, const char *ch);
int pc_cluster_unsubscribe(struct pc_cluster *c, const char *ch);
/* PUBLISH ch msg: SPUBLISH at the owner for a shard channel, else PUBLISH
 * at the client's home primary. */
int pc_cluster_publish(struct pc_cluster *c, const char *ch, size_t chlen, const void *msg,
                       size_t len, pc_cluster_reply_fn *fn, void *priv);
/* The same for a PUBLISH written in RESP (resp.h). */
int pc_cluster_publish_resp(struct pc_cluster *c, const char *cmd, size_t len,
                            pc_cluster_reply_fn *fn, void *priv);
/* Any command: routed by its key (argv[1]; the first key of EVAL/EVALSHA);
 * SCRIPT goes to every primary (fn gets the first one's reply). */
int pc_cluster_command(struct pc_cluster *c, int argc, const char *const *argv,
                       const size_t *argvlen, pc_cluster_reply_fn *fn, void *priv);

#endif
