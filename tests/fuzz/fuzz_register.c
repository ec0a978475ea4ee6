/* fuzz_register.c -- pc_wire_decode_register, and the signed envelope around it.
 *
 * Anything on P:register reaches these decoders, from any process that can
 * publish. Invariants: no crash or leak; a decoded message satisfies every
 * check the registry relies on; it re-encodes and decodes again to the same
 * values. The input is also read as a signed envelope (pc_sign_unwrap) and
 * its inner text decoded, as the gateway does when it has a secret. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "names.h"
#include "sign.h"
#include "wire.h"

#define PREFIX "portico"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_register: invariant failed: %s (line %d)\n", #c, __LINE__);      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* What a decoded message promises (wire.h). */
static void check_decoded(const struct pc_register *m)
{
    CHECK(m->root != NULL);
    CHECK(m->type == PC_MSG_REGISTER || m->type == PC_MSG_DEREGISTER);
    CHECK(m->service && pc_service_name_is_valid(m->service, strlen(m->service)));
    CHECK(m->instance && pc_instance_id_is_valid(m->instance, strlen(m->instance)));
    if (m->type == PC_MSG_DEREGISTER) {
        CHECK(m->nroutes == 0 && m->routes == NULL);
        return;
    }
    pc_buf ch;
    pc_buf_init(&ch);
    pc_channel_svc(&ch, PREFIX, m->instance);
    CHECK(m->channel && strcmp(m->channel, ch.data) == 0);
    pc_buf_deinit(&ch);
    CHECK(m->ttl_ms >= PC_TTL_MIN_MS && m->ttl_ms <= PC_TTL_MAX_MS);
    CHECK(m->timeout_ms == 0 ||
          (m->timeout_ms >= PC_TIMEOUT_MIN_MS && m->timeout_ms <= PC_TIMEOUT_MAX_MS));
    CHECK(m->nroutes >= 1 && m->nroutes <= PC_WIRE_MAX_ROUTES && m->routes != NULL);
    for (size_t i = 0; i < m->nroutes; i++) {
        CHECK(pc_method_is_valid(m->routes[i].method, strlen(m->routes[i].method)));
        CHECK(pc_pattern_is_valid(m->routes[i].path, strlen(m->routes[i].path)));
    }
}

/* Encodes m again and decodes the result: the same values must come back. */
static void check_round_trip(const struct pc_register *m)
{
    struct pc_register m2;
    struct pc_wire_err err;
    pc_buf b;

    if (m->type != PC_MSG_REGISTER) return;
    pc_buf_init(&b);
    pc_wire_encode_register(&b, m->service, m->instance, m->channel, m->ttl_ms, m->timeout_ms,
                            m->has_ts && m->ts_ms > 0 ? (uint64_t)m->ts_ms : 0, m->routes,
                            m->nroutes, m->claim_check, m->wire);
    CHECK(!b.oom);
    if (b.len <= PC_WIRE_MAX_REGISTER) { /* escapes may make it longer than the input */
        int rc = pc_wire_decode_register(&m2, b.data, b.len, PREFIX, &err);
        if (rc != 0) fprintf(stderr, "re-decode: %s: %s\n", err.reason, err.message);
        CHECK(rc == 0);
        CHECK(m2.type == PC_MSG_REGISTER);
        CHECK(str_eq(m2.service, m->service) && str_eq(m2.instance, m->instance));
        CHECK(str_eq(m2.channel, m->channel));
        CHECK(m2.ttl_ms == m->ttl_ms && m2.timeout_ms == m->timeout_ms);
        if (m->has_ts && m->ts_ms > 0) CHECK(m2.has_ts && m2.ts_ms == m->ts_ms);
        CHECK(m2.nroutes == m->nroutes && m2.wire == m->wire);
        for (size_t i = 0; i < m->nroutes; i++) {
            CHECK(str_eq(m2.routes[i].method, m->routes[i].method));
            CHECK(str_eq(m2.routes[i].path, m->routes[i].path));
        }
        pc_wire_register_deinit(&m2);
    }
    pc_buf_deinit(&b);
}

static void decode(const char *msg, size_t len)
{
    struct pc_register m;
    struct pc_wire_err err;

    memset(&err, 0, sizeof err);
    if (pc_wire_decode_register(&m, msg, len, PREFIX, &err) == 0) {
        check_decoded(&m);
        check_round_trip(&m);
    } else {
        CHECK(err.reason != NULL && err.reason[0] != '\0');
        CHECK(memchr(err.message, '\0', sizeof err.message) != NULL);
        CHECK(m.root == NULL && m.routes == NULL); /* nothing left to free */
        if (len > PC_WIRE_MAX_REGISTER) CHECK(strcmp(err.reason, "too_large") == 0);
    }
    pc_wire_register_deinit(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pc_signed s;
    struct pc_wire_err err;

    decode((const char *)data, size);

    memset(&err, 0, sizeof err);
    if (pc_sign_unwrap(&s, (const char *)data, size, &err) == 0) {
        CHECK(s.inner != NULL && s.sig != NULL);
        (void)pc_sign_verify("k", 1, s.inner, s.inner_len, s.sig, s.sig_len);
        decode(s.inner, s.inner_len);
    } else {
        CHECK(err.reason != NULL);
    }
    pc_sign_unwrap_deinit(&s);
    return 0;
}
