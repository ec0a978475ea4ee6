/* wire.c -- the portico wire format (SPEC §2-§4, §13), writing side; see wire.h.
 *
 * Encoders write JSON text directly with jw: no tree is built on the hot
 * path. The validating decoders are in wire_decode.c and wire_register.c,
 * the lean readers in wire_lean.c. */
#include "wire.h"

#include <stdio.h>
#include <string.h>

#include "base64.h"
#include "jw.h"
#include "utf8.h"

/* ============================================================== encoders */

/* Writes `,"key":`; every message opens with "v", so no key comes first.
 * The key is a literal: its text and length are known at compile time. */
#define jw_key(b, key) pc_jw_raw((b), ",\"" key "\":", sizeof(",\"" key "\":") - 1)
/* Writes a literal piece of JSON punctuation. */
#define jw_lit(b, text) pc_jw_raw((b), text, sizeof(text) - 1)

/* Writes the body members per SPEC §4: nothing when empty, a JSON string
 * when valid UTF-8 (checked once), else base64 with "body_encoding":"base64". */
static void jw_body(pc_buf *b, const void *body, size_t len)
{
    if (len == 0) return;
    jw_key(b, "body");
    if (pc_jw_is_utf8(body, len)) {
        pc_jw_str_utf8(b, body, len);
    } else {
        pc_jw_b64(b, body, len);
        jw_lit(b, ",\"body_encoding\":\"base64\"");
    }
}

/* Writes the claim-check members (protocol.md §3.1) in place of the body. */
static void jw_body_ref(pc_buf *b, const char *ref, size_t len)
{
    jw_key(b, "body_ref");
    pc_jw_cstr(b, ref);
    jw_key(b, "body_len");
    pc_jw_u64(b, len);
}

/* Opens a message of version wire: `{"v":1` or `{"v":2`. */
static void jw_open(pc_buf *b, int wire)
{
    if (wire == PC_WIRE_V2)
        jw_lit(b, "{\"v\":2");
    else
        jw_lit(b, "{\"v\":1");
}

/* Ends a message after its head fields: the body members (claim check, or
 * the body itself: inside the JSON in v1, after the head's newline in v2,
 * SPEC §13) and the closing brace. The one place the versions differ. */
static void jw_body_end(pc_buf *b, int wire, const char *ref, const void *body, size_t len)
{
    if (ref != NULL) {
        jw_body_ref(b, ref, len);
        if (wire == PC_WIRE_V2)
            jw_lit(b, "}\n"); /* nothing follows: the body is in the key */
        else
            jw_lit(b, "}");
    } else if (wire != PC_WIRE_V2) {
        jw_body(b, body, len);
        jw_lit(b, "}");
    } else {
        if (len > 0) {
            jw_key(b, "body_len");
            pc_jw_u64(b, len);
        }
        jw_lit(b, "}\n");
        if (body != NULL) pc_buf_append(b, body, len); /* raw: no escape, no base64 */
    }
}

/* Writes a headers array [[name,value],...]. */
static void jw_headers(pc_buf *b, const struct pc_kv *h, size_t n)
{
    jw_lit(b, "[");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            jw_lit(b, ",[");
        else
            jw_lit(b, "[");
        pc_jw_str(b, h[i].name, h[i].name_len);
        jw_lit(b, ",");
        pc_jw_str(b, h[i].value, h[i].value_len);
        jw_lit(b, "]");
    }
    jw_lit(b, "]");
}

/* Appends a request message to out. */
void pc_wire_encode_request(pc_buf *out, const struct pc_request_out *r)
{
    jw_open(out, r->wire);
    jw_key(out, "id");
    pc_jw_cstr(out, r->id);
    jw_key(out, "reply_to");
    pc_jw_cstr(out, r->reply_to);
    jw_key(out, "deadline_ms");
    pc_jw_u64(out, r->deadline_ms);
    jw_key(out, "method");
    pc_jw_cstr(out, r->method);
    jw_key(out, "path");
    pc_jw_str(out, r->path, r->path_len);
    jw_key(out, "query");
    pc_jw_str(out, r->query ? r->query : "", r->query ? r->query_len : 0);
    if (r->route) {
        jw_key(out, "route");
        pc_jw_cstr(out, r->route);
    }
    jw_key(out, "params");
    jw_lit(out, "{");
    for (size_t i = 0; i < r->nparams; i++) {
        if (i > 0) jw_lit(out, ",");
        pc_jw_str(out, r->params[i].name, r->params[i].name_len);
        jw_lit(out, ":");
        pc_jw_str(out, r->params[i].value, r->params[i].value_len);
    }
    jw_lit(out, "}");
    jw_key(out, "headers");
    jw_headers(out, r->headers, r->nheaders);
    if (r->remote_addr) {
        jw_key(out, "remote_addr");
        pc_jw_cstr(out, r->remote_addr);
    }
    jw_body_end(out, r->wire, r->body_ref, r->body, r->body_len);
}

/* Appends a v2 request's head (the body left to the caller). */
void pc_wire_encode_request_head(pc_buf *out, const struct pc_request_out *r)
{
    struct pc_request_out h = *r;
    h.body = NULL;
    h.wire = PC_WIRE_V2;
    pc_wire_encode_request(out, &h);
}

/* A reply message up to its body: the two encoders below differ only there. */
static void reply_head(pc_buf *out, int wire, const char *id, int status,
                       const struct pc_kv *headers, size_t nheaders)
{
    jw_open(out, wire);
    jw_key(out, "id");
    pc_jw_cstr(out, id);
    jw_key(out, "status");
    pc_jw_i64(out, status);
    jw_key(out, "headers");
    jw_headers(out, headers, nheaders);
}

/* Appends a reply message to out. */
void pc_wire_encode_reply(pc_buf *out, int wire, const char *id, int status,
                          const struct pc_kv *headers, size_t nheaders, const void *body,
                          size_t body_len)
{
    reply_head(out, wire, id, status, headers, nheaders);
    jw_body_end(out, wire, NULL, body, body_len);
}

/* Appends a reply message whose body is in the key ref (protocol.md §4.1). */
void pc_wire_encode_reply_ref(pc_buf *out, int wire, const char *id, int status,
                              const struct pc_kv *headers, size_t nheaders, const char *ref,
                              size_t body_len)
{
    reply_head(out, wire, id, status, headers, nheaders);
    jw_body_end(out, wire, ref, NULL, body_len);
}

/* Appends the first message of a streamed reply, in version wire ("more"
 * is a head field: it comes before the body). */
void pc_wire_encode_reply_more(pc_buf *out, int wire, const char *id, int status,
                               const struct pc_kv *headers, size_t nheaders, const void *body,
                               size_t body_len)
{
    reply_head(out, wire, id, status, headers, nheaders);
    jw_lit(out, ",\"more\":true");
    jw_body_end(out, wire, NULL, body, body_len);
}

/* Appends a continuation of a streamed reply, in version wire. */
void pc_wire_encode_stream(pc_buf *out, int wire, const char *id, long long seq, const void *body,
                           size_t body_len, bool more)
{
    jw_open(out, wire);
    jw_key(out, "id");
    pc_jw_cstr(out, id);
    jw_key(out, "seq");
    pc_jw_i64(out, seq);
    if (more)
        jw_lit(out, ",\"more\":true");
    else
        jw_lit(out, ",\"more\":false");
    jw_body_end(out, wire, NULL, body, body_len);
}

/* Appends a cancel message. */
void pc_wire_encode_cancel(pc_buf *out, int wire, const char *id)
{
    if (wire == PC_WIRE_V2)
        jw_lit(out, "{\"v\":2");
    else
        jw_lit(out, "{\"v\":1");
    jw_key(out, "id");
    pc_jw_cstr(out, id);
    jw_lit(out, ",\"cancel\":true}");
    if (wire == PC_WIRE_V2) jw_lit(out, "\n");
}

/* Appends a register message to out. timeout_ms 0 and ts_ms 0 are omitted
 * (meaning "the gateway's default" and "not given"). */
void pc_wire_encode_register(pc_buf *out, const char *service, const char *instance,
                             const char *channel, int ttl_ms, int timeout_ms, uint64_t ts_ms,
                             const struct pc_route_decl *routes, size_t nroutes, bool claim_check,
                             int wire)
{
    pc_buf_puts(out, "{\"v\":1,\"type\":\"register\"");
    jw_key(out, "service");
    pc_jw_cstr(out, service);
    jw_key(out, "instance");
    pc_jw_cstr(out, instance);
    jw_key(out, "channel");
    pc_jw_cstr(out, channel);
    if (ttl_ms > 0) {
        jw_key(out, "ttl_ms");
        pc_jw_i64(out, ttl_ms);
    }
    if (timeout_ms > 0) {
        jw_key(out, "timeout_ms");
        pc_jw_i64(out, timeout_ms);
    }
    if (ts_ms > 0) {
        jw_key(out, "ts_ms");
        pc_jw_u64(out, ts_ms);
    }
    if (claim_check) jw_lit(out, ",\"claim_check\":true");
    if (wire == PC_WIRE_V2) jw_lit(out, ",\"wire\":2");
    jw_key(out, "routes");
    jw_lit(out, "[");
    for (size_t i = 0; i < nroutes; i++) {
        if (i > 0) jw_lit(out, ",");
        pc_buf_puts(out, "{\"method\":");
        pc_jw_cstr(out, routes[i].method);
        pc_buf_puts(out, ",\"path\":");
        pc_jw_cstr(out, routes[i].path);
        if (routes[i].retry) pc_buf_puts(out, ",\"retry\":true");
        if (routes[i].async) pc_buf_puts(out, ",\"async\":true");
        jw_lit(out, "}");
    }
    pc_buf_puts(out, "]}");
}

/* Appends a deregister message to out (ts_ms 0 is omitted). */
void pc_wire_encode_deregister(pc_buf *out, const char *service, const char *instance,
                               uint64_t ts_ms)
{
    pc_buf_puts(out, "{\"v\":1,\"type\":\"deregister\"");
    jw_key(out, "service");
    pc_jw_cstr(out, service);
    jw_key(out, "instance");
    pc_jw_cstr(out, instance);
    if (ts_ms > 0) {
        jw_key(out, "ts_ms");
        pc_jw_u64(out, ts_ms);
    }
    jw_lit(out, "}");
}

/* Appends the discover message to out. */
void pc_wire_encode_discover(pc_buf *out) { pc_buf_puts(out, "{\"v\":1,\"type\":\"discover\"}"); }

/* ========================================================= channel names */

void pc_channel_register(pc_buf *out, const char *prefix)
{
    pc_buf_reset(out);
    pc_buf_printf(out, "%s:register", prefix);
}

void pc_channel_discover(pc_buf *out, const char *prefix)
{
    pc_buf_reset(out);
    pc_buf_printf(out, "%s:discover", prefix);
}

void pc_channel_svc(pc_buf *out, const char *prefix, const char *instance)
{
    pc_buf_reset(out);
    pc_buf_printf(out, "%s:svc:%s", prefix, instance);
}

void pc_channel_reply(pc_buf *out, const char *prefix, const char *id)
{
    pc_buf_reset(out);
    pc_buf_printf(out, "%s:reply:%s", prefix, id);
}

void pc_body_key(pc_buf *out, const char *prefix, const char *id, bool reply)
{
    pc_buf_reset(out);
    pc_buf_printf(out, "%s:body:%s:%s", prefix, id, reply ? "rep" : "req");
}
