/* test_wire_limits.c -- size and depth limits on every message read from Redis.
 *
 * Everything a gateway or an SDK process reads from a channel goes through
 * one of: pc_wire_decode_register (P:register), pc_sign_unwrap (P:register
 * with a secret), pc_wire_decode_reply_lean then pc_wire_decode_reply (reply
 * channels), pc_wire_decode_request (the SDK's request channel). Each must
 * refuse a message over its byte limit or nested deeper than
 * PC_WIRE_MAX_DEPTH before jansson parses anything, and accept one exactly at
 * the limits. "Before parsing" is shown by inputs that are also invalid JSON
 * past the point of the limit: the reason must be the limit, not not_json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sign.h"
#include "test.h"
#include "wire.h"

#define ID "0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9"

/* {"v":1,...,"x":<depth - 1 nested arrays>} : nesting depth `depth` in all. */
static char *nested(const char *head, int depth, bool close)
{
    pc_buf b;
    pc_buf_init(&b);
    pc_buf_puts(&b, head);
    pc_buf_puts(&b, ",\"x\":");
    for (int i = 1; i < depth; i++) pc_buf_putc(&b, '[');
    if (close)
        for (int i = 1; i < depth; i++) pc_buf_putc(&b, ']');
    pc_buf_putc(&b, '}');
    if (b.oom) abort();
    return b.data;
}

/* msg padded with spaces to exactly `size` bytes (JSON allows trailing space). */
static char *padded(const char *msg, size_t size)
{
    size_t n = strlen(msg);
    char *p = malloc(size);
    if (p == NULL) abort();
    memcpy(p, msg, n);
    memset(p + n, ' ', size - n);
    return p;
}

static const char *REGISTER =
    "{\"v\":1,\"type\":\"register\",\"service\":\"users\",\"instance\":\"u1\","
    "\"channel\":\"portico:svc:u1\",\"routes\":[{\"method\":\"GET\",\"path\":\"/u\"}]";
static const char *REPLY = "{\"v\":1,\"id\":\"" ID "\",\"status\":200";
static const char *REQUEST = "{\"v\":1,\"id\":\"" ID "\",\"reply_to\":\"r\",\"deadline_ms\":1,"
                             "\"method\":\"GET\",\"path\":\"/\"";

static int decode_register(const char *m, size_t n, const char **reason)
{
    struct pc_register r;
    struct pc_wire_err err = {0};
    int rc = pc_wire_decode_register(&r, m, n, "portico", &err);
    *reason = rc ? err.reason : "";
    pc_wire_register_deinit(&r);
    return rc;
}

static int decode_reply(const char *m, size_t n, const char **reason)
{
    struct pc_reply_in r;
    struct pc_wire_err err = {0};
    int rc = pc_wire_decode_reply(&r, m, n, &err);
    *reason = rc ? err.reason : "";
    pc_wire_reply_in_deinit(&r);
    return rc;
}

static int decode_request(const char *m, size_t n, const char **reason)
{
    struct pc_request_in r;
    struct pc_wire_err err = {0};
    int rc = pc_wire_decode_request(&r, m, n, &err);
    *reason = rc ? err.reason : "";
    pc_wire_request_in_deinit(&r);
    return rc;
}

static int decode_lean(const char *m, size_t n)
{
    struct pc_reply_view v;
    struct pc_kv kv[8];
    pc_buf scratch;
    pc_buf_init(&scratch);
    int rc = pc_wire_decode_reply_lean(&v, m, n, &scratch, kv, 8);
    pc_buf_deinit(&scratch);
    return rc;
}

typedef int (*decoder)(const char *m, size_t n, const char **reason);

/* Depth: PC_WIRE_MAX_DEPTH accepted, one more refused (also when the rest is
 * not JSON at all). */
static void check_depth(const char *what, decoder dec, const char *head)
{
    const char *reason;
    char *ok = nested(head, PC_WIRE_MAX_DEPTH, true);
    char *deep = nested(head, PC_WIRE_MAX_DEPTH + 1, true);
    char *broken = nested(head, PC_WIRE_MAX_DEPTH + 1, false);

    fprintf(stderr, "%s: depth\n", what);
    CHECK_EQ_INT(dec(ok, strlen(ok), &reason), 0);
    CHECK(dec(deep, strlen(deep), &reason) != 0);
    CHECK_EQ_STR(reason, "too_deep");
    CHECK(dec(broken, strlen(broken), &reason) != 0);
    CHECK_EQ_STR(reason, "too_deep");
    /* a bracket inside a string does not count */
    pc_buf b;
    pc_buf_init(&b);
    pc_buf_puts(&b, head);
    pc_buf_puts(&b, ",\"s\":\"");
    for (int i = 0; i < 100; i++) pc_buf_puts(&b, "[{\\\"");
    pc_buf_puts(&b, "\"}");
    CHECK_EQ_INT(dec(b.data, b.len, &reason), 0);
    pc_buf_deinit(&b);
    free(ok);
    free(deep);
    free(broken);
}

/* Size: exactly max accepted, max + 1 refused as too_large although valid. */
static void check_size(const char *what, decoder dec, const char *head, size_t max)
{
    const char *reason;
    char *closed = malloc(strlen(head) + 2);
    if (closed == NULL) abort();
    strcpy(closed, head);
    strcat(closed, "}");
    char *at = padded(closed, max);
    char *over = padded(closed, max + 1);

    fprintf(stderr, "%s: size %zu\n", what, max);
    CHECK_EQ_INT(dec(at, max, &reason), 0);
    CHECK(dec(over, max + 1, &reason) != 0);
    CHECK_EQ_STR(reason, "too_large");
    free(at);
    free(over);
    free(closed);
}

static void test_lean(void)
{
    char *closed = malloc(strlen(REPLY) + 2);
    if (closed == NULL) abort();
    strcpy(closed, REPLY);
    strcat(closed, "}");
    CHECK_EQ_INT(decode_lean(closed, strlen(closed)), 1);
    /* the lean path never judges what it does not handle: deep or oversized
     * messages fall through to the full decoder, which refuses them */
    char *deep = nested(REPLY, PC_WIRE_MAX_DEPTH + 1, true);
    CHECK_EQ_INT(decode_lean(deep, strlen(deep)), 0);
    char *over = padded(closed, (size_t)PC_WIRE_MAX_MESSAGE + 1);
    CHECK_EQ_INT(decode_lean(over, (size_t)PC_WIRE_MAX_MESSAGE + 1), 0);
    free(closed);
    free(deep);
    free(over);
}

static void test_sign_envelope(void)
{
    struct pc_signed s;
    struct pc_wire_err err = {0};
    const char *env = "{\"v\":1,\"signed\":\"{}\",\"sig\":\"00\"}";
    char *over = padded(env, PC_SIGN_MAX_ENVELOPE + 1);
    char *at = padded(env, PC_SIGN_MAX_ENVELOPE);

    CHECK_EQ_INT(pc_sign_unwrap(&s, at, PC_SIGN_MAX_ENVELOPE, &err), 0);
    pc_sign_unwrap_deinit(&s);
    CHECK(pc_sign_unwrap(&s, over, PC_SIGN_MAX_ENVELOPE + 1, &err) != 0);
    CHECK_EQ_STR(err.reason, "too_large");
    pc_sign_unwrap_deinit(&s);
    char *deep = nested("{\"v\":1,\"signed\":\"{}\",\"sig\":\"00\"", PC_WIRE_MAX_DEPTH + 1, false);
    CHECK(pc_sign_unwrap(&s, deep, strlen(deep), &err) != 0);
    CHECK_EQ_STR(err.reason, "too_deep");
    pc_sign_unwrap_deinit(&s);
    free(over);
    free(at);
    free(deep);
}

int main(void)
{
    check_depth("register", decode_register, REGISTER);
    check_depth("reply", decode_reply, REPLY);
    check_depth("request", decode_request, REQUEST);
    check_size("register", decode_register, REGISTER, PC_WIRE_MAX_REGISTER);
    check_size("reply", decode_reply, REPLY, PC_WIRE_MAX_MESSAGE);
    check_size("request", decode_request, REQUEST, PC_WIRE_MAX_MESSAGE);
    test_lean();
    test_sign_envelope();
    return test_finish("wire_limits");
}
