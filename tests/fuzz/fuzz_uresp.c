/* fuzz_uresp.c -- an upstream's response parser (src/gateway/uresp.c).
 *
 * The first input byte chooses a split point and whether the request was a
 * HEAD; the rest is the upstream's bytes. Invariants beyond "no crash, no
 * UB":
 *   - the outcome does not depend on how the bytes are cut: fed whole, or in
 *     two pieces at the chosen point, the same head (status, headers), the
 *     same body bytes, the same end (complete, error, or wanting more), and
 *     the same number of bytes taken;
 *   - head comes at most once, with a final status (200..599), before any
 *     body byte; done comes at most once, after head; a HEAD, 204 or 304
 *     response has no body; a response with a length has exactly that many
 *     body bytes when done;
 *   - an error always says why;
 *   - a plain head read without http_parser (uresp.c's fast path) comes
 *     out exactly as http_parser reads it;
 *   - a caller that takes the rest of a body with a length itself once the
 *     head is parsed (gw_uresp_body_taken, as the gateway reads such bodies
 *     straight into the client's output) sees the same bytes and the same end. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uresp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_uresp: invariant failed: %s (line %d)\n", #c, __LINE__);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

struct rec {
    int heads, dones, status;
    uint64_t hsum;   /* header names and values, hashed */
    uint64_t length; /* announced */
    uint64_t body_len;
    uint64_t body_sum;
    size_t used;
    int result; /* 0 complete, 1 error, 2 more */
};

static uint64_t mix(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

static int on_head(void *ctx, const struct gw_uresp_head *h)
{
    struct rec *r = ctx;
    CHECK(r->heads == 0 && r->body_len == 0);
    CHECK(h->status >= 200 && h->status <= 599);
    r->heads++;
    r->status = h->status;
    r->length = h->content_length;
    r->hsum = 14695981039346656037ULL;
    for (size_t i = 0; i < h->nheaders; i++) {
        r->hsum = mix(r->hsum, h->headers[i].name, h->headers[i].name_len);
        r->hsum = mix(r->hsum, ":", 1);
        r->hsum = mix(r->hsum, h->headers[i].value, h->headers[i].value_len);
        for (size_t k = 0; k < h->headers[i].name_len; k++)
            CHECK(!(h->headers[i].name[k] >= 'A' && h->headers[i].name[k] <= 'Z'));
    }
    return 0;
}

static int on_body(void *ctx, const char *p, size_t n)
{
    struct rec *r = ctx;
    CHECK(r->heads == 1 && r->dones == 0);
    r->body_len += n;
    r->body_sum = mix(r->body_sum, p, n);
    return 0;
}

static int on_done(void *ctx)
{
    struct rec *r = ctx;
    CHECK(r->heads == 1 && r->dones == 0);
    r->dones++;
    return 0;
}

/* raw: after the first piece, the rest of a body with a length is taken
 * by the caller in pieces of at most 1000 bytes, bytes beyond it fed. */
static void run(const char *p, size_t n, size_t cut, bool head, bool raw, bool slow, struct rec *r)
{
    struct gw_uresp_sink sink = {r, on_head, on_body, on_done};
    gw_uresp *u = gw_uresp_new(&sink);

    gw_uresp_slow_only(u, slow);
    const char *why = NULL;
    size_t used = 0, pos = 0;
    int rc = GW_URESP_OK;

    memset(r, 0, sizeof *r);
    gw_uresp_reset(u, head);
    size_t pieces[2] = {cut, n - cut};
    for (int i = 0; i < 2 && rc == GW_URESP_OK && r->dones == 0; i++) {
        rc = gw_uresp_feed(u, p + pos, pieces[i], &used, &why);
        r->used += used;
        if (rc == GW_URESP_OK && r->dones == 0) CHECK(used == pieces[i]);
        pos += pieces[i];
        if (raw && i == 0 && rc == GW_URESP_OK) {
            uint64_t left;
            while ((left = gw_uresp_body_left(u)) > 0 && pos < n) {
                size_t k = n - pos < 1000 ? n - pos : 1000;
                if (k > left) k = (size_t)left;
                CHECK(r->heads == 1 && r->dones == 0);
                r->body_len += k;
                r->body_sum = mix(r->body_sum, p + pos, k);
                gw_uresp_body_taken(u, k);
                r->used += k;
                pos += k;
            }
            pieces[1] = n - pos;
        }
    }
    if (rc != GW_URESP_OK) {
        CHECK(why != NULL && why[0] != '\0');
        r->result = 1;
    } else {
        r->result = r->dones ? 0 : 2;
    }
    if (r->dones) {
        if (head || r->status == 204 || r->status == 304) CHECK(r->body_len == 0);
        if (!head && r->length != GW_URESP_NO_LENGTH && r->status != 204 && r->status != 304)
            CHECK(r->body_len == r->length);
    }
    gw_uresp_free(u);
}

/* An error found in the first piece may come before bytes the whole run
 * never needed to see; everything else must agree. */
static void check_same(const struct rec *whole, const struct rec *split)
{
    CHECK(whole->result == split->result);
    CHECK(whole->heads == split->heads && whole->dones == split->dones);
    CHECK(whole->status == split->status && whole->hsum == split->hsum);
    CHECK(whole->body_len == split->body_len && whole->body_sum == split->body_sum);
    if (whole->result == 0) CHECK(whole->used == split->used);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rec whole, split;
    bool head;
    size_t cut;
    char *p;

    if (size < 1) return 0;
    head = data[0] & 1;
    data++;
    size--;
    p = malloc(size ? size : 1); /* exactly size bytes: ASan sees a read past it */
    CHECK(p != NULL);
    memcpy(p, data, size);
    cut = size ? (size_t)(data[-1] >> 1) * size / 128 : 0;
    if (cut > size) cut = size;

    run(p, size, size, head, false, true, &whole);  /* http_parser alone */
    run(p, size, size, head, false, false, &split); /* plain heads without it */
    check_same(&whole, &split);
    run(p, size, cut, head, false, true, &split);
    check_same(&whole, &split);
    run(p, size, cut, head, false, false, &split);
    check_same(&whole, &split);
    run(p, size, cut, head, true, false, &split);
    check_same(&whole, &split);
    free(p);
    return 0;
}
