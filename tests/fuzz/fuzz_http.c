/* fuzz_http.c -- the HTTP request path (gw_http_*) on a whole connection's input.
 *
 * The input is everything a client sends on one connection. It is fed three
 * ways: in one piece; one byte at a time (short inputs); and cut at points
 * drawn from a hash of the input, pausing after every request the way the
 * connection does for its pipelining cap. Each run keeps a transcript of the
 * requests handed over (method, target, headers, body, keep-alive, the
 * stored head and its offsets) and whether the parse failed; all runs must
 * agree, since where a TCP read happens to cut the stream must never change
 * what is forwarded. The whole input is also fed in one piece without the
 * plain-request reader (http.c's fast path): the same requests, refusal
 * and reason. Every
 * request must also satisfy what the rest of the gateway relies on. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "http.h"
#include "names.h"
#include "req.h"

/* http.c is compiled alone here, with tests/fuzz/req_stub.c for req.c. */

#define FZ_MAX_HEADER 2048 /* small limits so that 413 and 431 are reachable */
#define FZ_MAX_BODY 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
    struct gw_http *http;
    pc_buf transcript;
    int nreqs;
    bool pause_each; /* pause after each request, resume before the next feed */
    bool closed;     /* a non-keep-alive request ended the connection */
    const char *why; /* the refusal's reason */
};

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_http: invariant failed: %s (line %d)\n", #c, __LINE__);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void on_begin(void *ctx) { (void)ctx; }

static int on_head(void *ctx, struct gw_req *r)
{
    (void)ctx;
    CHECK(r->target_len >= 1 && r->head.data[0] == '/');
    return 0;
}

/* What the rest of the gateway assumes of a parsed request. */
static void check_request(const struct gw_req *r)
{
    const char *target = r->head.data;
    int cl = 0, te = 0, host = 0;

    CHECK(!r->head.oom && !r->body.oom);
    CHECK(r->method[0] != '\0');
    CHECK(r->target_len >= 1 && target[0] == '/');
    CHECK(r->path_len <= r->target_len);
    for (uint32_t i = 0; i < r->target_len; i++) {
        unsigned char c = (unsigned char)target[i];
        CHECK(c > 0x20 && c != 0x7f && c != '#');
    }
    CHECK(r->body.len - r->body_room <= FZ_MAX_BODY);
    CHECK(r->http_minor <= 1);
    for (uint32_t i = 0; i < r->nhdrs; i++) {
        const char *n = gw_req_hdr_name(r, i), *v = gw_req_hdr_value(r, i);
        size_t nl = r->hdrs[i].name_len, vl = r->hdrs[i].value_len;
        CHECK(pc_header_name_is_valid(n, nl));
        CHECK(pc_header_value_is_valid(v, vl));
        for (size_t k = 0; k < nl; k++) CHECK(!(n[k] >= 'A' && n[k] <= 'Z'));
        CHECK(vl == 0 || (v[0] != ' ' && v[0] != '\t' && v[vl - 1] != ' ' && v[vl - 1] != '\t'));
        if (nl == 14 && memcmp(n, "content-length", 14) == 0) cl++;
        if (nl == 17 && memcmp(n, "transfer-encoding", 17) == 0) te++;
        if (nl == 4 && memcmp(n, "host", 4) == 0) host++;
    }
    CHECK(cl <= 1 && te <= 1 && !(cl && te));
    CHECK(host <= 1 && (r->http_minor == 0 || host == 1));
    CHECK(!(te && r->http_minor == 0));
}

static void on_request(void *ctx, struct gw_req *r)
{
    struct run *run = ctx;

    check_request(r);
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
    pc_buf_printf(&run->transcript, " ka=%d head=%d path=%u in=%llu len=%llu", r->keep_alive,
                  r->is_head, (unsigned)r->path_len, (unsigned long long)r->bytes_in,
                  (unsigned long long)r->body_length);
    /* the stored head itself, and where each header sits in it */
    pc_buf_printf(&run->transcript, " raw=%zu:", r->head.len);
    pc_buf_append(&run->transcript, r->head.data, r->head.len);
    for (uint32_t i = 0; i < r->nhdrs; i++)
        pc_buf_printf(&run->transcript, " %u+%u,%u+%u", (unsigned)r->hdrs[i].name_off,
                      (unsigned)r->hdrs[i].name_len, (unsigned)r->hdrs[i].value_off,
                      (unsigned)r->hdrs[i].value_len);
    pc_buf_putc(&run->transcript, ']');
    run->nreqs++;
    if (!r->keep_alive) { /* the connection stops reading, as conn.c does */
        run->closed = true;
        gw_http_pause(run->http, true);
    } else if (run->pause_each) {
        gw_http_pause(run->http, true);
    }
    gw_req_free(r);
}

/* A small deterministic generator (splitmix64). */
static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Feeds data in pieces: step 0 = one piece, 1 = bytes, else random cuts
 * (seeded); slow: without the plain-request reader. Returns the error
 * status (0 if none); the transcript, and the refusal's reason, are in run. */
static int feed_all(struct run *run, const uint8_t *data, size_t size, int step, uint64_t seed,
                    bool slow)
{
    struct gw_http_sink sink = {run, on_begin, on_head, on_request};
    struct gw_http_limits lim = {FZ_MAX_HEADER, FZ_MAX_BODY};
    size_t pos = 0;
    int status = 0;

    run->http = gw_http_new(&sink, &lim);
    gw_http_slow_only(run->http, slow);
    run->why = NULL;
    while (pos < size && !run->closed) {
        size_t piece = size - pos;
        const char *why = NULL;
        if (step == 1)
            piece = 1;
        else if (step > 1)
            piece = 1 + (size_t)(next_rand(&seed) % 64);
        if (piece > size - pos) piece = size - pos;
        /* A piece is fed until the parser takes all of it, as conn_parse does
         * with one evbuffer chunk; a pause is lifted before going on. */
        size_t off = 0;
        while (off < piece && !run->closed) {
            size_t n =
                gw_http_feed(run->http, (const char *)data + pos + off, piece - off, &status, &why);
            CHECK(n <= piece - off);
            if (status) {
                CHECK(status == 400 || status == 413 || status == 431);
                CHECK(why != NULL && why[0] != '\0');
                run->why = why;
                /* a failed parser stays failed */
                int st2 = 0;
                const char *why2 = NULL;
                CHECK(gw_http_feed(run->http, "GET / HTTP/1.1\r\n\r\n", 18, &st2, &why2) == 0);
                CHECK(st2 == status);
                break;
            }
            off += n;
            if (off < piece && !run->closed) {
                CHECK(run->pause_each); /* only a pause leaves bytes unconsumed */
                gw_http_pause(run->http, false);
            }
        }
        if (status) break;
        pos += piece;
    }
    gw_http_free(run->http);
    if (getenv("FUZZ_HTTP_VERBOSE")) /* to see why runs disagree */
        fprintf(stderr, "step %d%s: status %d (%s), %d request(s): %.*s\n", step,
                slow ? " slow" : "", status, run->why ? run->why : "-", run->nreqs,
                (int)run->transcript.len, run->transcript.len ? run->transcript.data : "");
    return status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct run a = {0}, b = {0};
    uint64_t seed = 1469598103934665603ull;
    int sa, sb;

    if (size > 65536) return 0;
    for (size_t i = 0; i < size; i++) seed = (seed ^ data[i]) * 1099511628211ull;
    pc_buf_init(&a.transcript);
    pc_buf_init(&b.transcript);

    sa = feed_all(&a, data, size, 0, 0, false);
    /* In one piece without the plain-request reader: exactly the same, the
     * refusal and its reason included. */
    sb = feed_all(&b, data, size, 0, 0, true);
    CHECK(sa == sb && a.nreqs == b.nreqs && a.transcript.len == b.transcript.len);
    CHECK(a.transcript.len == 0 ||
          memcmp(a.transcript.data, b.transcript.data, a.transcript.len) == 0);
    CHECK((a.why == NULL) == (b.why == NULL) && (a.why == NULL || strcmp(a.why, b.why) == 0));
    for (int k = 0; k < 3; k++) {
        int step = k == 0 ? 1 : 2;
        if (step == 1 && size > 4096) continue; /* byte steps: short inputs only */
        pc_buf_reset(&b.transcript);
        b.nreqs = 0;
        b.closed = false;
        b.pause_each = (k != 1);
        sb = feed_all(&b, data, size, step, seed + (uint64_t)k, false);
        CHECK((sa == 0) == (sb == 0));
        CHECK(a.nreqs == b.nreqs);
        CHECK(a.transcript.len == b.transcript.len);
        CHECK(a.transcript.len == 0 ||
              memcmp(a.transcript.data, b.transcript.data, a.transcript.len) == 0);
    }
    pc_buf_deinit(&a.transcript);
    pc_buf_deinit(&b.transcript);
    return 0;
}
