/* resp.c -- Redis commands in RESP (see resp.h).
 *
 * A command is an array of bulk strings:
 *     *<argc>\r\n  then per argument  $<len>\r\n<bytes>\r\n
 * Lengths are written with digits by hand: this runs once per request. */
#include "resp.h"

#include "digits.h"

#include <stdint.h>
#include <string.h>

#define RESP_PUBLISH_START "*3\r\n$7\r\nPUBLISH\r\n"

/* Writes "<c><v>\r\n" at o (at most 23 bytes); returns the end. */
static char *resp_num(char *o, char c, uint64_t v)
{
    *o++ = c;
    o = pc_put_u64(o, v);
    *o++ = '\r';
    *o++ = '\n';
    return o;
}

/* Decimal digits of v. */
static size_t resp_digits(uint64_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* Writes the PUBLISH head at o; returns the end. */
static char *resp_publish_head(char *o, const char *channel, size_t chlen, size_t len)
{
    memcpy(o, RESP_PUBLISH_START, sizeof RESP_PUBLISH_START - 1);
    o = resp_num(o + sizeof RESP_PUBLISH_START - 1, '$', chlen);
    memcpy(o, channel, chlen);
    o += chlen;
    *o++ = '\r';
    *o++ = '\n';
    return resp_num(o, '$', len);
}

/* Bytes of the PUBLISH head for these lengths. */
static size_t resp_publish_head_len(size_t chlen, size_t len)
{
    return sizeof RESP_PUBLISH_START - 1 + 3 + resp_digits(chlen) + chlen + 2 + 3 +
           resp_digits(len);
}

void pc_resp_array(pc_buf *b, size_t n)
{
    char t[24];
    pc_buf_append(b, t, (size_t)(resp_num(t, '*', n) - t));
}

/* Copies len bytes of p to o, then CRLF and a NUL; the buffer ends there. */
static void resp_finish(pc_buf *b, char *o, const void *p, size_t len)
{
    if (len > 0) memcpy(o, p, len);
    o += len;
    o[0] = '\r';
    o[1] = '\n';
    o[2] = '\0';
    b->len = (size_t)(o + 2 - b->data);
}

void pc_resp_bulk(pc_buf *b, const void *p, size_t len)
{
    if (len > SIZE_MAX - 32) b->oom = true;
    if (!pc_buf_reserve(b, 23 + len + 2)) return;
    resp_finish(b, resp_num(b->data + b->len, '$', len), p, len);
}

void pc_resp_publish(pc_buf *b, const char *channel, size_t chlen, const void *msg, size_t len)
{
    if (chlen > SIZE_MAX / 4 || len > SIZE_MAX / 4) b->oom = true;
    /* one reservation for the whole command, then plain stores */
    if (!pc_buf_reserve(b, resp_publish_head_len(chlen, len) + len + 2)) return;
    resp_finish(b, resp_publish_head(b->data + b->len, channel, chlen, len), msg, len);
}

/* -------------------------------------------------------- framed in place */

/* Writes the decimal digits of v ending just before o; returns their start. */
static char *resp_num_back(char *o, uint64_t v)
{
    do {
        *--o = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return o;
}

void pc_resp_publish_open(pc_buf *b)
{
    /* The room's bytes before the head are never sent: left as they are. */
    if (pc_buf_reserve(b, PC_RESP_PUBLISH_ROOM)) {
        b->len += PC_RESP_PUBLISH_ROOM;
        b->data[b->len] = '\0';
    }
}

void pc_resp_publish_close(pc_buf *b) { pc_buf_append(b, "\r\n", 2); }

const char *pc_resp_publish_msg(const pc_buf *b, size_t *len)
{
    *len = b->len - PC_RESP_PUBLISH_ROOM - 2;
    return b->data + PC_RESP_PUBLISH_ROOM;
}

const char *pc_resp_publish_frame(pc_buf *b, const char *channel, size_t chlen, size_t *cmd_len)
{
    size_t len;
    char *msg = (char *)pc_resp_publish_msg(b, &len);

    return pc_resp_publish_frame_in(msg, len, PC_RESP_PUBLISH_ROOM, channel, chlen, cmd_len);
}

const char *pc_resp_publish_frame_in(char *msg, size_t len, size_t room, const char *channel,
                                     size_t chlen, size_t *cmd_len)
{
    char *o = msg;

    /* The head is at most 17 + 6 + chlen + 2 + 23 bytes while chlen < 1000. */
    if (room < 48 || chlen > room - 48) return NULL;
    msg[len] = '\r';
    msg[len + 1] = '\n';
    /* Written backwards from the message: no lengths to count first, and it
     * ends against the message whatever the channel's length. */
    *--o = '\n';
    *--o = '\r';
    o = resp_num_back(o, len);
    *--o = '$';
    *--o = '\n';
    *--o = '\r';
    o -= chlen;
    memcpy(o, channel, chlen);
    *--o = '\n';
    *--o = '\r';
    o = resp_num_back(o, chlen);
    *--o = '$';
    o -= sizeof RESP_PUBLISH_START - 1;
    memcpy(o, RESP_PUBLISH_START, sizeof RESP_PUBLISH_START - 1);
    *cmd_len = (size_t)(msg - o) + len + 2;
    return o;
}
