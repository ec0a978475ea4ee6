/* redis_read.c -- see redis_read.h. */
#include "redis_read.h"

#include <errno.h>
#include <stdbool.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <hiredis/sds.h>

/* What redisAsyncHandleRead runs after its read: exported by libhiredis
 * (0.13 to 1.x) but not declared in async.h. */
void redisProcessCallbacks(redisAsyncContext *ac);

/* The reader's buffer ready for a read of about rd->room bytes: consumed
 * bytes dropped (hiredis drops them itself only past 1 KiB), the buffer
 * freed when it is empty and the traffic small again. Returns false when
 * memory ran out (hiredis' own path then reports it). */
static bool make_room(redisReader *r, struct pc_redis_read *rd)
{
    sds buf;

    if (r->pos > 0 && r->pos == r->len) {
        sdsclear(r->buf);
        r->pos = r->len = 0;
    }
    if (r->len == 0 && rd->room == PC_REDIS_READ_ROOM_MIN &&
        sdsalloc(r->buf) > 4 * PC_REDIS_READ_ROOM_MIN) {
        if ((buf = sdsempty()) == NULL) return false;
        sdsfree(r->buf);
        r->buf = buf;
    }
    if (sdsavail(r->buf) >= rd->room) return true;
    if ((buf = sdsMakeRoomFor(r->buf, rd->room)) == NULL) return false;
    r->buf = buf;
    return true;
}

/* The room for the next read after one of n bytes into avail. */
static void adapt(struct pc_redis_read *rd, size_t n, size_t avail)
{
    if (n == avail) {
        rd->quiet = 0;
        if (rd->room < PC_REDIS_READ_ROOM_MAX) rd->room *= 2;
    } else if (n < PC_REDIS_READ_ROOM_MIN && ++rd->quiet >= PC_REDIS_READ_QUIET) {
        rd->quiet = 0;
        rd->room = PC_REDIS_READ_ROOM_MIN;
    }
}

void pc_redis_read(redisAsyncContext *ac, struct pc_redis_read *rd)
{
    redisContext *c = &ac->c;
    redisReader *r = c->reader;
    size_t avail;
    ssize_t n;

    if (rd->room == 0) rd->room = PC_REDIS_READ_ROOM_MIN;
    if (!(c->flags & REDIS_CONNECTED) || c->err != 0 || r == NULL || r->err != 0 ||
        !make_room(r, rd)) {
        redisAsyncHandleRead(ac);
        return;
    }
    avail = sdsavail(r->buf);
    n = read(c->fd, r->buf + r->len, avail);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n <= 0) {
        /* EOF or an error: hiredis reads again, sees the same and disconnects */
        redisAsyncHandleRead(ac);
        return;
    }
    sdsIncrLen(r->buf, (int)n);
    r->len = sdslen(r->buf);
    adapt(rd, (size_t)n, avail);
    redisProcessCallbacks(ac);
}
