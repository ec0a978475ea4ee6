/* redis_send.h -- a command in RESP sent on a hiredis async context, a large
 * one from where it lies.
 *
 * hiredis 0.14 copies every command into its output buffer
 * (redisAsyncFormattedCommand) and writes that buffer once per loop turn. For
 * a PUBLISH carrying a body that copy is the body's size. Here a command of
 * at least PC_REDIS_SEND_DIRECT bytes is written to the socket at once when
 * hiredis has nothing queued before it (writev of its pieces: the order on
 * the wire stays the order of the calls), and only what the socket did not
 * take is copied into hiredis' buffer, written by hiredis later as before.
 * The callback is queued on hiredis' reply list as hiredis does it, so the
 * reply, a disconnect, and a context freed with commands in flight all reach
 * it the same way. Smaller commands, or any while output is queued, while
 * connecting, subscribed or in error, take hiredis' own path: small
 * commands made in one loop turn still leave in one write, unless they
 * pile up to PC_REDIS_WRITE_EARLY (redis_ev.h), which is then written at
 * once. */
#ifndef PC_REDIS_SEND_H
#define PC_REDIS_SEND_H

#include <stddef.h>
#include <sys/uio.h>

#include <hiredis/async.h>

#define PC_REDIS_SEND_DIRECT (16 * 1024) /* bytes */

/* Memory ran out with part of the command already on the wire: the
 * connection is unusable and must be dropped (its callbacks then get NULL). */
#define PC_REDIS_SEND_BROKEN (-2)

/* As redisAsyncFormattedCommand(ac, fn, priv, cmd, len): REDIS_OK; REDIS_ERR
 * when the context is closing or memory ran out (nothing sent, fn never
 * called); PC_REDIS_SEND_BROKEN (above). */
int pc_redis_send(redisAsyncContext *ac, redisCallbackFn *fn, void *priv, const char *cmd,
                  size_t len);

/* The same for a command in pieces, adjacent on the wire (a body between
 * its command's head and tail, sent from where it lies). */
int pc_redis_sendv(redisAsyncContext *ac, redisCallbackFn *fn, void *priv, struct iovec *iov,
                   int n);

/* As redisAsyncCommandArgv, and returns as pc_redis_send: a command with
 * an argument of PC_REDIS_SEND_DIRECT bytes or more (a body stored in a
 * key: SET, APPEND) is framed in pieces around it and sent with
 * pc_redis_sendv, the argument from where it lies, not copied into a
 * formatted command and again into hiredis' buffer. */
int pc_redis_send_argv(redisAsyncContext *ac, redisCallbackFn *fn, void *priv, int argc,
                       const char *const *argv, const size_t *argvlen);

/* Takes a string reply's bytes (r->len of them and a NUL, malloc'd: the
 * taker frees them), leaving the reply without them (hiredis frees a NULL
 * str as nothing): a large value handed on with no copy. NULL when r is not
 * a string reply. */
char *pc_redis_reply_take(redisReply *r);

/* pre (len prelen) then cmd, adjacent on the wire, with no callback queued:
 * for commands Redis does not answer (after CLIENT REPLY SKIP, which is pre).
 * Returns as pc_redis_send. */
int pc_redis_send_unanswered(redisAsyncContext *ac, const char *pre, size_t prelen, const char *cmd,
                             size_t len);

#endif
