/* wire.h -- the portico wire format (SPEC §2-§4, §13): the single source of
 * it (encoders in wire.c, validating decoders of requests and replies in
 * wire_decode.c and of registrations in wire_register.c, the lean readers in
 * wire_lean.c).
 *
 * Requests and replies come in two versions. Version 1 is one JSON object
 * with the body inside it (a JSON string, or base64). Version 2 (SPEC §13,
 * protocol.md "Wire version 2") is a one-line compact JSON head with "v":2
 * and every field of version 1 but "body"/"body_encoding", then "\n", then
 * exactly "body_len" raw bytes. Both are read by the same field readers
 * (one per message kind); only where the body comes from differs. Every
 * decoder takes either version and says which it read (`wire`).
 *
 * Encoders write JSON text straight into a pc_buf. Decoders parse with
 * jansson and validate everything the SPEC says; a decoded message owns its
 * jansson tree (`root`) and every `const char *` in it points into that tree,
 * valid until the matching _deinit. Decoders never print: they fill a
 * pc_wire_err with a short machine reason (used as a metrics label) and a
 * human message. */
#ifndef PC_WIRE_H
#define PC_WIRE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define PC_WIRE_VERSION 1 /* "v" of register, discover and every v1 message */
#define PC_WIRE_V2 2      /* "v" of a request or reply head with a raw body after it (§13) */
#define PC_WIRE_MAX_REGISTER (64 * 1024)       /* bytes of a register message */
#define PC_WIRE_MAX_ROUTES 1000                /* routes in one register message */
#define PC_WIRE_MAX_DEPTH 32                   /* JSON nesting of any message */
#define PC_WIRE_MAX_MESSAGE (64 * 1024 * 1024) /* bytes of any request/reply message */
#define PC_WIRE_MAX_REPLY_HEADERS 100          /* headers of one reply */
#define PC_WIRE_MAX_REPLY_HEADER_BYTES 65536   /* their names and values together */
#define PC_WIRE_MAX_BODY_REF 256               /* bytes of a body_ref key name */
#define PC_WIRE_MAX_BODY_LEN (1LL << 40)       /* largest body_len a decoder takes */
#define PC_CLAIM_CHECK_DEFAULT 65536           /* bodies over it travel by reference */
#define PC_WIRE_MAX_SEQ 9007199254740991LL     /* largest stream seq (2^53 - 1) */

#define PC_TTL_DEFAULT_MS 10000
#define PC_TTL_MIN_MS 1000
#define PC_TTL_MAX_MS 300000
#define PC_TIMEOUT_MIN_MS 1
#define PC_TIMEOUT_MAX_MS 60000

struct pc_wire_err {
    const char *reason; /* static: "not_json", "too_large", "too_deep",
                             "bad_version", "bad_type", "bad_field", "bad_service",
                             "bad_instance", "bad_channel", "bad_route",
                             "too_many_routes", "bad_status", "bad_header",
                             "bad_body", "no_id", "too_many_headers",
                             "headers_too_large" */
    char message[160];  /* human-readable detail, NUL-terminated */
};

/* A header or param as (pointer, length) pairs; borrowed. */
struct pc_kv {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* ---- requests (gateway or SDK caller -> service, on P:svc:<instance>) ---- */

struct pc_request_out {
    const char *id;       /* UUID, NUL-terminated */
    const char *reply_to; /* full channel name */
    uint64_t deadline_ms; /* unix ms */
    const char *method;
    const char *path;
    size_t path_len; /* raw path, no query */
    const char *query;
    size_t query_len;  /* raw query, may be "" */
    const char *route; /* pattern as announced */
    const struct pc_kv *params;
    size_t nparams;
    const struct pc_kv *headers;
    size_t nheaders;         /* already filtered */
    const char *remote_addr; /* may be NULL: field omitted */
    const void *body;
    size_t body_len;      /* omitted when 0; base64 unless UTF-8 */
    const char *body_ref; /* not NULL: the body is in this key (body unused), protocol.md §3.1 */
    int wire;             /* PC_WIRE_V2: a v2 message (raw body after the head); else v1 */
};
void pc_wire_encode_request(pc_buf *out, const struct pc_request_out *r);
/* A v2 request's head only, "\n" included, announcing body_len (r->body is
 * not read): the caller has the body_len bytes follow it where they lie. */
void pc_wire_encode_request_head(pc_buf *out, const struct pc_request_out *r);

struct pc_request_in {
    json_t *root;
    const char *id, *reply_to, *method, *path, *query, *route, *remote_addr;
    uint64_t deadline_ms;
    json_t *params;       /* object name -> string (borrowed from root) */
    json_t *headers;      /* array of [name, value] strings (borrowed) */
    unsigned char *body;  /* decoded; malloc'd, owned; NULL when empty */
    size_t body_len;      /* with body_ref: the announced length of the key's value */
    const char *body_ref; /* claim check (protocol.md §3.1): the key holding the body; else NULL */
    int wire;             /* the version read: 1 or PC_WIRE_V2 */
};
/* Validates: v == 1 (or a v2 head and its body, SPEC §13), id a UUID, reply_to/method/path strings, deadline_ms a
 * non-negative integer, query/route/remote_addr strings if present, params an
 * object of strings, headers an array of 2-string arrays, body per
 * body_encoding. Returns 0 or -1 (err filled, *out zeroed). */
int pc_wire_decode_request(struct pc_request_in *out, const char *msg, size_t len,
                           struct pc_wire_err *err);
void pc_wire_request_in_deinit(struct pc_request_in *r);

/* A request read without a jansson tree (the SDK's hot path). Every string
 * is NUL-terminated in the caller's scratch buffer (len + 1 bytes), params
 * and headers are ranges of the caller's kv array; all valid while both are.
 * query is "" and route/remote_addr NULL when absent, as in pc_request_in. */
struct pc_request_view {
    const char *id, *reply_to, *method, *path, *query, *route, *remote_addr;
    uint64_t deadline_ms;
    const struct pc_kv *params;
    size_t nparams;
    const struct pc_kv *headers;
    size_t nheaders;
    const unsigned char *body; /* NUL-terminated (also a v2 body: copied); NULL when empty */
    size_t body_len;
    int wire; /* the version read: 1 or PC_WIRE_V2 */
};
/* Returns 1 when msg is a valid request (exactly as pc_wire_decode_request
 * would judge it, same values) in the common subset of JSON (no \u escapes,
 * integers only, nothing nested in unknown members, at most kv_cap params and
 * headers together). Returns 0 otherwise, deciding nothing: the caller then
 * runs pc_wire_decode_request, which has the final word. */
int pc_wire_decode_request_lean(struct pc_request_view *out, const char *msg, size_t len,
                                char *scratch, struct pc_kv *kv, size_t kv_cap);
/* The same, but a v2 body is left where it lies: out->body points into msg
 * (its last body_len bytes; NUL-terminated only if msg[len] is), for a
 * caller that keeps msg as long as the request. */
int pc_wire_decode_request_lean_ref(struct pc_request_view *out, const char *msg, size_t len,
                                    char *scratch, struct pc_kv *kv, size_t kv_cap);

/* ---- replies (service -> P:reply:<gateway-id>) ---- */

/* wire: PC_WIRE_V2 for a v2 reply (head, "\n", raw body), else v1. For v2,
 * body NULL with body_len > 0 writes the head only (body_len announced): the
 * caller has the body follow it where it lies. */
void pc_wire_encode_reply(pc_buf *out, int wire, const char *id, int status,
                          const struct pc_kv *headers, size_t nheaders, const void *body,
                          size_t body_len);
/* The same with the body stored in the key ref: "body_ref" and "body_len". */
void pc_wire_encode_reply_ref(pc_buf *out, int wire, const char *id, int status,
                              const struct pc_kv *headers, size_t nheaders, const char *ref,
                              size_t body_len);

/* Streamed replies (protocol.md §4.3). The first message is a reply with
 * "more":true (status, headers, optional body); each further message is a
 * continuation {"v":1,"id","seq":N,"more":bool[,"body"]}, seq 1, 2, ...
 * Stream bodies always travel inline (never by claim check). wire as for
 * pc_wire_encode_reply: PC_WIRE_V2 writes a v2 head ("more" and "seq" in
 * it) and the raw body after it. */
void pc_wire_encode_reply_more(pc_buf *out, int wire, const char *id, int status,
                               const struct pc_kv *headers, size_t nheaders, const void *body,
                               size_t body_len);
void pc_wire_encode_stream(pc_buf *out, int wire, const char *id, long long seq, const void *body,
                           size_t body_len, bool more);
/* Gateway -> service, on the instance's channel: the client of request id
 * went away (or its stream was aborted): {"v":1,"id":...,"cancel":true},
 * or for an instance that speaks version 2 (wire PC_WIRE_V2) the same as a
 * v2 head with no body: {"v":2,"id":...,"cancel":true} and its newline. */
void pc_wire_encode_cancel(pc_buf *out, int wire, const char *id);
/* True if msg is a valid cancel message, v1 or a v2 head (ended by its
 * newline, nothing after it); its id (a UUID) copied to id. */
bool pc_wire_decode_cancel(const char *msg, size_t len, char id[37]);

struct pc_reply_in {
    json_t *root;
    const char *id; /* NULL when unreadable */
    size_t id_len;
    int status;           /* 200..599 */
    json_t *headers;      /* array of [name, value], each name a valid token
                                and each value free of CR/LF/NUL (borrowed) */
    unsigned char *body;  /* decoded; malloc'd, owned; NULL when empty */
    size_t body_len;      /* with body_ref: the announced length of the key's value */
    const char *body_ref; /* claim check (protocol.md §4.1): the key holding the body; else NULL */
    long long seq;        /* stream continuation number (>= 1), 0 for a reply or a stream's first */
    bool more;            /* "more":true: a stream message with more to come */
    int wire;             /* the version read: 1 or PC_WIRE_V2 (when known) */
};
/* A continuation (seq >= 1) has status 0 and no headers; it requires "more"
 * and refuses "status", "headers" and "body_ref". A first message with
 * "more":true refuses "body_ref".
 * Returns 0 when valid; -1 when the message cannot be matched to a request
 * (not JSON, too deep/large, or no string `id`: err->reason "not_json",
 * "too_deep", "too_large" or "no_id", out->id NULL); -2 when `id` was read
 * (out->id set, out->root kept alive so id stays valid) but the rest is
 * invalid (bad version, status, headers or body). Call _deinit in every case. */
int pc_wire_decode_reply(struct pc_reply_in *out, const char *msg, size_t len,
                         struct pc_wire_err *err);
void pc_wire_reply_in_deinit(struct pc_reply_in *r);

/* A reply read without a jansson tree (the gateway's hot path). Every
 * pointer is into the caller's scratch buffer (or kv array), valid until the
 * scratch buffer is next used. Header names are as sent (not lower-cased). */
struct pc_reply_view {
    const char *id;
    size_t id_len;
    int status;
    const struct pc_kv *headers;
    size_t nheaders;
    const unsigned char *body; /* NULL when empty; a v2 body points into msg (no copy) */
    size_t body_len;
    long long seq; /* as in pc_reply_in */
    bool more;
    int wire; /* the version read: 1 or PC_WIRE_V2 */
};
/* Returns 1 when msg is a valid reply (exactly as pc_wire_decode_reply would
 * judge it, same values) written in the common subset of JSON: no \u escapes,
 * no fractions or exponents, nothing nested in unknown members, at most
 * kv_cap headers. Returns 0 otherwise, deciding nothing: the caller then runs
 * pc_wire_decode_reply, which has the final word (and the error messages). */
int pc_wire_decode_reply_lean(struct pc_reply_view *out, const char *msg, size_t len,
                              pc_buf *scratch, struct pc_kv *kv, size_t kv_cap);

/* ---- registration (service -> P:register) ---- */

enum pc_reg_type { PC_MSG_REGISTER = 1, PC_MSG_DEREGISTER = 2 };

struct pc_route_decl {
    const char *method; /* upper-case token or "*" */
    const char *path;   /* pattern */
    bool retry;         /* "retry":true: a timed-out idempotent try may go again */
    bool async;         /* "async":true: may be asked with Prefer: respond-async */
};

struct pc_register {
    json_t *root;
    enum pc_reg_type type;
    const char *service;
    const char *instance;
    const char *channel; /* register only; checked == "<prefix>:svc:<instance>" */
    int ttl_ms;          /* clamped to PC_TTL_MIN_MS..PC_TTL_MAX_MS; default PC_TTL_DEFAULT_MS */
    int timeout_ms;      /* clamped to 1..60000; 0 when absent (use the gateway default) */
    bool has_ts;
    int64_t ts_ms;
    bool claim_check; /* "claim_check":true: takes and sends bodies by reference */
    int wire;         /* "wire":2 announced: takes v2 requests (SPEC §13); else 1 */
    size_t nroutes;
    struct pc_route_decl *routes; /* malloc'd array; strings borrowed from root */
};
/* Decodes a register or deregister message. Checks size (<= PC_WIRE_MAX_REGISTER),
 * depth, v == 1, type, service and instance syntax, the channel, each route's
 * method and pattern (pc_pattern_is_valid), and the route count (1..PC_WIRE_MAX_ROUTES
 * for register; routes absent for deregister). Returns 0 or -1 (err filled). */
int pc_wire_decode_register(struct pc_register *out, const char *msg, size_t len,
                            const char *prefix, struct pc_wire_err *err);
void pc_wire_register_deinit(struct pc_register *r);

void pc_wire_encode_register(pc_buf *out, const char *service, const char *instance,
                             const char *channel, int ttl_ms, int timeout_ms, uint64_t ts_ms,
                             const struct pc_route_decl *routes, size_t nroutes, bool claim_check,
                             int wire);
void pc_wire_encode_deregister(pc_buf *out, const char *service, const char *instance,
                               uint64_t ts_ms);
void pc_wire_encode_discover(pc_buf *out);

/* ---- channel names ---- */
/* Each writes "<prefix>:<kind>[:<name>]" into out (reset first). */
void pc_channel_register(pc_buf *out, const char *prefix);
void pc_channel_discover(pc_buf *out, const char *prefix);
void pc_channel_svc(pc_buf *out, const char *prefix, const char *instance);
void pc_channel_reply(pc_buf *out, const char *prefix, const char *id);
/* The claim-check key of request id's body: "<prefix>:body:<id>:req" or ":rep". */
void pc_body_key(pc_buf *out, const char *prefix, const char *id, bool reply);

/* True if msg[0..len) nests JSON arrays/objects no deeper than max_depth
 * (a cheap scan, run before jansson parses anything). */
bool pc_json_depth_is_ok(const char *msg, size_t len, int max_depth);

#endif
