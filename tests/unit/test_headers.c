/* test_headers.c -- which headers cross the gateway (SPEC §4). */
#include <stdlib.h>
#include <string.h>

#include "headers.h"
#include "test.h"

#define KV(n, v)                                                                                   \
    {                                                                                              \
        n, sizeof(n) - 1, v, sizeof(v) - 1                                                         \
    }

static size_t count_named(const struct pc_kv *h, size_t n, const char *name)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (h[i].name_len == strlen(name) && memcmp(h[i].name, name, h[i].name_len) == 0) c++;
    return c;
}

static const struct pc_kv *find(const struct pc_kv *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (h[i].name_len == strlen(name) && memcmp(h[i].name, name, h[i].name_len) == 0)
            return &h[i];
    return NULL;
}

static void test_to_service(void)
{
    const struct pc_kv in[] = {
        KV("host", "api.example"),
        KV("connection", "keep-alive, X-Secret"),
        KV("keep-alive", "timeout=5"),
        KV("x-secret", "hop"),
        KV("te", "trailers"),
        KV("trailer", "x"),
        KV("transfer-encoding", "chunked"),
        KV("upgrade", "websocket"),
        KV("proxy-authorization", "Basic x"),
        KV("proxy-connection", "keep-alive"),
        KV("accept", "*/*"),
        KV("x-request-id", "client-id"),
        KV("x-forwarded-for", "1.2.3.4"),
        KV("x-forwarded-for", "5.6.7.8"),
        KV("x-forwarded-proto", "https"),
        KV("accept", "text/html"),
    };
    size_t n = sizeof in / sizeof in[0];
    struct pc_kv out[sizeof in / sizeof in[0] + GW_HEADERS_ADDED];
    pc_buf scratch;
    size_t k;

    pc_buf_init(&scratch);
    k = gw_headers_to_service(in, n, "rid-1", "127.0.0.1", false, NULL, NULL, out, &scratch);

    /* Kept, in arrival order, repeated names kept. */
    CHECK_EQ_INT(k, 6);
    CHECK_EQ_MEM(out[0].name, out[0].name_len, "host", 4);
    CHECK_EQ_MEM(out[1].name, out[1].name_len, "accept", 6);
    CHECK_EQ_MEM(out[1].value, out[1].value_len, "*/*", 3);
    CHECK_EQ_MEM(out[2].name, out[2].name_len, "accept", 6);
    CHECK_EQ_MEM(out[2].value, out[2].value_len, "text/html", 9);
    /* Hop-by-hop, and headers named by Connection, are gone. */
    const char *gone[] = {"connection",      "keep-alive",        "x-secret", "te",
                          "trailer",         "transfer-encoding", "upgrade",  "proxy-authorization",
                          "proxy-connection"};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
        CHECK_EQ_INT(count_named(out, k, gone[i]), 0);
    /* Added once each, at the end. */
    CHECK_EQ_INT(count_named(out, k, "x-request-id"), 1);
    CHECK_EQ_INT(count_named(out, k, "x-forwarded-for"), 1);
    CHECK_EQ_INT(count_named(out, k, "x-forwarded-proto"), 1);
    const struct pc_kv *h = find(out, k, "x-request-id");
    CHECK(h && h->value_len == 5 && memcmp(h->value, "rid-1", 5) == 0);
    h = find(out, k, "x-forwarded-for");
    CHECK(h && h->value_len == strlen("1.2.3.4, 5.6.7.8, 127.0.0.1") &&
          memcmp(h->value, "1.2.3.4, 5.6.7.8, 127.0.0.1", h->value_len) == 0);
    h = find(out, k, "x-forwarded-proto");
    CHECK(h && h->value_len == 4 && memcmp(h->value, "http", 4) == 0);
    pc_buf_deinit(&scratch);
}

static void test_no_client_headers(void)
{
    struct pc_kv out[GW_HEADERS_ADDED];
    pc_buf scratch;
    size_t k;

    pc_buf_init(&scratch);
    k = gw_headers_to_service(NULL, 0, "r", "::1", false, "", NULL, out, &scratch);
    CHECK_EQ_INT(k, 3);
    const struct pc_kv *h = find(out, k, "x-forwarded-for");
    CHECK(h && h->value_len == 3 && memcmp(h->value, "::1", 3) == 0);
    /* An empty client x-forwarded-for adds nothing before the address. */
    const struct pc_kv in[] = {KV("x-forwarded-for", "")};
    struct pc_kv out2[1 + GW_HEADERS_ADDED];
    k = gw_headers_to_service(in, 1, "r", "10.0.0.1", false, NULL, NULL, out2, &scratch);
    h = find(out2, k, "x-forwarded-for");
    CHECK(h && h->value_len == 8 && memcmp(h->value, "10.0.0.1", 8) == 0);
    pc_buf_deinit(&scratch);
}

/* Over TLS the gateway says https, whatever the client claimed; a client's
 * "https" on a plain connection becomes http. */
static void test_proto(void)
{
    const struct pc_kv in[] = {KV("x-forwarded-proto", "http"), KV("x_forwarded_proto", "ftp")};
    struct pc_kv out[2 + GW_HEADERS_ADDED];
    const struct pc_kv in2[] = {KV("x-forwarded-proto", "https")};
    pc_buf scratch;
    size_t k;
    const struct pc_kv *h;

    pc_buf_init(&scratch);
    k = gw_headers_to_service(in, 2, "r", "10.0.0.1", true, NULL, NULL, out, &scratch);
    CHECK_EQ_INT(k, 3);
    CHECK_EQ_INT(count_named(out, k, "x-forwarded-proto"), 1);
    h = find(out, k, "x-forwarded-proto");
    CHECK(h && h->value_len == 5 && memcmp(h->value, "https", 5) == 0);
    k = gw_headers_to_service(in2, 1, "r", "10.0.0.1", false, NULL, NULL, out, &scratch);
    CHECK_EQ_INT(count_named(out, k, "x-forwarded-proto"), 1);
    h = find(out, k, "x-forwarded-proto");
    CHECK(h && h->value_len == 4 && memcmp(h->value, "http", 4) == 0);
    pc_buf_deinit(&scratch);
}

/* Client copies of the identity headers never pass; the verified ones are added. */
static void test_auth_identity(void)
{
    const struct pc_kv in[] = {
        KV("x-auth-subject", "admin"),
        KV("accept", "*/*"),
        KV("x-auth-key-id", "root"),
        KV("x-auth-subject-not", "kept"),
    };
    struct pc_kv out[4 + GW_HEADERS_ADDED];
    pc_buf scratch;
    size_t k;
    const struct pc_kv *h;

    pc_buf_init(&scratch);
    k = gw_headers_to_service(in, 4, "r", "10.0.0.1", false, NULL, NULL, out, &scratch);
    CHECK_EQ_INT(k, 2 + 3);
    CHECK_EQ_INT(count_named(out, k, "x-auth-subject"), 0);
    CHECK_EQ_INT(count_named(out, k, "x-auth-key-id"), 0);

    k = gw_headers_to_service(in, 4, "r", "10.0.0.1", false, "alice", "ci-key", out, &scratch);
    CHECK_EQ_INT(k, 2 + 5);
    CHECK_EQ_INT(count_named(out, k, "x-auth-subject"), 1);
    CHECK_EQ_INT(count_named(out, k, "x-auth-key-id"), 1);
    h = find(out, k, "x-auth-subject");
    CHECK(h && h->value_len == 5 && memcmp(h->value, "alice", 5) == 0);
    h = find(out, k, "x-auth-key-id");
    CHECK(h && h->value_len == 6 && memcmp(h->value, "ci-key", 6) == 0);
    pc_buf_deinit(&scratch);
}

/* Look-alikes of the headers the gateway sets, '_' for '-' (read as the same
 * header by CGI-style frameworks): dropped; other '_' names pass. */
static void test_underscore_look_alikes(void)
{
    const struct pc_kv in[] = {
        KV("x_auth_subject", "admin"),    KV("x_auth_key_id", "root"),
        KV("x-auth_subject", "admin"),    KV("x_auth-key-id", "root"),
        KV("x_request_id", "mine"),       KV("x_forwarded_for", "1.2.3.4"),
        KV("x_forwarded_proto", "https"), KV("x-forwarded_for", "1.2.3.4"),
        KV("x_auth_subjec", "kept"),      KV("x_auth_subject_", "kept"),
        KV("x__auth_subject", "kept"),    KV("x_custom_header", "kept"),
        KV("x_auth_subjecx", "kept"),     KV("y_auth_subject", "kept"),
    };
    const size_t n = sizeof in / sizeof in[0];
    struct pc_kv out[sizeof in / sizeof in[0] + GW_HEADERS_ADDED];
    pc_buf scratch;
    size_t k;
    const struct pc_kv *h;

    pc_buf_init(&scratch);
    k = gw_headers_to_service(in, n, "r", "10.0.0.1", false, "alice", NULL, out, &scratch);
    CHECK_EQ_INT(k, 6 + 4);
    for (size_t i = 0; i < 8; i++) CHECK_EQ_INT(count_named(out, k, in[i].name), 0);
    for (size_t i = 8; i < n; i++) CHECK_EQ_INT(count_named(out, k, in[i].name), 1);
    h = find(out, k, "x-auth-subject");
    CHECK(h && h->value_len == 5 && memcmp(h->value, "alice", 5) == 0);
    h = find(out, k, "x-forwarded-for"); /* the look-alikes joined nothing */
    CHECK(h && h->value_len == 8 && memcmp(h->value, "10.0.0.1", 8) == 0);
    h = find(out, k, "x-forwarded-proto");
    CHECK(h && h->value_len == 4 && memcmp(h->value, "http", 4) == 0);
    pc_buf_deinit(&scratch);
}

static void test_request_id(void)
{
    char big[130];
    memset(big, 'a', sizeof big);
    CHECK(gw_request_id_is_valid("abc", 3));
    CHECK(gw_request_id_is_valid("client-id_123.~!", 16));
    CHECK(gw_request_id_is_valid(big, 128));
    CHECK(!gw_request_id_is_valid(big, 129));
    CHECK(!gw_request_id_is_valid("", 0));
    CHECK(!gw_request_id_is_valid("a b", 3));
    CHECK(!gw_request_id_is_valid("a\tb", 3));
    CHECK(!gw_request_id_is_valid("caf\xc3\xa9", 5));
    CHECK(!gw_request_id_is_valid("a\x7f", 2));
}

/* True if a reply with the one header name: v passes it on. */
static bool reply_keeps(const char *name)
{
    struct pc_kv in = {name, strlen(name), "v", 1}, out[1];
    return gw_headers_to_client(&in, 1, NULL, out) == 1;
}

static void test_to_client(void)
{
    static const struct pc_kv in[] = {KV("X-Before", "b"),
                                      KV("Connection", "X-Custom, x-before"),
                                      KV("x-custom", "1"),
                                      KV("Content-Type", "t"),
                                      KV("connection", "keep-alive,X-OTHER"),
                                      KV("X-Other", "2"),
                                      KV("Content-Length", "9"),
                                      KV("x-kept", "3")};
    size_t n = sizeof in / sizeof in[0];
    struct pc_kv out[sizeof in / sizeof in[0]];
    char lower[128];
    size_t k;

    CHECK(!reply_keeps("connection"));
    CHECK(!reply_keeps("transfer-encoding"));
    CHECK(!reply_keeps("content-length"));
    CHECK(!reply_keeps("x-request-id"));
    CHECK(!reply_keeps("proxy-authenticate"));
    CHECK(!reply_keeps("keep-alive"));
    CHECK(!reply_keeps("upgrade"));
    CHECK(reply_keeps("content-type"));
    CHECK(reply_keeps("set-cookie"));
    CHECK(reply_keeps("x-request-ids"));
    CHECK(reply_keeps("content-length2"));

    /* Names lower-cased into lower; the headers named in Connection (any
     * case, before or after it) dropped, the others kept in order. */
    k = gw_headers_to_client(in, n, lower, out);
    CHECK_EQ_INT(k, 2);
    CHECK(out[0].name_len == 12 && memcmp(out[0].name, "content-type", 12) == 0);
    CHECK(out[0].name >= lower && out[0].name < lower + sizeof lower);
    CHECK(out[1].name_len == 6 && memcmp(out[1].name, "x-kept", 6) == 0);
    CHECK(out[1].value_len == 1 && out[1].value[0] == '3');
    /* No Connection header: nothing more dropped. */
    k = gw_headers_to_client(in + 5, n - 5, lower, out);
    CHECK_EQ_INT(k, 2);
    CHECK(out[0].name_len == 7 && memcmp(out[0].name, "x-other", 7) == 0);
}

int main(void)
{
    test_to_service();
    test_proto();
    test_no_client_headers();
    test_auth_identity();
    test_underscore_look_alikes();
    test_request_id();
    test_to_client();
    return test_finish("headers");
}
