/* sentinel.c -- locate the primary through Redis Sentinel and watch for
 * +switch-master (see sentinel.h).
 *
 * Every hiredis callback here only records what happened and, where a
 * context must go, activates an event: contexts are freed and the caller's
 * callbacks run from those events, outside hiredis (but for `switched`,
 * which is called as the message is read). */
#include "sentinel.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_ev.h"
#include "xalloc.h"

enum q_phase {
    Q_IDLE,   /* nothing asked */
    Q_ASK,    /* SENTINEL get-master-addr-by-name on nodes[qi] */
    Q_VERIFY, /* ROLE on the address it gave */
};

struct pc_sentinel {
    struct event_base *base;
    struct pc_redis_addr addr;
    struct pc_sentinel_ops ops;
    void *ud;
    /* locating */
    enum q_phase phase;
    size_t qi;
    redisAsyncContext *q;
    int q_outcome; /* 0: none yet; 1: answered; -1: failed (q_why) */
    char q_why[320];
    char cand_host[256];
    int cand_port;
    struct event *q_timer;
    struct event *q_step;
    /* watching */
    size_t wi;
    redisAsyncContext *w;
    bool w_subscribed;
    bool w_failing;
    struct event *w_timer;
    struct event *w_fail;
};

static void slog(struct pc_sentinel *s, bool warn, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void slog(struct pc_sentinel *s, bool warn, const char *fmt, ...)
{
    char line[400];
    va_list ap;

    if (s->ops.log == NULL) return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->ops.log(s->ud, warn, line);
}

static void arm(struct event *ev, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(ev, &tv);
}

static void drop(redisAsyncContext **slot)
{
    redisAsyncContext *ac = *slot;
    if (ac == NULL) return;
    *slot = NULL;
    redisAsyncFree(ac); /* its callbacks see a slot that is no longer theirs */
}

/* ---- outcomes (recorded in hiredis callbacks, acted on from events) ---- */

static void q_done(struct pc_sentinel *s, int outcome, const char *why)
{
    if (s->q_outcome != 0) return; /* the first outcome of a step counts */
    s->q_outcome = outcome;
    snprintf(s->q_why, sizeof s->q_why, "%s", why ? why : "");
    event_active(s->q_step, 0, 0);
}

static void w_failed(struct pc_sentinel *s, const char *why)
{
    if (s->w_failing) return;
    s->w_failing = true;
    slog(s, false, "sentinel %s:%d: watch: %s", s->addr.nodes[s->wi].host,
         s->addr.nodes[s->wi].port, why);
    event_active(s->w_fail, 0, 0);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct pc_sentinel *s = ac->data;
    const char *why = ac->errstr[0] ? ac->errstr : "connect failed";

    if (status == REDIS_OK) return;
    /* hiredis frees ac after this callback */
    if (ac == s->q) {
        s->q = NULL;
        q_done(s, -1, why);
    } else if (ac == s->w) {
        s->w = NULL;
        w_failed(s, why);
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct pc_sentinel *s = ac->data;
    const char *why =
        status == REDIS_OK ? "connection closed" : (ac->errstr[0] ? ac->errstr : "connection lost");

    if (ac == s->q) {
        s->q = NULL;
        q_done(s, -1, why);
    } else if (ac == s->w) {
        s->w = NULL;
        w_failed(s, why);
    }
}

static redisAsyncContext *open_ctx(struct pc_sentinel *s, const char *host, int port, char *why,
                                   size_t whylen)
{
    redisAsyncContext *ac = redisAsyncConnect(host, port);

    if (ac == NULL) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    if (ac->err) {
        snprintf(why, whylen, "%s", ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = s;
    if (pc_redis_attach(ac, s->base) != REDIS_OK) {
        snprintf(why, whylen, "out of memory");
        redisAsyncFree(ac);
        return NULL;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    return ac;
}

/* ---- locating ---- */

static void on_ask_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct pc_sentinel *s = ac->data;
    redisReply *reply = r;
    char why[200];
    long port;
    char *end;

    (void)priv;
    if (ac != s->q || reply == NULL) return; /* a loss is reported by on_disconnect */
    if (reply->type == REDIS_REPLY_NIL) {
        snprintf(why, sizeof why, "knows no master named \"%s\"", s->addr.master);
        q_done(s, -1, why);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        q_done(s, -1, reply->str);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_STRING || reply->element[0]->len == 0 ||
        reply->element[0]->len >= sizeof s->cand_host) {
        q_done(s, -1, "unexpected answer to SENTINEL get-master-addr-by-name");
        return;
    }
    port = strtol(reply->element[1]->str, &end, 10);
    if (*end != '\0' || end == reply->element[1]->str || port < 1 || port > 65535) {
        q_done(s, -1, "bad port in the sentinel's answer");
        return;
    }
    memcpy(s->cand_host, reply->element[0]->str, reply->element[0]->len + 1);
    s->cand_port = (int)port;
    q_done(s, 1, NULL);
}

static void on_auth_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct pc_sentinel *s = ac->data;
    redisReply *reply = r;
    char why[300];

    (void)priv;
    if (ac != s->q || reply == NULL || reply->type != REDIS_REPLY_ERROR) return;
    snprintf(why, sizeof why, "AUTH refused: %s", reply->str);
    q_done(s, -1, why);
}

static void on_role_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct pc_sentinel *s = ac->data;
    redisReply *reply = r;
    char why[300];

    (void)priv;
    if (ac != s->q || reply == NULL) return;
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(why, sizeof why, "ROLE: %s", reply->str);
        q_done(s, -1, why);
        return;
    }
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1 &&
        reply->element[0]->type == REDIS_REPLY_STRING &&
        strcmp(reply->element[0]->str, "master") == 0) {
        q_done(s, 1, NULL);
        return;
    }
    snprintf(why, sizeof why, "%s:%d is not a primary (ROLE %s)", s->cand_host, s->cand_port,
             reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1 &&
                     reply->element[0]->type == REDIS_REPLY_STRING
                 ? reply->element[0]->str
                 : "?");
    q_done(s, -1, why);
}

static void start_ask(struct pc_sentinel *s)
{
    const struct pc_redis_node *n = &s->addr.nodes[s->qi];
    char why[200];

    s->phase = Q_ASK;
    s->q_outcome = 0;
    s->q = open_ctx(s, n->host, n->port, why, sizeof why);
    if (s->q == NULL) {
        q_done(s, -1, why);
        return;
    }
    redisAsyncCommand(s->q, on_ask_reply, NULL, "SENTINEL get-master-addr-by-name %s",
                      s->addr.master);
    arm(s->q_timer, PC_SENTINEL_TIMEOUT_MS);
}

static void start_verify(struct pc_sentinel *s)
{
    const struct pc_redis_addr *a = &s->addr;
    char why[200];

    s->phase = Q_VERIFY;
    s->q_outcome = 0;
    s->q = open_ctx(s, s->cand_host, s->cand_port, why, sizeof why);
    if (s->q == NULL) {
        q_done(s, -1, why);
        return;
    }
    if (a->password[0] != '\0') {
        if (a->user[0] != '\0')
            redisAsyncCommand(s->q, on_auth_reply, NULL, "AUTH %s %s", a->user, a->password);
        else
            redisAsyncCommand(s->q, on_auth_reply, NULL, "AUTH %s", a->password);
    }
    redisAsyncCommand(s->q, on_role_reply, NULL, "ROLE");
    arm(s->q_timer, PC_SENTINEL_TIMEOUT_MS);
}

static void on_q_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    q_done(arg, -1, "timed out");
}

/* One step has an outcome: go on to the check, the next sentinel, or report. */
static void on_q_step(evutil_socket_t fd, short what, void *arg)
{
    struct pc_sentinel *s = arg;
    const struct pc_redis_node *n = &s->addr.nodes[s->qi];
    int outcome = s->q_outcome;

    (void)fd;
    (void)what;
    evtimer_del(s->q_timer);
    drop(&s->q);
    if (s->phase == Q_IDLE || outcome == 0) return;
    if (outcome > 0 && s->phase == Q_ASK) {
        start_verify(s);
        return;
    }
    if (outcome > 0) {
        s->phase = Q_IDLE;
        s->ops.located(s->ud, s->cand_host, s->cand_port, NULL); /* may free s */
        return;
    }
    slog(s, false, "sentinel %s:%d: %s", n->host, n->port, s->q_why);
    if (++s->qi < s->addr.nnodes) {
        start_ask(s);
        return;
    }
    char why[512];
    snprintf(why, sizeof why, "no sentinel named a primary for \"%s\" (last: %s)", s->addr.master,
             s->q_why);
    s->phase = Q_IDLE;
    s->ops.located(s->ud, NULL, 0, why); /* may free s */
}

void pc_sentinel_cancel(struct pc_sentinel *s)
{
    evtimer_del(s->q_timer);
    event_del(s->q_step);
    s->phase = Q_IDLE;
    drop(&s->q);
    s->q_outcome = 0;
}

void pc_sentinel_locate(struct pc_sentinel *s)
{
    pc_sentinel_cancel(s);
    s->qi = 0;
    start_ask(s);
}

/* ---- watching +switch-master ---- */

static void on_watch_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct pc_sentinel *s = ac->data;
    redisReply *reply = r;
    char buf[700], name[128], oldh[256], newh[256];
    int oldp, newp;

    (void)priv;
    if (ac != s->w || reply == NULL) return;
    if (reply->type == REDIS_REPLY_ERROR) {
        w_failed(s, reply->str);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(reply->element[0]->str, "subscribe") == 0) {
        s->w_subscribed = true;
        evtimer_del(s->w_timer);
        slog(s, false, "sentinel %s:%d: watching +switch-master", s->addr.nodes[s->wi].host,
             s->addr.nodes[s->wi].port);
        return;
    }
    if (strcmp(reply->element[0]->str, "message") != 0 ||
        reply->element[2]->type != REDIS_REPLY_STRING || reply->element[2]->len >= sizeof buf)
        return;
    /* "<name> <old-ip> <old-port> <new-ip> <new-port>" */
    memcpy(buf, reply->element[2]->str, reply->element[2]->len + 1);
    if (sscanf(buf, "%127s %255s %d %255s %d", name, oldh, &oldp, newh, &newp) != 5 ||
        strcmp(name, s->addr.master) != 0 || newp < 1 || newp > 65535)
        return;
    slog(s, true, "sentinel: +switch-master %s %s:%d -> %s:%d", name, oldh, oldp, newh, newp);
    s->ops.switched(s->ud, newh, newp);
}

static void start_watch(struct pc_sentinel *s)
{
    const struct pc_redis_node *n = &s->addr.nodes[s->wi];
    char why[200];

    s->w_subscribed = false;
    s->w_failing = false;
    s->w = open_ctx(s, n->host, n->port, why, sizeof why);
    if (s->w == NULL) {
        w_failed(s, why);
        return;
    }
    redisAsyncCommand(s->w, on_watch_reply, NULL, "SUBSCRIBE +switch-master");
    arm(s->w_timer, PC_SENTINEL_TIMEOUT_MS);
}

static void on_w_timer(evutil_socket_t fd, short what, void *arg)
{
    struct pc_sentinel *s = arg;

    (void)fd;
    (void)what;
    if (s->w == NULL && !s->w_failing)
        start_watch(s); /* the pause after a failure is over */
    else if (!s->w_subscribed)
        w_failed(s, "timed out");
}

static void on_w_fail(evutil_socket_t fd, short what, void *arg)
{
    struct pc_sentinel *s = arg;

    (void)fd;
    (void)what;
    drop(&s->w);
    s->w_subscribed = false;
    s->w_failing = false;
    s->wi = (s->wi + 1) % s->addr.nnodes;
    arm(s->w_timer, PC_SENTINEL_RETRY_MS);
}

/* ---- life ---- */

struct pc_sentinel *pc_sentinel_new(struct event_base *base, const struct pc_redis_addr *addr,
                                    const struct pc_sentinel_ops *ops, void *ud)
{
    struct pc_sentinel *s = pc_xcalloc(1, sizeof *s);

    pc_check(addr->mode == PC_REDIS_SENTINEL && addr->nnodes > 0);
    s->base = base;
    s->addr = *addr;
    s->ops = *ops;
    s->ud = ud;
    s->q_timer = evtimer_new(base, on_q_timer, s);
    s->q_step = event_new(base, -1, 0, on_q_step, s);
    s->w_timer = evtimer_new(base, on_w_timer, s);
    s->w_fail = event_new(base, -1, 0, on_w_fail, s);
    pc_check(s->q_timer && s->q_step && s->w_timer && s->w_fail);
    start_watch(s);
    return s;
}

void pc_sentinel_free(struct pc_sentinel *s)
{
    if (s == NULL) return;
    drop(&s->q);
    drop(&s->w);
    event_free(s->q_timer);
    event_free(s->q_step);
    event_free(s->w_timer);
    event_free(s->w_fail);
    free(s);
}
