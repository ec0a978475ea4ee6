/* cluster_client.c -- a Redis Cluster client on a libevent loop (cluster.h).
 *
 *   DOWN --retry--> MAPPING --CLUSTER SLOTS--> CONNECTING --every PING--> UP
 *     ^   (one seed per attempt, in turn)                                 |
 *     +------ teardown (deferred event): any connection lost, a map ------+
 *             with other primaries, 3 unanswered PINGs, connect timeout
 *
 * Command connections are hiredis async contexts (redis_ev.c). Subscriber
 * connections are plain redisContexts read and written here: hiredis 0.14's
 * async layer knows SUBSCRIBE only, and would abort on the first smessage
 * of an SSUBSCRIBE. A command is copied once (into a pooled buffer, no
 * allocation in the steady state) so that it can be sent again to the node
 * a MOVED or ASK names.
 *
 * SET before PUBLISH: on one server, a key SET and then a PUBLISH naming it
 * (the claim check, protocol.md 3.1/4.1) arrive in that order; on a cluster
 * they may go to two primaries and the PUBLISH could win. So a PUBLISH made
 * while a SET (or an APPEND: a body stored piece by piece) made before it is
 * unanswered is held until it is answered (only then; PUBLISHes keep their
 * order). */
#include <errno.h>
#include <hiredis/async.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "backoff.h"
#include "buf.h"
#include "cluster.h"
#include "redis_ev.h"
#include "redis_send.h"
#include "resp.h"
#include "uuid.h"
#include "xalloc.h"

#include "cluster_int.h"

void pc_cl_log(struct pc_cluster *c, enum pc_cluster_log lvl, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    if (c->ops.log == NULL) return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    c->ops.log(c->ud, lvl, line);
}

void pc_cl_fail(struct pc_cluster *c, const char *why)
{
    if (c->state != CL_UP && c->state != CL_MAPPING && c->state != CL_CONNECTING) return;
    pc_cl_log(c, c->state == CL_UP ? PC_CLUSTER_LOG_WARN : PC_CLUSTER_LOG_DEBUG,
              "redis cluster: %s", why);
    event_active(c->reset, 0, 0);
}

/* ---- command connections ---- */

static void on_ac_connect(const redisAsyncContext *ac, int status)
{
    struct cl_node *n = ac->data;
    if (status == REDIS_OK || n->cmd != ac) return;
    n->cmd = NULL; /* hiredis frees it after this */
    pc_cl_fail(n->c, ac->errstr[0] ? ac->errstr : "connect failed");
}

static void on_ac_disconnect(const redisAsyncContext *ac, int status)
{
    struct cl_node *n = ac->data;
    (void)status;
    if (n->cmd != ac) return; /* one we closed */
    n->cmd = NULL;
    pc_cl_fail(n->c, ac->errstr[0] ? ac->errstr : "connection lost");
}

static void on_setup(redisAsyncContext *ac, void *r, void *priv)
{
    struct cl_node *n = ac->data;
    redisReply *reply = r;
    (void)priv;
    if (reply == NULL || n->cmd != ac || reply->type != REDIS_REPLY_ERROR) return;
    pc_cl_log(n->c, PC_CLUSTER_LOG_WARN, "redis cluster: AUTH refused: %.200s", reply->str);
    pc_cl_fail(n->c, "setup command refused");
}

static redisAsyncContext *ac_open(struct cl_node *n, const char *host, int port)
{
    struct pc_cluster *c = n->c;
    redisAsyncContext *ac = redisAsyncConnect(host, port);
    if (ac == NULL) return NULL;
    if (ac->err) {
        pc_cl_log(c, PC_CLUSTER_LOG_DEBUG, "redis cluster: connect %s:%d: %s", host, port,
                  ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = n;
    pc_check(pc_redis_attach(ac, c->base) == REDIS_OK);
    redisAsyncSetConnectCallback(ac, on_ac_connect);
    redisAsyncSetDisconnectCallback(ac, on_ac_disconnect);
    if (c->addr.password[0]) {
        if (c->addr.user[0])
            redisAsyncCommand(ac, on_setup, NULL, "AUTH %s %s", c->addr.user, c->addr.password);
        else
            redisAsyncCommand(ac, on_setup, NULL, "AUTH %s", c->addr.password);
    }
    return ac;
}

static void go_up(struct pc_cluster *c)
{
    c->state = CL_UP;
    c->attempt = 0;
    c->ticks = 0;
    c->refresh_soon = false;
    pc_cl_log(c, PC_CLUSTER_LOG_INFO, "redis cluster up (%zu primaries)", c->map.nnodes);
    if (c->ops.on_up) c->ops.on_up(c->ud);
}

static void on_ping(redisAsyncContext *ac, void *r, void *priv)
{
    struct cl_node *n = ac->data;
    redisReply *reply = r;
    (void)priv;
    if (reply == NULL || n->cmd != ac) return;
    if (reply->type == REDIS_REPLY_ERROR) {
        pc_cl_fail(n->c, reply->str);
        return;
    }
    if (n->pings > 0) n->pings--;
    if (!n->ready) {
        n->ready = true;
        if (++n->c->ready == n->c->map.nnodes && n->c->state == CL_CONNECTING) go_up(n->c);
    }
}

/* A configuration problem that every attempt meets again (not a cluster,
 * refused): a warning on the first attempt and every 30th, else debug. */
static enum pc_cluster_log loud(const struct pc_cluster *c)
{
    return c->attempt % 30 == 0 ? PC_CLUSTER_LOG_WARN : PC_CLUSTER_LOG_DEBUG;
}

static void on_slots(redisAsyncContext *ac, void *r, void *priv)
{
    struct cl_node *sn = ac->data;
    struct pc_cluster *c = sn->c;
    redisReply *reply = r;
    char err[160];
    (void)priv;

    if (reply == NULL || sn->cmd != ac || c->state != CL_MAPPING) return;
    if (reply->type == REDIS_REPLY_ERROR) {
        pc_cl_log(c, loud(c), "redis cluster: CLUSTER SLOTS refused: %.200s", reply->str);
        pc_cl_fail(c, "no slot map");
        return;
    }
    if (pc_cluster_map_parse(reply, ac->c.tcp.host, &c->map, err, sizeof err) != 0) {
        pc_cl_log(c, loud(c), "redis cluster: %s", err);
        pc_cl_fail(c, "no slot map");
        return;
    }
    sn->cmd = NULL;
    redisAsyncDisconnect(ac); /* safe inside its callback */
    c->state = CL_CONNECTING;
    c->ready = 0;
    c->ticks = 0;
    for (size_t i = 0; i < c->map.nnodes; i++) {
        struct cl_node *n = &c->nodes[i];
        n->c = c;
        n->idx = (int)i;
        n->ready = false;
        n->pings = 0;
        n->cmd = ac_open(n, c->map.node[i].host, c->map.node[i].port);
        if (n->cmd == NULL) {
            pc_cl_fail(c, "cannot connect to a primary");
            return;
        }
        pc_cl_skip_probe(n);
        redisAsyncCommand(n->cmd, on_ping, NULL, "PING");
    }
}

static void start_mapping(struct pc_cluster *c)
{
    const struct pc_redis_node *s = &c->addr.nodes[c->seed++ % c->addr.nnodes];
    c->attempts++;
    c->state = CL_MAPPING;
    c->ticks = 0;
    c->seednode.c = c;
    c->seednode.idx = -1;
    c->seednode.cmd = ac_open(&c->seednode, s->host, s->port);
    if (c->seednode.cmd == NULL) {
        pc_cl_fail(c, "cannot connect to a seed node");
        return;
    }
    redisAsyncCommand(c->seednode.cmd, on_slots, NULL, "CLUSTER SLOTS");
}

/* ---- teardown, retry, tick ---- */

static void drop_ac(struct cl_node *n)
{
    redisAsyncContext *ac = n->cmd;
    n->cmd = NULL;
    if (ac) redisAsyncFree(ac); /* pending callbacks run with NULL */
}

static void held_release(struct pc_cluster *c);

static void teardown(struct pc_cluster *c, bool tell)
{
    bool was_up = c->state == CL_UP;
    c->state = CL_DOWN;
    c->refreshing = false;
    drop_ac(&c->seednode);
    for (size_t i = 0; i < PC_CLUSTER_MAX_NODES; i++) {
        drop_ac(&c->nodes[i]);
        pc_cl_sub_close(&c->nodes[i].sub);
        c->nodes[i].ready = false;
    }
    c->ready = 0;
    while (c->chans) {
        struct cl_chan *ch = c->chans;
        c->chans = ch->next;
        free(ch);
    }
    held_release(c); /* every held PUBLISH gets NULL */
    if (was_up && tell && c->ops.on_down) c->ops.on_down(c->ud);
}

static void on_reset(evutil_socket_t fd, short what, void *arg)
{
    struct pc_cluster *c = arg;
    unsigned delay_ms;
    struct timeval tv;
    (void)fd;
    (void)what;
    if (c->state == CL_IDLE || c->state == CL_DOWN) return;
    bool was_up = c->state == CL_UP;
    teardown(c, true);
    if (c->state != CL_DOWN) return; /* stopped or restarted from on_down */
    delay_ms = pc_backoff_next_ms(c->attempt);
    pc_cl_log(c, was_up ? PC_CLUSTER_LOG_WARN : PC_CLUSTER_LOG_DEBUG,
              "redis cluster %s; retry %u in %u ms", was_up ? "down" : "unreachable", c->attempt,
              delay_ms);
    tv.tv_sec = delay_ms / 1000;
    tv.tv_usec = (delay_ms % 1000) * 1000;
    evtimer_add(c->retry, &tv);
    if (c->attempt < UINT_MAX) c->attempt++;
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct pc_cluster *c = arg;
    (void)fd;
    (void)what;
    if (c->state == CL_DOWN) start_mapping(c);
}

/* A map read again while up: the same primaries take the new owners; any
 * other set of primaries starts the client again. */
static void on_refresh(redisAsyncContext *ac, void *r, void *priv)
{
    struct pc_cluster *c = ((struct cl_node *)ac->data)->c;
    redisReply *reply = r;
    char err[160];
    (void)priv;

    c->refreshing = false;
    if (reply == NULL || c->state != CL_UP) return;
    if (pc_cluster_map_parse(reply, ac->c.tcp.host, &c->fresh, err, sizeof err) != 0) {
        pc_cl_log(c, PC_CLUSTER_LOG_DEBUG, "redis cluster: refresh: %s",
                  reply->type == REDIS_REPLY_ERROR ? reply->str : err);
        return;
    }
    bool same = c->fresh.nnodes == c->map.nnodes;
    uint8_t idx[PC_CLUSTER_MAX_NODES];
    for (size_t i = 0; same && i < c->fresh.nnodes; i++) {
        int k = pc_cluster_map_find(&c->map, c->fresh.node[i].host, c->fresh.node[i].port);
        same = k >= 0;
        idx[i] = (uint8_t)k;
    }
    if (!same) {
        pc_cl_log(c, PC_CLUSTER_LOG_INFO, "redis cluster: the primaries changed; connecting again");
        pc_cl_fail(c, "primaries changed");
        return;
    }
    for (size_t s = 0; s < PC_CLUSTER_SLOTS; s++)
        c->map.owner[s] =
            c->fresh.owner[s] == PC_CLUSTER_NO_NODE ? PC_CLUSTER_NO_NODE : idx[c->fresh.owner[s]];
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct pc_cluster *c = arg;
    (void)fd;
    (void)what;
    if (c->state == CL_MAPPING || c->state == CL_CONNECTING) {
        if (++c->ticks >= CL_MISSES) pc_cl_fail(c, "connect timed out");
        return;
    }
    if (c->state != CL_UP) return;
    c->ticks++;
    for (size_t i = 0; i < c->map.nnodes; i++) {
        struct cl_node *n = &c->nodes[i];
        if (n->pings >= CL_MISSES) {
            pc_cl_fail(c, "PING unanswered");
            return;
        }
        n->pings++;
        redisAsyncCommand(n->cmd, on_ping, NULL, "PING");
    }
    if (!c->refreshing &&
        (c->refresh_soon || c->ticks % (PC_CLUSTER_REFRESH_MS / CL_TICK_MS) == 0)) {
        struct cl_node *n = &c->nodes[c->refresh_from++ % c->map.nnodes];
        c->refresh_soon = false;
        c->refreshing = true;
        redisAsyncCommand(n->cmd, on_refresh, NULL, "CLUSTER SLOTS");
    }
}

/* ---- commands ---- */

static struct cl_call *call_get(struct pc_cluster *c, pc_cluster_reply_fn *fn, void *priv)
{
    struct cl_call *k = c->free_calls;
    if (k != NULL) {
        c->free_calls = k->next;
        c->nfree--;
    } else {
        k = pc_xcalloc(1, sizeof *k);
        pc_buf_init(&k->cmd);
    }
    k->c = c;
    k->fn = fn;
    k->priv = priv;
    k->redirects = 0;
    k->is_set = false;
    pc_buf_reset(&k->cmd);
    return k;
}

static void call_put(struct cl_call *k)
{
    struct pc_cluster *c = k->c;
    if (k->is_set) { /* out of the pending SETs */
        if (k->sprev)
            k->sprev->snext = k->snext;
        else
            c->sets = k->snext;
        if (k->snext)
            k->snext->sprev = k->sprev;
        else
            c->sets_tail = k->sprev;
        k->is_set = false;
    }
    if (c->nfree >= CL_KEEP_CALLS) {
        pc_buf_deinit(&k->cmd);
        free(k);
        return;
    }
    pc_buf_trim(&k->cmd, CL_KEEP_BYTES);
    k->next = c->free_calls;
    c->free_calls = k;
    c->nfree++;
}

static void on_call_reply(redisAsyncContext *ac, void *r, void *priv);

static int call_send(struct cl_call *k, int node, bool asking)
{
    static const char asking_cmd[] = "*1\r\n$6\r\nASKING\r\n";
    redisAsyncContext *ac = k->c->nodes[node].cmd;
    if (ac == NULL) return -1;
    if (asking &&
        redisAsyncFormattedCommand(ac, NULL, NULL, asking_cmd, sizeof asking_cmd - 1) != REDIS_OK)
        return -1;
    int rc = pc_redis_send(ac, on_call_reply, k, k->cmd.data, k->cmd.len); /* large: no copy */
    if (rc == PC_REDIS_SEND_BROKEN) pc_panic("out of memory queueing a command");
    return rc == REDIS_OK ? 0 : -1;
}

static void on_call_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct cl_call *k = priv;
    struct pc_cluster *c = k->c;
    redisReply *reply = r;
    char host[256];
    bool ask;
    unsigned slot;
    int port, idx;
    (void)ac;

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR && c->state == CL_UP &&
        k->redirects < PC_CLUSTER_MAX_REDIRECTS &&
        pc_cluster_redirect_parse(reply->str, reply->len, &ask, &slot, host, sizeof host, &port) ==
            0) {
        c->refresh_soon = true;
        idx = pc_cluster_map_find(&c->map, host, port);
        if (idx < 0) {
            pc_cl_fail(c, "a slot moved to an unknown primary");
        } else {
            if (!ask) c->map.owner[slot] = (uint8_t)idx;
            k->redirects++;
            if (call_send(k, idx, ask) == 0) return;
        }
    }
    pc_cluster_reply_fn *fn = k->fn;
    void *p = k->priv;
    bool was_set = k->is_set;
    call_put(k);
    if (fn != NULL) fn(p, reply);
    if (was_set) held_release(c);
}

#define TO_ALL (-1)  /* call_route: every primary */
#define TO_HOME (-2) /* call_route: this client's home primary (pc_cl_home) */

/* Sends k (command written) to the owner of slot, or as above. */
static int call_route(struct pc_cluster *c, struct cl_call *k, long slot)
{
    if (k->cmd.oom) pc_panic("out of memory writing a command");
    if (slot == TO_HOME) {
        k->redirects = PC_CLUSTER_MAX_REDIRECTS; /* a PUBLISH: never redirected */
        if (call_send(k, pc_cl_home(c), false) == 0) return 0;
    } else if (slot == TO_ALL) {
        for (size_t i = 1; i < c->map.nnodes; i++)
            (void)redisAsyncFormattedCommand(c->nodes[i].cmd, NULL, NULL, k->cmd.data, k->cmd.len);
        slot = 0;
        k->redirects = PC_CLUSTER_MAX_REDIRECTS; /* node 0's answer, as it is */
        if (call_send(k, 0, false) == 0) return 0;
    } else {
        int node = c->map.owner[slot];
        k->slot = (unsigned)slot;
        if (node != PC_CLUSTER_NO_NODE && call_send(k, node, false) == 0) return 0;
    }
    k->fn = NULL;
    call_put(k);
    return -1;
}

/* Sends the held PUBLISHes whose SETs are all answered, in order; when the
 * client is down, each one's callback gets NULL. */
static void held_release(struct pc_cluster *c)
{
    while (c->held != NULL &&
           (c->state != CL_UP || c->sets == NULL || c->sets->seq > c->held->seq)) {
        struct cl_call *k = c->held;
        pc_cluster_reply_fn *fn = k->fn;
        void *p = k->priv;
        c->held = k->next;
        if (c->held == NULL) c->held_tail = NULL;
        if (c->state == CL_UP && call_route(c, k, k->route) == 0) continue;
        if (c->state != CL_UP) {
            k->fn = NULL;
            call_put(k);
        }
        if (fn != NULL) fn(p, NULL);
    }
}

/* The primary a PUBLISH routed to route goes to, or -1 (an unassigned
 * slot). */
static int route_node(const struct pc_cluster *c, long route)
{
    if (route == TO_HOME) return pc_cl_home(c);
    return c->map.owner[route] == PC_CLUSTER_NO_NODE ? -1 : c->map.owner[route];
}

/* A PUBLISH: sent now, or held behind the SETs made before it. */
static int publish_route(struct pc_cluster *c, struct cl_call *k, long route)
{
    if (c->sets == NULL && c->held == NULL) return call_route(c, k, route);
    k->route = route;
    k->seq = c->seq;
    k->next = NULL;
    if (c->held_tail != NULL)
        c->held_tail->next = k;
    else
        c->held = k;
    c->held_tail = k;
    return 0;
}

int pc_cluster_command(struct pc_cluster *c, int argc, const char *const *argv,
                       const size_t *argvlen, pc_cluster_reply_fn *fn, void *priv)
{
    int key = -1;
    if (c->state != CL_UP || argc < 1) return -1;
    if (strcasecmp(argv[0], "EVAL") == 0 || strcasecmp(argv[0], "EVALSHA") == 0) {
        if (argc >= 4 && !(argvlen[2] == 1 && argv[2][0] == '0')) key = 3;
    } else if (strcasecmp(argv[0], "SCRIPT") != 0 && argc >= 2) {
        key = 1;
    }
    struct cl_call *k = call_get(c, fn, priv);
    pc_resp_array(&k->cmd, (size_t)argc);
    for (int i = 0; i < argc; i++) pc_resp_bulk(&k->cmd, argv[i], argvlen[i]);
    if (strcasecmp(argv[0], "SET") == 0 ||
        strcasecmp(argv[0], "APPEND") == 0) { /* pending until answered: see held_release */
        k->is_set = true;
        k->seq = ++c->seq;
        k->snext = NULL;
        k->sprev = c->sets_tail;
        if (c->sets_tail != NULL)
            c->sets_tail->snext = k;
        else
            c->sets = k;
        c->sets_tail = k;
    }
    return call_route(c, k, key < 0 ? TO_ALL : (long)pc_cluster_slot(argv[key], argvlen[key]));
}

int pc_cluster_publish(struct pc_cluster *c, const char *ch, size_t chlen, const void *msg,
                       size_t len, pc_cluster_reply_fn *fn, void *priv)
{
    bool sharded = pc_cluster_channel_sharded(ch, chlen);
    if (c->state != CL_UP) return -1;
    struct cl_call *k = call_get(c, fn, priv);
    pc_resp_array(&k->cmd, 3);
    pc_resp_bulk(&k->cmd, sharded ? "SPUBLISH" : "PUBLISH", sharded ? 8 : 7);
    pc_resp_bulk(&k->cmd, ch, chlen);
    pc_resp_bulk(&k->cmd, msg, len);
    long route = sharded ? (long)pc_cluster_slot(ch, chlen) : TO_HOME;
    if (k->cmd.oom) pc_panic("out of memory writing a command");
    if (fn == NULL &&
        pc_cl_skip_send(c, route_node(c, route), k->cmd.data, k->cmd.len, NULL, 0) == 0) {
        call_put(k);
        return 0;
    }
    return publish_route(c, k, route);
}

int pc_cluster_publish_resp(struct pc_cluster *c, const char *cmd, size_t len,
                            pc_cluster_reply_fn *fn, void *priv)
{
    static const char head[] = "*3\r\n$7\r\nPUBLISH\r\n$";
    static const char spublish[] = "*3\r\n$8\r\nSPUBLISH\r\n";
    const size_t hl = sizeof head - 1;
    size_t chlen = 0, i = hl;

    if (c->state != CL_UP) return -1;
    if (len < hl || memcmp(cmd, head, hl) != 0) return -1;
    while (i < len && cmd[i] >= '0' && cmd[i] <= '9' && chlen < 100000)
        chlen = chlen * 10 + (size_t)(cmd[i++] - '0');
    if (i + 2 + chlen > len || cmd[i] != '\r') return -1;
    const char *ch = cmd + i + 2;
    bool sharded = pc_cluster_channel_sharded(ch, chlen);
    long route = sharded ? (long)pc_cluster_slot(ch, chlen) : TO_HOME;
    if (fn == NULL &&
        (sharded ? pc_cl_skip_send(c, route_node(c, route), spublish, 18, cmd + 17, len - 17)
                 : pc_cl_skip_send(c, route_node(c, route), cmd, len, NULL, 0)) == 0)
        return 0; /* no copy kept: nothing will answer */
    struct cl_call *k = call_get(c, fn, priv);
    if (sharded) {
        pc_buf_append(&k->cmd, spublish, 18);
        pc_buf_append(&k->cmd, cmd + 17, len - 17);
    } else {
        pc_buf_append(&k->cmd, cmd, len);
    }
    return publish_route(c, k, route);
}

/* ---- life cycle ---- */

struct pc_cluster *pc_cluster_new(struct event_base *base, const struct pc_redis_addr *addr,
                                  const struct pc_cluster_ops *ops, void *ud)
{
    struct pc_cluster *c = pc_xcalloc(1, sizeof *c);
    pc_check(addr->mode == PC_REDIS_CLUSTER && addr->nnodes > 0);
    c->base = base;
    c->addr = *addr;
    c->ops = *ops;
    c->ud = ud;
    c->state = CL_IDLE;
    if (pc_random_bytes(&c->home, sizeof c->home) != 0) c->home = (unsigned)getpid();
    c->tick = event_new(base, -1, EV_PERSIST, on_tick, c);
    c->retry = evtimer_new(base, on_retry, c);
    c->reset = event_new(base, -1, 0, on_reset, c);
    pc_check(c->tick && c->retry && c->reset);
    return c;
}

void pc_cluster_start(struct pc_cluster *c)
{
    struct timeval tv = {CL_TICK_MS / 1000, (CL_TICK_MS % 1000) * 1000};
    if (c->state != CL_IDLE) return;
    c->attempt = 0;
    event_add(c->tick, &tv);
    start_mapping(c);
}

void pc_cluster_stop(struct pc_cluster *c)
{
    teardown(c, false);
    c->state = CL_IDLE;
    event_del(c->tick);
    event_del(c->retry);
    event_del(c->reset);
}

void pc_cluster_free(struct pc_cluster *c)
{
    if (c == NULL) return;
    pc_cluster_stop(c);
    event_free(c->tick);
    event_free(c->retry);
    event_free(c->reset);
    while (c->free_calls) {
        struct cl_call *k = c->free_calls;
        c->free_calls = k->next;
        pc_buf_deinit(&k->cmd);
        free(k);
    }
    free(c);
}

bool pc_cluster_is_up(const struct pc_cluster *c) { return c->state == CL_UP; }

unsigned long pc_cluster_attempts(const struct pc_cluster *c) { return c->attempts; }
