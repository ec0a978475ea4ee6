/* test_cidr.c -- addresses and CIDR sets (cidr.h), and the client address
 * decided from them (clientaddr.h): X-Forwarded-For from trusted peers,
 * spoofed from untrusted ones, malformed entries, and what the service is
 * passed on (headers.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "clientaddr.h"
#include "req.h"
#include "headers.h"
#include "test.h"
#include "xalloc.h"

static struct gw_ip ip(const char *s)
{
    struct gw_ip a;
    if (!gw_ip_parse(s, strlen(s), &a)) memset(&a, 0, sizeof a);
    return a;
}

static void test_ip_parse(void)
{
    static const char *const good[][2] = {
        {"10.0.0.1", "10.0.0.1"},
        {"::1", "::1"},
        {"2001:DB8::1", "2001:db8::1"},
        {"::ffff:192.0.2.1", "192.0.2.1"},
        {"0.0.0.0", "0.0.0.0"},
        {"::", "::"},
        {"0:0:0:0:0:ffff:c000:201", "192.0.2.1"},
    };
    static const char *const bad[] = {
        "",           "1.2.3",      "1.2.3.4.5",
        "1.2.3.256",  "01.2.3.4",   "1.2.3.4 ",
        " 1.2.3.4",   "[::1]",      "::1%lo",
        "1.2.3.4/8",  "x",          ":::",
        "1.2.3.4:80", "0x7f.0.0.1", "1111:2222:3333:4444:5555:6666:7777:8888:9999",
    };
    char out[GW_IP_TEXT_MAX];
    struct gw_ip a;

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        CHECK(gw_ip_parse(good[i][0], strlen(good[i][0]), &a));
        gw_ip_format(&a, out);
        CHECK_EQ_STR(out, good[i][1]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool ok = gw_ip_parse(bad[i], strlen(bad[i]), &a);
        if (ok) fprintf(stderr, "accepted \"%s\"\n", bad[i]);
        CHECK(!ok);
    }
    CHECK(!gw_ip_parse("1.2.3.4\0", 8, &a)); /* a NUL inside */
    CHECK(gw_ip_parse("1.2.3.4xyz", 7, &a)); /* only the n bytes given */
    /* from sockets: mapped IPv4 reduced; unix is not an address */
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::ffff:10.1.2.3", &s6.sin6_addr);
    gw_ip_of_sockaddr((struct sockaddr *)&s6, &a);
    CHECK_EQ_INT(a.len, 4);
    gw_ip_format(&a, out);
    CHECK_EQ_STR(out, "10.1.2.3");
    struct sockaddr un = {.sa_family = AF_UNIX};
    gw_ip_of_sockaddr(&un, &a);
    CHECK_EQ_INT(a.len, 0);
    gw_ip_format(&a, out);
    CHECK_EQ_STR(out, "unix");
}

static void test_set_parse(void)
{
    struct gw_cidr_set s;
    char why[200];
    static const char *const bad[][2] = {
        {",", "empty entry in the list"},
        {"10.0.0.0/8,", "empty entry in the list"},
        {"10.0.0.0/8,,::1", "empty entry in the list"},
        {" , 10.0.0.1", "empty entry in the list"},
        {"10.0.0.0/33", "\"10.0.0.0/33\" has a bad prefix length"},
        {"::/129", "\"::/129\" has a bad prefix length"},
        {"10.0.0.0/", "\"10.0.0.0/\" has a bad prefix length"},
        {"10.0.0.0/08", "\"10.0.0.0/08\" has a bad prefix length"},
        {"10.0.0.0/-1", "\"10.0.0.0/-1\" has a bad prefix length"},
        {"10.0.0.0/1000", "\"10.0.0.0/1000\" has a bad prefix length"},
        {"10.0.0.0/8/8", "\"10.0.0.0/8/8\" has a bad prefix length"},
        {"::ffff:10.0.0.0/95", "\"::ffff:10.0.0.0/95\" has a bad prefix length"},
        {"10.0.0", "\"10.0.0\" is not an IPv4 or IPv6 address"},
        {"10.0.0.0 /8", "\"10.0.0.0 \" is not an IPv4 or IPv6 address"},
        {"localhost", "\"localhost\" is not an IPv4 or IPv6 address"},
        {"10.0.0.0/8;192.168.0.0/16", "\"10.0.0.0/8;192.168.0.0/16\" has a bad prefix length"},
    };

    CHECK(gw_cidr_set_parse(&s, "", why, sizeof why));
    CHECK_EQ_INT(s.n, 0);
    CHECK(gw_cidr_set_parse(&s, "  ", why, sizeof why));
    CHECK_EQ_INT(s.n, 0);
    CHECK(gw_cidr_set_parse(&s, "10.0.0.0/8, 192.168.1.7 ,\tfd00::/8,::1,::ffff:172.16.0.0/108",
                            why, sizeof why));
    CHECK_EQ_INT(s.n, 5);
    CHECK_EQ_INT(s.v[1].bits, 32);
    CHECK_EQ_INT(s.v[3].bits, 128);
    CHECK_EQ_INT(s.v[4].net.len, 4); /* the mapped block is an IPv4 /12 */
    CHECK_EQ_INT(s.v[4].bits, 12);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        CHECK(!gw_cidr_set_parse(&s, bad[i][0], why, sizeof why));
        CHECK_EQ_STR(why, bad[i][1]);
    }
    /* the bound: GW_CIDR_MAX blocks, not one more */
    char list[GW_CIDR_MAX * 16 + 16] = "";
    for (int i = 0; i < GW_CIDR_MAX; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s10.0.%d.0/24", i ? "," : "",
                 i);
    CHECK(gw_cidr_set_parse(&s, list, why, sizeof why));
    CHECK_EQ_INT(s.n, GW_CIDR_MAX);
    strcat(list, ",10.9.9.9");
    CHECK(!gw_cidr_set_parse(&s, list, why, sizeof why));
    CHECK_EQ_STR(why, "more than 64 blocks");
}

static void test_match(void)
{
    struct gw_cidr_set s;
    char why[200];
    struct gw_ip none = {0};

    CHECK(gw_cidr_set_parse(&s, "10.1.2.3/8, 192.168.1.128/25, 2001:db8:ab00::/40, ::1, 0.0.0.0/32",
                            why, sizeof why));
    struct gw_ip t;
    t = ip("10.0.0.0");
    CHECK(gw_cidr_set_has(&s, &t));
    t = ip("10.255.255.255");
    CHECK(gw_cidr_set_has(&s, &t)); /* host bits of 10.1.2.3/8 ignored */
    t = ip("11.0.0.0");
    CHECK(!gw_cidr_set_has(&s, &t));
    t = ip("9.255.255.255");
    CHECK(!gw_cidr_set_has(&s, &t));
    t = ip("192.168.1.128");
    CHECK(gw_cidr_set_has(&s, &t));
    t = ip("192.168.1.255");
    CHECK(gw_cidr_set_has(&s, &t));
    t = ip("192.168.1.127");
    CHECK(!gw_cidr_set_has(&s, &t));
    t = ip("::ffff:10.9.9.9"); /* mapped: matched as IPv4 */
    CHECK(gw_cidr_set_has(&s, &t));
    t = ip("2001:db8:abff:ffff::1");
    CHECK(gw_cidr_set_has(&s, &t));
    t = ip("2001:db8:ac00::");
    CHECK(!gw_cidr_set_has(&s, &t));
    t = ip("::1");
    CHECK(gw_cidr_set_has(&s, &t));
    t = ip("::2");
    CHECK(!gw_cidr_set_has(&s, &t));
    t = ip("0.0.0.0");
    CHECK(gw_cidr_set_has(&s, &t));
    t = ip("0.0.0.1");
    CHECK(!gw_cidr_set_has(&s, &t));
    CHECK(!gw_cidr_set_has(&s, &none));
    /* families never cross: ::/0 is not 0.0.0.0/0 */
    CHECK(gw_cidr_set_parse(&s, "::/0", why, sizeof why));
    t = ip("1.2.3.4");
    CHECK(!gw_cidr_set_has(&s, &t));
    t = ip("2001::1");
    CHECK(gw_cidr_set_has(&s, &t));
    CHECK(gw_cidr_set_parse(&s, "0.0.0.0/0", why, sizeof why));
    t = ip("1.2.3.4");
    CHECK(gw_cidr_set_has(&s, &t));
    t = ip("2001::1");
    CHECK(!gw_cidr_set_has(&s, &t));
}

/* ------------------------------------------------------- client address */

static void add_hdr(struct gw_req *r, const char *name, const char *value)
{
    if (r->nhdrs == r->hdrs_cap) {
        r->hdrs_cap = r->hdrs_cap ? r->hdrs_cap * 2 : 8;
        r->hdrs = realloc(r->hdrs, r->hdrs_cap * sizeof *r->hdrs);
        pc_check(r->hdrs != NULL);
    }
    struct gw_hdr *h = &r->hdrs[r->nhdrs++];
    h->name_off = (uint32_t)r->head.len;
    h->name_len = (uint32_t)strlen(name);
    pc_buf_puts(&r->head, name);
    h->value_off = (uint32_t)r->head.len;
    h->value_len = (uint32_t)strlen(value);
    pc_buf_puts(&r->head, value);
}

/* Resolves with peer (trusted per set) and the X-Forwarded-For values
 * xff[0..n) (NULL-terminated), then builds the header passed on: checks the
 * address and that header. */
static void check_client(const char *set, const char *peer, const char *const *xff,
                         const char *want_addr, const char *want_xff)
{
    struct gw_cidr_set s;
    char why[200];
    struct gw_req r;
    struct sockaddr_storage ss = {0};
    struct gw_clientaddr ca;
    struct pc_kv in[16], out[16 + GW_HEADERS_ADDED];
    pc_buf scratch;
    size_t k;

    memset(&r, 0, sizeof r);
    pc_buf_init(&r.head);
    pc_buf_init(&scratch);
    CHECK(gw_cidr_set_parse(&s, set, why, sizeof why));
    if (strchr(peer, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        inet_pton(AF_INET6, peer, &s6->sin6_addr);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        inet_pton(AF_INET, peer, &s4->sin_addr);
    }
    gw_clientaddr_init(&ca, (struct sockaddr *)&ss, false);
    add_hdr(&r, "host", "x");
    for (size_t i = 0; xff && xff[i]; i++) add_hdr(&r, "x-forwarded-for", xff[i]);
    gw_clientaddr_resolve(&ca, &s, r.head.data, r.hdrs, r.nhdrs, r.remote_addr);
    if (strcmp(r.remote_addr, want_addr) != 0)
        fprintf(stderr, "peer %s, set \"%s\", xff[0] \"%s\": got %s\n", peer, set,
                xff && xff[0] ? xff[0] : "", r.remote_addr);
    CHECK_EQ_STR(r.remote_addr, want_addr);

    for (uint32_t i = 0; i < r.nhdrs; i++)
        in[i] = (struct pc_kv){gw_req_hdr_name(&r, i), r.hdrs[i].name_len, gw_req_hdr_value(&r, i),
                               r.hdrs[i].value_len};
    k = gw_headers_to_service(in, r.nhdrs, "rid", r.remote_addr, false, NULL, NULL, out, &scratch);
    for (size_t i = 0; i < k; i++)
        if (out[i].name_len == 15 && memcmp(out[i].name, "x-forwarded-for", 15) == 0) {
            char v[512];
            snprintf(v, sizeof v, "%.*s", (int)out[i].value_len, out[i].value);
            if (strcmp(v, want_xff) != 0) fprintf(stderr, "  x-forwarded-for: %s\n", v);
            CHECK_EQ_STR(v, want_xff);
        }
    free(r.hdrs);
    pc_buf_deinit(&r.head);
    pc_buf_deinit(&scratch);
}

#define XFF(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_client_address(void)
{
    const char *tp = "10.0.0.0/8, fd00::/8";

    /* untrusted peer: headers change nothing, all passed on, peer appended */
    check_client("", "203.0.113.5", XFF("1.1.1.1"), "203.0.113.5", "1.1.1.1, 203.0.113.5");
    check_client(tp, "203.0.113.5", XFF("1.1.1.1, 10.0.0.1"), "203.0.113.5",
                 "1.1.1.1, 10.0.0.1, 203.0.113.5");
    check_client(tp, "203.0.113.5", NULL, "203.0.113.5", "203.0.113.5");
    check_client(tp, "::ffff:203.0.113.5", XFF("1.1.1.1"), "203.0.113.5", "1.1.1.1, 203.0.113.5");
    /* trusted peer: the right-most untrusted entry, appended to all that was
     * received (SPEC §4: "the client address appended to any value the
     * client sent"; nginx's realip + $proxy_add_x_forwarded_for alike) */
    check_client(tp, "10.0.0.9", XFF("198.51.100.7"), "198.51.100.7", "198.51.100.7, 198.51.100.7");
    check_client(tp, "10.0.0.9", XFF("6.6.6.6, 198.51.100.7, 10.0.0.5"), "198.51.100.7",
                 "6.6.6.6, 198.51.100.7, 10.0.0.5, 198.51.100.7");
    check_client(tp, "10.0.0.9", XFF("6.6.6.6", "198.51.100.7,10.0.0.5", "10.0.0.6"),
                 "198.51.100.7", "6.6.6.6, 198.51.100.7,10.0.0.5, 10.0.0.6, 198.51.100.7");
    check_client(tp, "fd00::1", XFF("2001:db8::7, fd00::2"), "2001:db8::7",
                 "2001:db8::7, fd00::2, 2001:db8::7");
    /* spelled differently, canonical out */
    check_client(tp, "10.0.0.9", XFF("2001:DB8:0::7"), "2001:db8::7", "2001:DB8:0::7, 2001:db8::7");
    check_client(tp, "10.0.0.9", XFF("::ffff:198.51.100.7"), "198.51.100.7",
                 "::ffff:198.51.100.7, 198.51.100.7");
    check_client(tp, "10.0.0.9", XFF("198.51.100.7:4711"), "198.51.100.7",
                 "198.51.100.7:4711, 198.51.100.7");
    check_client(tp, "10.0.0.9", XFF("[2001:db8::7]:443"), "2001:db8::7",
                 "[2001:db8::7]:443, 2001:db8::7");
    check_client(tp, "10.0.0.9", XFF("[2001:db8::7]"), "2001:db8::7", "[2001:db8::7], 2001:db8::7");
    /* all trusted: the left-most */
    check_client(tp, "10.0.0.9", XFF("10.0.0.1, 10.0.0.2"), "10.0.0.1",
                 "10.0.0.1, 10.0.0.2, 10.0.0.1");
    /* no entry: the peer */
    check_client(tp, "10.0.0.9", NULL, "10.0.0.9", "10.0.0.9");
    check_client(tp, "10.0.0.9", XFF(""), "10.0.0.9", "10.0.0.9");
    check_client(tp, "10.0.0.9", XFF(" , ,"), "10.0.0.9", " , ,, 10.0.0.9");
    /* malformed before any untrusted entry (walking from the right): the peer */
    check_client(tp, "10.0.0.9", XFF("198.51.100.7, unknown"), "10.0.0.9",
                 "198.51.100.7, unknown, 10.0.0.9");
    check_client(tp, "10.0.0.9", XFF("198.51.100.7, garbage, 10.0.0.3"), "10.0.0.9",
                 "198.51.100.7, garbage, 10.0.0.3, 10.0.0.9");
    check_client(tp, "10.0.0.9", XFF("unknown"), "10.0.0.9", "unknown, 10.0.0.9");
    check_client(tp, "10.0.0.9", XFF("unknown, 10.0.0.1"), "10.0.0.9",
                 "unknown, 10.0.0.1, 10.0.0.9");
    /* malformed left of the untrusted one: never reached */
    check_client(tp, "10.0.0.9", XFF("garbage, 198.51.100.7"), "198.51.100.7",
                 "garbage, 198.51.100.7, 198.51.100.7");
    /* the malformed forms */
    static const char *const bad[] = {
        "1.2.3.4:",    "1.2.3.4:123456", "1.2.3.4:x",    "[1.2.3.4",        "[]",
        "[::1]x",      "[::1]:",         "::1:",         "1.2.3.4 5.6.7.8", "10.0.0.1/8",
        "\"1.2.3.4\"", "_hidden",        "[::1]:123456",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[128];
        snprintf(want, sizeof want, "%s, 10.0.0.9", bad[i]);
        check_client(tp, "10.0.0.9", XFF(bad[i]), "10.0.0.9", want);
    }
    /* trust is asked of the table handed to each resolve: one connection,
     * two tables (a reload between two of its requests) */
    struct gw_clientaddr ca;
    struct gw_cidr_set with, without;
    struct sockaddr_in s4 = {.sin_family = AF_INET};
    struct gw_req r;
    char why[200];
    memset(&r, 0, sizeof r);
    pc_buf_init(&r.head);
    add_hdr(&r, "x-forwarded-for", "198.51.100.7");
    CHECK(gw_cidr_set_parse(&with, tp, why, sizeof why));
    CHECK(gw_cidr_set_parse(&without, "", why, sizeof why));
    inet_pton(AF_INET, "10.0.0.9", &s4.sin_addr);
    gw_clientaddr_init(&ca, (struct sockaddr *)&s4, false);
    CHECK_EQ_STR(ca.text, "10.0.0.9");
    gw_clientaddr_resolve(&ca, &with, r.head.data, r.hdrs, r.nhdrs, r.remote_addr);
    CHECK_EQ_STR(r.remote_addr, "198.51.100.7");
    gw_clientaddr_resolve(&ca, &without, r.head.data, r.hdrs, r.nhdrs, r.remote_addr);
    CHECK_EQ_STR(r.remote_addr, "10.0.0.9");
    /* the PROXY source: its X-Forwarded-For is never read, trusted or not */
    gw_clientaddr_init(&ca, (struct sockaddr *)&s4, true);
    gw_clientaddr_resolve(&ca, &with, r.head.data, r.hdrs, r.nhdrs, r.remote_addr);
    CHECK_EQ_STR(r.remote_addr, "10.0.0.9");
    free(r.hdrs);
    pc_buf_deinit(&r.head);
}

int main(void)
{
    test_ip_parse();
    test_set_parse();
    test_match();
    test_client_address();
    return test_finish("test_cidr");
}
