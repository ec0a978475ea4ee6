/* uresp.h -- an upstream's HTTP/1.1 response, parsed as it arrives.
 *
 * A thin wrapper around http_parser (HTTP_RESPONSE): bytes in, calls out:
 *   head(status, headers)  once, when the head is complete (names lower-cased);
 *   body(data, n)          for every piece of the body, de-chunked;
 *   done()                 when the message is complete.
 * Interim 1xx responses (100, 103) are skipped; 101 is refused (no upgrade
 * through the gateway), and so is a Transfer-Encoding other than one
 * "chunked" (a coding the client would not be told of). Pure: no I/O, no clock, so it is fuzzed alone
 * (tests/fuzz/fuzz_uresp.c). */
#ifndef GW_URESP_H
#define GW_URESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define GW_URESP_MAX_HEAD (64 * 1024) /* bytes of a response head (status line + headers) */
#define GW_URESP_MAX_HEADERS 100      /* header fields of a response head */
#define GW_URESP_NO_LENGTH UINT64_MAX /* content_length: none announced */

struct gw_uresp_head {
    int status;
    const struct pc_kv *headers; /* borrowed, valid during the call */
    size_t nheaders;
    uint64_t content_length; /* GW_URESP_NO_LENGTH: chunked or until close */
    bool chunked;            /* Transfer-Encoding: chunked */
    bool keep_alive;         /* the connection may carry another request */
};

struct gw_uresp_sink {
    void *ctx;
    /* Return non-zero to stop parsing (gw_uresp_feed then returns what it used). */
    int (*head)(void *ctx, const struct gw_uresp_head *h);
    int (*body)(void *ctx, const char *data, size_t n);
    int (*done)(void *ctx);
};

enum gw_uresp_result {
    GW_URESP_OK = 0, /* every byte taken (or stopped by a sink call) */
    GW_URESP_ERROR,  /* malformed response: *why says how */
};

typedef struct gw_uresp gw_uresp;

gw_uresp *gw_uresp_new(const struct gw_uresp_sink *sink);
void gw_uresp_free(gw_uresp *p);
/* Ready for the response to a new request; head_request: the request was a
 * HEAD (the response has no body whatever its headers say). */
void gw_uresp_reset(gw_uresp *p, bool head_request);
/* Parses data[0..n). *used gets the bytes taken: fewer than n when a sink
 * call stopped the parser (done stops it: bytes after a complete response
 * are the caller's to judge). */
int gw_uresp_feed(gw_uresp *p, const char *data, size_t n, size_t *used, const char **why);
/* The upstream closed its side: completes a response delimited by the close.
 * Returns GW_URESP_OK when that ended the message (done was called),
 * GW_URESP_ERROR when the response was cut short. */
int gw_uresp_eof(gw_uresp *p, const char **why);
/* Tests: every head read by http_parser (no plain-head fast path). */
void gw_uresp_slow_only(gw_uresp *p, bool on);
/* Whether any byte of a response has been parsed since the reset. */
bool gw_uresp_started(const gw_uresp *p);
/* Bytes of the body still to come when the head announced a length (and
 * the response has a body); 0 before the head, for chunked and
 * close-delimited bodies, and once the message is complete. */
uint64_t gw_uresp_body_left(const gw_uresp *p);
/* The caller took n (<= gw_uresp_body_left) of those bytes itself, without
 * the parser (they do not go through body()); done() is called with the
 * last one. Once called, the rest of the body is counted, not parsed: fed
 * bytes go to body() as they are, up to the length. */
void gw_uresp_body_taken(gw_uresp *p, size_t n);

#endif
