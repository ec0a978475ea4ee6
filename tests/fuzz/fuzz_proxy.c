/* fuzz_proxy.c -- the PROXY protocol parser (src/gateway/proxyproto.c).
 *
 * The input is the first bytes of a connection. Invariants beyond "no
 * crash, no UB": the parser only ever looks at what it is given, so
 *   - every prefix of the input is answered consistently with the whole:
 *     a header found whole (DONE, len L) is MORE on every prefix shorter
 *     than L and the same DONE (same length, addresses, ports) on every
 *     prefix at least L long; once a prefix is refused, every longer one is;
 *   - a DONE header is at most GW_PP_V1_MAX (v1) or 16 + GW_PP_V2_MAX_LEN
 *     (v2) bytes, within the input, and its source, if any, is a valid
 *     address that formats and parses back to itself;
 *   - an ERROR always says why. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxyproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_proxy: invariant failed: %s (line %d)\n", #c, __LINE__);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool same(const struct gw_pp_header *a, const struct gw_pp_header *b)
{
    return a->len == b->len && a->version == b->version && a->src.len == b->src.len &&
           memcmp(a->src.b, b->src.b, sizeof a->src.b) == 0 && a->dst.len == b->dst.len &&
           memcmp(a->dst.b, b->dst.b, sizeof a->dst.b) == 0 && a->src_port == b->src_port &&
           a->dst_port == b->dst_port;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gw_pp_header whole, h;
    enum gw_pp_result rc, prc;
    bool refused = false;

    if (size > 2 * (GW_PP_V2_HEAD + GW_PP_V2_MAX_LEN))
        size = 2 * (GW_PP_V2_HEAD + GW_PP_V2_MAX_LEN);
    /* a private copy, exactly size bytes: ASan sees any read past it */
    uint8_t *p = malloc(size ? size : 1);
    CHECK(p != NULL);
    memcpy(p, data, size);

    rc = gw_pp_parse(p, size, &whole);
    CHECK(rc == GW_PP_DONE || rc == GW_PP_MORE || rc == GW_PP_ERROR);
    if (rc == GW_PP_ERROR) CHECK(whole.why != NULL && whole.why[0] != '\0');
    if (rc == GW_PP_DONE) {
        CHECK(whole.len > 0 && whole.len <= size);
        CHECK(whole.version == 1 || whole.version == 2);
        CHECK(whole.len <= (whole.version == 1 ? GW_PP_V1_MAX : GW_PP_V2_HEAD + GW_PP_V2_MAX_LEN));
        CHECK(whole.src.len == 0 || whole.src.len == 4 || whole.src.len == 16);
        if (whole.src.len != 0) {
            char text[GW_IP_TEXT_MAX];
            struct gw_ip back;
            gw_ip_format(&whole.src, text);
            CHECK(gw_ip_parse(text, strlen(text), &back));
            CHECK(back.len == whole.src.len && memcmp(back.b, whole.src.b, back.len) == 0);
            CHECK(whole.dst.len == 4 || whole.dst.len == 16); /* mapped: may differ from src */
        }
    }

    for (size_t k = 0; k < size; k++) {
        prc = gw_pp_parse(p, k, &h);
        if (refused) CHECK(prc == GW_PP_ERROR);
        if (prc == GW_PP_ERROR) {
            refused = true;
            CHECK(rc == GW_PP_ERROR);
            CHECK(h.why != NULL);
        }
        if (rc == GW_PP_DONE) {
            if (k < whole.len)
                CHECK(prc == GW_PP_MORE);
            else
                CHECK(prc == GW_PP_DONE && same(&h, &whole));
        }
        if (rc == GW_PP_MORE) CHECK(prc == GW_PP_MORE);
    }
    free(p);
    return 0;
}
