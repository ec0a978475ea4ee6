/* uresp.c -- an upstream's response, parsed with http_parser (see uresp.h). */
#include "uresp.h"

#include <http_parser.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xalloc.h"

/* Header text as it arrives: name and value appended to one buffer; the
 * offsets of each are kept until the head is complete. */
struct field {
    size_t name_off, name_len, value_off, value_len;
};

struct gw_uresp {
    http_parser p;
    struct gw_uresp_sink sink;
    pc_buf text; /* header names (lower-cased) and values */
    struct field fields[GW_URESP_MAX_HEADERS];
    size_t nfields;
    bool in_value;      /* the last callback was a value */
    bool head_request;  /* the request was HEAD: no body */
    bool head_done;     /* head() was called for the final response */
    bool started;       /* a byte of a response was parsed */
    bool msg_done;      /* done() was called */
    bool stopped;       /* a sink asked to stop */
    bool counted;       /* the body has a length: body_left counts it down */
    bool raw;           /* the caller takes the body itself (gw_uresp_body_taken) */
    uint64_t body_left; /* of a body with a length, bytes still to come */
    size_t head_bytes;  /* status line and header bytes so far */
    const char *reason; /* why the parse failed (ours, before http_parser's) */
};

static struct gw_uresp *of(http_parser *p) { return p->data; }

static int too_big(struct gw_uresp *u, size_t n)
{
    u->head_bytes += n;
    if (u->head_bytes <= GW_URESP_MAX_HEAD) return 0;
    u->reason = "response head too large";
    return -1;
}

static int on_begin(http_parser *p)
{
    struct gw_uresp *u = of(p);
    u->started = true;
    u->nfields = 0;
    u->in_value = false;
    u->head_bytes = 0;
    pc_buf_reset(&u->text);
    return 0;
}

static int on_status(http_parser *p, const char *at, size_t n)
{
    (void)at;
    return too_big(of(p), n);
}

static int on_field(http_parser *p, const char *at, size_t n)
{
    struct gw_uresp *u = of(p);
    struct field *f;

    if (too_big(u, n) != 0) return -1;
    if (u->in_value || u->nfields == 0) { /* a new field: ": " and CRLF counted once */
        if (too_big(u, 4) != 0) return -1;
        if (u->nfields == GW_URESP_MAX_HEADERS) {
            u->reason = "too many response headers";
            return -1;
        }
        f = &u->fields[u->nfields++];
        f->name_off = u->text.len;
        f->name_len = 0;
        f->value_off = 0;
        f->value_len = 0;
        u->in_value = false;
    }
    f = &u->fields[u->nfields - 1];
    /* Lower-cased in place (out of memory: on_headers_complete says so). */
    if (pc_buf_reserve(&u->text, n)) {
        char *o = u->text.data + u->text.len;
        for (size_t i = 0; i < n; i++) {
            char c = at[i];
            o[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
        }
        u->text.len += n;
        u->text.data[u->text.len] = '\0';
    }
    f->name_len += n;
    return 0;
}

static int on_value(http_parser *p, const char *at, size_t n)
{
    struct gw_uresp *u = of(p);
    struct field *f;

    if (too_big(u, n) != 0) return -1;
    if (u->nfields == 0) return -1; /* not reached: http_parser sends a name first */
    f = &u->fields[u->nfields - 1];
    if (!u->in_value) {
        f->value_off = u->text.len;
        u->in_value = true;
    }
    pc_buf_append(&u->text, at, n);
    f->value_len += n;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct gw_uresp *u = of(p);
    struct pc_kv kv[GW_URESP_MAX_HEADERS];
    struct gw_uresp_head h;
    int st = p->status_code;

    if (u->text.oom) pc_panic("out of memory reading a response head");
    if (st < 100 || st > 599) {
        u->reason = "bad response status";
        return -1;
    }
    if (st == 101) {
        u->reason = "upgrade responses are not forwarded";
        return -1;
    }
    if (st < 200) return 1; /* interim: no body; skipped, the final response follows */
    for (size_t i = 0; i < u->nfields; i++)
        kv[i] = (struct pc_kv){u->text.data + u->fields[i].name_off, u->fields[i].name_len,
                               u->text.data + u->fields[i].value_off, u->fields[i].value_len};
    h.status = st;
    h.headers = kv;
    h.nheaders = u->nfields;
    h.chunked = (p->flags & F_CHUNKED) != 0;
    h.content_length = (!h.chunked && p->content_length != ULLONG_MAX) ? (uint64_t)p->content_length
                                                                       : GW_URESP_NO_LENGTH;
    h.keep_alive = http_should_keep_alive(p) != 0;
    u->head_done = true;
    u->counted = !u->head_request && st != 204 && st != 304 && h.content_length > 0 &&
                 h.content_length != GW_URESP_NO_LENGTH;
    u->body_left = u->counted ? h.content_length : 0;
    if (u->sink.head(u->sink.ctx, &h) != 0) {
        u->stopped = true;
        http_parser_pause(p, 1);
    }
    /* 1: no body, whatever Content-Length says (http_parser would read one
     * for a 304 or 204 that announces a length). */
    return u->head_request || st == 204 || st == 304 ? 1 : 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct gw_uresp *u = of(p);
    if (!u->head_done) return 0;       /* not reached: interim responses have no body */
    if (u->counted) u->body_left -= n; /* http_parser gives no more than the length */
    if (u->sink.body(u->sink.ctx, at, n) != 0) {
        u->stopped = true;
        http_parser_pause(p, 1);
    }
    return 0;
}

static int on_complete(http_parser *p)
{
    struct gw_uresp *u = of(p);
    if (!u->head_done) return 0; /* an interim response ended: on to the final one */
    u->msg_done = true;
    u->body_left = 0;
    u->sink.done(u->sink.ctx);
    http_parser_pause(p, 1); /* what follows is not ours to parse */
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_begin,
    .on_status = on_status,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_complete,
};

gw_uresp *gw_uresp_new(const struct gw_uresp_sink *sink)
{
    struct gw_uresp *u = pc_xcalloc(1, sizeof *u);
    u->sink = *sink;
    pc_buf_init(&u->text);
    gw_uresp_reset(u, false);
    return u;
}

void gw_uresp_free(gw_uresp *u)
{
    if (u == NULL) return;
    pc_buf_deinit(&u->text);
    free(u);
}

void gw_uresp_reset(gw_uresp *u, bool head_request)
{
    http_parser_init(&u->p, HTTP_RESPONSE);
    u->p.data = u;
    u->nfields = 0;
    u->in_value = false;
    u->head_request = head_request;
    u->head_done = u->started = u->msg_done = u->stopped = false;
    u->counted = u->raw = false;
    u->body_left = 0;
    u->head_bytes = 0;
    u->reason = NULL;
    pc_buf_trim(&u->text, 4096);
    pc_buf_reset(&u->text);
}

static const char *error_of(struct gw_uresp *u)
{
    enum http_errno e = HTTP_PARSER_ERRNO(&u->p);
    if (u->reason) return u->reason;
    if (e == HPE_HEADER_OVERFLOW) return "response head too large";
    return http_errno_description(e);
}

int gw_uresp_feed(gw_uresp *u, const char *data, size_t n, size_t *used, const char **why)
{
    size_t k;
    enum http_errno e;

    *used = 0;
    if (u->msg_done || n == 0) return GW_URESP_OK;
    if (u->raw) { /* http_parser no longer knows where the body is */
        k = n < u->body_left ? n : (size_t)u->body_left;
        *used = k;
        if (u->sink.body(u->sink.ctx, data, k) != 0) u->stopped = true;
        gw_uresp_body_taken(u, k);
        return GW_URESP_OK;
    }
    if (u->stopped) { /* the caller resumes after a sink stop */
        u->stopped = false;
        http_parser_pause(&u->p, 0);
    }
    k = http_parser_execute(&u->p, &settings, data, n);
    e = HTTP_PARSER_ERRNO(&u->p);
    *used = k;
    if (e == HPE_OK || e == HPE_PAUSED) {
        if (e == HPE_PAUSED && !u->msg_done) u->stopped = true;
        return GW_URESP_OK;
    }
    *why = error_of(u);
    return GW_URESP_ERROR;
}

int gw_uresp_eof(gw_uresp *u, const char **why)
{
    enum http_errno e;

    if (u->msg_done) return GW_URESP_OK;
    if (u->raw) {
        *why = "upstream closed before the response was complete";
        return GW_URESP_ERROR;
    }
    if (u->stopped) http_parser_pause(&u->p, 0);
    http_parser_execute(&u->p, &settings, NULL, 0);
    e = HTTP_PARSER_ERRNO(&u->p);
    if (u->msg_done) return GW_URESP_OK;
    *why = (e == HPE_OK || e == HPE_PAUSED) ? "upstream closed before the response was complete"
                                            : error_of(u);
    return GW_URESP_ERROR;
}

bool gw_uresp_started(const gw_uresp *u) { return u->started; }

uint64_t gw_uresp_body_left(const gw_uresp *u) { return u->msg_done ? 0 : u->body_left; }

void gw_uresp_body_taken(gw_uresp *u, size_t n)
{
    if (n > u->body_left) pc_panic("gw_uresp_body_taken: %zu bytes past the body's end", n);
    u->raw = true;
    u->body_left -= n;
    if (u->body_left > 0 || u->msg_done) return;
    u->msg_done = true;
    u->sink.done(u->sink.ctx);
}
