/* test_wire2.c -- wire version 2 (SPEC §13): the encoders byte for byte, and
 * every reader (full and lean, requests and replies) on what they write, in
 * both versions, with bodies of every byte value; a v2 body read by the lean
 * reply reader is not copied (it points into the message). */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "wire.h"

#define ID "0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9"
#define GW "9f1c7a52-2b7e-4d61-8f0a-0f3f5c1f2a10"
/* the head of the request examples, up to its headers */
#define REQ_HEAD                                                                                   \
    "{\"v\":2,\"id\":\"" ID "\",\"reply_to\":\"portico:reply:" GW "\","                            \
    "\"deadline_ms\":1763772350678,\"method\":\"POST\",\"path\":\"/users\",\"query\":\"\","        \
    "\"route\":\"/users\",\"params\":{},"

/* Byte-exact v2 encodes: these are the examples of docs/protocol.md. */
static void test_encode_exact(void)
{
    struct pc_kv ct = {"content-type", 12, "application/json", 16};
    struct pc_kv hdrs[] = {ct, {"x-request-id", 12, "7d1e", 4}};
    struct pc_request_out o = {.id = ID,
                               .reply_to = "portico:reply:" GW,
                               .deadline_ms = UINT64_C(1763772350678),
                               .method = "POST",
                               .path = "/users",
                               .path_len = 6,
                               .route = "/users",
                               .headers = hdrs,
                               .nheaders = 2,
                               .remote_addr = "203.0.113.9",
                               .body = "{\"name\":\"ann\"}",
                               .body_len = 14,
                               .wire = PC_WIRE_V2};
    pc_buf b, key;

    pc_buf_init(&b);
    pc_buf_init(&key);
    pc_wire_encode_request(&b, &o);
    static const char want[] = REQ_HEAD
        "\"headers\":[[\"content-type\",\"application/json\"],[\"x-request-id\",\"7d1e\"]],"
        "\"remote_addr\":\"203.0.113.9\",\"body_len\":14}\n{\"name\":\"ann\"}";
    CHECK_EQ_MEM(b.data, b.len, want, sizeof want - 1);

    /* the head alone (the gateway puts it in front of the body where it lies) */
    pc_buf_reset(&key);
    pc_wire_encode_request_head(&key, &o);
    CHECK_EQ_MEM(key.data, key.len, want, sizeof want - 1 - 14);

    /* no body: no body_len, the head and its newline only */
    o.body_len = 0;
    o.headers = hdrs + 1;
    o.nheaders = 1;
    pc_buf_reset(&b);
    pc_wire_encode_request(&b, &o);
    CHECK_EQ_STR(b.data, REQ_HEAD "\"headers\":[[\"x-request-id\",\"7d1e\"]],"
                                  "\"remote_addr\":\"203.0.113.9\"}\n");

    /* claim-checked: body_ref and body_len in the head, nothing after it */
    pc_body_key(&key, "portico", ID, false);
    o.body_ref = key.data;
    o.body_len = 5000000;
    pc_buf_reset(&b);
    pc_wire_encode_request(&b, &o);
    CHECK_EQ_STR(b.data,
                 REQ_HEAD "\"headers\":[[\"x-request-id\",\"7d1e\"]],"
                          "\"remote_addr\":\"203.0.113.9\","
                          "\"body_ref\":\"portico:body:" ID ":req\",\"body_len\":5000000}\n");

    pc_buf_reset(&b);
    pc_wire_encode_reply(&b, PC_WIRE_V2, ID, 200, &ct, 1, "{\"id\":\"42\"}", 11);
    CHECK_EQ_STR(b.data, "{\"v\":2,\"id\":\"" ID "\",\"status\":200,"
                         "\"headers\":[[\"content-type\",\"application/json\"]],"
                         "\"body_len\":11}\n{\"id\":\"42\"}");
    pc_buf_reset(&b);
    pc_wire_encode_reply(&b, PC_WIRE_V2, ID, 204, NULL, 0, NULL, 0);
    CHECK_EQ_STR(b.data, "{\"v\":2,\"id\":\"" ID "\",\"status\":204,\"headers\":[]}\n");
    pc_body_key(&key, "portico", ID, true);
    pc_buf_reset(&b);
    pc_wire_encode_reply_ref(&b, PC_WIRE_V2, ID, 200, NULL, 0, key.data, 40000000);
    CHECK_EQ_STR(b.data, "{\"v\":2,\"id\":\"" ID "\",\"status\":200,\"headers\":[],"
                         "\"body_ref\":\"portico:body:" ID ":rep\",\"body_len\":40000000}\n");

    /* the register message announces it */
    struct pc_route_decl rt = {"GET", "/x", false, false};
    pc_buf ch;
    pc_buf_init(&ch);
    pc_channel_svc(&ch, "portico", "x-1");
    pc_buf_reset(&b);
    pc_wire_encode_register(&b, "x", "x-1", ch.data, 0, 0, 0, &rt, 1, false, PC_WIRE_V2);
    CHECK_EQ_STR(b.data, "{\"v\":1,\"type\":\"register\",\"service\":\"x\",\"instance\":\"x-1\","
                         "\"channel\":\"portico:svc:x-1\",\"wire\":2,"
                         "\"routes\":[{\"method\":\"GET\",\"path\":\"/x\"}]}");
    pc_buf_deinit(&ch);
    pc_buf_deinit(&key);
    pc_buf_deinit(&b);
}

/* A request in version wire with body: both readers give the same fields. */
static void request_both(int wire, const void *body, size_t body_len)
{
    struct pc_kv hdr[] = {{"x-a", 3, "caf\xc3\xa9", 5}, {"x-b", 3, "\"q\"", 3}};
    struct pc_kv par = {"id", 2, "4\n2", 3};
    struct pc_request_out o = {.id = ID,
                               .reply_to = "portico:reply:g",
                               .deadline_ms = 99,
                               .method = "PUT",
                               .path = "/u/4%0A2",
                               .path_len = 8,
                               .query = "a=1",
                               .query_len = 3,
                               .route = "/u/{id}",
                               .params = &par,
                               .nparams = 1,
                               .headers = hdr,
                               .nheaders = 2,
                               .remote_addr = "192.0.2.1",
                               .body = body,
                               .body_len = body_len,
                               .wire = wire};
    struct pc_request_in in;
    struct pc_request_view v;
    struct pc_wire_err err;
    struct pc_kv kv[8];
    pc_buf b;

    pc_buf_init(&b);
    pc_wire_encode_request(&b, &o);
    CHECK(!b.oom);
    char *scratch = malloc(b.len + 1);
    CHECK_EQ_INT(pc_wire_decode_request(&in, b.data, b.len, &err), 0);
    CHECK_EQ_INT(in.wire, wire);
    CHECK_EQ_INT(in.body_len, body_len);
    if (body_len > 0 && in.body != NULL) CHECK_EQ_MEM(in.body, in.body_len, body, body_len);
    CHECK_EQ_STR(json_string_value(json_object_get(in.params, "id")), "4\n2");
    CHECK_EQ_INT(pc_wire_decode_request_lean(&v, b.data, b.len, scratch, kv, 8), 1);
    CHECK_EQ_INT(v.wire, wire);
    CHECK_EQ_STR(v.id, ID);
    CHECK_EQ_STR(v.method, "PUT");
    CHECK_EQ_STR(v.path, "/u/4%0A2");
    CHECK_EQ_STR(v.query, "a=1");
    CHECK_EQ_STR(v.remote_addr, "192.0.2.1");
    CHECK_EQ_INT(v.nheaders, 2);
    CHECK_EQ_INT(v.nparams, 1);
    if (v.nheaders == 2) CHECK_EQ_MEM(v.headers[1].value, v.headers[1].value_len, "\"q\"", 3);
    CHECK_EQ_INT(v.body_len, body_len);
    CHECK((v.body == NULL) == (body_len == 0));
    if (v.body != NULL) {
        CHECK_EQ_MEM(v.body, v.body_len, body, body_len);
        CHECK(v.body[v.body_len] == '\0'); /* the request view's promise */
        /* copied into the scratch buffer: valid after the message is gone */
        CHECK((const char *)v.body >= scratch && (const char *)v.body < scratch + b.len + 1);
    }
    /* the variant that leaves a v2 body where it lies */
    CHECK_EQ_INT(pc_wire_decode_request_lean_ref(&v, b.data, b.len, scratch, kv, 8), 1);
    CHECK_EQ_INT(v.body_len, body_len);
    if (v.body != NULL) CHECK_EQ_MEM(v.body, v.body_len, body, body_len);
    if (wire == PC_WIRE_V2 && body_len > 0)
        CHECK((const char *)v.body == b.data + b.len - body_len);
    pc_wire_request_in_deinit(&in);
    free(scratch);
    pc_buf_deinit(&b);
}

/* A reply in version wire: both readers agree; a v2 body is not copied. */
static void reply_both(int wire, const void *body, size_t body_len)
{
    struct pc_kv hdr = {"Content-Type", 12, "application/octet-stream", 24};
    struct pc_reply_in in;
    struct pc_reply_view v;
    struct pc_wire_err err;
    struct pc_kv kv[8];
    pc_buf b, scratch;

    pc_buf_init(&b);
    pc_buf_init(&scratch);
    pc_wire_encode_reply(&b, wire, ID, 201, &hdr, 1, body, body_len);
    CHECK_EQ_INT(pc_wire_decode_reply(&in, b.data, b.len, &err), 0);
    CHECK_EQ_INT(in.wire, wire);
    CHECK_EQ_INT(in.status, 201);
    CHECK_EQ_INT(in.body_len, body_len);
    if (body_len > 0 && in.body != NULL) CHECK_EQ_MEM(in.body, in.body_len, body, body_len);
    CHECK_EQ_INT(pc_wire_decode_reply_lean(&v, b.data, b.len, &scratch, kv, 8), 1);
    CHECK_EQ_INT(v.wire, wire);
    CHECK_EQ_INT(v.status, 201);
    CHECK_EQ_MEM(v.id, v.id_len, ID, strlen(ID));
    CHECK_EQ_INT(v.nheaders, 1);
    CHECK_EQ_INT(v.body_len, body_len);
    if (v.body != NULL) CHECK_EQ_MEM(v.body, v.body_len, body, body_len);
    if (wire == PC_WIRE_V2 && body_len > 0) /* where it lies: the message's last bytes */
        CHECK((const char *)v.body == b.data + b.len - body_len);
    pc_wire_reply_in_deinit(&in);
    pc_buf_deinit(&scratch);
    pc_buf_deinit(&b);
}

static void test_both_versions(void)
{
    unsigned char all[256], big[70000];
    static const char json[] = "{\"a\":[1,2,\"x\\ny\"],\n\"b\":\"caf\xc3\xa9\"}\n";

    for (int i = 0; i < 256; i++) all[i] = (unsigned char)i;
    for (size_t i = 0; i < sizeof big; i++) big[i] = (unsigned char)(i * 7 + (i >> 8));
    for (int wire = 1; wire <= 2; wire++) {
        request_both(wire, NULL, 0);
        request_both(wire, "\n", 1);
        request_both(wire, all, sizeof all);
        request_both(wire, json, sizeof json - 1);
        request_both(wire, big, sizeof big);
        reply_both(wire, NULL, 0);
        /* (a NUL in a v1 body is a \u escape: the lean reader declines it) */
        reply_both(wire, wire == PC_WIRE_V2 ? "\0" : "\t", 1);
        reply_both(wire, all, sizeof all);
        reply_both(wire, json, sizeof json - 1);
        reply_both(wire, big, sizeof big);
    }
}

/* Every prefix of a v2 message but the whole is refused (or, for the head
 * alone, a body_len mismatch): a message cut anywhere is never taken. */
static void test_truncated(void)
{
    unsigned char all[256];
    struct pc_reply_in in;
    struct pc_wire_err err;
    pc_buf b;

    for (int i = 0; i < 256; i++) all[i] = (unsigned char)i;
    pc_buf_init(&b);
    pc_wire_encode_reply(&b, PC_WIRE_V2, ID, 200, NULL, 0, all, sizeof all);
    for (size_t n = 0; n < b.len; n++) {
        int rc = pc_wire_decode_reply(&in, b.data, n, &err);
        CHECK(rc != 0);
        pc_wire_reply_in_deinit(&in);
    }
    /* one byte more is refused too */
    pc_buf_putc(&b, 'x');
    CHECK_EQ_INT(pc_wire_decode_reply(&in, b.data, b.len, &err), -2);
    CHECK_EQ_STR(err.reason, "bad_framing");
    pc_wire_reply_in_deinit(&in);
    pc_buf_deinit(&b);
}

int main(void)
{
    test_encode_exact();
    test_both_versions();
    test_truncated();
    return test_finish("wire2");
}
