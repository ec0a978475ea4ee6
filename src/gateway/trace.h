/* trace.h -- W3C Trace Context (level 1) at the gateway: the traceparent and
 * tracestate a request is forwarded with (protocol.md §8.2).
 *
 * A valid client traceparent (version 00, or a later version read by the 00
 * rules; lower-case hex; trace-id and parent-id not all zero; exactly one
 * traceparent header) is forwarded with the same trace-id and flags and a
 * new parent-id (the gateway's own span); otherwise the gateway starts a
 * trace: random trace-id, flags 01. The client's tracestate passes through
 * (several headers joined with ","), only with a valid traceparent, as at
 * most 32 list members and 512 bytes (members past the bound are left off;
 * a member that is not "key=value" of visible ASCII drops the whole
 * header). The traceparent rules and the tracestate bounds themselves are
 * src/common's (traceparent.h), shared with the SDK. */
#ifndef GW_TRACE_H
#define GW_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "traceparent.h"
#include "wire.h"

#define GW_TRACEPARENT_LEN PC_TRACEPARENT_LEN

struct gw_trace {
    uint8_t state;     /* 0: not looked at; 1: no valid client traceparent; 2: have ids */
    bool client;       /* trace_id came from the client's traceparent */
    bool made;         /* traceparent (the one sent on) is written */
    char trace_id[33]; /* lower-case hex */
    char flags[3];     /* two hex digits */
    char traceparent[GW_TRACEPARENT_LEN + 1];
};

/* Looks at the client's traceparent once: tp[0..tp_len) the first of
 * count traceparent headers (count 0: none). t->state becomes 2 with the
 * client's trace-id when there is exactly one and it is valid, else 1. */
void gw_trace_look(struct gw_trace *t, const char *tp, size_t tp_len, unsigned count);

/* The headers sent on: removes every traceparent and tracestate from
 * out[0..n) and appends the gateway's traceparent (a new trace when the
 * client had none valid) and the client's tracestate (joined and bounded in
 * scratch, which must outlive out). in[0..nin): the client's headers. out
 * must have room for n + 2. Returns the new count; -1 only when no random
 * bytes could be had. */
long gw_trace_headers(struct gw_trace *t, const struct pc_kv *in, size_t nin, struct pc_kv *out,
                      size_t n, pc_buf *scratch);

#endif
