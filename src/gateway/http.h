/* http.h -- requests from a connection's bytes (the only user of
 * http_parser; framing checked by framing.h's scanner first). */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "req.h"
#include "response.h" /* for callers that write responses through http.h; new code
                           includes response.h itself */

struct gw_http;

/* What the parser reports to its connection (implemented in conn.c). */
struct gw_http_sink {
    void *ctx;
    void (*on_begin)(void *ctx); /* first byte of a request */
    /* Headers complete. Return 0 to go on, or a status (413, 400) to stop. */
    int (*on_head)(void *ctx, struct gw_req *req);
    /* The whole request is in; the sink owns req from here. */
    void (*on_request)(void *ctx, struct gw_req *req);
};

struct gw_http_limits {
    size_t max_header_bytes; /* request line + headers */
    size_t max_body_bytes;   /* after de-chunking */
};

struct gw_http *gw_http_new(const struct gw_http_sink *sink, const struct gw_http_limits *lim);
void gw_http_free(struct gw_http *h);

/* Feeds data[0..len). Returns the number of bytes consumed: fewer than len
 * when the sink paused the parser (gw_http_pause) or on an error. On an error
 * *status is set (400, 413, 431) and *why to a short static reason; the
 * connection must answer it and close: the parser is done. data is
 * borrowed: the request keeps copies, nothing points into it afterwards. */
size_t gw_http_feed(struct gw_http *h, const char *data, size_t len, int *status, const char **why);
/* Pauses or resumes the parser (called from on_request to stop at a message
 * boundary: pipelining cap, or a non-keep-alive request). */
void gw_http_pause(struct gw_http *h, bool pause);
/* The connection is closing (a response said so): nothing is parsed after
 * the span being parsed, whichever callback this is called from (unlike
 * gw_http_pause, it leaves http-parser's own state alone). */
void gw_http_stop(struct gw_http *h);

/* Tests: every request read by the framing scanner and http_parser (no
 * plain-request reader). */
void gw_http_slow_only(struct gw_http *h, bool on);
/* The current request was handed over at its head (its body streams,
 * reqbody.h): the parser no longer frees it. */
void gw_http_taken(struct gw_http *h);
/* The handed-over current request is gone (answered, or its connection is
 * closing): the rest of its body is dropped, and nothing is parsed after
 * the span being parsed (the connection reads no further request). */
void gw_http_forget(struct gw_http *h);
/* True while a request has begun and is not complete. */
bool gw_http_in_message(const struct gw_http *h);
/* True once the body of the current request is being read. */
bool gw_http_in_body(const struct gw_http *h);
/* The request being read, once its head has passed every check (so its
 * body is being read or was just refused: 413), else NULL: an error response
 * for it can carry what the head says (x-request-id). Valid until the next
 * call on h. */
const struct gw_req *gw_http_current(const struct gw_http *h);
/* For the access log of a refused request: the request being read, whatever
 * was read of it (its target and method once the target began; headers
 * only when gw_http_current would give it), or NULL; *bytes: the bytes of it
 * parsed. Valid until the next call on h. */
const struct gw_req *gw_http_partial(struct gw_http *h, uint64_t *bytes);

/* True for the methods the gateway never forwards, whatever the routes say:
 * CONNECT (no tunnels; an origin-form CONNECT passes the framing check) and
 * TRACE (it would echo the request, cookies and credentials included, into
 * a page: cross-site tracing). Answered 405, as nginx does. Inline: one byte
 * compared per request in the common case. */
static inline bool gw_http_method_is_refused(const char *m)
{
    return (m[0] == 'C' && strcmp(m, "CONNECT") == 0) || (m[0] == 'T' && strcmp(m, "TRACE") == 0);
}

#endif
