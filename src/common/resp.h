/* resp.h -- Redis commands in RESP (the Redis protocol), written straight
 * into memory for hiredis' redisAsyncFormattedCommand.
 *
 * redisAsyncCommandArgv formats each argument with sdscatfmt into a fresh
 * sds (a malloc, format parsing, a copy of the payload) and then copies that
 * into the connection's output buffer. A command written here costs no
 * format parsing and, framed in place (below), no copy of the payload
 * besides hiredis' own. All pointers are borrowed. */
#ifndef PC_RESP_H
#define PC_RESP_H

#include <stddef.h>

#include "buf.h"

/* Appends "*<n>\r\n": a command of n arguments follows. */
void pc_resp_array(pc_buf *b, size_t n);
/* Appends one argument, binary-safe: "$<len>\r\n" p[0..len) "\r\n". */
void pc_resp_bulk(pc_buf *b, const void *p, size_t len);
/* Appends the command PUBLISH channel msg. */
void pc_resp_publish(pc_buf *b, const char *channel, size_t chlen, const void *msg, size_t len);

/* PUBLISH framed in place, for a message that is written once and may be
 * published more than once (to another channel on a retry):
 *
 *     pc_buf_reset(&b);
 *     pc_resp_publish_open(&b);            room for the head
 *     ... append the message to b ...
 *     pc_resp_publish_close(&b);           the final "\r\n"
 *     cmd = pc_resp_publish_frame(&b, channel, chlen, &cmd_len);
 *
 * The buffer then holds [room][message]["\r\n"]; the message itself is
 * pc_resp_publish_msg(). */
#define PC_RESP_PUBLISH_ROOM 256 /* bytes; fits channels of up to 200 bytes */

/* Leaves PC_RESP_PUBLISH_ROOM bytes at the start of b, which must be empty. */
void pc_resp_publish_open(pc_buf *b);
/* Ends the message appended since pc_resp_publish_open. */
void pc_resp_publish_close(pc_buf *b);
/* The message of a closed frame (borrowed from b). */
const char *pc_resp_publish_msg(const pc_buf *b, size_t *len);
/* Writes the head of PUBLISH channel <message> into the room, just before
 * the message, and returns where the whole command starts (inside b) with
 * its length in *cmd_len; valid until b changes. Returns NULL when the head
 * does not fit the room (a channel longer than ~200 bytes): then send
 * pc_resp_publish() of pc_resp_publish_msg() instead. */
const char *pc_resp_publish_frame(pc_buf *b, const char *channel, size_t chlen, size_t *cmd_len);
/* The same for a message of len bytes at msg, anywhere in writable memory
 * with room bytes free before it and two after it (the final "\r\n" is
 * written there): a message assembled around a body where it already lies. */
const char *pc_resp_publish_frame_in(char *msg, size_t len, size_t room, const char *channel,
                                     size_t chlen, size_t *cmd_len);

#endif
