/* cluster_sub.c -- the cluster client's subscriber connections and
 * subscriptions (cluster.h, cluster_int.h).
 *
 * A subscriber connection is a plain redisContext read and written here:
 * hiredis 0.14's async layer knows SUBSCRIBE only, and would abort on the
 * first smessage of an SSUBSCRIBE. A shard channel is SSUBSCRIBEd at the
 * primary owning its slot; any other channel SUBSCRIBEd at the client's home
 * primary (the cluster carries PUBLISH to every node, so one is enough). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cluster_int.h"
#include "xalloc.h"

void pc_cl_sub_close(struct cl_sub *s)
{
    if (s->rev) event_free(s->rev);
    if (s->wev) event_free(s->wev);
    if (s->rc) redisFree(s->rc);
    memset(s, 0, sizeof *s);
}

static void sub_flush(struct cl_node *n)
{
    int done = 0;
    if (!n->sub.connected) return; /* the write event is armed */
    if (redisBufferWrite(n->sub.rc, &done) != REDIS_OK) {
        pc_cl_fail(n->c, "subscriber connection lost");
        return;
    }
    if (!done) event_add(n->sub.wev, NULL);
}

static void on_sub_write(evutil_socket_t fd, short what, void *arg)
{
    struct cl_node *n = arg;
    (void)what;
    if (!n->sub.connected) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            pc_cl_fail(n->c, "subscriber connection refused");
            return;
        }
        n->sub.connected = true;
    }
    sub_flush(n);
}

static struct cl_chan *chan_find(struct pc_cluster *c, const char *name, size_t len)
{
    for (struct cl_chan *ch = c->chans; ch != NULL; ch = ch->next)
        if (ch->len == len && memcmp(ch->name, name, len) == 0) return ch;
    return NULL;
}

static int sub_send(struct pc_cluster *c, int node, const char *verb, const struct cl_chan *ch);

static void chan_subscribe(struct pc_cluster *c, struct cl_chan *ch)
{
    int node = ch->sharded ? c->map.owner[ch->slot] : pc_cl_home(c);
    ch->confirmed = false;
    ch->node = -1;
    if (node == PC_CLUSTER_NO_NODE) {
        pc_cl_fail(c, "a channel's slot is served by no primary");
        return;
    }
    ch->node = node;
    sub_send(c, node, ch->sharded ? "SSUBSCRIBE" : "SUBSCRIBE", ch);
}

/* An error on a subscriber connection: a MOVED for a subscription sent to
 * a primary that no longer owns the slot (the map was stale). */
static void sub_error(struct cl_node *n, const redisReply *r)
{
    struct pc_cluster *c = n->c;
    char host[256];
    bool ask;
    unsigned slot;
    int port, idx;

    if (pc_cluster_redirect_parse(r->str, r->len, &ask, &slot, host, sizeof host, &port) != 0) {
        pc_cl_log(c, PC_CLUSTER_LOG_WARN, "redis cluster: subscribe refused: %.200s", r->str);
        pc_cl_fail(c, "subscribe refused");
        return;
    }
    if ((idx = pc_cluster_map_find(&c->map, host, port)) < 0) {
        pc_cl_fail(c, "a slot moved to an unknown primary");
        return;
    }
    c->map.owner[slot] = (uint8_t)idx;
    c->refresh_soon = true;
    for (struct cl_chan *ch = c->chans; ch != NULL; ch = ch->next)
        if (ch->node == n->idx && !ch->confirmed && ch->slot == slot) chan_subscribe(c, ch);
}

static void sub_reply(struct cl_node *n, const redisReply *r)
{
    struct pc_cluster *c = n->c;
    const redisReply *const *el = (const redisReply *const *)r->element;
    const char *kind;
    struct cl_chan *ch;

    if (r->type == REDIS_REPLY_ERROR) {
        sub_error(n, r);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || el[0]->type != REDIS_REPLY_STRING ||
        el[1]->type != REDIS_REPLY_STRING)
        return; /* +OK of AUTH */
    kind = el[0]->str;
    if (strcmp(kind, "message") == 0 || strcmp(kind, "smessage") == 0) {
        if (el[2]->type == REDIS_REPLY_STRING && c->ops.on_message)
            c->ops.on_message(c->ud, el[1]->str, el[1]->len, el[2]->str, el[2]->len);
        return;
    }
    ch = chan_find(c, el[1]->str, el[1]->len);
    if (ch == NULL || ch->node != n->idx) return; /* one we left */
    if (strcmp(kind, "subscribe") == 0 || strcmp(kind, "ssubscribe") == 0) {
        ch->confirmed = true;
        if (ch->report) {
            ch->report = false;
            if (c->ops.on_subscribed) c->ops.on_subscribed(c->ud, ch->name, ch->len);
        }
    } else if (strcmp(kind, "sunsubscribe") == 0 || strcmp(kind, "unsubscribe") == 0) {
        /* Not asked for: the primary gave the channel's slot away. The map
         * may still name it: its MOVED then names the new owner. */
        pc_cl_log(c, PC_CLUSTER_LOG_INFO,
                  "redis cluster: %s moved away from %s:%d; subscribing again", ch->name,
                  c->map.node[n->idx].host, c->map.node[n->idx].port);
        c->refresh_soon = true;
        chan_subscribe(c, ch);
    }
}

static void on_sub_read(evutil_socket_t fd, short what, void *arg)
{
    struct cl_node *n = arg;
    redisContext *rc = n->sub.rc;
    void *reply;

    (void)fd;
    (void)what;
    if (redisBufferRead(rc) != REDIS_OK) {
        pc_cl_fail(n->c, "subscriber connection lost");
        return;
    }
    for (;;) {
        if (redisGetReplyFromReader(rc, &reply) != REDIS_OK) {
            pc_cl_fail(n->c, "subscriber connection: protocol error");
            return;
        }
        if (reply == NULL) return;
        sub_reply(n, reply);
        freeReplyObject(reply);
        if (n->sub.rc != rc) return; /* torn down meanwhile */
    }
}

static int sub_open(struct cl_node *n)
{
    struct pc_cluster *c = n->c;
    const struct pc_cluster_node *a = &c->map.node[n->idx];
    redisContext *rc = redisConnectNonBlock(a->host, a->port);

    if (rc == NULL || rc->err) {
        if (rc) redisFree(rc);
        return -1;
    }
    n->sub.rc = rc;
    n->sub.rev = event_new(c->base, rc->fd, EV_READ | EV_PERSIST, on_sub_read, n);
    n->sub.wev = event_new(c->base, rc->fd, EV_WRITE, on_sub_write, n);
    pc_check(n->sub.rev && n->sub.wev);
    event_add(n->sub.rev, NULL);
    event_add(n->sub.wev, NULL); /* the connect's outcome */
    if (c->addr.password[0]) {
        if (c->addr.user[0])
            redisAppendCommand(rc, "AUTH %s %s", c->addr.user, c->addr.password);
        else
            redisAppendCommand(rc, "AUTH %s", c->addr.password);
    }
    return 0;
}

static int sub_send(struct pc_cluster *c, int node, const char *verb, const struct cl_chan *ch)
{
    struct cl_node *n = &c->nodes[node];
    const char *argv[2] = {verb, ch->name};
    size_t lens[2] = {strlen(verb), ch->len};

    if (n->sub.rc == NULL && sub_open(n) != 0) {
        pc_cl_fail(c, "cannot open a subscriber connection");
        return -1;
    }
    if (redisAppendCommandArgv(n->sub.rc, 2, argv, lens) != REDIS_OK) {
        pc_cl_fail(c, "out of memory");
        return -1;
    }
    sub_flush(n);
    return 0;
}

/* ---- subscriptions ---- */

int pc_cluster_subscribe(struct pc_cluster *c, const char *name)
{
    size_t len = strlen(name);
    struct cl_chan *ch;
    if (c->state != CL_UP) return -1;
    if ((ch = chan_find(c, name, len)) == NULL) {
        ch = pc_xcalloc(1, sizeof *ch + len + 1);
        memcpy(ch->name, name, len);
        ch->len = len;
        ch->sharded = pc_cluster_channel_sharded(name, len);
        ch->slot = pc_cluster_slot(name, len);
        ch->next = c->chans;
        c->chans = ch;
    }
    ch->report = true;
    chan_subscribe(c, ch);
    return 0;
}

int pc_cluster_unsubscribe(struct pc_cluster *c, const char *name)
{
    struct cl_chan **p, *ch;
    if (c->state != CL_UP) return -1;
    for (p = &c->chans; *p != NULL; p = &(*p)->next)
        if (strcmp((*p)->name, name) == 0) break;
    if ((ch = *p) == NULL) return 0;
    *p = ch->next;
    if (ch->node >= 0 && c->nodes[ch->node].sub.rc != NULL)
        sub_send(c, ch->node, ch->sharded ? "SUNSUBSCRIBE" : "UNSUBSCRIBE", ch);
    free(ch);
    return 0;
}
