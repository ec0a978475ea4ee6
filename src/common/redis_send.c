/* redis_send.c -- see redis_send.h. */
#include "redis_send.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <hiredis/hiredis.h>
#include <hiredis/sds.h>

#include "buf.h"
#include "redis_ev.h"

/* Whether a command of len bytes may be written now, ahead of hiredis. */
static bool direct_ok(const redisAsyncContext *ac, size_t len)
{
    const redisContext *c = &ac->c;

    return len >= PC_REDIS_SEND_DIRECT && c->err == 0 && (c->flags & REDIS_CONNECTED) &&
           !(c->flags &
             (REDIS_DISCONNECTING | REDIS_FREEING | REDIS_SUBSCRIBED | REDIS_MONITORING)) &&
           c->obuf != NULL && sdslen(c->obuf) == 0;
}

/* The callback on hiredis' list of replies to come, as its
 * __redisPushCallback does it (hiredis frees it with free()). */
static bool push_callback(redisAsyncContext *ac, redisCallbackFn *fn, void *priv)
{
    redisCallback *cb = malloc(sizeof *cb);

    if (cb == NULL) return false;
    cb->next = NULL;
    cb->fn = fn;
    cb->pending_subs = 1;
    cb->privdata = priv;
    if (ac->replies.head == NULL) ac->replies.head = cb;
    if (ac->replies.tail != NULL) ac->replies.tail->next = cb;
    ac->replies.tail = cb;
    return true;
}

/* Writes the pieces; what the socket does not take goes into hiredis'
 * output buffer and hiredis is asked to write it. A write error leaves all
 * of it there: hiredis' own write then meets the error and disconnects.
 * Returns REDIS_OK or PC_REDIS_SEND_BROKEN. */
static int write_now(redisAsyncContext *ac, struct iovec *iov, int n)
{
    redisContext *c = &ac->c;
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    size_t done = w > 0 ? (size_t)w : 0;

    for (int i = 0; i < n; i++) {
        if (done >= iov[i].iov_len) {
            done -= iov[i].iov_len;
            continue;
        }
        if (redisAppendFormattedCommand(c, (const char *)iov[i].iov_base + done,
                                        iov[i].iov_len - done) != REDIS_OK)
            return PC_REDIS_SEND_BROKEN;
        done = 0;
    }
    if (sdslen(c->obuf) > 0 && ac->ev.addWrite != NULL) ac->ev.addWrite(ac->ev.data);
    return REDIS_OK;
}

int pc_redis_send(redisAsyncContext *ac, redisCallbackFn *fn, void *priv, const char *cmd,
                  size_t len)
{
    struct iovec iov[1] = {{(void *)cmd, len}};
    return pc_redis_sendv(ac, fn, priv, iov, 1);
}

int pc_redis_sendv(redisAsyncContext *ac, redisCallbackFn *fn, void *priv, struct iovec *iov, int n)
{
    size_t len = 0;
    int rc;

    for (int i = 0; i < n; i++) len += iov[i].iov_len;
    if (direct_ok(ac, len)) /* written already: what is left waits for the socket */
        return push_callback(ac, fn, priv) ? write_now(ac, iov, n) : REDIS_ERR;
    if (n == 1) {
        rc = redisAsyncFormattedCommand(ac, fn, priv, iov[0].iov_base, len);
    } else { /* behind queued output (or not connected): the pieces joined */
        char *cmd = malloc(len ? len : 1), *at = cmd;
        if (cmd == NULL) return REDIS_ERR;
        for (int i = 0; i < n; i++) {
            memcpy(at, iov[i].iov_base, iov[i].iov_len);
            at += iov[i].iov_len;
        }
        rc = redisAsyncFormattedCommand(ac, fn, priv, cmd, len);
        free(cmd);
    }
    if (rc == REDIS_OK) pc_redis_write_early(ac, PC_REDIS_WRITE_EARLY); /* a pile of them */
    return rc;
}

#define ARGV_PIECES_MAX 8 /* arguments framed in pieces, at most */

int pc_redis_send_argv(redisAsyncContext *ac, redisCallbackFn *fn, void *priv, int argc,
                       const char *const *argv, const size_t *argvlen)
{
    struct iovec iov[2 * ARGV_PIECES_MAX + 1];
    size_t from[2 * ARGV_PIECES_MAX + 1], start = 0;
    bool big = false;
    int n = 0, rc;
    pc_buf b;

    for (int i = 0; i < argc && i < ARGV_PIECES_MAX; i++) big |= argvlen[i] >= PC_REDIS_SEND_DIRECT;
    if (!big || argc > ARGV_PIECES_MAX) {
        rc = redisAsyncCommandArgv(ac, fn, priv, argc, (const char **)argv, argvlen);
        if (rc == REDIS_OK) pc_redis_write_early(ac, PC_REDIS_WRITE_EARLY);
        return rc;
    }
    pc_buf_init(&b);
    pc_buf_printf(&b, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        pc_buf_printf(&b, "$%zu\r\n", argvlen[i]);
        if (argvlen[i] >= PC_REDIS_SEND_DIRECT) {
            from[n] = start; /* the small bytes so far: an offset into b for now */
            iov[n++].iov_len = b.len - start;
            from[n] = SIZE_MAX; /* the argument where it lies */
            iov[n].iov_base = (void *)argv[i];
            iov[n++].iov_len = argvlen[i];
            start = b.len;
        } else {
            pc_buf_append(&b, argv[i], argvlen[i]);
        }
        pc_buf_append(&b, "\r\n", 2);
    }
    from[n] = start;
    iov[n++].iov_len = b.len - start;
    if (b.oom) {
        pc_buf_deinit(&b);
        return REDIS_ERR;
    }
    for (int i = 0; i < n; i++)
        if (from[i] != SIZE_MAX) iov[i].iov_base = b.data + from[i];
    rc = pc_redis_sendv(ac, fn, priv, iov, n);
    pc_buf_deinit(&b);
    return rc;
}

/* hiredis (0.14, and 1.x with its default allocator) allocates a string
 * reply's bytes with malloc, a NUL after them, and frees them with free(). */
char *pc_redis_reply_take(redisReply *r)
{
    char *s;

    if (r == NULL || r->type != REDIS_REPLY_STRING || r->str == NULL) return NULL;
    s = r->str;
    r->str = NULL;
    r->len = 0;
    return s;
}

int pc_redis_send_unanswered(redisAsyncContext *ac, const char *pre, size_t prelen, const char *cmd,
                             size_t len)
{
    redisContext *c = &ac->c;
    struct iovec iov[2] = {{(void *)pre, prelen}, {(void *)cmd, len}};

    if (c->flags & (REDIS_DISCONNECTING | REDIS_FREEING)) return REDIS_ERR;
    if (direct_ok(ac, prelen + len)) return write_now(ac, iov, 2);
    if (redisAppendFormattedCommand(c, pre, prelen) != REDIS_OK) return REDIS_ERR;
    if (redisAppendFormattedCommand(c, cmd, len) != REDIS_OK)
        return PC_REDIS_SEND_BROKEN; /* pre alone would swallow the next reply */
    if (ac->ev.addWrite != NULL) ac->ev.addWrite(ac->ev.data);
    return REDIS_OK;
}
