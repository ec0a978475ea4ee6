/* reply.c -- replies: the envelope framed as a PUBLISH in place, bodies
 * written in place (portico_reply_begin ... portico_reply_end), and
 * portico_reply_json's writer of a jansson tree.
 *
 * The hot path allocates nothing once the buffers have grown: the envelope
 * goes into the service's reply_env, a written body into memory the writer
 * borrows from the service (its spare) and gives back at the end. A reply
 * goes out after CLIENT REPLY SKIP when Redis allows it (bus.c): nobody
 * waits for its answer. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "jw.h"
#include "resp.h"

#include "internal.h"

/* Room a reply writer leaves in front of the body: a v2 reply's head and the
 * PUBLISH head go there, so that the written body is not copied again. A
 * head that does not fit (many or long headers) is copied with the body. */
#define REPLY_ROOM 1024

/* ---- replies ---- */

/* See internal.h. */
int pt_reply_headers(const char *const *headers, struct pc_kv *kv, size_t *n)
{
    size_t nh = 0;

    for (; headers != NULL && headers[2 * nh] != NULL; nh++) {
        const char *name = headers[2 * nh], *value = headers[2 * nh + 1];
        if (nh == PT_REPLY_MAX_HEADERS || value == NULL) return PORTICO_ERR_INVALID;
        kv[nh].name = name;
        kv[nh].name_len = strlen(name);
        kv[nh].value = value;
        kv[nh].value_len = strlen(value);
        if (!pc_header_name_is_valid(name, kv[nh].name_len) ||
            !pc_header_value_is_valid(value, kv[nh].value_len))
            return PORTICO_ERR_INVALID;
    }
    *n = nh;
    return 0;
}

/* See internal.h. */
int pt_reply_publish(portico_request *req, pc_buf *b)
{
    size_t cmd_len, msg_len;
    const char *cmd, *msg;

    if (b->oom) return PORTICO_ERR_NOMEM;
    cmd = pc_resp_publish_frame(b, req->in.reply_to, strlen(req->in.reply_to), &cmd_len);
    msg = pc_resp_publish_msg(b, &msg_len);
    if ((cmd != NULL
             ? pt_bus_publish_resp(req->svc->bus, cmd, cmd_len, NULL, NULL)
             : pt_bus_publish(req->svc->bus, req->in.reply_to, msg, msg_len, NULL, NULL)) != 0)
        return PORTICO_ERR_BUS;
    return 0;
}

/* Publishes a v2 reply whose head (in b, after the PUBLISH room) goes in
 * front of the body where it lies: body is inside w's buffer, after
 * REPLY_ROOM bytes of room, with 2 bytes free after it. Returns 0, -1 (bus)
 * or 1 when the head does not fit (nothing sent). */
static int publish_in_place(portico_service *svc, const char *reply_to, pc_buf *b, char *body,
                            size_t body_len)
{
    size_t hlen = b->len - PC_RESP_PUBLISH_ROOM, cmd_len;
    char *msg = body - hlen;
    const char *cmd;

    if (hlen + PC_RESP_PUBLISH_ROOM > REPLY_ROOM) return 1;
    memcpy(msg, b->data + PC_RESP_PUBLISH_ROOM, hlen);
    cmd = pc_resp_publish_frame_in(msg, hlen + body_len, REPLY_ROOM - hlen, reply_to,
                                   strlen(reply_to), &cmd_len);
    if (cmd != NULL) return pt_bus_publish_resp(svc->bus, cmd, cmd_len, NULL, NULL) != 0 ? -1 : 0;
    return pt_bus_publish(svc->bus, reply_to, msg, hlen + body_len, NULL, NULL) != 0 ? -1 : 0;
}

/* Replies to req with body; the envelope is written into the service's
 * reusable buffer (Redis copies it on PUBLISH). A v2 reply from a writer
 * (in_place: the body has REPLY_ROOM bytes of room before it) is framed
 * around the body where it lies instead. */
static int reply_send(portico_request *req, int status, const char *const *headers,
                      const void *body, size_t body_len, bool in_place)
{
    struct pc_kv kv[PT_REPLY_MAX_HEADERS];
    size_t nh = 0;
    portico_service *svc;
    pc_buf *b;
    int rc = 0;

    if (req == NULL) return PORTICO_ERR_INVALID;
    if (req->replied || req->streaming) return PORTICO_ERR_REPLIED;
    if (status < 200 || status > 599 || (body == NULL && body_len > 0)) return PORTICO_ERR_INVALID;
    if (pt_reply_headers(headers, kv, &nh) != 0) return PORTICO_ERR_INVALID;
    svc = req->svc;
    if (svc == NULL) return PORTICO_ERR_STATE;
    if (req->expired || pc_unix_ms() > req->in.deadline_ms) {
        req->expired = true;
        pt_request_done(req);
        return PORTICO_ERR_DEADLINE;
    }
    /* The envelope is written once, framed as a PUBLISH in place (resp.h):
     * the bus then formats nothing and copies it once. */
    b = &svc->reply_env;
    pc_buf_reset(b);
    pc_resp_publish_open(b);
    if (svc->claim_check_bytes > 0 && body_len > svc->claim_check_bytes) {
        /* too large for pub/sub: the body goes into a key, stored before the
         * PUBLISH on the same connection (protocol.md 4.1) */
        pc_buf key;
        uint64_t now = pc_unix_ms();
        pc_buf_init(&key);
        pc_body_key(&key, svc->prefix, req->in.id, true);
        if (key.oom || pt_claim_store(svc, key.data, body, body_len,
                                      req->in.deadline_ms - now + PT_CLAIM_TTL_MARGIN_MS) != 0) {
            pc_buf_deinit(&key);
            return key.oom ? PORTICO_ERR_NOMEM : PORTICO_ERR_BUS;
        }
        pc_wire_encode_reply_ref(b, req->in.wire, req->in.id, status, kv, nh, key.data, body_len);
        pc_buf_deinit(&key);
    } else if (in_place && req->in.wire == PC_WIRE_V2 && body_len > 0) {
        pc_wire_encode_reply(b, PC_WIRE_V2, req->in.id, status, kv, nh, NULL, body_len); /* head */
        rc = b->oom ? 1 : publish_in_place(svc, req->in.reply_to, b, (char *)body, body_len);
        if (rc <= 0) {
            pc_buf_trim(b, PT_BUF_KEEP);
            req->replied = true;
            pt_request_done(req);
            return rc < 0 ? PORTICO_ERR_BUS : 0;
        }
        rc = 0;
        pc_buf_append(b, body, body_len); /* the head did not fit: the body copied, raw */
    } else {
        pc_wire_encode_reply(b, req->in.wire, req->in.id, status, kv, nh, body, body_len);
    }
    pc_resp_publish_close(b);
    rc = pt_reply_publish(req, b);
    pc_buf_trim(b, PT_BUF_KEEP);
    if (rc == PORTICO_ERR_NOMEM) return rc;
    req->replied = true;
    pt_request_done(req);
    return rc;
}

PORTICO_API int portico_reply(portico_request *req, int status, const char *const *headers,
                              const void *body, size_t body_len)
{
    return reply_send(req, status, headers, body, body_len, false);
}

/* ---- replies written in place ---- */

PORTICO_API portico_writer *portico_reply_begin(portico_request *req)
{
    portico_writer *w;

    if (req == NULL) return NULL;
    w = &req->writer;
    if (w->buf.data == NULL && req->svc != NULL && req->svc->spare.data != NULL) {
        w->buf = req->svc->spare; /* the memory of the last reply written */
        pc_buf_init(&req->svc->spare);
    }
    pc_buf_reset(&w->buf);
    if (pc_buf_reserve(&w->buf, REPLY_ROOM)) w->buf.len = REPLY_ROOM; /* room for the head */
    w->req = req;
    return w;
}

PORTICO_API void portico_write(portico_writer *w, const void *data, size_t len)
{
    if (w != NULL) pc_buf_append(&w->buf, data, len);
}

PORTICO_API void portico_write_str(portico_writer *w, const char *s)
{
    if (w != NULL && s != NULL) pc_buf_append(&w->buf, s, strlen(s));
}

PORTICO_API void portico_write_json_strn(portico_writer *w, const char *s, size_t len)
{
    if (w != NULL) pc_jw_str(&w->buf, s != NULL ? s : "", s != NULL ? len : 0);
}

PORTICO_API void portico_write_json_str(portico_writer *w, const char *s)
{
    portico_write_json_strn(w, s, s != NULL ? strlen(s) : 0);
}

PORTICO_API void portico_write_json_int(portico_writer *w, int64_t v)
{
    if (w != NULL) pc_jw_i64(&w->buf, v);
}

PORTICO_API int portico_reply_end(portico_writer *w, int status, const char *const *headers)
{
    portico_request *req;
    portico_service *svc;
    pc_buf b;
    int rc;

    if (w == NULL || w->req == NULL) return PORTICO_ERR_INVALID;
    /* the reply may free req (and w with it): take the buffer out first */
    req = w->req;
    svc = req->svc;
    b = w->buf;
    pc_buf_init(&w->buf);
    w->req = NULL;
    /* two bytes after the body for the PUBLISH's end (pc_resp_publish_frame_in) */
    rc = b.oom || !pc_buf_reserve(&b, 2)
             ? PORTICO_ERR_NOMEM
             : reply_send(req, status, headers, b.data + REPLY_ROOM, b.len - REPLY_ROOM, true);
    if (svc != NULL && svc->spare.data == NULL) {
        /* Kept whatever its size (up to PT_SPARE_MAX) while large replies go
         * on: allocating and faulting in a large body's memory again for
         * every reply cost more than writing it. Trimmed once a sweep
         * passes with none (pt_reply_spare_sweep). */
        pc_buf_trim(&b, PT_SPARE_MAX); /* (a service is never freed inside a reply) */
        if (b.cap > PT_BUF_KEEP) svc->spare_large = true;
        svc->spare = b;
    } else {
        pc_buf_deinit(&b);
    }
    return rc;
}

/* See internal.h. */
void pt_reply_spare_sweep(portico_service *svc)
{
    if (svc->spare.cap <= PT_BUF_KEEP) return;
    if (svc->spare_large)
        svc->spare_large = false; /* used since the last sweep: kept */
    else
        pc_buf_trim(&svc->spare, PT_BUF_KEEP);
}

/* Writes a real as jansson does: %.17g, a ".0" when that would read as an
 * integer, and the exponent without '+' or leading zeros ("1e300", "1e-5"). */
static void write_real(pc_buf *b, double d)
{
    char t[40], *e;
    int n = snprintf(t, sizeof t, "%.17g", d);

    if (n < 0 || (size_t)n >= sizeof t - 2) return;
    if (strpbrk(t, ".e") == NULL) {
        memcpy(t + n, ".0", 3);
        n += 2;
    }
    if ((e = strchr(t, 'e')) != NULL) {
        char *from = e + 1, *to = e + 1;
        if (*from == '+')
            from++;
        else if (*from == '-')
            from++, to++;
        while (*from == '0' && from[1] != '\0') from++;
        memmove(to, from, strlen(from) + 1);
        n = (int)strlen(t);
    }
    pc_buf_append(b, t, (size_t)n);
}

/* See internal.h. */
bool pt_json_write(pc_buf *b, json_t *v, int depth)
{
    const char *k;
    size_t i, kn;
    json_t *x;
    bool first = true;

    if (depth > PT_JSON_MAX_DEPTH) return false;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        pc_buf_putc(b, '{');
        json_object_keylen_foreach(v, k, kn, x)
        {
            if (!first) pc_buf_putc(b, ',');
            first = false;
            pc_jw_str(b, k, kn);
            pc_buf_putc(b, ':');
            if (!pt_json_write(b, x, depth + 1)) return false;
        }
        pc_buf_putc(b, '}');
        return true;
    case JSON_ARRAY:
        pc_buf_putc(b, '[');
        json_array_foreach(v, i, x)
        {
            if (i > 0) pc_buf_putc(b, ',');
            if (!pt_json_write(b, x, depth + 1)) return false;
        }
        pc_buf_putc(b, ']');
        return true;
    case JSON_STRING:
        pc_jw_str(b, json_string_value(v), json_string_length(v));
        return true;
    case JSON_INTEGER:
        pc_jw_i64(b, (int64_t)json_integer_value(v));
        return true;
    case JSON_REAL:
        write_real(b, json_real_value(v));
        return true;
    case JSON_TRUE:
        pc_buf_append(b, "true", 4);
        return true;
    case JSON_FALSE:
        pc_buf_append(b, "false", 5);
        return true;
    default:
        pc_buf_append(b, "null", 4);
        return true;
    }
}

PORTICO_API int portico_reply_json(portico_request *req, int status, json_t *value)
{
    static const char *const h[] = {"content-type", "application/json", NULL};
    portico_writer *w;
    bool ok;

    if (value == NULL) return PORTICO_ERR_INVALID;
    w = portico_reply_begin(req);
    if (w == NULL) {
        json_decref(value);
        return req == NULL ? PORTICO_ERR_INVALID : PORTICO_ERR_NOMEM;
    }
    ok = pt_json_write(&w->buf, value, 0);
    json_decref(value);
    if (!ok) {
        w->req = NULL;
        return PORTICO_ERR_INVALID;
    }
    return portico_reply_end(w, status, h);
}

PORTICO_API int portico_reply_text(portico_request *req, int status, const char *fmt, ...)
{
    static const char *const h[] = {"content-type", "text/plain; charset=utf-8", NULL};
    portico_writer *w = portico_reply_begin(req);
    va_list ap;

    if (w == NULL) return req == NULL ? PORTICO_ERR_INVALID : PORTICO_ERR_NOMEM;
    va_start(ap, fmt);
    pc_buf_vprintf(&w->buf, fmt, ap);
    va_end(ap);
    return portico_reply_end(w, status, h);
}

PORTICO_API int portico_reply_error(portico_request *req, int status, const char *code,
                                    const char *message)
{
    static const char *const h[] = {"content-type", "application/json", NULL};
    portico_writer *w = portico_reply_begin(req);

    if (w == NULL) return req == NULL ? PORTICO_ERR_INVALID : PORTICO_ERR_NOMEM;
    portico_write_str(w, "{\"error\":");
    portico_write_json_str(w, code ? code : "error");
    portico_write_str(w, ",\"message\":");
    portico_write_json_str(w, message ? message : "");
    portico_write_str(w, ",\"request_id\":");
    portico_write_json_str(w, req->request_id);
    portico_write_str(w, "}");
    return portico_reply_end(w, status, h);
}
