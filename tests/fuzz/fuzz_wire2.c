/* fuzz_wire2.c -- wire version 2 (SPEC §13): raw bodies after a JSON head.
 *
 * Three things per input:
 *  1. the input as a message: every reader (full and lean, reply and
 *     request) on it; a v2 message taken has exactly body_len bytes after
 *     its head's newline (or none, by claim check), and each lean reader,
 *     when it accepts, agrees with its full decoder;
 *  2. the input as a body: encoded in both versions, as a request and as a
 *     reply, it decodes back byte for byte through every reader (the lean
 *     readers must accept every v2 message the encoders write);
 *  3. that v2 reply cut short at, or grown by one byte past, an
 *     input-derived point: refused by every reader. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "uuid.h"
#include "wire.h"

#define FZ_KV_CAP 64
#define ID "0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_wire2: invariant failed: %s (line %d)\n", #c, __LINE__);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool bytes_eq(const void *a, size_t an, const void *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

/* The bytes after the first newline of msg (what a v2 head is followed by). */
static size_t after_newline(const char *msg, size_t len)
{
    const char *nl = memchr(msg, '\n', len);
    return nl != NULL ? len - (size_t)(nl + 1 - msg) : 0;
}

/* Both reply readers on msg; returns the full decoder's result, and with
 * body non-NULL checks the body read is exactly it. */
static int replies(const char *msg, size_t len, const void *body, size_t body_len, int want_wire)
{
    struct pc_reply_in rep;
    struct pc_reply_view v;
    struct pc_wire_err err;
    struct pc_kv kv[FZ_KV_CAP];
    pc_buf scratch;
    int rc = pc_wire_decode_reply(&rep, msg, len, &err), lean;

    CHECK(rc == 0 || rc == -1 || rc == -2);
    if (rc == 0) {
        CHECK(rep.wire == 1 || rep.wire == PC_WIRE_V2);
        CHECK((rep.body == NULL) == (rep.body_len == 0) || rep.body_ref != NULL);
        if (rep.wire == PC_WIRE_V2 && rep.body_ref == NULL)
            CHECK(rep.body_len == after_newline(msg, len));
        if (rep.wire == PC_WIRE_V2 && rep.body_ref != NULL) CHECK(after_newline(msg, len) == 0);
        if (body != NULL) CHECK(bytes_eq(rep.body, rep.body_len, body, body_len));
        if (want_wire) CHECK(rep.wire == want_wire);
    }
    pc_buf_init(&scratch);
    lean = pc_wire_decode_reply_lean(&v, msg, len, &scratch, kv, FZ_KV_CAP);
    if (lean == 1) {
        CHECK(rc == 0 && v.wire == rep.wire && v.status == rep.status);
        CHECK(v.seq == rep.seq && v.more == rep.more); /* stream fields, both versions */
        CHECK(bytes_eq(v.id, v.id_len, rep.id, rep.id_len));
        CHECK(bytes_eq(v.body, v.body_len, rep.body, rep.body_len));
        /* a v2 body is handed out where it lies */
        if (v.wire == PC_WIRE_V2 && v.body_len > 0)
            CHECK((const char *)v.body == msg + len - v.body_len);
    }
    if (want_wire == PC_WIRE_V2 && body != NULL) CHECK(lean == 1);
    pc_buf_deinit(&scratch);
    pc_wire_reply_in_deinit(&rep);
    return rc;
}

/* Both request readers on msg, as replies() does for replies. */
static int requests(const char *msg, size_t len, const void *body, size_t body_len, int want_wire)
{
    struct pc_request_in rq;
    struct pc_request_view v;
    struct pc_wire_err err;
    struct pc_kv kv[FZ_KV_CAP];
    char *scratch = malloc(len + 1);
    int rc = pc_wire_decode_request(&rq, msg, len, &err), lean;

    CHECK(scratch != NULL);
    if (rc == 0) {
        CHECK(rq.wire == 1 || rq.wire == PC_WIRE_V2);
        if (rq.wire == PC_WIRE_V2 && rq.body_ref == NULL)
            CHECK(rq.body_len == after_newline(msg, len));
        if (body != NULL) CHECK(bytes_eq(rq.body, rq.body_len, body, body_len));
        if (want_wire) CHECK(rq.wire == want_wire);
    } else {
        CHECK(err.reason != NULL && rq.root == NULL && rq.body == NULL);
    }
    lean = pc_wire_decode_request_lean(&v, msg, len, scratch, kv, FZ_KV_CAP);
    if (lean == 1) {
        CHECK(rc == 0 && v.wire == rq.wire && v.deadline_ms == rq.deadline_ms);
        CHECK(strcmp(v.id, rq.id) == 0 && strcmp(v.path, rq.path) == 0);
        CHECK(bytes_eq(v.body, v.body_len, rq.body, rq.body_len));
        CHECK(v.body == NULL || v.body[v.body_len] == '\0');
    }
    if (want_wire == PC_WIRE_V2 && body != NULL) CHECK(lean == 1);
    /* the variant that leaves a v2 body in the message: same verdict, same body */
    CHECK(pc_wire_decode_request_lean_ref(&v, msg, len, scratch, kv, FZ_KV_CAP) == lean);
    if (lean == 1) {
        CHECK(bytes_eq(v.body, v.body_len, rq.body, rq.body_len));
        if (v.wire == PC_WIRE_V2 && v.body_len > 0)
            CHECK((const char *)v.body == msg + len - v.body_len);
    }
    free(scratch);
    pc_wire_request_in_deinit(&rq);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    struct pc_kv hdr = {"content-type", 12, "application/octet-stream", 24};
    struct pc_request_out o = {.id = ID,
                               .reply_to = "portico:reply:g",
                               .deadline_ms = 1,
                               .method = "POST",
                               .path = "/f",
                               .path_len = 2,
                               .route = "/f",
                               .headers = &hdr,
                               .nheaders = 1,
                               .body = data,
                               .body_len = size};
    pc_buf b;

    /* 1. the input as a message (a cancel too: a valid one names a UUID) */
    replies(in, size, NULL, 0, 0);
    requests(in, size, NULL, 0, 0);
    {
        char cid[37];
        if (pc_wire_decode_cancel(in, size, cid)) CHECK(pc_uuid_is_valid(cid, strlen(cid)));
    }

    /* 2. the input as a body, both versions */
    pc_buf_init(&b);
    for (int wire = 1; wire <= PC_WIRE_V2; wire++) {
        o.wire = wire;
        pc_buf_reset(&b);
        pc_wire_encode_request(&b, &o);
        CHECK(!b.oom);
        CHECK(requests(b.data, b.len, data, size, wire) == 0);
        pc_buf_reset(&b);
        pc_wire_encode_reply(&b, wire, ID, 200, &hdr, 1, data, size);
        CHECK(!b.oom);
        CHECK(replies(b.data, b.len, data, size, wire) == 0);
        pc_buf_reset(&b); /* a stream continuation carrying it */
        pc_wire_encode_stream(&b, wire, ID, 1 + (long long)size, data, size, size % 2 == 0);
        CHECK(!b.oom);
        CHECK(replies(b.data, b.len, data, size, wire) == 0);
        pc_buf_reset(&b);
        pc_wire_encode_reply(&b, wire, ID, 200, &hdr, 1, data, size);
    }

    /* 3. the v2 reply (still in b) cut or grown: never taken */
    if (b.len > 0) {
        size_t at = size >= 2 ? ((size_t)data[0] << 8 | data[1]) % b.len : b.len / 2;
        CHECK(replies(b.data, at, NULL, 0, 0) != 0);
        pc_buf_putc(&b, (char)(size > 0 ? data[size - 1] : 'x'));
        CHECK(replies(b.data, b.len, NULL, 0, 0) != 0);
    }
    pc_buf_deinit(&b);
    return 0;
}
