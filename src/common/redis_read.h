/* redis_read.h -- a hiredis async context's input read straight into its
 * reader's buffer, in pieces sized to the messages.
 *
 * hiredis 0.14 reads 16 KiB per read() into a stack buffer, appends it to the
 * reader's buffer (one copy, and the buffer's growth by realloc: more), and
 * frees that buffer whenever it is empty and holds more than 16 KiB unused,
 * so every large message grows it again from nothing. Here the bytes are
 * read where the reader parses them, and the room offered to read() follows
 * the traffic: 16 KiB at first (what hiredis read), doubled each time a read
 * fills it (up to PC_REDIS_READ_ROOM_MAX), back to 16 KiB after
 * PC_REDIS_READ_QUIET reads in a row under 16 KiB, the buffer itself freed
 * when it is empty by then. A message larger than the room is read in
 * several pieces, as before; one read may carry many messages.
 *
 * EOF, a read error, a connection not yet established or a reader in error
 * go to redisAsyncHandleRead, so that hiredis' own connect and disconnect
 * handling stays as it was. */
#ifndef PC_REDIS_READ_H
#define PC_REDIS_READ_H

#include <stddef.h>

#include <hiredis/async.h>

#define PC_REDIS_READ_ROOM_MIN (16 * 1024)
#define PC_REDIS_READ_ROOM_MAX (256 * 1024)
#define PC_REDIS_READ_QUIET 16

struct pc_redis_read {
    size_t room;    /* bytes offered to the next read(); 0: not yet set */
    unsigned quiet; /* reads in a row under PC_REDIS_READ_ROOM_MIN */
};

/* Reads what the socket has into ac's reader and runs the callbacks of the
 * replies now complete. ac may be freed when it returns (a disconnect). */
void pc_redis_read(redisAsyncContext *ac, struct pc_redis_read *rd);

#endif
