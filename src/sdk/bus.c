/* bus.c -- the service's two Redis connections (the only file that includes
 * hiredis).
 *
 *   IDLE --start--> CONNECTING --both PINGs answered--> UP
 *     ^                 |  error / timeout                | connection lost
 *     |                 v                                 v
 *     +--close----- WAITING <------- teardown (deferred) -+
 *                      | backoff.h: 100..200 ms for 30 attempts, then
 *                      | full jitter up to 0.4, 0.8, 1.6, 3.2, 5 s
 *                      +--> CONNECTING
 *
 * The subscriber connection carries SUBSCRIBE and messages; the command
 * connection carries AUTH/SELECT/PING and PUBLISH (a PUBLISH whose answer
 * nobody wants goes after CLIENT REPLY SKIP when Redis allows it: no answer
 * comes back, so the service is not woken up for one). Losing either tears down
 * both, so "up" always means both work. Contexts are never freed inside a
 * hiredis callback: teardown runs from its own libevent event.
 *
 * How Redis is reached (addr.mode) is decided once, in pt_bus_new. With
 * Sentinel (redis-sentinel://) the same two connections go to the primary
 * src/common/sentinel.h locates before each attempt (and again on
 * +switch-master). On a Redis Cluster (redis-cluster://) src/common/cluster.h connects,
 * routes and follows the slots; this file keeps the same contract on top
 * of it (up/down, subscribe confirmations, PUBLISH outcomes), without
 * CLIENT REPLY SKIP: a skipped answer would hide a MOVED. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "backoff.h"
#include "cluster.h"
#include "internal.h"
#include "redis_ev.h"
#include "sentinel.h"

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

static void bus_teardown(struct pt_bus *bus);

static bool bus_owns(const struct pt_bus *bus, const redisAsyncContext *ac)
{
    return ac != NULL && (ac == bus->sub || ac == bus->cmd);
}

/* ---- Redis Cluster (cluster.h) ---- */

static void cl_log(void *ud, enum pc_cluster_log lvl, const char *line)
{
    struct pt_bus *bus = ud;
    pt_log(bus->svc,
           lvl == PC_CLUSTER_LOG_WARN   ? PORTICO_LOG_WARN
           : lvl == PC_CLUSTER_LOG_INFO ? PORTICO_LOG_INFO
                                        : PORTICO_LOG_DEBUG,
           "%s", line);
}

static void cl_on_up(void *ud)
{
    struct pt_bus *bus = ud;
    bus->state = PT_BUS_UP;
    bus->ops->on_up(bus, bus->ud);
}

static void cl_on_down(void *ud)
{
    struct pt_bus *bus = ud;
    bool was_up = bus->state == PT_BUS_UP;
    bus->state = PT_BUS_WAITING;
    if (was_up) bus->ops->on_down(bus, bus->ud);
}

static void cl_on_message(void *ud, const char *ch, size_t chlen, const char *msg, size_t len)
{
    struct pt_bus *bus = ud;
    bus->ops->on_message(bus, bus->ud, ch, chlen, msg, len);
}

static void cl_on_subscribed(void *ud, const char *ch, size_t chlen)
{
    struct pt_bus *bus = ud;
    bus->ops->on_subscribed(bus, bus->ud, ch, chlen);
}

static const struct pc_cluster_ops cluster_ops = {cl_on_up, cl_on_down, cl_on_message,
                                                  cl_on_subscribed, cl_log};

/* Schedules a teardown from the loop (safe inside hiredis callbacks). */
static void bus_fail(struct pt_bus *bus, const char *why)
{
    if (bus->state != PT_BUS_UP && bus->state != PT_BUS_CONNECTING) return;
    pt_log(bus->svc, bus->state == PT_BUS_UP ? PORTICO_LOG_WARN : PORTICO_LOG_DEBUG, "redis: %s",
           why);
    event_active(bus->teardown_ev, 0, 0);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct pt_bus *bus = ac->data;

    if (bus == NULL || status == REDIS_OK) return;
    /* hiredis frees the context right after this callback */
    if (ac == bus->sub)
        bus->sub = NULL;
    else if (ac == bus->cmd)
        bus->cmd = NULL;
    else
        return;
    bus_fail(bus, ac->errstr[0] ? ac->errstr : "connect failed");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct pt_bus *bus = ac->data;

    (void)status;
    if (bus == NULL) return;
    if (ac == bus->sub)
        bus->sub = NULL;
    else if (ac == bus->cmd)
        bus->cmd = NULL;
    else
        return;
    bus_fail(bus, ac->errstr[0] ? ac->errstr : "connection lost");
}

/* AUTH and SELECT: any error ends the attempt. */
static void on_handshake(redisAsyncContext *ac, void *r, void *privdata)
{
    struct pt_bus *bus = privdata;
    redisReply *reply = r;

    if (!bus_owns(bus, ac)) return;
    if (reply == NULL)
        bus_fail(bus, "connection lost during handshake");
    else if (reply->type == REDIS_REPLY_ERROR) {
        /* A refused AUTH or SELECT is a configuration error: say so at once. */
        pt_log(bus->svc, PORTICO_LOG_WARN, "redis refused the handshake: %s", reply->str);
        bus_fail(bus, reply->str);
    }
}

/* CLIENT REPLY ON, sent before the PING: +OK when this user may use CLIENT
 * REPLY (an ACL may not allow it, an old Redis may not know it). Known before
 * the bus is up, since the PING's answer comes after this one. */
static void on_reply_probe(redisAsyncContext *ac, void *r, void *privdata)
{
    struct pt_bus *bus = privdata;
    redisReply *reply = r;

    if (!bus_owns(bus, ac) || reply == NULL) return;
    bus->reply_skip = reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "OK") == 0;
    if (!bus->reply_skip)
        pt_log(bus->svc, PORTICO_LOG_DEBUG,
               "redis: CLIENT REPLY not available (%s): replies are published with answers",
               reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected answer");
}

static void on_ping(redisAsyncContext *ac, void *r, void *privdata)
{
    struct pt_bus *bus = privdata;
    redisReply *reply = r;

    if (!bus_owns(bus, ac) || bus->state != PT_BUS_CONNECTING) return;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        bus_fail(bus, reply ? reply->str : "connection lost during handshake");
        return;
    }
    if (--bus->handshake_left > 0) return;
    bus->state = PT_BUS_UP;
    bus->attempt = 0;
    evtimer_del(bus->timer_ev);
    pt_log(bus->svc, PORTICO_LOG_DEBUG, "redis: connected");
    bus->ops->on_up(bus, bus->ud);
}

/* Every reply on the subscriber connection after the handshake. */
static void on_sub_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct pt_bus *bus = privdata;
    redisReply *reply = r;
    redisReply **el;

    if (!bus_owns(bus, ac) || reply == NULL) return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) return;
    el = reply->element;
    if (el[0]->type != REDIS_REPLY_STRING || el[1]->type != REDIS_REPLY_STRING) return;
    if (strcmp(el[0]->str, "message") == 0 && el[2]->type == REDIS_REPLY_STRING) {
        bus->cur_msg = el[2];
        bus->ops->on_message(bus, bus->ud, el[1]->str, el[1]->len, el[2]->str, el[2]->len);
        bus->cur_msg = NULL;
    } else if (strcmp(el[0]->str, "subscribe") == 0)
        bus->ops->on_subscribed(bus, bus->ud, el[1]->str, el[1]->len);
}

/* See internal.h. hiredis 0.14 keeps a string reply's bytes in their own
 * malloc'd block (NUL-terminated) and frees it with free(): taken, the
 * reply keeps NULL there, which freeReplyObject skips. */
char *pt_bus_take_message(struct pt_bus *bus, const char *msg)
{
    char *p;

    if (bus == NULL || bus->cur_msg == NULL || bus->cur_msg->str != msg) return NULL;
    p = bus->cur_msg->str;
    bus->cur_msg->str = NULL;
    bus->cur_msg->len = 0;
    bus->cur_msg = NULL;
    return p;
}

static redisAsyncContext *bus_connect_one(struct pt_bus *bus, bool is_cmd)
{
    redisAsyncContext *ac;
    const struct pc_redis_addr *a = &bus->addr;

    ac = a->is_unix ? redisAsyncConnectUnix(a->path) : redisAsyncConnect(a->host, a->port);
    if (ac == NULL) return NULL;
    if (ac->err) {
        pt_log(bus->svc, PORTICO_LOG_DEBUG, "redis: %s", ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = bus;
    if (pc_redis_attach(ac, bus->base) != REDIS_OK) {
        redisAsyncFree(ac);
        return NULL;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    if (a->password[0] != '\0') {
        if (a->user[0] != '\0')
            redisAsyncCommand(ac, on_handshake, bus, "AUTH %s %s", a->user, a->password);
        else
            redisAsyncCommand(ac, on_handshake, bus, "AUTH %s", a->password);
    }
    if (is_cmd && a->db != 0) redisAsyncCommand(ac, on_handshake, bus, "SELECT %d", a->db);
    if (is_cmd) redisAsyncCommand(ac, on_reply_probe, bus, "CLIENT REPLY ON");
    redisAsyncCommand(ac, on_ping, bus, "PING");
    return ac;
}

/* Opens both connections to addr (the primary, with Sentinel). */
static void bus_open(struct pt_bus *bus)
{
    struct timeval tv = {PT_CONNECT_TIMEOUT_MS / 1000, (PT_CONNECT_TIMEOUT_MS % 1000) * 1000};

    bus->sub = bus_connect_one(bus, false);
    bus->cmd = bus->sub ? bus_connect_one(bus, true) : NULL;
    if (bus->sub == NULL || bus->cmd == NULL) {
        bus_teardown(bus);
        return;
    }
    evtimer_add(bus->timer_ev, &tv);
}

static void bus_connect(struct pt_bus *bus)
{
    bus->state = PT_BUS_CONNECTING;
    bus->handshake_left = 2;
    bus->reply_skip = false;
    if (bus->sentinel != NULL)
        pc_sentinel_locate(bus->sentinel); /* bus_open once located */
    else
        bus_open(bus);
}

/* ---- Sentinel (sentinel.h): where the primary is ---- */

static void on_located(void *ud, const char *host, int port, const char *why)
{
    struct pt_bus *bus = ud;

    if (bus->state != PT_BUS_CONNECTING) return;
    if (host == NULL) {
        bus_fail(bus, why);
        return;
    }
    snprintf(bus->addr.host, sizeof bus->addr.host, "%s", host);
    bus->addr.port = port;
    bus_open(bus);
}

static void on_switched(void *ud, const char *host, int port)
{
    struct pt_bus *bus = ud;

    if (bus->state == PT_BUS_WAITING) { /* waiting to retry: now */
        struct timeval now = {0, 0};
        evtimer_del(bus->timer_ev);
        evtimer_add(bus->timer_ev, &now);
    } else if ((bus->state == PT_BUS_UP || bus->state == PT_BUS_CONNECTING) &&
               (strcmp(bus->addr.host, host) != 0 || bus->addr.port != port)) {
        bus->moved = true;
        bus_fail(bus, "the primary moved (+switch-master)");
    }
}

static void on_sentinel_log(void *ud, bool warn, const char *msg)
{
    struct pt_bus *bus = ud;
    pt_log(bus->svc, warn ? PORTICO_LOG_WARN : PORTICO_LOG_DEBUG, "redis: %s", msg);
}

static const struct pc_sentinel_ops sentinel_ops = {on_located, on_switched, on_sentinel_log};

/* Frees both contexts (their pending callbacks run with NULL), tells the
 * service, and arms the reconnect timer unless closing. */
static void bus_teardown(struct pt_bus *bus)
{
    bool was_up = bus->state == PT_BUS_UP;
    redisAsyncContext *s = bus->sub, *c = bus->cmd;
    unsigned delay_ms;
    struct timeval tv;

    bus->sub = bus->cmd = NULL;
    bus->state = PT_BUS_IDLE;
    evtimer_del(bus->timer_ev);
    if (bus->sentinel != NULL) pc_sentinel_cancel(bus->sentinel);
    if (s != NULL) redisAsyncFree(s);
    if (c != NULL) redisAsyncFree(c);
    if (was_up) bus->ops->on_down(bus, bus->ud);
    if (bus->closing) return;
    bus->state = PT_BUS_WAITING;
    delay_ms = bus->moved ? 0 : pc_backoff_next_ms(bus->attempt);
    bus->moved = false;
    tv.tv_sec = delay_ms / 1000;
    tv.tv_usec = (delay_ms % 1000) * 1000;
    evtimer_add(bus->timer_ev, &tv);
    /* one line per attempt, number and delay: the schedule can be read back */
    pt_log(bus->svc, PORTICO_LOG_DEBUG, "redis: retry %u in %u ms", bus->attempt, delay_ms);
    if (bus->attempt < UINT_MAX) bus->attempt++;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct pt_bus *bus = arg;

    (void)fd;
    (void)what;
    if (bus->state == PT_BUS_WAITING) {
        bus_connect(bus);
    } else if (bus->state == PT_BUS_CONNECTING) {
        pt_log(bus->svc, PORTICO_LOG_DEBUG, "redis: connect timed out");
        bus_teardown(bus);
    }
}

static void on_teardown(evutil_socket_t fd, short what, void *arg)
{
    struct pt_bus *bus = arg;

    (void)fd;
    (void)what;
    if (bus->state == PT_BUS_UP || bus->state == PT_BUS_CONNECTING) bus_teardown(bus);
}

struct pt_bus *pt_bus_new(struct event_base *base, portico_service *svc,
                          const struct pc_redis_addr *addr, const struct pt_bus_ops *ops, void *ud)
{
    struct pt_bus *bus = calloc(1, sizeof *bus);

    if (bus == NULL) return NULL;
    bus->base = base;
    bus->svc = svc;
    bus->addr = *addr;
    bus->ops = ops;
    bus->ud = ud;
    bus->timer_ev = evtimer_new(base, on_timer, bus);
    bus->teardown_ev = event_new(base, -1, 0, on_teardown, bus);
    if (bus->timer_ev == NULL || bus->teardown_ev == NULL) {
        pt_bus_free(bus);
        return NULL;
    }
    switch (addr->mode) {
    case PC_REDIS_SINGLE:
        break;
    case PC_REDIS_SENTINEL: /* bus_connect asks it where the primary is */
        bus->sentinel = pc_sentinel_new(base, addr, &sentinel_ops, bus);
        break;
    case PC_REDIS_CLUSTER: /* it replaces both connections */
        bus->cl = pc_cluster_new(base, addr, &cluster_ops, bus);
        break;
    }
    return bus;
}

void pt_bus_free(struct pt_bus *bus)
{
    struct pt_pub *p, *next;

    if (bus == NULL) return;
    bus->closing = true;
    if (bus->cl != NULL) pc_cluster_free(bus->cl); /* pending callbacks run */
    if (bus->sub != NULL || bus->cmd != NULL)
        bus_teardown(bus); /* pending PUBLISH callbacks run: tokens come back */
    pc_sentinel_free(bus->sentinel);
    if (bus->timer_ev != NULL) event_free(bus->timer_ev);
    if (bus->teardown_ev != NULL) event_free(bus->teardown_ev);
    for (p = bus->free_pubs; p != NULL; p = next) {
        next = p->next;
        free(p);
    }
    free(bus);
}

int pt_bus_start(struct pt_bus *bus)
{
    if (bus->state != PT_BUS_IDLE) return -1;
    bus->closing = false;
    bus->attempt = 0;
    if (bus->cl != NULL) {
        bus->state = PT_BUS_CONNECTING;
        pc_cluster_start(bus->cl);
        return 0;
    }
    bus_connect(bus);
    return 0;
}

void pt_bus_close(struct pt_bus *bus)
{
    bus->closing = true;
    if (bus->cl != NULL) {
        bool was_up = bus->state == PT_BUS_UP;
        pc_cluster_stop(bus->cl);
        bus->state = PT_BUS_IDLE;
        if (was_up) bus->ops->on_down(bus, bus->ud);
    }
    if (bus->sub != NULL || bus->cmd != NULL) bus_teardown(bus);
    evtimer_del(bus->timer_ev);
    bus->state = PT_BUS_IDLE;
}

bool pt_bus_is_up(const struct pt_bus *bus) { return bus != NULL && bus->state == PT_BUS_UP; }

int pt_bus_subscribe(struct pt_bus *bus, const char *const *channels, size_t n)
{
    const char *argv[16];
    size_t i, done = 0;

    if (bus->state != PT_BUS_UP) return -1;
    if (bus->cl != NULL) {
        for (i = 0; i < n; i++)
            if (pc_cluster_subscribe(bus->cl, channels[i]) != 0) return -1;
        return 0;
    }
    /* in batches: hiredis registers the callback for every channel */
    while (done < n) {
        size_t k = n - done > 15 ? 15 : n - done;
        argv[0] = "SUBSCRIBE";
        for (i = 0; i < k; i++) argv[i + 1] = channels[done + i];
        if (redisAsyncCommandArgv(bus->sub, on_sub_reply, bus, (int)k + 1, argv, NULL) != REDIS_OK)
            return -1;
        done += k;
    }
    return 0;
}

int pt_bus_unsubscribe(struct pt_bus *bus, const char *channel)
{
    if (bus->state != PT_BUS_UP) return -1;
    if (bus->cl != NULL) return pc_cluster_unsubscribe(bus->cl, channel);
    return redisAsyncCommand(bus->sub, on_sub_reply, bus, "UNSUBSCRIBE %s", channel) == REDIS_OK
               ? 0
               : -1;
}

/* ---- PUBLISH ---- */

/* Gives a token back: kept for the next PUBLISH, up to PUB_KEEP. */
static void pub_put(struct pt_bus *bus, struct pt_pub *p)
{
    if (bus->nfree_pubs >= PUB_KEEP) {
        free(p);
        return;
    }
    p->next = bus->free_pubs;
    bus->free_pubs = p;
    bus->nfree_pubs++;
}

/* The answer to a PUBLISH that has a callback: the token goes back to the
 * free list before the callback runs (it may publish again). */
static void on_published(redisAsyncContext *ac, void *r, void *privdata)
{
    struct pt_pub *p = privdata;
    struct pt_bus *bus = p->bus;
    redisReply *reply = r;
    pt_published_fn *fn = p->fn;
    void *ud = p->ud;
    long long n;

    (void)ac;
    if (reply == NULL)
        n = PT_PUB_LOST;
    else if (reply->type == REDIS_REPLY_INTEGER && reply->integer >= 0)
        n = reply->integer;
    else
        n = PT_PUB_ERROR;
    pub_put(bus, p);
    fn(ud, n);
}

static struct pt_pub *pub_get(struct pt_bus *bus, pt_published_fn *fn, void *ud);

static void cl_published(void *priv, redisReply *reply) { on_published(NULL, reply, priv); }

/* A PUBLISH on the cluster: cmd written in RESP (len > 0), or channel/msg. */
static int cl_publish(struct pt_bus *bus, const char *cmd, size_t len, const char *channel,
                      const void *msg, pt_published_fn *fn, void *ud)
{
    struct pt_pub *p = NULL;
    int rc;
    if (fn != NULL && (p = pub_get(bus, fn, ud)) == NULL) return -1;
    if (cmd != NULL)
        rc = pc_cluster_publish_resp(bus->cl, cmd, len, p ? cl_published : NULL, p);
    else
        rc = pc_cluster_publish(bus->cl, channel, strlen(channel), msg, len,
                                p ? cl_published : NULL, p);
    if (rc != 0 && p != NULL) pub_put(bus, p);
    return rc;
}

/* A token for fn, or NULL when out of memory. */
static struct pt_pub *pub_get(struct pt_bus *bus, pt_published_fn *fn, void *ud)
{
    struct pt_pub *p = bus->free_pubs;

    if (p != NULL) {
        bus->free_pubs = p->next;
        bus->nfree_pubs--;
    } else if ((p = malloc(sizeof *p)) == NULL) {
        return NULL;
    }
    p->fn = fn;
    p->ud = ud;
    p->bus = bus;
    return p;
}

/* CLIENT REPLY SKIP: Redis sends no answer to it, nor to the command after
 * it (errors included). */
static const char reply_skip_cmd[] = "*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n";

int pt_bus_publish_resp(struct pt_bus *bus, const char *cmd, size_t len, pt_published_fn *fn,
                        void *ud)
{
    struct pt_pub *p;

    if (bus->state != PT_BUS_UP) return -1;
    if (bus->cl != NULL) return cl_publish(bus, cmd, len, NULL, NULL, fn, ud);
    if (fn == NULL && bus->reply_skip) {
        /* Nothing will answer, so no callback is queued: both commands go
         * straight into the output buffer, adjacent, and hiredis' replies
         * queue stays in step with what Redis sends. */
        redisAsyncContext *ac = bus->cmd;
        if (ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING)) return -1;
        if (redisAppendFormattedCommand(&ac->c, reply_skip_cmd, sizeof reply_skip_cmd - 1) !=
            REDIS_OK)
            return -1; /* out of memory: nothing was added */
        if (redisAppendFormattedCommand(&ac->c, cmd, len) != REDIS_OK) {
            /* The SKIP is queued alone and would swallow the answer of the
             * next command: start again on new connections. */
            bus_fail(bus, "out of memory");
            return -1;
        }
        if (ac->ev.addWrite != NULL) ac->ev.addWrite(ac->ev.data);
        return 0;
    }
    if (fn == NULL)
        return redisAsyncFormattedCommand(bus->cmd, NULL, NULL, cmd, len) == REDIS_OK ? 0 : -1;
    if ((p = pub_get(bus, fn, ud)) == NULL) return -1;
    if (redisAsyncFormattedCommand(bus->cmd, on_published, p, cmd, len) != REDIS_OK) {
        pub_put(bus, p);
        return -1;
    }
    return 0;
}

int pt_bus_publish(struct pt_bus *bus, const char *channel, const void *msg, size_t len,
                   pt_published_fn *fn, void *ud)
{
    struct pt_pub *p = NULL;

    if (bus->state != PT_BUS_UP) return -1;
    if (bus->cl != NULL) return cl_publish(bus, NULL, len, channel, msg, fn, ud);
    /* argv form: no format string parsed per message */
    const char *argv[3] = {"PUBLISH", channel, msg};
    size_t lens[3] = {7, strlen(channel), len};

    if (fn != NULL && (p = pub_get(bus, fn, ud)) == NULL) return -1;
    if (redisAsyncCommandArgv(bus->cmd, p != NULL ? on_published : NULL, p, 3, argv, lens) !=
        REDIS_OK) {
        if (p != NULL) pub_put(bus, p);
        return -1;
    }
    return 0;
}

/* ---- commands with an answer (the claim check: SET, GETDEL, GET, DEL) ---- */

struct pt_cmd { /* privdata of a command */
    pt_command_fn *fn;
    void *ud;
};

static void on_command(redisAsyncContext *ac, void *r, void *privdata)
{
    struct pt_cmd *c = privdata;
    redisReply *reply = r;
    struct pt_bus_reply out = {PT_REPLY_OTHER, NULL, 0};

    (void)ac;
    if (reply != NULL) {
        if (reply->type == REDIS_REPLY_STRING)
            out.type = PT_REPLY_STRING;
        else if (reply->type == REDIS_REPLY_NIL)
            out.type = PT_REPLY_NIL;
        else if (reply->type == REDIS_REPLY_ERROR)
            out.type = PT_REPLY_ERROR;
        if (out.type == PT_REPLY_STRING || out.type == PT_REPLY_ERROR) {
            out.str = reply->str;
            out.len = reply->len;
        }
    }
    c->fn(c->ud, reply != NULL ? &out : NULL);
    free(c);
}

static void cl_command(void *priv, redisReply *reply) { on_command(NULL, reply, priv); }

int pt_bus_command(struct pt_bus *bus, int argc, const char *const *argv, const size_t *argvlen,
                   pt_command_fn *fn, void *ud)
{
    struct pt_cmd *c = NULL;

    if (bus->state != PT_BUS_UP) return -1;
    if (fn != NULL) {
        if ((c = malloc(sizeof *c)) == NULL) return -1;
        c->fn = fn;
        c->ud = ud;
    }
    if (bus->cl != NULL) {
        if (pc_cluster_command(bus->cl, argc, argv, argvlen, c ? cl_command : NULL, c) == 0)
            return 0;
        free(c);
        return -1;
    }
    if (redisAsyncCommandArgv(bus->cmd, c != NULL ? on_command : NULL, c, argc, (const char **)argv,
                              argvlen) != REDIS_OK) {
        free(c);
        return -1;
    }
    return 0;
}
