/* bus.h -- the gateway's two Redis connections (the only user of hiredis).
 *
 * A subscriber connection (the channels given at creation) and a command
 * connection (PUBLISH), both on the gateway's event base. The bus is "up" when
 * both are connected, authenticated and every subscription is confirmed.
 * Losing either connection takes both down (so a new subscriber never
 * overlaps an old one: each channel is subscribed exactly once), then they
 * are reconnected together on the schedule of backoff.h (every 100..200 ms
 * for 30 attempts, then full jitter up to 0.4, 0.8, 1.6, 3.2, 5 s; back to
 * the start once up). A PING every second
 * on the command connection detects a Redis that stopped answering.
 *
 * With a redis-sentinel:// address the two connections go to the primary
 * the sentinels name (sentinel.h), asked again before every attempt; a
 * +switch-master to another address reconnects at once.
 *
 * With a redis-cluster:// address the same contract holds over the cluster
 * client (cluster.h): "up" is every primary answering and every channel
 * confirmed; point-to-point channels (the reply channel, and the instance
 * channels gw_bus_publish_resp sends to) are shard channels, the others
 * cluster-wide; gw_bus_command goes to the primary owning its key. */
#ifndef GW_BUS_H
#define GW_BUS_H

#include <stdbool.h>
#include <stddef.h>

#include "redisurl.h"

struct gw_bus;

struct gw_bus_handlers {
    void (*on_up)(void);
    void (*on_down)(void);
    /* Optional: a connection attempt failed before the bus was ever up
     * (called once per such attempt). */
    void (*on_unreachable)(void);
    void (*on_message)(const char *channel, size_t chlen, const char *msg, size_t len);
    /* Outcome of a gw_bus_publish with a non-NULL priv: the number of
     * receivers, or -1 when the bus went down before Redis answered. Called
     * exactly once per such publish. */
    void (*on_published)(void *priv, long long receivers);
};

#define GW_BUS_PING_MS 1000
#define GW_BUS_PING_MISSES 3 /* unanswered PINGs before the link is declared dead */

struct gw_bus *gw_bus_new(const struct pc_redis_addr *addr, const char *const *channels,
                          size_t nchannels, const struct gw_bus_handlers *h);
void gw_bus_start(struct gw_bus *b);
/* Frees both connections; pending publish callbacks get -1 first. */
void gw_bus_free(struct gw_bus *b);
bool gw_bus_is_up(const struct gw_bus *b);
/* Publishes msg on channel. Returns 0 (on_published(priv, ...) follows
 * unless priv is NULL) or -1 when the bus is down (no callback). */
int gw_bus_publish(struct gw_bus *b, const char *channel, const char *msg, size_t len, void *priv);
/* The same for a PUBLISH already written in RESP (cmd[0..len), borrowed:
 * hiredis copies it; see resp.h), e.g. framed in place around a message. */
int gw_bus_publish_resp(struct gw_bus *b, const char *cmd, size_t len, void *priv);

/* A Redis reply as gw_bus_command hands it over; like a hiredis reply it is
 * valid only during the callback. Arrays of more than
 * GW_BUS_REPLY_MAX_ELEMENTS elements, and arrays inside arrays, are reported
 * as GW_BUS_REPLY_OTHER (nobody needs them yet). */
enum gw_bus_reply_type {
    GW_BUS_REPLY_STRING,  /* str, len */
    GW_BUS_REPLY_STATUS,  /* str, len (e.g. "OK") */
    GW_BUS_REPLY_ERROR,   /* str, len (e.g. "NOSCRIPT No matching script...") */
    GW_BUS_REPLY_INTEGER, /* integer */
    GW_BUS_REPLY_NIL,
    GW_BUS_REPLY_ARRAY, /* elements, element[0..elements) */
    GW_BUS_REPLY_OTHER,
};

#define GW_BUS_REPLY_MAX_ELEMENTS 16 /* a job record read: 9 fields (jobpoll.c) */

struct gw_bus_reply {
    enum gw_bus_reply_type type;
    long long integer;
    const char *str;
    size_t len;
    size_t elements;
    const struct gw_bus_reply *element;
    void *own; /* a top-level string's hiredis reply: see gw_bus_reply_take */
};

/* Writes the commands queued on the command connection now rather than at
 * the end of the loop iteration (a lone transfer's next slices asked for
 * before the last one is written to its client). */
void gw_bus_send_now(struct gw_bus *b);

/* Takes a top-level string reply's bytes (rep->len of them, malloc'd: the
 * taker frees them), leaving the reply without them: a large value (a
 * GETRANGE slice) handed on with no copy. NULL when the reply cannot give
 * them (then copy rep->str). */
char *gw_bus_reply_take(const struct gw_bus_reply *rep);

/* Outcome of a gw_bus_command: the reply (borrowed, valid during the call),
 * or NULL when the bus went down or was freed before Redis answered. */
typedef void gw_bus_reply_fn(void *priv, const struct gw_bus_reply *reply);

/* Sends one command (argv[0..argc), binary-safe, lengths in argvlen) on the
 * command connection. Returns 0, and then fn(priv, ...) is called exactly
 * once, never from inside this call; or -1 when the bus is down (no call). */
int gw_bus_command(struct gw_bus *b, gw_bus_reply_fn *fn, void *priv, int argc,
                   const char *const *argv, const size_t *argvlen);

#endif
