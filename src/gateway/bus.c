/* bus.c -- Redis connections, subscription, reconnect (see bus.h).
 *
 * How Redis is reached (addr.mode) is decided once, in gw_bus_new:
 * - one server (redis://, unix://): the two hiredis connections below;
 * - Sentinel (redis-sentinel://): the same two connections, to the primary
 *   that src/common/sentinel.h locates before each attempt (and again on
 *   +switch-master);
 * - a Redis Cluster (redis-cluster://): src/common/cluster.h does the
 *   connecting and routing; this file subscribes on it.
 * All three keep the same up/down and callback contract, so nothing above
 * the bus knows which. */
#include "bus.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "cluster.h"
#include "gw.h"
#include "log.h"
#include "redis_ev.h"
#include "redis_send.h"
#include "resp.h"
#include "sentinel.h"
#include "stats.h"
#include "xalloc.h"

enum bus_state {
    BUS_DOWN,       /* no connection; a retry is scheduled */
    BUS_CONNECTING, /* connections opened, not all confirmed yet */
    BUS_UP,         /* both connections usable, all channels subscribed */
    BUS_STOPPED,    /* being freed */
};

struct gw_bus {
    struct pc_redis_addr addr;
    char **channels;
    size_t nchannels;
    struct gw_bus_handlers h;
    enum bus_state state;
    redisAsyncContext *cmd;
    redisAsyncContext *sub;
    bool cmd_ready;    /* AUTH/SELECT done, first PING answered */
    size_t subscribed; /* subscribe confirmations on this subscriber */
    bool ever_up;
    unsigned attempt; /* retries since the bus was last up (backoff.h) */
    int pings_outstanding;
    struct event *retry_timer;
    struct event *ping_timer;
    struct event *reset_ev; /* tears down at a safe point, outside hiredis callbacks */
    pc_buf cmd_buf;         /* a PUBLISH being written (reused) */
    /* redis-sentinel://: addr.host/port is the primary last located */
    struct pc_sentinel *sentinel;
    bool moved;            /* +switch-master: reconnect without waiting */
    struct pc_cluster *cl; /* redis-cluster://: everything goes through it */
};

#define GW_BUS_KEEP_CMD 4096 /* bytes of command buffer kept for reuse */

static void bus_connect(struct gw_bus *b);

/* ------------------------------------------------------------------------ */
/* State changes                                                             */
/* ------------------------------------------------------------------------ */

/* Something failed: tear both connections down from the loop, not from here. */
static void bus_fail(struct gw_bus *b, const char *why)
{
    if (b->state == BUS_STOPPED || b->state == BUS_DOWN) return;
    pc_log(b->state == BUS_UP ? PC_LOG_WARN : PC_LOG_DEBUG, "bus", "redis: %s", why);
    event_active(b->reset_ev, 0, 0);
}

static void check_up(struct gw_bus *b)
{
    if (b->state != BUS_CONNECTING || !b->cmd_ready || b->subscribed < b->nchannels) return;
    b->state = BUS_UP;
    b->attempt = 0;
    b->pings_outstanding = 0;
    if (b->ever_up) gw_stats->redis_reconnects++;
    b->ever_up = true;
    pc_log(PC_LOG_INFO, "bus", "redis up (%s)", b->addr.is_unix ? b->addr.path : b->addr.host);
    if (b->h.on_up) b->h.on_up();
}

/* Frees a context we still hold; its pending callbacks run with NULL now. */
static void drop_context(redisAsyncContext **slot)
{
    redisAsyncContext *ac = *slot;
    if (ac == NULL) return;
    *slot = NULL;
    redisAsyncFree(ac);
}

static void on_reset(evutil_socket_t fd, short what, void *arg)
{
    struct gw_bus *b = arg;
    bool was_up = (b->state == BUS_UP);
    unsigned delay_ms;
    struct timeval tv;

    if (b->state == BUS_STOPPED) return;
    b->state = BUS_DOWN;
    evtimer_del(b->ping_timer);
    if (b->sentinel) pc_sentinel_cancel(b->sentinel);
    drop_context(&b->cmd);
    drop_context(&b->sub);
    b->cmd_ready = false;
    b->subscribed = 0;
    /* One line per scheduled attempt, with its number and delay: the
     * schedule can be read back from the log (tests do). */
    delay_ms = b->moved ? 0 : pc_backoff_next_ms(b->attempt);
    b->moved = false;
    if (was_up) {
        pc_log(PC_LOG_WARN, "bus", "redis down; retry %u in %u ms", b->attempt, delay_ms);
        if (b->h.on_down) b->h.on_down();
    } else {
        pc_log(PC_LOG_DEBUG, "bus", "redis: retry %u in %u ms", b->attempt, delay_ms);
        if (!b->ever_up && b->h.on_unreachable) b->h.on_unreachable();
    }
    tv.tv_sec = delay_ms / 1000;
    tv.tv_usec = (delay_ms % 1000) * 1000;
    evtimer_add(b->retry_timer, &tv);
    if (b->attempt < UINT_MAX) b->attempt++;
}

static void on_retry(evutil_socket_t fd, short what, void *arg) { bus_connect(arg); }

/* ------------------------------------------------------------------------ */
/* hiredis callbacks (every one handles reply == NULL)                        */
/* ------------------------------------------------------------------------ */

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct gw_bus *b = ac->data;
    if (status == REDIS_OK) return;
    /* hiredis frees ac after this callback. */
    if (b->cmd == ac) b->cmd = NULL;
    if (b->sub == ac) b->sub = NULL;
    bus_fail(b, ac->errstr[0] ? ac->errstr : "connect failed");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct gw_bus *b = ac->data;
    if (b->cmd != ac && b->sub != ac) return; /* one we are freeing ourselves */
    if (b->cmd == ac) b->cmd = NULL;
    if (b->sub == ac) b->sub = NULL;
    bus_fail(b, status == REDIS_OK ? "connection closed"
                                   : (ac->errstr[0] ? ac->errstr : "connection lost"));
}

/* AUTH / SELECT answers: an error reply means this configuration cannot work. */
static void on_setup_reply(redisAsyncContext *ac, void *r, void *priv)
{
    redisReply *reply = r;
    struct gw_bus *b = ac->data;
    if (reply == NULL) return;
    if (reply->type == REDIS_REPLY_ERROR) {
        pc_log(PC_LOG_ERROR, "bus", "redis %s: %s", (const char *)priv, reply->str);
        bus_fail(b, "setup command refused");
    }
}

static void on_ping(redisAsyncContext *ac, void *r, void *priv)
{
    struct gw_bus *b = ac->data;
    redisReply *reply = r;
    if (reply == NULL || b->cmd != ac) return;
    if (reply->type == REDIS_REPLY_ERROR) {
        bus_fail(b, reply->str);
        return;
    }
    if (b->pings_outstanding > 0) b->pings_outstanding--;
    if (!b->cmd_ready) {
        b->cmd_ready = true;
        check_up(b);
    }
}

static void on_ping_timer(evutil_socket_t fd, short what, void *arg)
{
    struct gw_bus *b = arg;
    if (b->state == BUS_CONNECTING) {
        /* hiredis 0.14 has no connect timeout: a host that never answers
         * would hold us here for minutes. */
        if (++b->pings_outstanding >= GW_BUS_PING_MISSES) {
            pc_log(PC_LOG_WARN, "bus", "redis: connect timed out");
            bus_fail(b, "connect timed out");
        }
        return;
    }
    if (b->state != BUS_UP || b->cmd == NULL) return;
    if (b->pings_outstanding >= GW_BUS_PING_MISSES) {
        bus_fail(b, "PING unanswered");
        return;
    }
    b->pings_outstanding++;
    redisAsyncCommand(b->cmd, on_ping, NULL, "PING");
}

static void on_sub_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct gw_bus *b = ac->data;
    redisReply *reply = r;

    if (reply == NULL || b->sub != ac) return;
    if (reply->type == REDIS_REPLY_ERROR) {
        pc_log(PC_LOG_ERROR, "bus", "redis SUBSCRIBE: %s", reply->str);
        bus_fail(b, "subscribe refused");
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(reply->element[0]->str, "message") == 0) {
        redisReply *ch = reply->element[1], *msg = reply->element[2];
        if (ch->type == REDIS_REPLY_STRING && msg->type == REDIS_REPLY_STRING && b->h.on_message)
            b->h.on_message(ch->str, ch->len, msg->str, msg->len);
    } else if (strcmp(reply->element[0]->str, "subscribe") == 0) {
        b->subscribed++;
        check_up(b);
    }
}

static void on_publish_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct gw_bus *b = ac->data;
    redisReply *reply = r;
    if (priv == NULL) return;
    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER)
        b->h.on_published(priv, -1);
    else
        b->h.on_published(priv, reply->integer);
}

/* A gw_bus_command in flight: the caller's callback. */
struct bus_call {
    gw_bus_reply_fn *fn;
    void *priv;
};

/* Copies the fields of a hiredis reply that gw_bus_reply exposes (no nesting). */
static void reply_flat(const redisReply *in, struct gw_bus_reply *out)
{
    memset(out, 0, sizeof *out);
    switch (in->type) {
    case REDIS_REPLY_STRING:
        out->type = GW_BUS_REPLY_STRING;
        break;
    case REDIS_REPLY_STATUS:
        out->type = GW_BUS_REPLY_STATUS;
        break;
    case REDIS_REPLY_ERROR:
        out->type = GW_BUS_REPLY_ERROR;
        break;
    case REDIS_REPLY_INTEGER:
        out->type = GW_BUS_REPLY_INTEGER;
        break;
    case REDIS_REPLY_NIL:
        out->type = GW_BUS_REPLY_NIL;
        break;
    default:
        out->type = GW_BUS_REPLY_OTHER;
        return;
    }
    out->integer = in->integer;
    if (out->type != GW_BUS_REPLY_INTEGER && out->type != GW_BUS_REPLY_NIL) {
        out->str = in->str;
        out->len = in->len;
    }
}

static void on_command_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct bus_call *call = priv;
    redisReply *reply = r;
    struct gw_bus_reply top, elems[GW_BUS_REPLY_MAX_ELEMENTS];

    (void)ac;
    if (reply == NULL) {
        call->fn(call->priv, NULL);
    } else if (reply->type == REDIS_REPLY_ARRAY) {
        memset(&top, 0, sizeof top);
        top.type = GW_BUS_REPLY_OTHER;
        if (reply->elements <= GW_BUS_REPLY_MAX_ELEMENTS) {
            top.type = GW_BUS_REPLY_ARRAY;
            top.elements = reply->elements;
            top.element = elems;
            for (size_t i = 0; i < reply->elements; i++) reply_flat(reply->element[i], &elems[i]);
        }
        call->fn(call->priv, &top);
    } else {
        reply_flat(reply, &top);
        if (reply->type == REDIS_REPLY_STRING) top.own = reply;
        call->fn(call->priv, &top);
    }
    free(call);
}

void gw_bus_send_now(struct gw_bus *b)
{
    if (b->state == BUS_UP && b->cmd != NULL) pc_redis_write_early(b->cmd, 1);
}

char *gw_bus_reply_take(const struct gw_bus_reply *rep) { return pc_redis_reply_take(rep->own); }

/* ------------------------------------------------------------------------ */
/* Connecting                                                                */
/* ------------------------------------------------------------------------ */

static redisAsyncContext *open_context(struct gw_bus *b)
{
    redisAsyncContext *ac = b->addr.is_unix ? redisAsyncConnectUnix(b->addr.path)
                                            : redisAsyncConnect(b->addr.host, b->addr.port);
    if (ac == NULL) return NULL;
    if (ac->err) {
        pc_log(PC_LOG_DEBUG, "bus", "redis connect: %s", ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = b;
    pc_check(pc_redis_attach(ac, gw.base) == REDIS_OK);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    if (b->addr.password[0]) {
        if (b->addr.user[0])
            redisAsyncCommand(ac, on_setup_reply, "AUTH", "AUTH %s %s", b->addr.user,
                              b->addr.password);
        else
            redisAsyncCommand(ac, on_setup_reply, "AUTH", "AUTH %s", b->addr.password);
    }
    if (b->addr.db) redisAsyncCommand(ac, on_setup_reply, "SELECT", "SELECT %d", b->addr.db);
    return ac;
}

/* Opens both connections to addr (the primary, with Sentinel). */
static void bus_open(struct gw_bus *b)
{
    const char **argv;
    size_t *lens;

    b->cmd = open_context(b);
    b->sub = b->cmd ? open_context(b) : NULL;
    if (b->cmd == NULL || b->sub == NULL) {
        bus_fail(b, "cannot connect");
        return;
    }
    redisAsyncCommand(b->cmd, on_ping, NULL, "PING");

    argv = pc_xcalloc(b->nchannels + 1, sizeof *argv);
    lens = pc_xcalloc(b->nchannels + 1, sizeof *lens);
    argv[0] = "SUBSCRIBE";
    lens[0] = 9;
    for (size_t i = 0; i < b->nchannels; i++) {
        argv[i + 1] = b->channels[i];
        lens[i + 1] = strlen(b->channels[i]);
    }
    redisAsyncCommandArgv(b->sub, on_sub_reply, NULL, (int)b->nchannels + 1, argv, lens);
    free(argv);
    free(lens);
    {
        struct timeval tv = {GW_BUS_PING_MS / 1000, (GW_BUS_PING_MS % 1000) * 1000};
        event_add(b->ping_timer, &tv);
    }
}

static void bus_connect(struct gw_bus *b)
{
    if (b->state == BUS_STOPPED) return;
    gw_stats->redis_connect_attempts++;
    b->state = BUS_CONNECTING;
    b->cmd_ready = false;
    b->subscribed = 0;
    b->pings_outstanding = 0;
    if (b->sentinel)
        pc_sentinel_locate(b->sentinel); /* bus_open once located */
    else
        bus_open(b);
}

/* ---- Sentinel (sentinel.h): where the primary is ---- */

static void on_located(void *ud, const char *host, int port, const char *why)
{
    struct gw_bus *b = ud;

    if (b->state != BUS_CONNECTING) return;
    if (host == NULL) {
        bus_fail(b, why);
        return;
    }
    snprintf(b->addr.host, sizeof b->addr.host, "%s", host);
    b->addr.port = port;
    bus_open(b);
}

static void on_switched(void *ud, const char *host, int port)
{
    struct gw_bus *b = ud;

    if (b->state == BUS_STOPPED) return;
    if (b->state == BUS_DOWN) { /* waiting to retry: now */
        struct timeval now = {0, 0};
        evtimer_del(b->retry_timer);
        evtimer_add(b->retry_timer, &now);
    } else if (strcmp(b->addr.host, host) != 0 || b->addr.port != port) {
        b->moved = true;
        bus_fail(b, "the primary moved (+switch-master)");
    }
}

static void on_sentinel_log(void *ud, bool warn, const char *msg)
{
    (void)ud;
    pc_log(warn ? PC_LOG_WARN : PC_LOG_DEBUG, "bus", "%s", msg);
}

static const struct pc_sentinel_ops sentinel_ops = {on_located, on_switched, on_sentinel_log};

/* ------------------------------------------------------------------------ */
/* Redis Cluster (cluster.h)                                                  */
/* ------------------------------------------------------------------------ */

static struct gw_bus *cluster_bus; /* the process's one bus, for the callbacks */

static void cl_log(void *ud, enum pc_cluster_log lvl, const char *line)
{
    (void)ud;
    pc_log(lvl == PC_CLUSTER_LOG_WARN   ? PC_LOG_WARN
           : lvl == PC_CLUSTER_LOG_INFO ? PC_LOG_INFO
                                        : PC_LOG_DEBUG,
           "bus", "%s", line);
}

static void cl_on_up(void *ud)
{
    static unsigned long attempts_seen;
    struct gw_bus *b = ud;
    unsigned long attempts = pc_cluster_attempts(b->cl);
    gw_stats->redis_connect_attempts += attempts - attempts_seen;
    attempts_seen = attempts;
    b->state = BUS_CONNECTING;
    b->subscribed = 0;
    b->cmd_ready = true;
    for (size_t i = 0; i < b->nchannels; i++)
        if (pc_cluster_subscribe(b->cl, b->channels[i]) != 0) return; /* down again */
}

static void cl_on_subscribed(void *ud, const char *ch, size_t chlen)
{
    struct gw_bus *b = ud;
    (void)ch;
    (void)chlen;
    b->subscribed++;
    check_up(b);
}

static void cl_on_down(void *ud)
{
    struct gw_bus *b = ud;
    bool was_up = b->state == BUS_UP;
    b->state = BUS_DOWN;
    if (was_up && b->h.on_down) b->h.on_down();
}

static void cl_on_message(void *ud, const char *ch, size_t chlen, const char *msg, size_t len)
{
    struct gw_bus *b = ud;
    if (b->h.on_message) b->h.on_message(ch, chlen, msg, len);
}

static void cl_on_published(void *priv, redisReply *reply)
{
    cluster_bus->h.on_published(
        priv, reply == NULL || reply->type != REDIS_REPLY_INTEGER ? -1 : reply->integer);
}

static void on_command_reply(redisAsyncContext *ac, void *r, void *priv);

static void cl_on_command(void *priv, redisReply *reply) { on_command_reply(NULL, reply, priv); }

static const struct pc_cluster_ops cluster_ops = {cl_on_up, cl_on_down, cl_on_message,
                                                  cl_on_subscribed, cl_log};

/* ------------------------------------------------------------------------ */
/* API                                                                       */
/* ------------------------------------------------------------------------ */

struct gw_bus *gw_bus_new(const struct pc_redis_addr *addr, const char *const *channels,
                          size_t nchannels, const struct gw_bus_handlers *h)
{
    struct gw_bus *b = pc_xcalloc(1, sizeof *b);
    b->addr = *addr;
    b->h = *h;
    b->nchannels = nchannels;
    b->channels = pc_xcalloc(nchannels, sizeof *b->channels);
    for (size_t i = 0; i < nchannels; i++) b->channels[i] = pc_xstrdup(channels[i]);
    b->state = BUS_DOWN;
    pc_buf_init(&b->cmd_buf);
    b->retry_timer = evtimer_new(gw.base, on_retry, b);
    b->ping_timer = event_new(gw.base, -1, EV_PERSIST, on_ping_timer, b);
    b->reset_ev = event_new(gw.base, -1, 0, on_reset, b);
    pc_check(b->retry_timer && b->ping_timer && b->reset_ev);
    switch (addr->mode) {
    case PC_REDIS_SINGLE:
        break;
    case PC_REDIS_SENTINEL: /* bus_connect asks it where the primary is */
        b->sentinel = pc_sentinel_new(gw.base, addr, &sentinel_ops, b);
        break;
    case PC_REDIS_CLUSTER: /* it replaces both connections */
        b->cl = pc_cluster_new(gw.base, addr, &cluster_ops, b);
        cluster_bus = b;
        break;
    }
    return b;
}

void gw_bus_start(struct gw_bus *b)
{
    if (b->cl) {
        pc_cluster_start(b->cl);
        return;
    }
    bus_connect(b);
}

void gw_bus_free(struct gw_bus *b)
{
    if (b == NULL) return;
    b->state = BUS_STOPPED;
    pc_cluster_free(b->cl); /* pending callbacks get NULL */
    drop_context(&b->cmd);
    drop_context(&b->sub);
    pc_sentinel_free(b->sentinel);
    event_free(b->retry_timer);
    event_free(b->ping_timer);
    event_free(b->reset_ev);
    for (size_t i = 0; i < b->nchannels; i++) free(b->channels[i]);
    free(b->channels);
    pc_buf_deinit(&b->cmd_buf);
    free(b);
}

bool gw_bus_is_up(const struct gw_bus *b) { return b->state == BUS_UP; }

int gw_bus_publish(struct gw_bus *b, const char *channel, const char *msg, size_t len, void *priv)
{
    int rc;

    if (b->cl)
        return b->state != BUS_UP ? -1
                                  : pc_cluster_publish(b->cl, channel, strlen(channel), msg, len,
                                                       priv ? cl_on_published : NULL, priv);
    if (b->state != BUS_UP || b->cmd == NULL) return -1;
    pc_resp_publish(&b->cmd_buf, channel, strlen(channel), msg, len);
    if (b->cmd_buf.oom) pc_panic("out of memory framing a PUBLISH");
    rc = gw_bus_publish_resp(b, b->cmd_buf.data, b->cmd_buf.len, priv);
    pc_buf_trim(&b->cmd_buf, GW_BUS_KEEP_CMD);
    return rc;
}

int gw_bus_publish_resp(struct gw_bus *b, const char *cmd, size_t len, void *priv)
{
    int rc;

    /* Written in RESP by the caller: hiredis' argv form would format a
     * fresh sds first. hiredis appends to its output buffer and writes once
     * per loop turn, so PUBLISHes made in one turn go out as one pipelined
     * write; nothing waits per request. A large one goes out from where it
     * lies when nothing is queued before it (redis_send.h). */
    if (b->cl)
        return b->state != BUS_UP
                   ? -1
                   : pc_cluster_publish_resp(b->cl, cmd, len, priv ? cl_on_published : NULL, priv);
    if (b->state != BUS_UP || b->cmd == NULL) return -1;
    rc = pc_redis_send(b->cmd, on_publish_reply, priv, cmd, len); /* a large one: no copy */
    if (rc == PC_REDIS_SEND_BROKEN) pc_panic("out of memory queueing a PUBLISH");
    return rc == REDIS_OK ? 0 : -1;
}

int gw_bus_command(struct gw_bus *b, gw_bus_reply_fn *fn, void *priv, int argc,
                   const char *const *argv, const size_t *argvlen)
{
    struct bus_call *call;

    if (b->state != BUS_UP || (b->cmd == NULL && b->cl == NULL)) return -1;
    call = pc_xmalloc(sizeof *call);
    call->fn = fn;
    call->priv = priv;
    if (b->cl) {
        if (pc_cluster_command(b->cl, argc, argv, argvlen, cl_on_command, call) == 0) return 0;
        free(call);
        return -1;
    }
    /* a large argument (a body's SET or APPEND) from where it lies */
    switch (pc_redis_send_argv(b->cmd, on_command_reply, call, argc, argv, argvlen)) {
    case REDIS_OK:
        return 0;
    case PC_REDIS_SEND_BROKEN:
        pc_panic("out of memory queueing a command");
    default:
        free(call);
        return -1;
    }
}
