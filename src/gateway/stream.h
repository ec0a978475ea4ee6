/* stream.h -- streamed replies (protocol.md §4.3): one reply, many messages.
 *
 *   reply with "more":true --> head now (chunked; HTTP/1.0: close-delimited),
 *     deadline replaced by --stream-idle-timeout-ms between messages
 *   {"seq":N,"more":true} --> one chunk each, N = 1, 2, ... consecutive
 *   {"seq":N,"more":false} --> its chunk, the last chunk: the response ends
 *   gap or repeat in seq, idle timeout, invalid message, Redis lost
 *     --> aborted: the connection closes without the last chunk
 *   client reading slower: over GW_CONN_OUTPUT_HIGH held --> aborted, closed
 *   client gone, or any abort --> {"v":1,"id":...,"cancel":true} published
 *     on the instance's channel (once)
 *
 * A streaming request stays in the in-flight table (replies find it by id;
 * Redis loss and draining see it) and keeps its place at the head of its
 * connection's queue until it ends: pipelined responses behind it wait.
 * Every end is counted in portico_streams_total{result}. */
#ifndef GW_STREAM_H
#define GW_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "req.h"
#include "stats.h"

void gw_stream_init(void);
void gw_stream_deinit(void);
/* A stream message matched to r (reply.c): the first one (r->stream NULL;
 * status and headers, already filtered for the client) starts the stream,
 * the others continue it. body[0..len) borrowed. */
void gw_stream_on_message(struct gw_req *r, long long seq, bool more, int status,
                          const struct pc_kv *headers, size_t nheaders, const void *body,
                          size_t len);
/* Ends r's stream early (r->stream not NULL): counted as why, cancel
 * published, the client's connection closed without the last chunk. r may be
 * freed by this call. */
void gw_stream_abort(struct gw_req *r, enum gw_stream_result why);
/* r's client is gone (its connection closed) while r streams, or when its
 * first stream message arrives: cancel published once, r out of flight. */
void gw_stream_client_gone(struct gw_req *r);

/* The public listener's cancel hook (conn.h): r's connection is gone. A
 * stream ends (client_gone, cancel published); a request still waiting for
 * its first message is remembered (the last few), so that a stream it
 * starts later is cancelled; then gw_forward_cancel. */
void gw_stream_cancel(struct gw_req *r);
/* Redis went away: every stream is cut short (bus_down), before
 * gw_forward_on_bus_down answers the other requests in flight. */
void gw_stream_on_bus_down(void);
/* A stream message whose id is not in flight: dropped and counted; a
 * remembered abandoned request is cancelled (once). */
void gw_stream_unknown(const char *id, size_t id_len);

#endif
