/* test_framing.c -- every framing rule, byte-exact, however TCP cuts it.
 *
 * Part one drives the scanner (framing.h) alone: each case is an input, the
 * body framing to announce after each head, and the exact trace expected:
 * "H<n>" a head ends after n bytes, "M<n>" a message ends after n bytes,
 * "E<status>@<offset> <reason>" the byte at offset is refused. Part two
 * drives the whole request path (gw_http_new/gw_http_feed) for the rules
 * that need the head's values (Content-Length, Transfer-Encoding, Host,
 * version, header count) and for what the sink receives: the expected
 * outcome is the transcript of the requests handed over and the final
 * status and reason.
 *
 * Every input is fed whole, cut in two at every byte offset, and one byte at
 * a time; every run must give the same, expected outcome. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "framing.h"
#include "http.h"
#include "req.h"
#include "test.h"

/* http.c is compiled alone here, with tests/fuzz/req_stub.c for req.c. */

static int runs; /* feeds of a whole input, all cases */

/* Feeds in[0..len) to fn(ctx, piece, n) cut as asked: cut == 0 whole,
 * cut in 1..len-1 in two there, cut == SIZE_MAX one byte at a time. fn
 * returns false to stop. */
typedef bool (*feed_fn)(void *ctx, const char *piece, size_t n);
static void feed_cut(const char *in, size_t len, size_t cut, feed_fn fn, void *ctx)
{
    runs++;
    if (cut == SIZE_MAX) {
        for (size_t i = 0; i < len; i++)
            if (!fn(ctx, in + i, 1)) return;
    } else if (cut == 0 || cut >= len) {
        fn(ctx, in, len);
    } else if (fn(ctx, in, cut)) {
        fn(ctx, in + cut, len - cut);
    }
}

/* ------------------------------------------------------------------------ */
/* Part one: the scanner                                                    */
/* ------------------------------------------------------------------------ */

#define SC_MAX_HEAD 100 /* small, so that the limits are reached by short inputs */
#define SC_MAX_BODY 20

enum { NOBODY = -1, CHUNKED = -2 }; /* body after each head, else a Content-Length */

struct scan_run {
    struct gw_framing f;
    long long body;
    size_t base; /* offset of the current piece in the input */
    char trace[256];
    bool failed;
};

/* Appends "H<n>", "M<n>", "E<status>@<n> <why>" (kind 'E') or a marker of
 * a broken contract (kind 'U', 'X') to the trace. */
static void trace_add(struct scan_run *s, char kind, size_t n)
{
    size_t k = strlen(s->trace);
    if (k) s->trace[k++] = ' ';
    if (kind == 'E')
        snprintf(s->trace + k, sizeof s->trace - k, "E%d@%zu %s", s->f.status, n, s->f.why);
    else
        snprintf(s->trace + k, sizeof s->trace - k, "%c%zu", kind, n);
}

static bool scan_piece(void *ctx, const char *d, size_t len)
{
    struct scan_run *s = ctx;
    size_t pos = 0;

    while (pos < len) {
        size_t used = (size_t)-1;
        enum gw_framing_stop st = gw_framing_scan(&s->f, d + pos, len - pos, &used);
        if (used > len - pos) {
            trace_add(s, 'U', used); /* *used past the input */
            return false;
        }
        switch (st) {
        case GW_FRAMING_MORE:
            if (used != len - pos) trace_add(s, 'X', used); /* MORE must take it all */
            pos = len;
            break;
        case GW_FRAMING_HEAD:
            pos += used;
            trace_add(s, 'H', s->base + pos);
            if (s->body == NOBODY)
                gw_framing_reset(&s->f);
            else
                gw_framing_body(&s->f, s->body == CHUNKED,
                                s->body == CHUNKED ? 0 : (uint64_t)s->body);
            break;
        case GW_FRAMING_MESSAGE:
            pos += used;
            trace_add(s, 'M', s->base + pos);
            gw_framing_reset(&s->f);
            break;
        case GW_FRAMING_ERROR:
            trace_add(s, 'E', s->base + pos + used);
            s->failed = true;
            return false;
        }
    }
    s->base += len;
    return true;
}

/* Runs one scanner case at every cut; each must give want. */
static void scan_case(const char *name, const char *in, size_t len, size_t max_head, long long body,
                      const char *want)
{
    size_t bad = 0;

    for (size_t cut = 0; cut <= len; cut++) {
        struct scan_run s = {.body = body};
        gw_framing_init(&s.f, max_head, SC_MAX_BODY);
        feed_cut(in, len, cut == len ? SIZE_MAX : cut, scan_piece, &s);
        if (strcmp(s.trace, want) != 0) {
            if (bad++ == 0)
                fprintf(stderr, "scan %s, cut %s%zu: \"%s\", expected \"%s\"\n", name,
                        cut == len ? "bytes " : "", cut == len ? (size_t)1 : cut, s.trace, want);
        }
    }
    CHECK(bad == 0);
}

struct scan_case {
    const char *name;
    const char *in;
    size_t len;
    long long body;
    const char *want;
};

#define S(name, lit, body, want)                                                                   \
    {                                                                                              \
        name, lit, sizeof(lit) - 1, body, want                                                     \
    }
#define RL "GET / HTTP/1.1\r\n"      /* 16 bytes */
#define PH "POST / HTTP/1.1\r\n\r\n" /* 19 bytes: a head without fields */

static const struct scan_case scan_cases[] = {
    /* Request line */
    S("minimal", "GET / HTTP/1.1\r\n\r\n", NOBODY, "H18"),
    S("HTTP/1.0", "GET / HTTP/1.0\r\n\r\n", NOBODY, "H18"),
    S("empty lines before", "\r\n\r\nGET / HTTP/1.1\r\n\r\n", NOBODY, "H22"),
    S("pipelined", "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", NOBODY, "H19 H38"),
    S("CR alone before", "\rGET / HTTP/1.1\r\n\r\n", NOBODY, "E400@1 bare CR"),
    S("LF alone before", "\nGET / HTTP/1.1\r\n\r\n", NOBODY,
      "E400@0 bare LF (lines must end in CRLF)"),
    S("SP before method", " GET / HTTP/1.1\r\n\r\n", NOBODY, "E400@0 invalid request line"),
    S("NUL first", "\0GET / HTTP/1.1\r\n\r\n", NOBODY, "E400@0 NUL byte"),
    S("method non-tchar", "G@T / HTTP/1.1\r\n\r\n", NOBODY, "E400@1 invalid character in method"),
    S("method HTAB", "GET\t/ HTTP/1.1\r\n\r\n", NOBODY, "E400@3 invalid character in method"),
    S("method LF", "GET\n", NOBODY, "E400@3 bare LF (lines must end in CRLF)"),
    S("method 20", "ABCDEFGHIJKLMNOPQRST / HTTP/1.1\r\n\r\n", NOBODY, "H35"),
    S("method 21", "ABCDEFGHIJKLMNOPQRSTU / HTTP/1.1\r\n\r\n", NOBODY, "E400@20 method too long"),
    S("two SP after method", "GET  / HTTP/1.1\r\n\r\n", NOBODY,
      "E400@4 request target must be a path starting with /"),
    S("absolute-form", "GET http://a/ HTTP/1.1\r\n\r\n", NOBODY,
      "E400@4 request target must be a path starting with /"),
    S("authority-form", "CONNECT a:443 HTTP/1.1\r\n\r\n", NOBODY,
      "E400@8 request target must be a path starting with /"),
    S("asterisk-form", "OPTIONS * HTTP/1.1\r\n\r\n", NOBODY,
      "E400@8 request target must be a path starting with /"),
    S("HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", NOBODY,
      "E400@4 request target must be a path starting with /"),
    S("no target", "GET \r\n", NOBODY, "E400@4 bare CR"),
    S("target '#'", "GET /a#b HTTP/1.1\r\n\r\n", NOBODY,
      "E400@6 invalid character in request target"),
    S("target HTAB", "GET /a\tb HTTP/1.1\r\n\r\n", NOBODY,
      "E400@6 invalid character in request target"),
    S("target DEL", "GET /a\x7f HTTP/1.1\r\n\r\n", NOBODY,
      "E400@6 invalid character in request target"),
    S("target NUL", "GET /a\0 HTTP/1.1\r\n\r\n", NOBODY, "E400@6 NUL byte"),
    S("target obs-text", "GET /\xc3\xa9?q=1 HTTP/1.1\r\n\r\n", NOBODY, "H24"),
    S("HTTP/0.9", "GET /\r\n", NOBODY, "E400@5 bare CR"),
    S("HTTP/0.9 LF", "GET /\n", NOBODY, "E400@5 bare LF (lines must end in CRLF)"),
    S("two SP after target", "GET /  HTTP/1.1\r\n\r\n", NOBODY, "E400@6 unsupported HTTP version"),
    S("HTTP/1.2", "GET / HTTP/1.2\r\n\r\n", NOBODY, "E400@13 unsupported HTTP version"),
    S("HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", NOBODY, "E400@11 unsupported HTTP version"),
    S("lower-case version", "GET / http/1.1\r\n\r\n", NOBODY, "E400@6 unsupported HTTP version"),
    S("version cut short", "GET / HTTP/1\r\n\r\n", NOBODY, "E400@12 bare CR"),
    S("SP after version", "GET / HTTP/1.1 \r\n\r\n", NOBODY, "E400@14 invalid request line"),
    S("HTTP/1.10", "GET / HTTP/1.10\r\n\r\n", NOBODY, "E400@14 invalid request line"),
    S("request line LF", "GET / HTTP/1.1\n\r\n", NOBODY,
      "E400@14 bare LF (lines must end in CRLF)"),
    S("request line bare CR", "GET / HTTP/1.1\rX", NOBODY, "E400@15 bare CR"),
    /* Header fields */
    S("field", RL "Host: a\r\n\r\n", NOBODY, "H27"),
    S("field no OWS, empty value", RL "X:\r\n\r\n", NOBODY, "H22"),
    S("field value obs-text, HTAB", RL "X: \xff\xfe\t ok\r\n\r\n", NOBODY, "H29"),
    S("field name tchar", RL "!#$%&'*+-.^_`|~09AZaz: v\r\n\r\n", NOBODY, "H44"),
    S("head not complete", RL "Host: a\r\n", NOBODY, ""),
    S("obs-fold SP", RL "Host: a\r\n X\r\n\r\n", NOBODY, "E400@25 obsolete line folding"),
    S("obs-fold HTAB", RL "Host: a\r\n\tX\r\n\r\n", NOBODY, "E400@25 obsolete line folding"),
    S("first line folded", RL " X: a\r\n\r\n", NOBODY, "E400@16 obsolete line folding"),
    S("SP before colon", RL "Host : a\r\n\r\n", NOBODY,
      "E400@20 white space before the colon of a header"),
    S("HTAB before colon", RL "Host\t: a\r\n\r\n", NOBODY,
      "E400@20 white space before the colon of a header"),
    S("empty name", RL ": a\r\n\r\n", NOBODY, "E400@16 invalid header name"),
    S("name non-tchar", RL "Ho[st: a\r\n\r\n", NOBODY, "E400@18 invalid header name"),
    S("name obs-text", RL "\x80: a\r\n\r\n", NOBODY, "E400@16 invalid header name"),
    S("name without colon", RL "Host\r\n\r\n", NOBODY, "E400@20 bare CR"),
    S("name NUL", RL "Ho\0st: a\r\n\r\n", NOBODY, "E400@18 NUL byte"),
    S("value control",
      RL "Host: a\x01"
         "b\r\n\r\n",
      NOBODY, "E400@23 control character in a header value"),
    S("value DEL", RL "Host: a\x7f\r\n\r\n", NOBODY, "E400@23 control character in a header value"),
    S("value NUL", RL "Host: a\0\r\n\r\n", NOBODY, "E400@23 NUL byte"),
    S("value bare LF", RL "Host: a\nX: b\r\n\r\n", NOBODY,
      "E400@23 bare LF (lines must end in CRLF)"),
    S("value bare CR", RL "Host: a\rX: b\r\n\r\n", NOBODY, "E400@24 bare CR"),
    S("blank line bare CR", RL "Host: a\r\n\rX", NOBODY, "E400@26 bare CR"),
    S("blank line LF", RL "Host: a\r\n\n", NOBODY, "E400@25 bare LF (lines must end in CRLF)"),
    S("request line then LF", RL "\n", NOBODY, "E400@16 bare LF (lines must end in CRLF)"),
    /* Content-Length bodies: skipped by count, never scanned */
    S("body", PH "hello", 5, "H19 M24"),
    S("body bytes not scanned", PH "\0\r\n\x01 ", 5, "H19 M24"),
    S("body not complete", PH "hell", 5, "H19"),
    S("bodies pipelined", PH "hello" PH "world", 5, "H19 M24 H43 M48"),
    S("request in a body is body", PH "GET /x HTTP/1.1\r\n\r\n", 19, "H19 M38"),
    S("empty line after a body", PH "hello\r\n", 5, "H19 M24"),
    S("bad request after a body", PH "hello\n", 5,
      "H19 M24 E400@24 bare LF (lines must end in CRLF)"),
    /* Chunked bodies */
    S("chunked", PH "5\r\nhello\r\n0\r\n\r\n", CHUNKED, "H19 M34"),
    S("chunked, sizes at the limit", PH "a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n", CHUNKED,
      "H19 M54"),
    S("chunked pipelined", PH "1\r\na\r\n0\r\n\r\n" PH "0\r\n\r\n", CHUNKED, "H19 M30 H49 M54"),
    S("chunk data not scanned", PH "3\r\n\0\r\n\r\n0\r\n\r\n", CHUNKED, "H19 M32"),
    S("chunk size leading zeros", PH "0005\r\nhello\r\n0\r\n\r\n", CHUNKED, "H19 M37"),
    S("chunk sizes over the body limit", PH "a\r\n0123456789\r\nb\r\n", CHUNKED,
      "H19 E413@36 request body too large"),
    S("chunk size over the body limit", PH "15\r\n", CHUNKED, "H19 E413@22 request body too large"),
    S("chunk size 64 bits", PH "ffffffffffffffff\r\n", CHUNKED,
      "H19 E413@36 request body too large"),
    S("chunk size overflows", PH "10000000000000000\r\n", CHUNKED,
      "H19 E400@35 chunk size overflows"),
    S("chunk size sign +", PH "+5\r\nhello\r\n0\r\n\r\n", CHUNKED,
      "H19 E400@19 invalid chunk size"),
    S("chunk size sign -", PH "-5\r\nhello\r\n0\r\n\r\n", CHUNKED,
      "H19 E400@19 invalid chunk size"),
    S("chunk size SP before", PH " 5\r\nhello\r\n0\r\n\r\n", CHUNKED,
      "H19 E400@19 invalid chunk size"),
    S("chunk size empty", PH "\r\nhello\r\n0\r\n\r\n", CHUNKED, "H19 E400@19 bare CR"),
    S("chunk size 0x", PH "0x5\r\nhello\r\n0\r\n\r\n", CHUNKED, "H19 E400@20 invalid chunk size"),
    S("chunk size non-hex", PH "5g\r\nhello\r\n0\r\n\r\n", CHUNKED,
      "H19 E400@20 invalid chunk size"),
    S("chunk size SP after", PH "5 \r\nhello\r\n0\r\n\r\n", CHUNKED, "H19 E400@21 bare CR"),
    S("chunk size SP digit", PH "5 5\r\nhello\r\n0\r\n\r\n", CHUNKED,
      "H19 E400@21 invalid chunk size"),
    S("chunk ext", PH "5;a=b\r\nhello\r\n0\r\n\r\n", CHUNKED, "H19 M38"),
    S("chunk ext after BWS", PH "5 \t;a\r\nhello\r\n0\r\n\r\n", CHUNKED, "H19 M38"),
    S("chunk ext obs-text", PH "5;\x80\xff\r\nhello\r\n0\r\n\r\n", CHUNKED, "H19 M37"),
    S("chunk ext on the last chunk", PH "0;x\r\n\r\n", CHUNKED, "H19 M26"),
    S("chunk ext control", PH "5;a\x01\r\nhello\r\n0\r\n\r\n", CHUNKED,
      "H19 E400@22 control character in a chunk extension"),
    S("chunk ext DEL", PH "5;\x7f\r\nhello\r\n0\r\n\r\n", CHUNKED,
      "H19 E400@21 control character in a chunk extension"),
    S("chunk ext NUL", PH "5;\0\r\nhello\r\n0\r\n\r\n", CHUNKED, "H19 E400@21 NUL byte"),
    S("chunk ext bare LF", PH "5;a\nhello\r\n0\r\n\r\n", CHUNKED,
      "H19 E400@22 bare LF (lines must end in CRLF)"),
    S("chunk line bare CR", PH "5\rXhello\r\n0\r\n\r\n", CHUNKED,
      "H19 E400@21 bare CR in a chunk line"),
    S("chunk line bare LF", PH "5\nhello\r\n0\r\n\r\n", CHUNKED,
      "H19 E400@20 bare LF (lines must end in CRLF)"),
    S("chunk data too long", PH "5\r\nhelloX\r\n0\r\n\r\n", CHUNKED,
      "H19 E400@27 chunk data not followed by CRLF"),
    S("chunk data CR alone", PH "5\r\nhello\rX0\r\n\r\n", CHUNKED,
      "H19 E400@28 chunk data not followed by CRLF"),
    S("chunk data LF alone", PH "5\r\nhello\n0\r\n\r\n", CHUNKED,
      "H19 E400@27 chunk data not followed by CRLF"),
    S("chunk data short, CRLF inside", PH "5\r\nhel\r\n0\r\n\r\n", CHUNKED,
      "H19 E400@27 chunk data not followed by CRLF"),
    /* Trailers: checked like header fields */
    S("trailer", PH "0\r\nX-T: v\r\n\r\n", CHUNKED, "H19 M32"),
    S("trailers, then a request", PH "0\r\nA: 1\r\nB: 2\r\n\r\n" RL "\r\n", CHUNKED, "H19 M36 H54"),
    S("trailer obs-fold", PH "0\r\nX-T: v\r\n w\r\n\r\n", CHUNKED,
      "H19 E400@30 obsolete line folding"),
    S("trailer bare LF", PH "0\r\nX-T: v\n\r\n", CHUNKED,
      "H19 E400@28 bare LF (lines must end in CRLF)"),
    S("trailer SP before colon", PH "0\r\nX-T : v\r\n\r\n", CHUNKED,
      "H19 E400@25 white space before the colon of a header"),
    S("trailer control", PH "0\r\nX-T: \x1b\r\n\r\n", CHUNKED,
      "H19 E400@27 control character in a header value"),
    S("trailer empty name", PH "0\r\n: v\r\n\r\n", CHUNKED, "H19 E400@22 invalid header name"),
    S("trailers bare CR", PH "0\r\n\rX", CHUNKED, "H19 E400@23 bare CR"),
};

/* Inputs too long to write out: the limits at their edges. */
static void scan_limits(void)
{
    static char in[8192], want[128];
    size_t n;

    /* Head: exactly SC_MAX_HEAD bytes, and one more. */
    for (int extra = 0; extra <= 1; extra++) {
        n = (size_t)snprintf(in, sizeof in, RL "X: %0*d\r\n\r\n", 77 + extra, 0);
        snprintf(want, sizeof want, extra ? "E431@100 request line and headers too large" : "H100");
        scan_case(extra ? "head limit + 1" : "head limit", in, n, SC_MAX_HEAD, NOBODY, want);
    }
    /* Empty lines before a request line count against the head. */
    n = 0;
    for (int i = 0; i < 42; i++) n += (size_t)snprintf(in + n, sizeof in - n, "\r\n");
    n += (size_t)snprintf(in + n, sizeof in - n, "GET / HTTP/1.1\r\n\r\n");
    scan_case("empty lines count", in, n, SC_MAX_HEAD, NOBODY,
              "E431@100 request line and headers too large");
    /* Each field run stops at the limit: a long name, target, value. */
    n = (size_t)snprintf(in, sizeof in, RL "%0*d: v\r\n\r\n", 90, 0);
    scan_case("long name", in, n, SC_MAX_HEAD, NOBODY,
              "E431@100 request line and headers too large");
    n = (size_t)snprintf(in, sizeof in, "GET /%0*d HTTP/1.1\r\n\r\n", 100, 0);
    scan_case("long target", in, n, SC_MAX_HEAD, NOBODY,
              "E431@100 request line and headers too large");
    /* Trailers: the limit again, counted from the first trailer byte. */
    for (int extra = 0; extra <= 1; extra++) {
        n = (size_t)snprintf(in, sizeof in, PH "0\r\nX: %0*d\r\n\r\n", 93 + extra, 0);
        snprintf(want, sizeof want, extra ? "H19 E431@122 trailers too large" : "H19 M122");
        scan_case(extra ? "trailer limit + 1" : "trailer limit", in, n, SC_MAX_HEAD, CHUNKED, want);
    }
    /* A chunk line: exactly 4096 bytes with its CRLF, and one more. */
    for (int extra = 0; extra <= 1; extra++) {
        n = (size_t)snprintf(in, sizeof in, PH "1;");
        memset(in + n, 'e', 4092 + (size_t)extra);
        n += 4092 + (size_t)extra;
        n += (size_t)snprintf(in + n, sizeof in - n, "\r\nx\r\n0\r\n\r\n");
        snprintf(want, sizeof want, extra ? "H19 E400@4115 chunk line too long" : "H19 M4123");
        scan_case(extra ? "chunk line limit + 1" : "chunk line limit", in, n, SC_MAX_HEAD, CHUNKED,
                  want);
    }
}

static void test_scanner(void)
{
    for (size_t i = 0; i < sizeof scan_cases / sizeof scan_cases[0]; i++) {
        const struct scan_case *c = &scan_cases[i];
        scan_case(c->name, c->in, c->len, SC_MAX_HEAD, c->body, c->want);
    }
    scan_limits();
}

/* ------------------------------------------------------------------------ */
/* Part two: the request path                                               */
/* ------------------------------------------------------------------------ */

#define H_MAX_HEAD 200
#define H_MAX_BODY 20

struct http_run {
    struct gw_http *http;
    pc_buf transcript;
    bool closed; /* a non-keep-alive request: conn.c stops reading */
    int status;
    const char *why;
};

static void on_begin(void *ctx) { (void)ctx; }
static int on_head(void *ctx, struct gw_req *r)
{
    (void)ctx;
    (void)r;
    return 0;
}

static void on_request(void *ctx, struct gw_req *r)
{
    struct http_run *run = ctx;

    pc_buf_printf(&run->transcript, "[%s %u ", r->method, (unsigned)r->http_minor);
    pc_buf_append(&run->transcript, r->head.data, r->target_len);
    for (uint32_t i = 0; i < r->nhdrs; i++) {
        pc_buf_putc(&run->transcript, '|');
        pc_buf_append(&run->transcript, gw_req_hdr_name(r, i), r->hdrs[i].name_len);
        pc_buf_putc(&run->transcript, ':');
        pc_buf_append(&run->transcript, gw_req_hdr_value(r, i), r->hdrs[i].value_len);
    }
    size_t body_len;
    const char *body = gw_req_body(r, &body_len);
    pc_buf_printf(&run->transcript, " body=%zu:", body_len);
    pc_buf_append(&run->transcript, body, body_len);
    pc_buf_printf(&run->transcript, " ka=%d]", r->keep_alive);
    if (!r->keep_alive) { /* as conn.c: pause, and read no more */
        run->closed = true;
        gw_http_pause(run->http, true);
    }
    gw_req_free(r);
}

/* Feeds a piece as conn.c does: until it is all taken, or an error. */
static bool http_piece(void *ctx, const char *d, size_t len)
{
    struct http_run *run = ctx;
    size_t pos = 0;

    while (pos < len && !run->closed) {
        size_t n = gw_http_feed(run->http, d + pos, len - pos, &run->status, &run->why);
        if (run->status) return false;
        if (n == 0 && !run->closed) { /* only a pause may leave bytes */
            run->status = -1;
            run->why = "feed took nothing";
            return false;
        }
        pos += n;
    }
    return !run->closed;
}

struct http_case {
    const char *name;
    const char *in;
    size_t len;
    const char *want; /* transcript of the requests handed over */
    int status;       /* then: 0, or the refusal */
    const char *why;
};

/* Runs one request-path case at every cut, with these limits. */
static void http_case_limits(const struct http_case *c, size_t max_head, size_t max_body)
{
    struct gw_http_limits lim = {max_head, max_body};
    size_t bad = 0;

    for (size_t cut = 0; cut <= c->len; cut++) {
        struct http_run run = {0};
        struct gw_http_sink sink = {&run, on_begin, on_head, on_request};
        pc_buf_init(&run.transcript);
        run.http = gw_http_new(&sink, &lim);
        feed_cut(c->in, c->len, cut == c->len ? SIZE_MAX : cut, http_piece, &run);
        pc_buf_putc(&run.transcript, '\0');
        if (strcmp(run.transcript.data, c->want) != 0 || run.status != c->status ||
            (c->status && strcmp(run.why, c->why) != 0)) {
            if (bad++ == 0)
                fprintf(stderr, "http %s, cut %s%zu: \"%s\" %d \"%s\", expected \"%s\" %d \"%s\"\n",
                        c->name, cut == c->len ? "bytes " : "", cut == c->len ? (size_t)1 : cut,
                        run.transcript.data, run.status, run.status ? run.why : "", c->want,
                        c->status, c->status ? c->why : "");
        }
        gw_http_free(run.http);
        pc_buf_deinit(&run.transcript);
    }
    CHECK(bad == 0);
}

#define OK(name, lit, want)                                                                        \
    {                                                                                              \
        name, lit, sizeof(lit) - 1, want, 0, NULL                                                  \
    }
#define NO(name, lit, want, st, why)                                                               \
    {                                                                                              \
        name, lit, sizeof(lit) - 1, want, st, why                                                  \
    }
#define GH "GET / HTTP/1.1\r\nHost: a\r\n"
#define PO "POST / HTTP/1.1\r\nHost: a\r\n"
#define GOT_G "[GET 1 /|host:a body=0: ka=1]"
#define CL_BAD(name, v, why)                                                                       \
    NO("Content-Length " name, PO "Content-Length: " v "\r\n\r\nhello", "", 400, why)
#define CL_CHAR "invalid character in content-length header" /* http_parser's own check */
#define TE_BAD(name, v)                                                                            \
    NO("Transfer-Encoding " name, PO "Transfer-Encoding: " v "\r\n\r\n0\r\n\r\n", "", 400,         \
       "Transfer-Encoding must be exactly chunked")

static const struct http_case http_cases[] = {
    OK("GET", GH "\r\n", GOT_G),
    OK("names lower-cased, value trimmed", GH "X-Big:  v w \t\r\n\r\n",
       "[GET 1 /|host:a|x-big:v w body=0: ka=1]"),
    OK("HTTP/1.0 without Host", "GET /a?b HTTP/1.0\r\n\r\n", "[GET 0 /a?b body=0: ka=0]"),
    OK("HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" GH "\r\n",
       "[GET 0 /|connection:keep-alive body=0: ka=1]" GOT_G),
    OK("Connection: close stops reading", GH "Connection: close\r\n\r\n" GH "\r\n",
       "[GET 1 /|host:a|connection:close body=0: ka=0]"),
    OK("pipelined", GH "\r\n" GH "\r\n" GH "\r\n", GOT_G GOT_G GOT_G),
    NO("broken after good ones", GH "\r\n" GH " x\r\n\r\n", GOT_G, 400, "obsolete line folding"),
    NO("method unknown to the parser", "BREW / HTTP/1.1\r\nHost: a\r\n\r\n", "", 400,
       "invalid HTTP method"),
    /* Host */
    NO("HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n", "", 400, "missing Host"),
    NO("two Hosts", GH "Host: a\r\n\r\n", "", 400, "more than one Host"),
    NO("empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", "", 400, "invalid Host"),
    NO("Host with SP", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "", 400, "invalid Host"),
    NO("Host with '/'", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", "", 400, "invalid Host"),
    OK("Host IPv6 and port", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
       "[GET 1 /|host:[::1]:8080 body=0: ka=1]"),
    /* Content-Length */
    OK("Content-Length", PO "Content-Length: 5\r\n\r\nhello",
       "[POST 1 /|host:a|content-length:5 body=5:hello ka=1]"),
    OK("Content-Length 0", PO "Content-Length: 0\r\n\r\n" GH "\r\n",
       "[POST 1 /|host:a|content-length:0 body=0: ka=1]" GOT_G),
    OK("Content-Length 18 digits", PO "Content-Length: 000000000000000005\r\n\r\nhello",
       "[POST 1 /|host:a|content-length:000000000000000005 body=5:hello ka=1]"),
    OK("Content-Length OWS", PO "Content-Length:  5 \r\n\r\nhello",
       "[POST 1 /|host:a|content-length:5 body=5:hello ka=1]"),
    OK("request in a body", PO "Content-Length: 19\r\n\r\nGET /x HTTP/1.1\r\n\r\n",
       "[POST 1 /|host:a|content-length:19 body=19:GET /x HTTP/1.1\r\n\r\n ka=1]"),
    CL_BAD("19 digits", "0000000000000000005", "invalid Content-Length"),
    CL_BAD("+5", "+5", CL_CHAR),
    CL_BAD("-1", "-1", CL_CHAR),
    CL_BAD("0x5", "0x5", CL_CHAR),
    CL_BAD("5 5", "5 5", CL_CHAR),
    CL_BAD("5,5", "5,5", CL_CHAR),
    CL_BAD("empty", "", CL_CHAR),
    /* http_parser refuses a second Content-Length, and one next to
     * Transfer-Encoding, before on_headers_complete does */
    NO("two Content-Length", PO "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", "", 400,
       "unexpected content-length header"),
    NO("Content-Length over the limit", PO "Content-Length: 21\r\n\r\n", "", 413,
       "request body too large"),
    /* Transfer-Encoding */
    OK("chunked, trailers dropped",
       PO "Transfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
       "[POST 1 /|host:a|transfer-encoding:chunked body=5:hello ka=1]"),
    OK("CHUNKED", PO "Transfer-Encoding: CHUNKED\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
       "[POST 1 /|host:a|transfer-encoding:CHUNKED body=2:hi ka=1]"),
    TE_BAD("gzip, chunked", "gzip, chunked"),
    TE_BAD("chunked, identity", "chunked, identity"),
    TE_BAD("identity", "identity"),
    TE_BAD("chunked;x", "chunked;x"),
    NO("two Transfer-Encoding",
       PO "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", "", 400,
       "more than one Transfer-Encoding"),
    NO("Content-Length then Transfer-Encoding",
       PO "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "", 400,
       "unexpected content-length header"),
    NO("Transfer-Encoding then Content-Length",
       PO "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", "", 400,
       "unexpected content-length header"),
    NO("Transfer-Encoding in HTTP/1.0",
       "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "", 400,
       "Transfer-Encoding in an HTTP/1.0 request"),
    NO("chunks over the body limit",
       PO "Transfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\nb\r\n", "", 413,
       "request body too large"),
    NO("bad chunk line", PO "Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", "", 400,
       "bare CR"),
    /* The scanner's refusals reach the connection unchanged */
    NO("obs-fold", GH "X: a\r\n b\r\n\r\n", "", 400, "obsolete line folding"),
    NO("bare LF", "GET / HTTP/1.1\nHost: a\n\n", "", 400, "bare LF (lines must end in CRLF)"),
    NO("absolute-form", "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", "", 400,
       "request target must be a path starting with /"),
};

/* The limits that need long inputs. */
static void http_limits(void)
{
    static char in[4096];
    size_t n;

    /* 600 header lines: the limit is bytes, not lines (SPEC 5, 7). */
    {
        n = (size_t)snprintf(in, sizeof in, "GET / HTTP/1.0\r\n");
        for (int i = 0; i < 600; i++) n += (size_t)snprintf(in + n, sizeof in - n, "a:b\r\n");
        n += (size_t)snprintf(in + n, sizeof in - n, "\r\n");
        static char want[4096];
        size_t k = (size_t)snprintf(want, sizeof want, "[GET 0 /");
        for (int i = 0; i < 600; i++) k += (size_t)snprintf(want + k, sizeof want - k, "|a:b");
        snprintf(want + k, sizeof want - k, " body=0: ka=0]");
        struct http_case c = {"600 headers", in, n, want, 0, NULL};
        http_case_limits(&c, 4000, H_MAX_BODY);
    }
    /* A head over the limit, as the scanner counts it. */
    n = (size_t)snprintf(in, sizeof in, GH "X: %0*d\r\n\r\n", H_MAX_HEAD, 0);
    struct http_case big = {
        "head over the limit", in, n, "", 431, "request line and headers too large"};
    http_case_limits(&big, H_MAX_HEAD, H_MAX_BODY);
}

static void test_http(void)
{
    for (size_t i = 0; i < sizeof http_cases / sizeof http_cases[0]; i++)
        http_case_limits(&http_cases[i], H_MAX_HEAD, H_MAX_BODY);
    http_limits();
}

int main(void)
{
    test_scanner();
    test_http();
    fprintf(stderr, "framing: %zu scanner cases, %zu request-path cases, %d feeds\n",
            sizeof scan_cases / sizeof scan_cases[0] + 9,
            sizeof http_cases / sizeof http_cases[0] + 3, runs);
    return test_finish("framing");
}
