/* fuzz_reply.c -- the decoders of messages that come back from services.
 *
 * Any process that can publish on a gateway's reply channel reaches
 * pc_wire_decode_reply and the lean fast path in front of it; the SDK reads
 * request messages with pc_wire_decode_request and its lean reader in front
 * of it. Invariants: no crash or leak; the documented return contracts; and
 * each lean reader, whenever it accepts a message, agrees value for value
 * with its full decoder. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "names.h"
#include "wire.h"

#define FZ_KV_CAP 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_reply: invariant failed: %s (line %d)\n", #c, __LINE__);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool bytes_eq(const void *a, size_t an, const void *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

/* Full decoder; returns its result with rep filled (caller deinits). */
static int full_reply(struct pc_reply_in *rep, const char *msg, size_t len)
{
    struct pc_wire_err err;
    int rc;

    memset(&err, 0, sizeof err);
    rc = pc_wire_decode_reply(rep, msg, len, &err);
    CHECK(rc == 0 || rc == -1 || rc == -2);
    if (rc == -1) {
        CHECK(rep->id == NULL && rep->root == NULL);
        CHECK(err.reason != NULL);
    } else {
        CHECK(rep->id != NULL && rep->root != NULL);
        CHECK(strlen(rep->id) <= rep->id_len);
    }
    if (rc == -2) CHECK(err.reason != NULL);
    if (rc == 0) {
        size_t i;
        json_t *h;
        CHECK(rep->status >= 200 && rep->status <= 599);
        CHECK((rep->body == NULL) == (rep->body_len == 0));
        json_array_foreach(rep->headers, i, h)
        {
            json_t *n = json_array_get(h, 0), *v = json_array_get(h, 1);
            CHECK(pc_header_name_is_valid(json_string_value(n), json_string_length(n)));
            CHECK(pc_header_value_is_valid(json_string_value(v), json_string_length(v)));
        }
    }
    return rc;
}

static void check_reply(const char *msg, size_t len)
{
    struct pc_reply_in rep;
    struct pc_reply_view v;
    struct pc_kv kv[FZ_KV_CAP];
    pc_buf scratch;
    int rc = full_reply(&rep, msg, len);

    pc_buf_init(&scratch);
    if (pc_wire_decode_reply_lean(&v, msg, len, &scratch, kv, FZ_KV_CAP) == 1) {
        CHECK(rc == 0);
        CHECK(bytes_eq(v.id, v.id_len, rep.id, rep.id_len));
        CHECK(v.status == rep.status);
        CHECK(v.nheaders == json_array_size(rep.headers));
        for (size_t i = 0; i < v.nheaders; i++) {
            json_t *h = json_array_get(rep.headers, i);
            json_t *n = json_array_get(h, 0), *val = json_array_get(h, 1);
            CHECK(bytes_eq(v.headers[i].name, v.headers[i].name_len, json_string_value(n),
                           json_string_length(n)));
            CHECK(bytes_eq(v.headers[i].value, v.headers[i].value_len, json_string_value(val),
                           json_string_length(val)));
        }
        CHECK(bytes_eq(v.body, v.body_len, rep.body, rep.body_len));
    }
    pc_buf_deinit(&scratch);
    pc_wire_reply_in_deinit(&rep);
}

/* Same string both ways (either may be NULL). */
static bool str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool kv_eq(const struct pc_kv *kv, json_t *name, json_t *value)
{
    return bytes_eq(kv->name, kv->name_len, json_string_value(name), json_string_length(name)) &&
           bytes_eq(kv->value, kv->value_len, json_string_value(value), json_string_length(value));
}

static void check_request(const char *msg, size_t len)
{
    struct pc_request_in rq;
    struct pc_request_view v;
    struct pc_wire_err err;
    struct pc_kv kv[FZ_KV_CAP];
    char *scratch = malloc(len + 1);
    int rc;

    CHECK(scratch != NULL);
    memset(&err, 0, sizeof err);
    rc = pc_wire_decode_request(&rq, msg, len, &err);
    if (rc == 0) {
        CHECK(rq.root && rq.id && rq.reply_to && rq.method && rq.path);
        CHECK((rq.body == NULL) == (rq.body_len == 0));
        CHECK(rq.params == NULL || json_is_object(rq.params));
        CHECK(rq.headers == NULL || json_is_array(rq.headers));
    } else {
        CHECK(err.reason != NULL && rq.root == NULL && rq.body == NULL);
    }
    /* the SDK's lean reader: when it accepts, it agrees value for value */
    if (pc_wire_decode_request_lean(&v, msg, len, scratch, kv, FZ_KV_CAP) == 1) {
        CHECK(rc == 0);
        CHECK(str_eq(v.id, rq.id) && str_eq(v.reply_to, rq.reply_to));
        CHECK(str_eq(v.method, rq.method) && str_eq(v.path, rq.path));
        CHECK(str_eq(v.query, rq.query) && str_eq(v.route, rq.route));
        CHECK(str_eq(v.remote_addr, rq.remote_addr) && v.deadline_ms == rq.deadline_ms);
        CHECK(bytes_eq(v.body, v.body_len, rq.body, rq.body_len));
        CHECK(v.body == NULL || v.body[v.body_len] == '\0');
        CHECK(v.nheaders == (rq.headers ? json_array_size(rq.headers) : 0));
        for (size_t i = 0; i < v.nheaders; i++) {
            json_t *h = json_array_get(rq.headers, i);
            CHECK(kv_eq(&v.headers[i], json_array_get(h, 0), json_array_get(h, 1)));
        }
        CHECK(v.nparams == (rq.params ? json_object_size(rq.params) : 0));
        for (size_t i = 0; i < v.nparams; i++) {
            json_t *val = json_object_get(rq.params, v.params[i].name);
            CHECK(val != NULL);
            CHECK(bytes_eq(v.params[i].value, v.params[i].value_len, json_string_value(val),
                           json_string_length(val)));
        }
    }
    free(scratch);
    pc_wire_request_in_deinit(&rq);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_reply((const char *)data, size);
    check_request((const char *)data, size);
    return 0;
}
