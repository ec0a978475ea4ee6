/* req.c -- request objects and writing their responses. */
#include "req.h"

#include <stdlib.h>
#include <string.h>

#include "accesslog.h"
#include "cors.h"
#include "gw.h"
#include "response.h"
#include "jw.h"
#include "stats.h"
#include "xalloc.h"

const struct gw_req_conn_ops *gw_req_conn; /* set by conn.c */

/* Freed requests are kept for reuse with their buffers, so a steady stream
 * of requests allocates nothing. Not under AddressSanitizer: there every
 * request is a fresh allocation, so a use after free is still caught. */
#if defined(__SANITIZE_ADDRESS__)
#define GW_REQ_POOL_MAX 0
#else
#define GW_REQ_POOL_MAX 256 /* requests kept for reuse */
#endif
#define GW_REQ_KEEP_BYTES 4096 /* a larger buffer is given back on free */
static struct gw_req *req_pool[GW_REQ_POOL_MAX + 1];
static size_t req_pool_len;
static gw_req_sink_fn *job_sink;

void gw_req_set_job_sink(gw_req_sink_fn *fn) { job_sink = fn; }

static void keep_or_free(pc_buf *b) { pc_buf_trim(b, GW_REQ_KEEP_BYTES); }

struct gw_req *gw_req_new(void)
{
    struct gw_req *r;

    if (req_pool_len > 0) {
        /* Everything back to zero but the three buffers and the header array. */
        r = req_pool[--req_pool_len];
        pc_buf head = r->head, body = r->body, envelope = r->envelope;
        struct gw_hdr *hdrs = r->hdrs;
        uint32_t hdrs_cap = r->hdrs_cap;
        memset(r, 0, sizeof *r);
        r->head = head;
        r->body = body;
        r->envelope = envelope;
        r->hdrs = hdrs;
        r->hdrs_cap = hdrs_cap;
        return r;
    }
    r = pc_xcalloc(1, sizeof *r);
    pc_buf_init(&r->head);
    pc_buf_init(&r->body);
    pc_buf_init(&r->envelope);
    return r;
}

void gw_req_free(struct gw_req *r)
{
    if (r == NULL) return;
    if (r->out) evbuffer_free(r->out);
    r->out = NULL;
#if GW_REQ_POOL_MAX > 0
    if (req_pool_len < GW_REQ_POOL_MAX && !gw.draining) {
        keep_or_free(&r->head);
        keep_or_free(&r->body);
        keep_or_free(&r->envelope);
        req_pool[req_pool_len++] = r;
        return;
    }
#else
    (void)keep_or_free;
#endif
    pc_buf_deinit(&r->head);
    pc_buf_deinit(&r->body);
    pc_buf_deinit(&r->envelope);
    free(r->hdrs);
    free(r);
}

void gw_req_pool_free(void)
{
    while (req_pool_len > 0) {
        struct gw_req *r = req_pool[--req_pool_len];
        pc_buf_deinit(&r->head);
        pc_buf_deinit(&r->body);
        pc_buf_deinit(&r->envelope);
        free(r->hdrs);
        free(r);
    }
}

void gw_req_release(struct gw_req *r)
{
    r->conn = NULL;
    if (!r->publish_pending && !r->rl_pending && !r->job_pending) gw_req_free(r);
}

const char *gw_req_header(const struct gw_req *r, const char *lname, size_t *n)
{
    size_t ln = strlen(lname);
    for (uint32_t i = 0; i < r->nhdrs; i++) {
        if (r->hdrs[i].name_len == ln && memcmp(gw_req_hdr_name(r, i), lname, ln) == 0) {
            *n = r->hdrs[i].value_len;
            return gw_req_hdr_value(r, i);
        }
    }
    return NULL;
}

void gw_req_copy_head(struct gw_req *dst, const struct gw_req *src)
{
    memcpy(dst->method, src->method, sizeof dst->method);
    pc_buf_append(&dst->head, src->head.data, src->head.len);
    if (dst->head.oom) pc_panic("out of memory copying a request head");
    dst->target_len = src->target_len;
    dst->path_len = src->path_len;
    if (dst->hdrs_cap < src->nhdrs) {
        dst->hdrs = pc_xrealloc(dst->hdrs, src->nhdrs * sizeof *dst->hdrs);
        dst->hdrs_cap = src->nhdrs;
    }
    if (src->nhdrs) memcpy(dst->hdrs, src->hdrs, src->nhdrs * sizeof *dst->hdrs);
    dst->nhdrs = src->nhdrs;
}

void gw_req_upstream_answered(struct gw_req *r)
{
    r->upstream_ms = gw_now_mono_ms() - r->sent_ms;
    r->upstream_known = true;
    gw_stats_upstream((double)r->upstream_ms / 1000.0);
}

int gw_req_bus_id(const struct gw_req *r, char id[PC_UUID_LEN + 1])
{
    if (!r->request_id_made) return pc_uuid_v4(id);
    memcpy(id, r->request_id, PC_UUID_LEN + 1);
    return 0;
}

/* How a response's body is framed: content-length, or the head of a
 * streamed response (its body follows in pieces). */
enum framing {
    FRAME_LENGTH,  /* a whole response */
    FRAME_CHUNKED, /* stream.c: chunked */
    FRAME_CLOSE,   /* stream.c: close-delimited */
    FRAME_STREAM,  /* gw_req_stream_head: content-length body_len (or none), body later */
};

/* gw_req_respond, with the body either in body[0..body_len) or, when ebody
 * is not NULL, in ebody (moved, not copied); or a streamed response's head. */
static void respond(struct gw_req *r, int status, const char *ctype, const struct pc_kv *headers,
                    size_t nheaders, const void *body, size_t body_len, struct evbuffer *ebody,
                    enum framing framing)
{
    struct pc_kv stack[32], *all = stack;
    char rl[4][32]; /* RateLimit-* values */
    struct gw_conn *c = r->conn;
    struct evbuffer *out;
    bool has_body, close;
    size_t n = 0, out_before;

    if (r->done || r->streaming) return;
    if (r->job) { /* no client: the job's record takes it (job.c); never streamed */
        r->done = true;
        r->status = status;
        job_sink(r, status, ctype, headers, nheaders, body, body_len, ebody);
        return;
    }
    r->done = framing == FRAME_LENGTH;
    r->streaming = !r->done;
    r->status = status; /* a streamed response is counted when its head goes out */
    if (!r->admin) gw_stats_response(status, (double)(gw_now_mono_ms() - r->start_ms) / 1000.0);
    if (c == NULL) return;

    if (nheaders + 2 + 4 + GW_CORS_MAX_HEADERS > sizeof stack / sizeof stack[0]) {
        all = pc_xmalloc((nheaders + 2 + 4 + GW_CORS_MAX_HEADERS) * sizeof *all);
    }
    if (ctype) all[n++] = (struct pc_kv){"content-type", 12, ctype, strlen(ctype)};
    if (framing == FRAME_CHUNKED) all[n++] = (struct pc_kv){"transfer-encoding", 17, "chunked", 7};
    /* With CORS on, the gateway owns Access-Control-*; on a rate-limited
     * route it owns RateLimit-* (the service's own would come out twice). */
    for (size_t i = 0; i < nheaders; i++) {
        if (gw_cors_owns_header(headers[i].name, headers[i].name_len)) continue;
        if (r->rl_known && headers[i].name_len > 10 &&
            memcmp(headers[i].name, "ratelimit-", 10) == 0)
            continue;
        all[n++] = headers[i];
    }
    n += gw_cors_response_headers(r, all + n); /* keyed by the request's Origin; errors too */
    if (r->rl_known) { /* draft-ietf-httpapi-ratelimit-headers; see docs/security.md */
        int k[4];
        k[0] = snprintf(rl[0], sizeof rl[0], "%u", (unsigned)r->rl_limit);
        k[1] = snprintf(rl[1], sizeof rl[1], "%u", (unsigned)r->rl_remaining);
        k[2] = snprintf(rl[2], sizeof rl[2], "%u", (unsigned)r->rl_reset_s);
        k[3] = snprintf(rl[3], sizeof rl[3], "%u;w=%u", (unsigned)r->rl_limit,
                        (unsigned)r->rl_window_s);
        all[n++] = (struct pc_kv){"ratelimit-limit", 15, rl[0], (size_t)k[0]};
        all[n++] = (struct pc_kv){"ratelimit-remaining", 19, rl[1], (size_t)k[1]};
        all[n++] = (struct pc_kv){"ratelimit-reset", 15, rl[2], (size_t)k[2]};
        all[n++] = (struct pc_kv){"ratelimit-policy", 16, rl[3], (size_t)k[3]};
    }

    close = r->close_after || !r->keep_alive || framing == FRAME_CLOSE ||
            (gw.draining && gw_req_is_last(r));
    r->close_after = close;
    has_body = !r->is_head && status != 204 && status != 304 && status >= 200;
    out = gw_req_conn->response_buffer(c, r);
    out_before = evbuffer_get_length(out);
    gw_http_write_response(out, status, all, n,
                           framing == FRAME_LENGTH || framing == FRAME_STREAM ? body_len
                                                                              : GW_HTTP_NO_LENGTH,
                           r->request_id, close, r->http_minor == 0 && !close, body,
                           has_body && !ebody && framing == FRAME_LENGTH ? body_len : 0);
    if (ebody != NULL && has_body) pc_check(evbuffer_add_buffer(out, ebody) == 0);
    if (all != stack) free(all);
    if (framing == FRAME_LENGTH) {
        if (gw_accesslog_on && !r->admin)
            gw_accesslog_response(r, evbuffer_get_length(out) - out_before,
                                  has_body ? body_len : 0);
        gw_req_conn->on_response(c, r);
    } else {
        r->stream_head_bytes = (uint32_t)(evbuffer_get_length(out) - out_before);
        gw_req_conn->stream_wrote(c, r);
    }
}

void gw_req_respond(struct gw_req *r, int status, const char *ctype, const struct pc_kv *headers,
                    size_t nheaders, const void *body, size_t body_len)
{
    respond(r, status, ctype, headers, nheaders, body, body_len, NULL, FRAME_LENGTH);
}

void gw_req_respond_stream(struct gw_req *r, int status, const struct pc_kv *headers,
                           size_t nheaders, bool chunked)
{
    respond(r, status, NULL, headers, nheaders, NULL, 0, NULL,
            chunked ? FRAME_CHUNKED : FRAME_CLOSE);
}

void gw_req_respond_evbuffer(struct gw_req *r, int status, const struct pc_kv *headers,
                             size_t nheaders, struct evbuffer *body)
{
    respond(r, status, NULL, headers, nheaders, NULL, evbuffer_get_length(body), body,
            FRAME_LENGTH);
}

void gw_req_stream_head(struct gw_req *r, int status, const struct pc_kv *headers, size_t nheaders,
                        uint64_t content_length)
{
    respond(r, status, NULL, headers, nheaders, NULL,
            content_length == GW_REQ_NO_LENGTH ? GW_HTTP_NO_LENGTH : (size_t)content_length, NULL,
            FRAME_STREAM);
}

struct evbuffer *gw_req_stream_buffer(struct gw_req *r)
{
    return gw_req_conn->response_buffer(r->conn, r);
}

void gw_req_stream_push(struct gw_req *r) { gw_req_conn->on_response(r->conn, r); }

void gw_req_stream_append(struct gw_req *r, const void *data, size_t n, bool chunked)
{
    struct evbuffer *out;

    if (n == 0 || r->conn == NULL) return;
    out = gw_req_conn->response_buffer(r->conn, r);
    gw_req_stream_appended(r, n);
    if (chunked) {
        char line[24];
        int k = snprintf(line, sizeof line, "%zx\r\n", n);
        pc_check(evbuffer_add(out, line, (size_t)k) == 0);
        r->stream_bytes_out += (uint64_t)k + 2;
    }
    pc_check(evbuffer_add(out, data, n) == 0);
    if (chunked) pc_check(evbuffer_add(out, "\r\n", 2) == 0);
}

void gw_req_stream_appended(struct gw_req *r, size_t n)
{
    r->stream_body_out += n;
    r->stream_bytes_out += n;
}

void gw_req_stream_last_chunk(struct gw_req *r)
{
    if (r->conn == NULL) return;
    pc_check(evbuffer_add(gw_req_conn->response_buffer(r->conn, r), "0\r\n\r\n", 5) == 0);
    r->stream_bytes_out += 5;
}

/* The response is over (counted when its head went out): logged, and handed
 * to the connection like any other. */
static void stream_done(struct gw_req *r)
{
    r->streaming = false;
    r->on_drain = NULL;
    r->done = true;
    if (gw_accesslog_on && !r->admin)
        gw_accesslog_response(r, r->stream_head_bytes + r->stream_bytes_out, r->stream_body_out);
}

void gw_req_stream_end(struct gw_req *r)
{
    stream_done(r);
    if (r->conn != NULL) gw_req_conn->on_response(r->conn, r);
}

void gw_req_stream_abort(struct gw_req *r)
{
    stream_done(r);
    r->close_after = true; /* what was queued goes out, then the connection closes */
    if (r->conn != NULL) gw_req_conn->on_response(r->conn, r);
}

void gw_req_conn_closed(struct gw_req *r, bool client_gone)
{
    if (r->done || r->admin || !gw_accesslog_on) return;
    if (r->streaming) { /* the response began: what was sent, and why it stopped */
        if (client_gone) r->error = "client_closed";
        gw_accesslog_response(r, r->stream_head_bytes + r->stream_bytes_out, r->stream_body_out);
        return;
    }
    if (!client_gone) return;   /* the gateway's own close (exit): nothing was sent */
    r->error = "client_closed"; /* not a code of SPEC §5: no response carries it */
    r->status = 499;            /* nginx's "client closed request"; not in the HTTP metrics */
    gw_accesslog_response(r, 0, 0);
}

void gw_req_error_hdr(struct gw_req *r, int status, const char *code, const char *message,
                      const struct pc_kv *hdr)
{
    pc_buf b;

    r->error = code;
    pc_buf_init(&b);
    pc_buf_puts(&b, "{\"error\":");
    pc_jw_cstr(&b, code);
    pc_buf_puts(&b, ",\"message\":");
    pc_jw_cstr(&b, message);
    pc_buf_puts(&b, ",\"request_id\":");
    pc_jw_cstr(&b, r->request_id);
    pc_buf_puts(&b, "}\n");
    if (b.oom) pc_panic("out of memory writing an error response");
    gw_req_respond(r, status, "application/json", hdr, hdr ? 1 : 0, b.data, b.len);
    pc_buf_deinit(&b);
}

void gw_req_error(struct gw_req *r, int status, const char *code, const char *message)
{
    gw_req_error_hdr(r, status, code, message, NULL);
}
