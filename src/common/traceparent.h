/* traceparent.h -- the W3C Trace Context (level 1) traceparent and
 * tracestate headers, read and written the same way by the gateway and the
 * SDK. */
#ifndef PC_TRACEPARENT_H
#define PC_TRACEPARENT_H

#include <stdbool.h>
#include <stddef.h>

#define PC_TRACEPARENT_LEN 55    /* "00-" 32 hex "-" 16 hex "-" 2 hex */
#define PC_TRACESTATE_MAX 512    /* bytes of tracestate passed on */
#define PC_TRACESTATE_MEMBERS 32 /* list members at most (W3C) */

/* Parses v[0..n): version 00 exactly 55 bytes; a later version (not ff)
 * read by the 00 rules for its first four fields (more only after a '-');
 * lower-case hex only; trace-id and parent-id not all zero. On success
 * fills trace_id (33 bytes), parent_id (17) and flags (3) and returns true. */
bool pc_traceparent_parse(const char *v, size_t n, char *trace_id, char *parent_id, char *flags);

/* Writes a version-00 traceparent and a NUL to out (PC_TRACEPARENT_LEN + 1
 * bytes): trace_id (32 hex) and flags (2 hex) as given, or, with trace_id
 * NULL, a new random trace-id and flags "01"; always a new random
 * parent-id (the span of whoever sends it). Random bytes from
 * pc_random_bytes (uuid.h: no system call per id). Returns 0, or -1 when
 * no random bytes could be had. */
int pc_traceparent_child(char *out, const char *trace_id, const char *flags);

/* A tracestate list read from one or more header values (several are one
 * list, joined with ','), as it is passed on: only with a valid traceparent
 * (the caller's part), at most PC_TRACESTATE_MEMBERS members and
 * PC_TRACESTATE_MAX bytes. A member that would take the list past the bound
 * is left off; a member that is not "key=value" of visible ASCII, or one
 * member too many, drops the whole list. */
struct pc_tracestate {
    size_t len;       /* bytes in s */
    unsigned members; /* members read, kept or left off */
    bool bad;         /* the list is dropped */
    char s[PC_TRACESTATE_MAX + 1];
};

void pc_tracestate_init(struct pc_tracestate *ts);
/* Reads one header value v[0..n) into ts: members split on ',', spaces and
 * tabs around them trimmed, empty ones skipped. */
void pc_tracestate_add(struct pc_tracestate *ts, const char *v, size_t n);
/* The list to pass on (NUL-terminated, ts->len bytes), or NULL when there
 * is none: nothing read, or dropped. */
const char *pc_tracestate_value(const struct pc_tracestate *ts);

#endif
