/* redis_ev.h -- hiredis async contexts on a libevent loop, with fewer syscalls.
 *
 * Does what hiredis' adapters/libevent.h does, with two changes measured to
 * matter under load (strace -c, echo service at 50 connections):
 *  - the read event is persistent: hiredis re-arms it after every read, and
 *    with the stock one-shot event each re-arm costs epoll_ctl calls;
 *  - queued commands are written from the loop iteration that queued them
 *    (an activated event runs after the callbacks already due in that
 *    iteration), so every PUBLISH made while handling one batch of input
 *    leaves in one write, with no epoll_ctl and no extra epoll_wait. The
 *    write event is armed only while connecting or when the socket is full.
 * A loop iteration that queues much (a batch of reads, each handing a large
 * body to Redis) would pile it all up in hiredis' output buffer before that
 * write: pc_redis_write_early lets the caller write it as it goes.
 * Large messages are read straight into hiredis'
 * reader buffer, in pieces sized to the traffic (redis_read.h). */
#ifndef PC_REDIS_EV_H
#define PC_REDIS_EV_H

#include <event2/event.h>
#include <hiredis/async.h>

/* Attaches ac to base (instead of redisLibeventAttach). Returns REDIS_OK, or
 * REDIS_ERR when ac is already attached or memory ran out. hiredis frees the
 * attachment with the context. */
int pc_redis_attach(redisAsyncContext *ac, struct event_base *base);

/* Writes what ac has queued now, when it is at least min bytes, instead of
 * at the end of the loop iteration: the bytes go into the socket's buffer
 * rather than stay in the process. No callback runs from here: a write
 * error is left in the context for the write already due in this
 * iteration, which reports it (the disconnect) as usual; what the socket
 * does not take waits for that write too. */
void pc_redis_write_early(redisAsyncContext *ac, size_t min);

/* The min used for commands queued in hiredis' buffer (every command sent
 * through redis_send.h): 50 clients' 64 KiB reads of large bodies, each an
 * APPEND, would otherwise sit there together (3 MB) until the iteration's
 * write. A batch of small requests never reaches it. */
#define PC_REDIS_WRITE_EARLY (64 * 1024)

#endif
