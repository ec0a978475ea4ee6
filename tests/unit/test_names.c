/* test_names.c -- the name and syntax validators of names.h. */
#include <string.h>

#include "names.h"
#include "test.h"

#define S(x) (x), strlen(x)

static void test_service(void)
{
    CHECK(pc_service_name_is_valid(S("users")));
    CHECK(pc_service_name_is_valid(S("0")));
    CHECK(pc_service_name_is_valid(S("a.b_c-d9")));
    CHECK(!pc_service_name_is_valid(S("")));
    CHECK(!pc_service_name_is_valid(S("Users")));
    CHECK(!pc_service_name_is_valid(S("-users")));
    CHECK(!pc_service_name_is_valid(S(".users")));
    CHECK(!pc_service_name_is_valid(S("us ers")));
    CHECK(!pc_service_name_is_valid(S("us:ers")));
    CHECK(!pc_service_name_is_valid("a\0b", 3));

    char name[PC_SERVICE_MAX + 2];
    memset(name, 'a', sizeof(name));
    CHECK(pc_service_name_is_valid(name, PC_SERVICE_MAX));
    CHECK(!pc_service_name_is_valid(name, PC_SERVICE_MAX + 1));
}

static void test_instance(void)
{
    CHECK(pc_instance_id_is_valid(S("users-1b4e28ba")));
    CHECK(pc_instance_id_is_valid(S("Host.local:8080_A-1")));
    CHECK(!pc_instance_id_is_valid(S("")));
    CHECK(!pc_instance_id_is_valid(S("a/b")));
    CHECK(!pc_instance_id_is_valid(S("a b")));
    CHECK(!pc_instance_id_is_valid(S("a*")));

    char id[PC_INSTANCE_MAX + 1];
    memset(id, 'Z', sizeof(id));
    CHECK(pc_instance_id_is_valid(id, PC_INSTANCE_MAX));
    CHECK(!pc_instance_id_is_valid(id, PC_INSTANCE_MAX + 1));
}

static void test_method(void)
{
    CHECK(pc_method_is_valid(S("GET")));
    CHECK(pc_method_is_valid(S("*")));
    CHECK(pc_method_is_valid(S("M-SEARCH")));
    CHECK(pc_method_is_valid(S("PROPFIND2")));
    CHECK(!pc_method_is_valid(S("")));
    CHECK(!pc_method_is_valid(S("get")));
    CHECK(!pc_method_is_valid(S("Get")));
    CHECK(!pc_method_is_valid(S("GE T")));
    CHECK(!pc_method_is_valid(S("GET\r")));
    CHECK(!pc_method_is_valid(S("G(T")));
    CHECK(!pc_method_is_valid("GE\0T", 4));

    char m[PC_METHOD_MAX + 1];
    memset(m, 'X', sizeof(m));
    CHECK(pc_method_is_valid(m, PC_METHOD_MAX));
    CHECK(!pc_method_is_valid(m, PC_METHOD_MAX + 1));
}

static void test_pattern(void)
{
    static const char *good[] = {
        "/",
        "/users",
        "/users/{id}",
        "/users/{id}/posts/{post_id}",
        "/files/*",
        "/*",
        "/a/{x}/*",
        "/caf\xc3\xa9",
        "/v1.0/a-b_c~d",
        "/{A_9}",
        "/a b",
        "/...",
        "/.well-known/x",
    };
    static const char *bad[] = {
        "",           "users",      "//",           "/users/",      "/a//b",        "/users/{}",
        "/users/{id", "/users/id}", "/users/{i-d}", "/users/x{id}", "/users/{id}x", "/*/x",
        "/a*",        "/a/**",      "/a?b",         "/a#b",         "/a%20b",       "/.",
        "/..",        "/a/./b",     "/a/../b",      "/{id}/{id}",   "/a\tb",        "/a\x7f",
        "/\xc3",      "/\xff",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!pc_pattern_is_valid(S(good[i]))) fprintf(stderr, "should be valid: \"%s\"\n", good[i]);
        CHECK(pc_pattern_is_valid(S(good[i])));
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (pc_pattern_is_valid(S(bad[i]))) fprintf(stderr, "should be invalid: \"%s\"\n", bad[i]);
        CHECK(!pc_pattern_is_valid(S(bad[i])));
    }
    CHECK(!pc_pattern_is_valid("/a\0b", 4));

    /* Param name length: 64 is the limit. */
    char p[128];
    p[0] = '/';
    p[1] = '{';
    memset(p + 2, 'n', 64);
    p[66] = '}';
    CHECK(pc_pattern_is_valid(p, 67));
    memset(p + 2, 'n', 65);
    p[67] = '}';
    CHECK(!pc_pattern_is_valid(p, 68));

    /* PC_PATTERN_MAX_PARAMS params, and one more. */
    char q[512];
    size_t n = 0;
    for (int i = 0; i <= PC_PATTERN_MAX_PARAMS; i++) {
        n += (size_t)snprintf(q + n, sizeof(q) - n, "/{p%d}", i);
        if (i == PC_PATTERN_MAX_PARAMS - 1) CHECK(pc_pattern_is_valid(q, n));
    }
    CHECK(!pc_pattern_is_valid(q, n));

    /* Length limit. */
    static char big[PC_PATTERN_MAX + 2];
    big[0] = '/';
    memset(big + 1, 'a', sizeof(big) - 1);
    CHECK(pc_pattern_is_valid(big, PC_PATTERN_MAX));
    CHECK(!pc_pattern_is_valid(big, PC_PATTERN_MAX + 1));
}

static void test_headers(void)
{
    CHECK(pc_header_name_is_valid(S("content-type")));
    CHECK(pc_header_name_is_valid(S("X-Request-Id")));
    CHECK(pc_header_name_is_valid(S("a!#$%&'*+-.^_`|~9")));
    CHECK(!pc_header_name_is_valid(S("")));
    CHECK(!pc_header_name_is_valid(S("content type")));
    CHECK(!pc_header_name_is_valid(S("content:type")));
    CHECK(!pc_header_name_is_valid(S("a\r\nb")));
    CHECK(!pc_header_name_is_valid(S("caf\xc3\xa9")));
    CHECK(!pc_header_name_is_valid("a\0", 2));

    CHECK(pc_header_value_is_valid(S("")));
    CHECK(pc_header_value_is_valid(S("text/html; charset=utf-8")));
    CHECK(pc_header_value_is_valid(S("a\tb")));
    CHECK(pc_header_value_is_valid(S("caf\xc3\xa9 \xff")));
    CHECK(!pc_header_value_is_valid(S("a\rb")));
    CHECK(!pc_header_value_is_valid(S("a\nb")));
    CHECK(!pc_header_value_is_valid("a\0b", 3));
    CHECK(!pc_header_value_is_valid(S("a\x01")));
    CHECK(!pc_header_value_is_valid(S("a\x7f")));
}

static void test_hop_by_hop(void)
{
    static const char *hop[] = {
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-",
    };
    static const char *end[] = {
        "content-type",
        "content-length",
        "host",
        "tea",
        "t",
        "connections",
        "trailers",
        "upgrade-insecure-requests",
        "proxy",
        "x-proxy-id",
        "x-forwarded-for",
    };
    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        CHECK(pc_header_is_hop_by_hop(S(hop[i])));
    for (size_t i = 0; i < sizeof(end) / sizeof(end[0]); i++)
        CHECK(!pc_header_is_hop_by_hop(S(end[i])));
    /* Length, not NUL, ends the name. */
    CHECK(!pc_header_is_hop_by_hop("te", 1));
    CHECK(pc_header_is_hop_by_hop("tex", 2));
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    test_service();
    test_instance();
    test_method();
    test_pattern();
    test_headers();
    test_hop_by_hop();
    return test_finish("names");
}
