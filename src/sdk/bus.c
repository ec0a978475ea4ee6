/* bus.c -- the service's two Redis connections: connect, handshake,
 * reconnect, subscribe, and the dispatch by Redis mode. With bus_publish.c
 * (PUBLISH, commands with an answer) and bus_cluster.c (Redis Cluster) the
 * only SDK files that include hiredis; struct pt_bus is in bus_int.h.
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
 * connection carries AUTH/SELECT/PING, a CLIENT REPLY probe (may a PUBLISH
 * nobody waits for go after CLIENT REPLY SKIP: bus_publish.c) and PUBLISH.
 * Losing either tears down both, so "up" always means both work. Contexts
 * are never freed inside a hiredis callback: teardown runs from its own
 * libevent event.
 *
 * How Redis is reached (addr.mode) is decided once, in pt_bus_new. With
 * Sentinel (redis-sentinel://) the same two connections go to the primary
 * src/common/sentinel.h locates before each attempt (and again on
 * +switch-master). On a Redis Cluster (redis-cluster://) every call goes to
 * bus_cluster.c instead (bus->cl set). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "backoff.h"
#include "bus_int.h"
#include "redis_ev.h"
#include "sentinel.h"

static void bus_teardown(struct pt_bus *bus);

static bool bus_owns(const struct pt_bus *bus, const redisAsyncContext *ac)
{
    return ac != NULL && (ac == bus->sub || ac == bus->cmd);
}

/* See bus_int.h. */
void pt_bus_fail(struct pt_bus *bus, const char *why)
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
    pt_bus_fail(bus, ac->errstr[0] ? ac->errstr : "connect failed");
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
    pt_bus_fail(bus, ac->errstr[0] ? ac->errstr : "connection lost");
}

/* AUTH and SELECT: any error ends the attempt. */
static void on_handshake(redisAsyncContext *ac, void *r, void *privdata)
{
    struct pt_bus *bus = privdata;
    redisReply *reply = r;

    if (!bus_owns(bus, ac)) return;
    if (reply == NULL)
        pt_bus_fail(bus, "connection lost during handshake");
    else if (reply->type == REDIS_REPLY_ERROR) {
        /* A refused AUTH or SELECT is a configuration error: say so at once. */
        pt_log(bus->svc, PORTICO_LOG_WARN, "redis refused the handshake: %s", reply->str);
        pt_bus_fail(bus, reply->str);
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
        pt_bus_fail(bus, reply ? reply->str : "connection lost during handshake");
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
        pt_bus_fail(bus, why);
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
        pt_bus_fail(bus, "the primary moved (+switch-master)");
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
        bus->cl = pt_bus_cl_new(bus, addr);
        break;
    }
    return bus;
}

void pt_bus_free(struct pt_bus *bus)
{
    struct pt_pub *p, *next;

    if (bus == NULL) return;
    bus->closing = true;
    if (bus->cl != NULL) pt_bus_cl_free(bus); /* pending callbacks run */
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
        pt_bus_cl_start(bus);
        return 0;
    }
    bus_connect(bus);
    return 0;
}

void pt_bus_close(struct pt_bus *bus)
{
    bus->closing = true;
    if (bus->cl != NULL) pt_bus_cl_close(bus);
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
    if (bus->cl != NULL) return pt_bus_cl_subscribe(bus, channels, n);
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
    if (bus->cl != NULL) return pt_bus_cl_unsubscribe(bus, channel);
    return redisAsyncCommand(bus->sub, on_sub_reply, bus, "UNSUBSCRIBE %s", channel) == REDIS_OK
               ? 0
               : -1;
}
