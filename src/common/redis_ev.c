/* redis_ev.c -- hiredis async contexts on a libevent loop (see redis_ev.h). */
#include "redis_ev.h"
#include "redis_read.h"

#include <stdbool.h>
#include <stdlib.h>

#include <hiredis/hiredis.h>
#include <hiredis/sds.h>

struct redis_ev {
    redisAsyncContext *ac;
    struct event *rd, *wr, *flush;
    struct pc_redis_read in; /* the read's room (redis_read.h) */
    bool writing;            /* inside redisAsyncHandleWrite (a context freed meanwhile waits) */
    bool dead;               /* hiredis let go of us while writing: free on the way out */
};

static void ev_free(struct redis_ev *e)
{
    event_free(e->rd);
    event_free(e->wr);
    event_free(e->flush);
    free(e);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    struct redis_ev *e = arg;

    (void)fd;
    (void)what;
    pc_redis_read(e->ac, &e->in);
}

/* Writes what hiredis has queued: from the write event, or from the flush
 * activated when the first command of a loop iteration was queued. */
static void on_write(evutil_socket_t fd, short what, void *arg)
{
    struct redis_ev *e = arg;

    (void)fd;
    (void)what;
    e->writing = true;
    redisAsyncHandleWrite(e->ac);
    e->writing = false;
    if (e->dead) ev_free(e);
}

static void add_read(void *p)
{
    struct redis_ev *e = p;
    event_add(e->rd, NULL); /* a no-op while it is armed: it persists */
}

static void del_read(void *p)
{
    struct redis_ev *e = p;
    event_del(e->rd);
}

/* hiredis has output queued. Connected and not blocked: write it later in
 * this loop iteration. Connecting, or the socket was full: wait until
 * writable. */
static void add_write(void *p)
{
    struct redis_ev *e = p;

    if (e->writing || !(e->ac->c.flags & REDIS_CONNECTED))
        event_add(e->wr, NULL);
    else
        event_active(e->flush, EV_WRITE, 1); /* once, however many commands */
}

static void del_write(void *p)
{
    struct redis_ev *e = p;
    event_del(e->wr);
}

static void cleanup(void *p)
{
    struct redis_ev *e = p;

    event_del(e->rd);
    event_del(e->wr);
    event_del(e->flush);
    if (e->writing)
        e->dead = true; /* on_write frees it once hiredis returns */
    else
        ev_free(e);
}

void pc_redis_write_early(redisAsyncContext *ac, size_t min)
{
    struct redis_ev *e = ac->ev.data;
    redisContext *c = &ac->c;

    if (e == NULL || e->writing || c->err || !(c->flags & REDIS_CONNECTED) || c->obuf == NULL ||
        sdslen(c->obuf) < min)
        return;
    (void)redisBufferWrite(c, NULL); /* hiredis' async layer would disconnect here: not yet */
}

int pc_redis_attach(redisAsyncContext *ac, struct event_base *base)
{
    struct redis_ev *e;

    if (ac->ev.data != NULL || (e = calloc(1, sizeof *e)) == NULL) return REDIS_ERR;
    e->ac = ac;
    e->rd = event_new(base, ac->c.fd, EV_READ | EV_PERSIST, on_read, e);
    e->wr = event_new(base, ac->c.fd, EV_WRITE | EV_PERSIST, on_write, e);
    e->flush = event_new(base, -1, 0, on_write, e);
    if (e->rd == NULL || e->wr == NULL || e->flush == NULL) {
        if (e->rd != NULL) event_free(e->rd);
        if (e->wr != NULL) event_free(e->wr);
        if (e->flush != NULL) event_free(e->flush);
        free(e);
        return REDIS_ERR;
    }
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    ac->ev.data = e;
    /* as the stock adapter: both armed (the write event reports the connect) */
    event_add(e->rd, NULL);
    event_add(e->wr, NULL);
    return REDIS_OK;
}
