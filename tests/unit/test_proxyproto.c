/* test_proxyproto.c -- PROXY protocol v1 and v2 headers (proxyproto.h),
 * byte-exact: every case whole, followed by application bytes, and cut at
 * every offset (a proper prefix of a valid header must ask for more; a bad
 * one must never be taken); and through gw_clientaddr_proxy, the
 * connection's path, with the bytes arriving in two reads split at every
 * offset. */
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "clientaddr.h"
#include "proxyproto.h"
#include "test.h"

#define SIG2 "\r\n\r\n\0\r\nQUIT\n"

struct pp_case {
    const char *name;
    const char *bytes;
    size_t len;
    int result;      /* GW_PP_DONE or GW_PP_ERROR */
    const char *src; /* DONE: the source as text, NULL for none (LOCAL, UNKNOWN) */
    unsigned sport, dport;
    const char *dst;
};

#define B(s) s, sizeof(s) - 1

static const struct pp_case cases[] = {
    /* v1 */
    {"v1 tcp4", B("PROXY TCP4 203.0.113.9 192.0.2.1 56324 443\r\n"), GW_PP_DONE, "203.0.113.9",
     56324, 443, "192.0.2.1"},
    {"v1 tcp6", B("PROXY TCP6 2001:db8::9 2001:db8::1 1 65535\r\n"), GW_PP_DONE, "2001:db8::9", 1,
     65535, "2001:db8::1"},
    {"v1 tcp6 mapped", B("PROXY TCP6 ::ffff:198.51.100.7 ::1 0 80\r\n"), GW_PP_DONE, "198.51.100.7",
     0, 80, "::1"},
    {"v1 unknown", B("PROXY UNKNOWN\r\n"), GW_PP_DONE, NULL, 0, 0, NULL},
    {"v1 unknown with addresses", B("PROXY UNKNOWN ffff:f...f:ffff 1.2.3.4 65535 65535\r\n"),
     GW_PP_DONE, NULL, 0, 0, NULL},
    {"v1 longest",
     B("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
       "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
     GW_PP_DONE, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, 65535,
     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
    {"v1 108 bytes",
     B("PROXY UNKNOWN 0123456789012345678901234567890123456789012345678901234567"
       "8901234567890123456789012345678901234567\r\n"),
     GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v1 no CRLF in 107",
     B("PROXY TCP4 1.2.3.4 5.6.7.8 1 2                                     "
       "                                                         "),
     GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v1 bare LF", B("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v1 CR alone", B("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX\n"), GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v1 lower case", B("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v1 no space", B("PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n"), GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v1 tcp5", B("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n"), GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v1 unknownx", B("PROXY UNKNOWNX\r\n"), GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v1 empty", B("PROXY \r\n"), GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v1 two spaces", B("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"), GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v1 trailing space", B("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n"), GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v1 missing port", B("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v1 extra field", B("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"), GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v1 v6 address in tcp4", B("PROXY TCP4 ::1 5.6.7.8 1 2\r\n"), GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v1 v4 address in tcp6", B("PROXY TCP6 1.2.3.4 ::1 1 2\r\n"), GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v1 bad address", B("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n"), GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v1 short address", B("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n"), GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v1 leading zero address", B("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n"), GW_PP_ERROR, NULL, 0, 0,
     NULL},
    {"v1 bad dst", B("PROXY TCP4 1.2.3.4 x 1 2\r\n"), GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v1 port too big", B("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"), GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v1 port leading zero", B("PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n"), GW_PP_ERROR, NULL, 0, 0,
     NULL},
    {"v1 port sign", B("PROXY TCP4 1.2.3.4 5.6.7.8 +80 2\r\n"), GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v1 port six digits", B("PROXY TCP4 1.2.3.4 5.6.7.8 1 000001\r\n"), GW_PP_ERROR, NULL, 0, 0,
     NULL},
    {"v1 zone", B("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n"), GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v1 NUL", B("PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n"), GW_PP_ERROR, NULL, 0, 0, NULL},
    /* neither */
    {"http", B("GET / HTTP/1.1\r\n\r\n"), GW_PP_ERROR, NULL, 0, 0, NULL},
    {"P but not PROXY", B("POST / HTTP/1.1\r\n\r\n"), GW_PP_ERROR, NULL, 0, 0, NULL},
    {"CRLF", B("\r\n\r\nGET / HTTP/1.1\r\n\r\n"), GW_PP_ERROR, NULL, 0, 0, NULL},
    {"TLS hello", B("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), GW_PP_ERROR, NULL, 0, 0, NULL},
    /* v2 */
    {"v2 tcp4",
     B(SIG2 "\x21\x11\x00\x0c"
            "\xcb\x00\x71\x09"
            "\xc0\x00\x02\x01"
            "\xdc\x04"
            "\x01\xbb"),
     GW_PP_DONE, "203.0.113.9", 56324, 443, "192.0.2.1"},
    {"v2 tcp6",
     B(SIG2 "\x21\x21\x00\x24"
            "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x09"
            "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
            "\x00\x01\xff\xff"),
     GW_PP_DONE, "2001:db8::9", 1, 65535, "2001:db8::1"},
    {"v2 tcp6 mapped",
     B(SIG2 "\x21\x21\x00\x24"
            "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xc6\x33\x64\x07"
            "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
            "\x00\x50\x00\x50"),
     GW_PP_DONE, "198.51.100.7", 80, 80, "::1"},
    {"v2 tcp4 with TLVs",
     B(SIG2 "\x21\x11\x00\x1a"
            "\x0a\x00\x00\x01"
            "\x0a\x00\x00\x02"
            "\x00\x50\x01\xbb"
            "\x01\x00\x08"
            "http/1.1" /* ALPN */
            "\x04\x00\x00" /* NOOP, empty */),
     GW_PP_DONE, "10.0.0.1", 80, 443, "10.0.0.2"},
    {"v2 local", B(SIG2 "\x20\x00\x00\x00"), GW_PP_DONE, NULL, 0, 0, NULL},
    {"v2 local with block",
     B(SIG2 "\x20\x11\x00\x0c"
            "\x01\x02\x03\x04"
            "\x05\x06\x07\x08"
            "\x00\x01\x00\x02"),
     GW_PP_DONE, NULL, 0, 0, NULL},
    {"v2 unspec",
     B(SIG2 "\x21\x00\x00\x03"
            "abc"),
     GW_PP_DONE, NULL, 0, 0, NULL},
    {"v2 version 1",
     B(SIG2 "\x11\x11\x00\x0c"
            "\x01\x02\x03\x04"
            "\x05\x06\x07\x08"
            "\x00\x01\x00\x02"),
     GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v2 version 3",
     B(SIG2 "\x31\x11\x00\x0c"
            "\x01\x02\x03\x04"
            "\x05\x06\x07\x08"
            "\x00\x01\x00\x02"),
     GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v2 command 2",
     B(SIG2 "\x22\x11\x00\x0c"
            "\x01\x02\x03\x04"
            "\x05\x06\x07\x08"
            "\x00\x01\x00\x02"),
     GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v2 udp4",
     B(SIG2 "\x21\x12\x00\x0c"
            "\x01\x02\x03\x04"
            "\x05\x06\x07\x08"
            "\x00\x01\x00\x02"),
     GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v2 family 4",
     B(SIG2 "\x21\x41\x00\x0c"
            "\x01\x02\x03\x04"
            "\x05\x06\x07\x08"
            "\x00\x01\x00\x02"),
     GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v2 tcp4 short block",
     B(SIG2 "\x21\x11\x00\x0b"
            "\x01\x02\x03\x04"
            "\x05\x06\x07\x08"
            "\x00\x01\x00"),
     GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v2 tcp6 short block",
     B(SIG2 "\x21\x21\x00\x0c"
            "\x01\x02\x03\x04"
            "\x05\x06\x07\x08"
            "\x00\x01\x00\x02"),
     GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v2 unix short block",
     B(SIG2 "\x21\x31\x00\x0c"
            "\x01\x02\x03\x04"
            "\x05\x06\x07\x08"
            "\x00\x01\x00\x02"),
     GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v2 too long", B(SIG2 "\x21\x11\x10\x01"), GW_PP_ERROR, NULL, 0, 0, NULL},
    {"v2 bad signature", B("\r\n\r\n\0\r\nQUIT\r\x21\x11\x00\x00"), GW_PP_ERROR, NULL, 0, 0, NULL},
};

#define NCASES (sizeof cases / sizeof cases[0])

/* The address as text, for comparing. */
static const char *ip_text(const struct gw_ip *ip, char *buf)
{
    if (ip->len == 0) return NULL;
    gw_ip_format(ip, buf);
    return buf;
}

static void check_done(const struct pp_case *c, const struct gw_pp_header *h, size_t hlen)
{
    char buf[GW_IP_TEXT_MAX];
    const char *src = ip_text(&h->src, buf);

    CHECK_EQ_INT(h->len, hlen);
    if (c->src == NULL) {
        if (src != NULL) fprintf(stderr, "%s: unexpected source %s\n", c->name, src);
        CHECK(src == NULL);
        return;
    }
    CHECK_EQ_STR(src, c->src);
    CHECK_EQ_STR(ip_text(&h->dst, buf), c->dst);
    CHECK_EQ_INT(h->src_port, c->sport);
    CHECK_EQ_INT(h->dst_port, c->dport);
}

/* The header alone, followed by other bytes, and every proper prefix. */
static void test_cases(void)
{
    for (size_t i = 0; i < NCASES; i++) {
        const struct pp_case *c = &cases[i];
        struct gw_pp_header h;
        unsigned char *buf = malloc(c->len + 64);
        bool erred = false;
        int rc;

        memcpy(buf, c->bytes, c->len);
        rc = gw_pp_parse(buf, c->len, &h);
        if (rc != c->result) fprintf(stderr, "case \"%s\": %d (%s)\n", c->name, rc, h.why);
        CHECK_EQ_INT(rc, c->result);
        if (rc == GW_PP_DONE) check_done(c, &h, c->len);
        if (rc == GW_PP_ERROR) CHECK(h.why != NULL && h.why[0] != '\0');

        /* then application bytes: the same header, the same length */
        static const char more[] = "GET / HTTP/1.1\r\n\r\n" SIG2;
        memcpy(buf + c->len, more, sizeof more - 1);
        rc = gw_pp_parse(buf, c->len + sizeof more - 1, &h);
        CHECK_EQ_INT(rc, c->result);
        if (rc == GW_PP_DONE) check_done(c, &h, c->len);

        /* every cut: a prefix of a valid header asks for more; a bad one
         * may be refused early, and once refused stays refused */
        for (size_t k = 0; k < c->len; k++) {
            rc = gw_pp_parse(buf, k, &h);
            if (c->result == GW_PP_DONE) {
                if (rc != GW_PP_MORE)
                    fprintf(stderr, "case \"%s\" cut at %zu: %d\n", c->name, k, rc);
                CHECK_EQ_INT(rc, GW_PP_MORE);
            } else {
                CHECK(rc != GW_PP_DONE);
                if (erred) CHECK_EQ_INT(rc, GW_PP_ERROR);
                if (rc == GW_PP_ERROR) erred = true;
            }
        }
        free(buf);
    }
}

/* Through the connection's function: two reads, split at every offset, the
 * header drained and the request left; the address taken (or kept). */
static void test_clientaddr_splits(void)
{
    static const char tail[] = "GET / HTTP/1.1\r\n\r\n";
    for (size_t i = 0; i < NCASES; i++) {
        const struct pp_case *c = &cases[i];
        for (size_t k = 0; k <= c->len; k++) {
            struct evbuffer *in = evbuffer_new();
            struct gw_clientaddr ca = {
                .ip = {4, {127, 0, 0, 2}}, .text = "127.0.0.2", .proxied = false};
            const char *why = NULL;
            int rc;

            evbuffer_add(in, c->bytes, k);
            rc = gw_clientaddr_proxy(&ca, in, &why);
            if (rc == GW_PP_MORE) {
                evbuffer_add(in, c->bytes + k, c->len - k);
                evbuffer_add(in, tail, sizeof tail - 1);
                rc = gw_clientaddr_proxy(&ca, in, &why);
            }
            CHECK_EQ_INT(rc, c->result);
            if (rc == GW_PP_DONE) {
                CHECK_EQ_INT(evbuffer_get_length(in), k == c->len ? 0 : sizeof tail - 1);
                CHECK_EQ_STR(ca.text, c->src ? c->src : "127.0.0.2");
                CHECK(ca.proxied);
            } else {
                CHECK(why != NULL);
            }
            evbuffer_free(in);
        }
    }
}

/* v2 at the length bound and just past it; TLVs of the whole bound. */
static void test_v2_bounds(void)
{
    size_t n = GW_PP_V2_HEAD + GW_PP_V2_MAX_LEN;
    unsigned char *b = calloc(1, n + 1);
    struct gw_pp_header h;

    memcpy(b, SIG2 "\x21\x11", 14);
    b[14] = (unsigned char)(GW_PP_V2_MAX_LEN >> 8);
    b[15] = (unsigned char)(GW_PP_V2_MAX_LEN & 0xff);
    b[16] = 10;
    b[19] = 7;
    CHECK_EQ_INT(gw_pp_parse(b, n - 1, &h), GW_PP_MORE);
    CHECK_EQ_INT(gw_pp_parse(b, n, &h), GW_PP_DONE);
    CHECK_EQ_INT(h.len, n);
    CHECK_EQ_INT(h.src.b[0], 10);
    CHECK_EQ_INT(h.src.b[3], 7);
    b[15]++; /* one byte more than the bound: refused on the 16 bytes alone */
    CHECK_EQ_INT(gw_pp_parse(b, GW_PP_V2_HEAD, &h), GW_PP_ERROR);
    CHECK_EQ_INT(gw_pp_parse(b, GW_PP_V2_HEAD - 1, &h), GW_PP_MORE);
    free(b);
    CHECK_EQ_INT(gw_pp_parse((const unsigned char *)"", 0, &h), GW_PP_MORE);
}

int main(void)
{
    test_cases();
    test_clientaddr_splits();
    test_v2_bounds();
    return test_finish("test_proxyproto");
}
