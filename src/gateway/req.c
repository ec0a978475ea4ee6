/* req.c -- request objects and writing their responses. */
#include "req.h"

#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "gw.h"
#include "http.h"
#include "jw.h"
#include "stats.h"

struct gw_req *gw_req_new(void)
{
    struct gw_req *r = calloc(1, sizeof *r);
    if (r == NULL) abort();
    pc_buf_init(&r->head);
    pc_buf_init(&r->body);
    pc_buf_init(&r->envelope);
    return r;
}

void gw_req_free(struct gw_req *r)
{
    if (r == NULL) return;
    pc_buf_deinit(&r->head);
    pc_buf_deinit(&r->body);
    pc_buf_deinit(&r->envelope);
    free(r->hdrs);
    if (r->out) evbuffer_free(r->out);
    free(r);
}

void gw_req_release(struct gw_req *r)
{
    r->conn = NULL;
    if (!r->publish_pending) gw_req_free(r);
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

void gw_req_respond(struct gw_req *r, int status, const char *ctype,
                    const struct pc_kv *headers, size_t nheaders,
                    const void *body, size_t body_len)
{
    struct pc_kv stack[32], *all = stack;
    struct gw_conn *c = r->conn;
    struct evbuffer *out;
    bool has_body, close;
    size_t n = 0;

    if (r->done) return;
    r->done = true;
    r->status = status;
    if (!r->admin) gw_stats_response(status, (double)(gw_now_mono_ms() - r->start_ms) / 1000.0);
    if (c == NULL) return;

    if (nheaders + 1 > sizeof stack / sizeof stack[0]) {
        all = malloc((nheaders + 1) * sizeof *all);
        if (all == NULL) abort();
    }
    if (ctype) all[n++] = (struct pc_kv){"content-type", 12, ctype, strlen(ctype)};
    for (size_t i = 0; i < nheaders; i++) all[n++] = headers[i];

    close = r->close_after || !r->keep_alive || gw.draining;
    r->close_after = close;
    has_body = !r->is_head && status != 204 && status != 304 && status >= 200;
    out = gw_conn_response_buffer(c, r);
    gw_http_write_head(out, status, all, n, body_len, r->request_id, close,
                       r->http_minor == 0 && !close);
    if (has_body && body_len) evbuffer_add(out, body, body_len);
    if (all != stack) free(all);
    gw_conn_on_response(c, r);
}

void gw_req_error_hdr(struct gw_req *r, int status, const char *code, const char *message,
                      const struct pc_kv *hdr)
{
    pc_buf b;

    pc_buf_init(&b);
    pc_buf_puts(&b, "{\"error\":");
    pc_jw_cstr(&b, code);
    pc_buf_puts(&b, ",\"message\":");
    pc_jw_cstr(&b, message);
    pc_buf_puts(&b, ",\"request_id\":");
    pc_jw_cstr(&b, r->request_id);
    pc_buf_puts(&b, "}\n");
    if (b.oom) abort();
    gw_req_respond(r, status, "application/json", hdr, hdr ? 1 : 0, b.data, b.len);
    pc_buf_deinit(&b);
}

void gw_req_error(struct gw_req *r, int status, const char *code, const char *message)
{
    gw_req_error_hdr(r, status, code, message, NULL);
}
