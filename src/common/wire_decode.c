/* wire_decode.c -- the portico wire format (SPEC §2-§4, §13), reading side:
 * the validating decoders of requests, replies and cancels, and the helpers
 * every validating decoder shares (wire_int.h; registrations are decoded in
 * wire_register.c). See wire.h.
 *
 * Decoders enforce the byte and depth limits before jansson sees the input,
 * parse with duplicate keys rejected, and then validate every field the SPEC
 * names. Unknown fields are ignored (forward compatibility).
 *
 * Strings handed out as `const char *` must be usable as C strings, so the
 * decoders refuse an embedded NUL in them; only bodies (returned with a
 * length) and the reply id (id_len) may carry one. */
#include "wire.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "names.h"
#include "utf8.h"
#include "uuid.h"
#include "wire_int.h"

/* ================================================================ errors */

/* Fills err (which may be NULL) with a static reason and a message. Bytes
 * outside printable ASCII are replaced, so the message is safe to log even
 * when jansson quotes part of the input. */
void wire_err(struct pc_wire_err *err, const char *reason, const char *fmt, ...)
{
    if (err == NULL) return;
    err->reason = reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    for (char *p = err->message; *p; p++) {
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) *p = '?';
    }
}
/* ====================================================== decoding helpers */

/* Scans msg for nesting deeper than max_depth, skipping string contents.
 * It does not validate JSON; jansson does that afterwards. */
bool pc_json_depth_is_ok(const char *msg, size_t len, int max_depth)
{
    int depth = 0;
    bool in_str = false;

    for (size_t i = 0; i < len; i++) {
        char c = msg[i];
        if (in_str) {
            if (c == '\\')
                i++; /* skip the escaped character */
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) return false;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return true;
}

/* Checks size and depth, then parses msg into a JSON object. Returns the
 * new tree, or NULL with err filled (too_large, too_deep, not_json). */
json_t *wire_parse(const char *msg, size_t len, size_t max_len, struct pc_wire_err *err)
{
    if (len > max_len) {
        wire_err(err, "too_large", "message of %zu bytes exceeds %zu", len, max_len);
        return NULL;
    }
    if (!pc_json_depth_is_ok(msg, len, PC_WIRE_MAX_DEPTH)) {
        wire_err(err, "too_deep", "JSON nested deeper than %d", PC_WIRE_MAX_DEPTH);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(msg, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (root == NULL) {
        wire_err(err, "not_json", "at byte %d: %s", jerr.position, jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        wire_err(err, "not_json", "message is not a JSON object");
        return NULL;
    }
    return root;
}

/* How a request or reply is framed (SPEC §13). */
struct wire_frame {
    int wire;         /* 1, or PC_WIRE_V2 ("v":2 in the head) */
    bool newline;     /* v2: the head ended at a "\n" */
    const char *rest; /* v2: the bytes after that "\n" */
    size_t rest_len;
};

/* True if the object root has "v" equal to the integer v. */
static bool version_is(json_t *root, json_int_t v)
{
    json_t *j = json_object_get(root, "v");
    return json_is_integer(j) && json_integer_value(j) == v;
}

/* A "v":2 head with bytes after it but no newline between ("...}body"):
 * the object it starts with, so that the message's id can be read and its
 * sender told (SPEC §13: 502 for a reply that can be matched); NULL when
 * msg does not start with such a head. */
static json_t *v2_head_unended(const char *msg, size_t len)
{
    json_t *root = json_loadb(
        msg, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DISABLE_EOF_CHECK, NULL);
    if (json_is_object(root) && version_is(root, PC_WIRE_V2)) return root;
    json_decref(root);
    return NULL;
}

/* Parses a request or a reply. A first line that is a JSON object with
 * "v":2 is a v2 head, the rest of the message its body; anything else is
 * parsed whole, as v1 (a v2 head without its newline is found there, and
 * refused by frame_is_ok once the id is known). Returns the tree of the head
 * or the whole message, or NULL with err filled (as wire_parse). */
static json_t *wire_parse_msg(const char *msg, size_t len, struct wire_frame *f,
                              struct pc_wire_err *err)
{
    const char *nl = len <= PC_WIRE_MAX_MESSAGE ? memchr(msg, '\n', len) : NULL;
    struct pc_wire_err why;
    json_t *root;

    memset(f, 0, sizeof *f);
    f->wire = PC_WIRE_VERSION;
    if (nl != NULL && pc_json_depth_is_ok(msg, (size_t)(nl - msg), PC_WIRE_MAX_DEPTH)) {
        root = json_loadb(msg, (size_t)(nl - msg), JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
        if (json_is_object(root) && version_is(root, PC_WIRE_V2)) {
            f->wire = PC_WIRE_V2;
            f->newline = true;
            f->rest = nl + 1;
            f->rest_len = len - (size_t)(nl + 1 - msg);
            return root;
        }
        json_decref(root);
    }
    root = wire_parse(msg, len, PC_WIRE_MAX_MESSAGE, &why);
    if (root == NULL && strcmp(why.reason, "not_json") == 0) root = v2_head_unended(msg, len);
    if (root == NULL && err != NULL) *err = why;
    if (root != NULL && version_is(root, PC_WIRE_V2)) f->wire = PC_WIRE_V2; /* no newline */
    return root;
}

/* True if a request or reply has a version it may have: "v":1 for a whole
 * JSON message, "v":2 for a head ended by a newline. */
static bool frame_is_ok(json_t *root, const struct wire_frame *f, struct pc_wire_err *err)
{
    if (f->wire == PC_WIRE_V2 && !f->newline) {
        wire_err(err, "bad_framing", "a \"v\":2 head must end with a newline");
        return false;
    }
    if (f->wire != PC_WIRE_V2 && !version_is(root, PC_WIRE_VERSION)) {
        wire_err(err, "bad_version", "\"v\" must be the integer 1, or 2 for a v2 head");
        return false;
    }
    return true;
}

/* True if j is a string without an embedded NUL; sets *s and *n. */
bool wire_cstr(json_t *j, const char **s, size_t *n)
{
    if (!json_is_string(j)) return false;
    const char *v = json_string_value(j);
    size_t len = json_string_length(j);
    if (memchr(v, '\0', len) != NULL) return false;
    *s = v;
    if (n) *n = len;
    return true;
}

/* Reads an optional integer member. Returns 1 if present (value in *v), 0 if
 * absent, -1 if present with another type (err filled, reason bad_field). */
int wire_opt_int(json_t *root, const char *key, json_int_t *v, struct pc_wire_err *err)
{
    json_t *j = json_object_get(root, key);
    if (j == NULL) return 0;
    if (!json_is_integer(j)) {
        wire_err(err, "bad_field", "\"%s\" must be an integer", key);
        return -1;
    }
    *v = json_integer_value(j);
    return 1;
}

/* Reads a required C-string member (reason bad_field when absent or wrong). */
static int get_str(json_t *root, const char *key, const char **s, struct pc_wire_err *err)
{
    if (!wire_cstr(json_object_get(root, key), s, NULL)) {
        wire_err(err, "bad_field", "\"%s\" must be a string", key);
        return -1;
    }
    return 0;
}

/* Reads an optional C-string member: *s = dflt when absent. */
static int get_opt_str(json_t *root, const char *key, const char **s, const char *dflt,
                       struct pc_wire_err *err)
{
    if (json_object_get(root, key) == NULL) {
        *s = dflt;
        return 0;
    }
    return get_str(root, key, s, err);
}

/* The claim-check members (protocol.md §3.1): "body_ref" a string of
 * 1..PC_WIRE_MAX_BODY_REF bytes without NUL, "body_len" an integer in
 * 0..PC_WIRE_MAX_BODY_LEN, neither "body" nor "body_encoding" beside them. */
static int wire_body_ref(json_t *root, json_t *jr, const char **ref, size_t *body_len,
                         struct pc_wire_err *err)
{
    json_t *jl = json_object_get(root, "body_len");
    size_t n;

    if (!wire_cstr(jr, ref, &n) || n == 0 || n > PC_WIRE_MAX_BODY_REF) {
        *ref = NULL;
        wire_err(err, "bad_body", "\"body_ref\" must be a string of 1..%d bytes",
                 PC_WIRE_MAX_BODY_REF);
        return -1;
    }
    if (json_object_get(root, "body") != NULL || json_object_get(root, "body_encoding") != NULL) {
        *ref = NULL;
        wire_err(err, "bad_body", "\"body_ref\" comes without \"body\" and \"body_encoding\"");
        return -1;
    }
    if (!json_is_integer(jl) || json_integer_value(jl) < 0 ||
        json_integer_value(jl) > PC_WIRE_MAX_BODY_LEN) {
        *ref = NULL;
        wire_err(err, "bad_body", "\"body_len\" must be an integer in 0..2^40");
        return -1;
    }
    *body_len = (size_t)json_integer_value(jl);
    return 0;
}

/* Decodes the body members per SPEC §4 into a malloc'd buffer (NULL when
 * empty). body: absent, or a string; body_encoding: absent or "base64".
 * Returns 0, or -1 with err filled (bad_body, or no_memory). */
static int wire_body(json_t *root, unsigned char **body, size_t *body_len, const char **ref,
                     struct pc_wire_err *err)
{
    json_t *jb = json_object_get(root, "body");
    json_t *je = json_object_get(root, "body_encoding");
    json_t *jr = json_object_get(root, "body_ref");
    bool b64 = false;

    *body = NULL;
    *body_len = 0;
    *ref = NULL;
    if (jr != NULL) return wire_body_ref(root, jr, ref, body_len, err);
    if (je != NULL) {
        if (!json_is_string(je) || strcmp(json_string_value(je), "base64") != 0 ||
            json_string_length(je) != 6) {
            wire_err(err, "bad_body", "\"body_encoding\" must be \"base64\" when present");
            return -1;
        }
        b64 = true;
    }
    if (jb == NULL) return 0;
    if (!json_is_string(jb)) {
        wire_err(err, "bad_body", "\"body\" must be a string");
        return -1;
    }

    const char *s = json_string_value(jb);
    size_t n = json_string_length(jb);
    size_t cap = b64 ? pc_base64_decoded_max(n) : n;
    if (n == 0) return 0;
    if (b64 && n % 4 != 0) {
        wire_err(err, "bad_body", "invalid base64 body");
        return -1;
    }
    unsigned char *p = malloc(cap);
    if (p == NULL) {
        wire_err(err, "no_memory", "no memory for a body of %zu bytes", cap);
        return -1;
    }
    if (!b64) {
        memcpy(p, s, n);
        *body_len = n;
    } else if (pc_base64_decode(p, body_len, s, n) != 0) {
        free(p);
        wire_err(err, "bad_body", "invalid base64 body");
        return -1;
    }
    if (*body_len == 0) {
        free(p);
        p = NULL;
    }
    *body = p;
    return 0;
}

/* The body of a v2 message (SPEC §13): the bytes after the head's newline,
 * exactly "body_len" of them (absent: 0), copied into a malloc'd buffer
 * (NULL when empty); or a claim check with nothing after the newline. A
 * "body" or "body_encoding" in the head is refused. */
static int wire_body_v2(json_t *root, const struct wire_frame *f, unsigned char **body,
                        size_t *body_len, const char **ref, struct pc_wire_err *err)
{
    json_t *jr = json_object_get(root, "body_ref"), *jl = json_object_get(root, "body_len");
    json_int_t n = 0;

    *body = NULL;
    *body_len = 0;
    *ref = NULL;
    if (json_object_get(root, "body") != NULL || json_object_get(root, "body_encoding") != NULL) {
        wire_err(err, "bad_body", "a v2 head has no \"body\" or \"body_encoding\"");
        return -1;
    }
    if (jr != NULL) {
        if (wire_body_ref(root, jr, ref, body_len, err) != 0) return -1;
        if (f->rest_len != 0) {
            *ref = NULL;
            wire_err(err, "bad_framing", "%zu bytes follow a claim-checked v2 head", f->rest_len);
            return -1;
        }
        return 0;
    }
    if (jl != NULL) {
        if (!json_is_integer(jl) || json_integer_value(jl) < 0 ||
            json_integer_value(jl) > PC_WIRE_MAX_BODY_LEN) {
            wire_err(err, "bad_body", "\"body_len\" must be an integer in 0..2^40");
            return -1;
        }
        n = json_integer_value(jl);
    }
    if ((unsigned long long)n != f->rest_len) {
        wire_err(err, "bad_framing", "\"body_len\" is %lld but %zu bytes follow the head",
                 (long long)n, f->rest_len);
        return -1;
    }
    if (n == 0) return 0;
    if ((*body = malloc(f->rest_len)) == NULL) {
        wire_err(err, "no_memory", "no memory for a body of %zu bytes", f->rest_len);
        return -1;
    }
    memcpy(*body, f->rest, f->rest_len);
    *body_len = f->rest_len;
    return 0;
}

/* The body of a message, from where its version keeps it: the only part of
 * a request or reply the two versions read differently. */
static int wire_body_of(json_t *root, const struct wire_frame *f, unsigned char **body,
                        size_t *body_len, const char **ref, struct pc_wire_err *err)
{
    if (f->wire == PC_WIRE_V2) return wire_body_v2(root, f, body, body_len, ref, err);
    return wire_body(root, body, body_len, ref, err);
}

/* ============================================================== requests */

/* Decodes a request message (see wire.h). params and headers are optional
 * (NULL when absent); query is "" when absent. */
int pc_wire_decode_request(struct pc_request_in *out, const char *msg, size_t len,
                           struct pc_wire_err *err)
{
    struct wire_frame f;

    memset(out, 0, sizeof *out);
    json_t *root = wire_parse_msg(msg, len, &f, err);
    if (root == NULL) return -1;
    out->root = root;
    out->wire = f.wire;
    if (!frame_is_ok(root, &f, err)) goto fail;

    size_t idlen;
    if (!wire_cstr(json_object_get(root, "id"), &out->id, &idlen) ||
        !pc_uuid_is_valid(out->id, idlen)) {
        wire_err(err, "no_id", "\"id\" must be a UUID string");
        goto fail;
    }
    if (get_str(root, "reply_to", &out->reply_to, err) != 0 ||
        get_str(root, "method", &out->method, err) != 0 ||
        get_str(root, "path", &out->path, err) != 0 ||
        get_opt_str(root, "query", &out->query, "", err) != 0 ||
        get_opt_str(root, "route", &out->route, NULL, err) != 0 ||
        get_opt_str(root, "remote_addr", &out->remote_addr, NULL, err) != 0)
        goto fail;

    json_int_t dl;
    if (wire_opt_int(root, "deadline_ms", &dl, err) != 1 || dl < 0) {
        wire_err(err, "bad_field", "\"deadline_ms\" must be a non-negative integer");
        goto fail;
    }
    out->deadline_ms = (uint64_t)dl;

    json_t *params = json_object_get(root, "params");
    if (params != NULL) {
        const char *k, *sv;
        json_t *v;
        if (!json_is_object(params)) {
            wire_err(err, "bad_field", "\"params\" must be an object");
            goto fail;
        }
        json_object_foreach(params, k, v)
        {
            if (!wire_cstr(v, &sv, NULL)) {
                wire_err(err, "bad_field", "\"params\" values must be strings");
                goto fail;
            }
        }
        out->params = params;
    }

    json_t *headers = json_object_get(root, "headers");
    if (headers != NULL) {
        size_t i;
        json_t *h;
        if (!json_is_array(headers)) {
            wire_err(err, "bad_header", "\"headers\" must be an array");
            goto fail;
        }
        json_array_foreach(headers, i, h)
        {
            const char *sv;
            if (!json_is_array(h) || json_array_size(h) != 2 ||
                !wire_cstr(json_array_get(h, 0), &sv, NULL) ||
                !wire_cstr(json_array_get(h, 1), &sv, NULL)) {
                wire_err(err, "bad_header", "header %zu is not a [name, value] pair", i);
                goto fail;
            }
        }
        out->headers = headers;
    }

    if (wire_body_of(root, &f, &out->body, &out->body_len, &out->body_ref, err) != 0) goto fail;
    return 0;

fail:
    pc_wire_request_in_deinit(out);
    return -1;
}

/* Frees what a decoded request owns; safe on a zeroed struct. */
void pc_wire_request_in_deinit(struct pc_request_in *r)
{
    free(r->body);
    json_decref(r->root);
    memset(r, 0, sizeof *r);
}

/* =============================================================== replies */

/* The stream members of a reply (protocol.md §4.3): "more" a boolean,
 * "seq" an integer in 0..PC_WIRE_MAX_SEQ; a continuation (seq >= 1) needs
 * "more" and has no "status", "headers" or "body_ref"; a first message with
 * "more":true has no "body_ref". Returns 0, or -1 (err filled). */
static int wire_stream_fields(json_t *root, struct pc_reply_in *out, struct pc_wire_err *err)
{
    json_t *jm = json_object_get(root, "more");
    json_int_t seq = 0;

    if (jm != NULL && !json_is_boolean(jm)) {
        wire_err(err, "bad_field", "\"more\" must be true or false");
        return -1;
    }
    out->more = json_is_true(jm);
    if (wire_opt_int(root, "seq", &seq, err) < 0) return -1;
    if (seq < 0 || seq > PC_WIRE_MAX_SEQ) {
        wire_err(err, "bad_field", "\"seq\" must be an integer in 0..2^53-1");
        return -1;
    }
    out->seq = (long long)seq;
    if (seq >= 1 && (json_object_get(root, "status") != NULL ||
                     json_object_get(root, "headers") != NULL || jm == NULL)) {
        wire_err(err, "bad_field",
                 "a stream continuation has \"more\" and no \"status\" or \"headers\"");
        return -1;
    }
    if ((seq >= 1 || out->more) && json_object_get(root, "body_ref") != NULL) {
        wire_err(err, "bad_body", "a stream message carries its body inline");
        return -1;
    }
    return 0;
}

/* A reply that strict parsing refused for what only strict mode refuses -- a
 * duplicate key, an integer past 64 bits -- is still JSON, and its id may be
 * readable (SPEC §5: only a reply that is not JSON or has no readable id
 * cannot be matched). Read leniently, as a whole message or as a first line
 * that is a "v":2 head, it gives the tree whose id says whom to answer 502;
 * NULL when it is neither. */
static json_t *reply_lenient(const char *msg, size_t len)
{
    const size_t flags = JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL;
    const char *nl = memchr(msg, '\n', len);
    json_t *root = NULL;

    if (len > PC_WIRE_MAX_MESSAGE) return NULL;
    if (pc_json_depth_is_ok(msg, len, PC_WIRE_MAX_DEPTH)) root = json_loadb(msg, len, flags, NULL);
    if (root == NULL && nl != NULL &&
        pc_json_depth_is_ok(msg, (size_t)(nl - msg), PC_WIRE_MAX_DEPTH)) {
        root = json_loadb(msg, (size_t)(nl - msg), flags, NULL);
        if (json_number_value(json_object_get(root, "v")) != PC_WIRE_V2) { /* not a v2 head */
            json_decref(root);
            root = NULL;
        }
    }
    if (json_is_object(root)) return root;
    json_decref(root);
    return NULL;
}

/* Decodes a reply (see wire.h for the -1 / -2 contract). */
int pc_wire_decode_reply(struct pc_reply_in *out, const char *msg, size_t len,
                         struct pc_wire_err *err)
{
    struct wire_frame f;

    memset(out, 0, sizeof *out);
    json_t *root = wire_parse_msg(msg, len, &f, err);
    bool strict = root != NULL;
    if (root == NULL && (err == NULL || strcmp(err->reason, "not_json") == 0))
        root = reply_lenient(msg, len);
    if (root == NULL) return -1;

    json_t *id = json_object_get(root, "id");
    if (!json_is_string(id)) {
        json_decref(root);
        if (strict) wire_err(err, "no_id", "\"id\" must be a string");
        return -1; /* (not strict: err keeps why strict parsing refused it) */
    }
    out->root = root;
    out->id = json_string_value(id);
    out->id_len = json_string_length(id);
    out->wire = f.wire;

    if (!strict) return -2; /* err: the strict parser's reason */
    if (!frame_is_ok(root, &f, err)) return -2;
    if (wire_stream_fields(root, out, err) != 0) return -2;
    if (out->seq >= 1) { /* a stream continuation: its body only */
        if (wire_body_of(root, &f, &out->body, &out->body_len, &out->body_ref, err) != 0) return -2;
        return 0;
    }

    json_t *st = json_object_get(root, "status");
    if (!json_is_integer(st) || json_integer_value(st) < 200 || json_integer_value(st) > 599) {
        wire_err(err, "bad_status", "\"status\" must be an integer in 200..599");
        return -2;
    }

    json_t *headers = json_object_get(root, "headers");
    if (headers != NULL) {
        size_t i;
        json_t *h;
        size_t bytes = 0;
        if (!json_is_array(headers)) {
            wire_err(err, "bad_header", "\"headers\" must be an array");
            return -2;
        }
        if (json_array_size(headers) > PC_WIRE_MAX_REPLY_HEADERS) {
            wire_err(err, "too_many_headers", "more than %d headers", PC_WIRE_MAX_REPLY_HEADERS);
            return -2;
        }
        json_array_foreach(headers, i, h)
        {
            json_t *jn = json_array_get(h, 0), *jv = json_array_get(h, 1);
            if (!json_is_array(h) || json_array_size(h) != 2 || !json_is_string(jn) ||
                !json_is_string(jv)) {
                wire_err(err, "bad_header", "header %zu is not a [name, value] pair", i);
                return -2;
            }
            bytes += json_string_length(jn) + json_string_length(jv);
            if (bytes > PC_WIRE_MAX_REPLY_HEADER_BYTES) {
                wire_err(err, "headers_too_large", "headers over %d bytes",
                         PC_WIRE_MAX_REPLY_HEADER_BYTES);
                return -2;
            }
            if (!pc_header_name_is_valid(json_string_value(jn), json_string_length(jn))) {
                wire_err(err, "bad_header", "header %zu has an invalid name", i);
                return -2;
            }
            if (!pc_header_value_is_valid(json_string_value(jv), json_string_length(jv))) {
                wire_err(err, "bad_header", "header %zu has an invalid value", i);
                return -2;
            }
        }
    }

    if (wire_body_of(root, &f, &out->body, &out->body_len, &out->body_ref, err) != 0) return -2;
    out->status = (int)json_integer_value(st);
    out->headers = headers;
    return 0;
}

/* See wire.h. */
bool pc_wire_decode_cancel(const char *msg, size_t len, char id[37])
{
    struct wire_frame f;
    json_t *root;
    const char *s;
    size_t n;
    bool ok;

    if (len > 4096 || (root = wire_parse_msg(msg, len, &f, NULL)) == NULL) return false;
    ok = frame_is_ok(root, &f, NULL) && f.rest_len == 0 &&
         json_is_true(json_object_get(root, "cancel")) &&
         wire_cstr(json_object_get(root, "id"), &s, &n) && pc_uuid_is_valid(s, n);
    if (ok) memcpy(id, s, n + 1);
    json_decref(root);
    return ok;
}

/* Frees what a decoded reply owns; safe on a zeroed struct. */
void pc_wire_reply_in_deinit(struct pc_reply_in *r)
{
    free(r->body);
    json_decref(r->root);
    memset(r, 0, sizeof *r);
}
