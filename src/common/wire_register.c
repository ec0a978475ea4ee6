/* wire_register.c -- the portico wire format (SPEC §2-§4), the validating
 * decoder of register and deregister messages; see wire.h.
 *
 * Parsed and checked with the helpers every validating decoder shares
 * (wire_int.h, in wire_decode.c): the byte and depth limits before jansson
 * sees the input, duplicate keys refused, then every field the SPEC names.
 * Unknown fields are ignored (forward compatibility). */
#include "wire.h"

#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "wire_int.h"

/* True if root has "v":1 (an integer; 1.0 and "1" are refused). */
static bool wire_version_is_ok(json_t *root, struct pc_wire_err *err)
{
    json_t *v = json_object_get(root, "v");
    if (!json_is_integer(v) || json_integer_value(v) != PC_WIRE_VERSION) {
        wire_err(err, "bad_version", "\"v\" must be the integer %d", PC_WIRE_VERSION);
        return false;
    }
    return true;
}

/* Clamps v to lo..hi. */
static int clamp_int(json_int_t v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : (int)v; }

/* True if channel is exactly "<prefix>:svc:<instance>" (no allocation). */
static bool channel_is_svc(const char *channel, size_t clen, const char *prefix,
                           const char *instance)
{
    size_t plen = strlen(prefix), ilen = strlen(instance);
    return clen == plen + 5 + ilen && memcmp(channel, prefix, plen) == 0 &&
           memcmp(channel + plen, ":svc:", 5) == 0 &&
           memcmp(channel + plen + 5, instance, ilen) == 0;
}

/* Validates and copies out the routes of a register message. The count is
 * checked before the array is allocated. */
static int wire_routes(struct pc_register *out, json_t *root, struct pc_wire_err *err)
{
    json_t *routes = json_object_get(root, "routes");
    if (!json_is_array(routes)) {
        wire_err(err, "bad_field", "\"routes\" must be an array");
        return -1;
    }
    size_t n = json_array_size(routes);
    if (n == 0) {
        wire_err(err, "bad_route", "\"routes\" is empty");
        return -1;
    }
    if (n > PC_WIRE_MAX_ROUTES) {
        wire_err(err, "too_many_routes", "%zu routes, at most %d allowed", n, PC_WIRE_MAX_ROUTES);
        return -1;
    }
    out->routes = calloc(n, sizeof *out->routes);
    if (out->routes == NULL) {
        wire_err(err, "no_memory", "no memory for %zu routes", n);
        return -1;
    }

    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(routes, i);
        const char *m, *p;
        size_t mlen, plen;
        if (!json_is_object(r) || !wire_cstr(json_object_get(r, "method"), &m, &mlen) ||
            !wire_cstr(json_object_get(r, "path"), &p, &plen)) {
            wire_err(err, "bad_route", "route %zu is not {\"method\":string,\"path\":string}", i);
            return -1;
        }
        if (!pc_method_is_valid(m, mlen)) {
            wire_err(err, "bad_route", "route %zu has an invalid method", i);
            return -1;
        }
        if (!pc_pattern_is_valid(p, plen)) {
            wire_err(err, "bad_route", "route %zu has an invalid path pattern", i);
            return -1;
        }
        json_t *retry = json_object_get(r, "retry");
        if (retry != NULL && !json_is_boolean(retry)) {
            wire_err(err, "bad_route", "route %zu: \"retry\" must be true or false", i);
            return -1;
        }
        json_t *async = json_object_get(r, "async");
        if (async != NULL && !json_is_boolean(async)) {
            wire_err(err, "bad_route", "route %zu: \"async\" must be true or false", i);
            return -1;
        }
        out->routes[i].method = m;
        out->routes[i].path = p;
        out->routes[i].retry = json_is_true(retry);
        out->routes[i].async = json_is_true(async);
    }
    out->nroutes = n;
    return 0;
}

/* Decodes a register or deregister message (see wire.h). */
int pc_wire_decode_register(struct pc_register *out, const char *msg, size_t len,
                            const char *prefix, struct pc_wire_err *err)
{
    memset(out, 0, sizeof *out);
    json_t *root = wire_parse(msg, len, PC_WIRE_MAX_REGISTER, err);
    if (root == NULL) return -1;
    out->root = root;
    if (!wire_version_is_ok(root, err)) goto fail;

    const char *type;
    if (!wire_cstr(json_object_get(root, "type"), &type, NULL)) {
        wire_err(err, "bad_type", "\"type\" must be a string");
        goto fail;
    }
    if (strcmp(type, "register") == 0) {
        out->type = PC_MSG_REGISTER;
    } else if (strcmp(type, "deregister") == 0) {
        out->type = PC_MSG_DEREGISTER;
    } else {
        wire_err(err, "bad_type", "\"type\" must be \"register\" or \"deregister\"");
        goto fail;
    }

    size_t slen, ilen;
    if (!wire_cstr(json_object_get(root, "service"), &out->service, &slen) ||
        !pc_service_name_is_valid(out->service, slen)) {
        wire_err(err, "bad_service", "\"service\" must match [a-z0-9][a-z0-9._-]{0,62}");
        goto fail;
    }
    if (!wire_cstr(json_object_get(root, "instance"), &out->instance, &ilen) ||
        !pc_instance_id_is_valid(out->instance, ilen)) {
        wire_err(err, "bad_instance", "\"instance\" must match [A-Za-z0-9._:-]{1,128}");
        goto fail;
    }

    json_int_t v;
    int got = wire_opt_int(root, "ts_ms", &v, err);
    if (got < 0) goto fail;
    out->has_ts = got == 1;
    out->ts_ms = got == 1 ? (int64_t)v : 0;

    if (out->type == PC_MSG_DEREGISTER) return 0;

    size_t clen;
    if (!wire_cstr(json_object_get(root, "channel"), &out->channel, &clen)) {
        wire_err(err, "bad_channel", "\"channel\" must be a string");
        goto fail;
    }
    if (!channel_is_svc(out->channel, clen, prefix, out->instance)) {
        wire_err(err, "bad_channel", "\"channel\" must be \"%.40s:svc:<instance>\"", prefix);
        goto fail;
    }

    got = wire_opt_int(root, "ttl_ms", &v, err);
    if (got < 0) goto fail;
    out->ttl_ms = got ? clamp_int(v, PC_TTL_MIN_MS, PC_TTL_MAX_MS) : PC_TTL_DEFAULT_MS;

    got = wire_opt_int(root, "timeout_ms", &v, err);
    if (got < 0) goto fail;
    out->timeout_ms = got ? clamp_int(v, PC_TIMEOUT_MIN_MS, PC_TIMEOUT_MAX_MS) : 0;

    json_t *cc = json_object_get(root, "claim_check");
    if (cc != NULL && !json_is_boolean(cc)) {
        wire_err(err, "bad_field", "\"claim_check\" must be true or false");
        goto fail;
    }
    out->claim_check = json_is_true(cc);

    got = wire_opt_int(root, "wire", &v, err);
    if (got < 0 || (got == 1 && v != PC_WIRE_VERSION && v != PC_WIRE_V2)) {
        wire_err(err, "bad_field", "\"wire\" must be 1 or 2");
        goto fail;
    }
    out->wire = got == 1 ? (int)v : PC_WIRE_VERSION;

    if (wire_routes(out, root, err) != 0) goto fail;
    return 0;

fail:
    pc_wire_register_deinit(out);
    return -1;
}

/* Frees what a decoded registration owns; safe on a zeroed struct. */
void pc_wire_register_deinit(struct pc_register *r)
{
    free(r->routes);
    json_decref(r->root);
    memset(r, 0, sizeof *r);
}
