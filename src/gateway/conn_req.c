/* conn_req.c -- the requests a connection takes in: from its parser
 * (complete, or at their head when their body streams, reqbody.h), each
 * given what it gets from its connection (client address, request id) and
 * queued; 100 Continue; and the error responses that end the connection
 * (400/408/413/431), queued like requests. The state machine, its timers
 * and the ordered output are conn.c's; this file never calls it. */
#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "accesslog.h"
#include "conn_int.h"
#include "log.h"
#include "reqbody.h"
#include "xalloc.h"

/* r's x-request-id: the client's when it is a valid one, else a new UUID
 * (SPEC §5), which then is also r's id on the bus (gw_req_bus_id); from
 * the headers of from when they were read (may be NULL). */
static void request_id_of(const struct gw_req *from, struct gw_req *r)
{
    static unsigned long long fallback; /* no randomness: still an id to log */
    size_t n;
    const char *rid = from != NULL ? gw_req_header(from, "x-request-id", &n) : NULL;

    r->request_id_made = false;
    if (rid && gw_request_id_is_valid(rid, n)) {
        memcpy(r->request_id, rid, n);
        r->request_id[n] = '\0';
    } else if (pc_uuid_v4(r->request_id) == 0) {
        r->request_id_made = true;
    } else {
        snprintf(r->request_id, sizeof r->request_id, "portico-%llu", ++fallback);
    }
}

/* The request handed over at its head is gone before its body ended
 * (answered, refused, or its connection is closing): the parser forgets
 * it, and the connection closes after its response. */
void gw_conn_body_req_gone(struct gw_conn *c, struct gw_req *r)
{
    if (r != c->body_req) return;
    c->body_req = NULL;
    c->body_held = false;
    gw_http_forget(c->http);
    r->close_after = true;
    reading(c, false);
}

/* A request that is refused while its body is read (400/408/413) and was
 * handed over at its head: withdrawn (its exchange ends) unless its
 * response began, then false. */
static bool body_req_refused(struct gw_conn *c)
{
    struct gw_req *b = c->body_req;
    gw_conn_body_req_gone(c, b);
    if (b->streaming) return false;
    TAILQ_REMOVE(&c->reqs, b, queue);
    c->nreqs--;
    c->hooks->cancel(b);
    return true;
}

/* What every request gets from its connection before it is handed on (or
 * answered with an error: gw_conn_fail_queue): its client address (from its
 * headers, when a trusted proxy sent them), its request id, and start_ms,
 * the start of its duration. */
static void request_prepare(struct gw_conn *c, struct gw_req *r, uint64_t start_ms)
{
    r->conn = c;
    r->admin = (c->kind == GW_LISTENER_ADMIN);
    r->https = c->sock.secure;
    r->start_ms = start_ms;
    gw_clientaddr_resolve(&c->client, &gw.cfg->trusted_proxies, r->head.data, r->hdrs, r->nhdrs,
                          r->remote_addr);
    request_id_of(r, r);
}

/* Queues an error response that ends the connection (400/408/413/431).
 * from: the refused request when its head was read (413, 408 in a body),
 * else NULL; rest[0..rest_len): the unparsed bytes that follow (for the
 * access log), or NULL. False, nothing queued: the refused request's
 * response began, the caller closes the connection. */
bool gw_conn_fail_queue(struct gw_conn *c, int status, const char *code, const char *why,
                        const struct gw_req *from, const char *rest, size_t rest_len)
{
    struct gw_req *r = gw_req_new(), *body = c->body_req;

    pc_log(PC_LOG_DEBUG, "conn", "%s: %d %s", c->client.text, status, why);
    /* A head that was read is the response's: the client address and the
     * request id come from it as for any request, and the log has its
     * Referer, User-Agent and traceparent. Its duration runs from its first
     * byte (the accept, for a connection that sent nothing). */
    if (from != NULL)
        gw_req_copy_head(r, from);
    else
        snprintf(r->method, sizeof r->method, "%s", "-");
    request_prepare(c, r, c->begin_ms);
    r->close_after = true;
    r->http_minor = 1;
    if (gw_accesslog_on) { /* what was read of the refused request */
        const struct gw_req *got = gw_http_partial(c->http, &r->bytes_in);
        if (from != NULL) {
            /* r has its whole head already */
        } else if (got != NULL && got->target_len > 0) {
            snprintf(r->method, sizeof r->method, "%s", got->method);
            pc_buf_append(&r->head, got->head.data, got->target_len);
            r->target_len = got->target_len;
            r->path_len = got->path_len;
        } else if (rest != NULL) {
            gw_accesslog_raw_request_line(r, rest, rest_len);
            r->bytes_in += rest_len;
        }
    }
    if (body != NULL && !body_req_refused(c)) { /* its response began: cut short */
        /* logged when the connection is freed: what of it was read, and why */
        if (gw_accesslog_on) body->bytes_in = r->bytes_in;
        if (body->error == NULL) body->error = code;
        gw_req_free(r);
        return false;
    }
    TAILQ_INSERT_TAIL(&c->reqs, r, queue);
    c->nreqs++;
    c->state = GW_CONN_CLOSING;
    timer_stop(c);
    reading(c, false);
    gw_req_error(r, status, code, why);
    return true;
}

/* ------------------------------------------------------------------------ */
/* Parser sink                                                               */
/* ------------------------------------------------------------------------ */

/* Interim 100 Continue, once, when r's head asked for it and nothing is
 * queued ahead of it. */
static void send_continue(struct gw_conn *c, struct gw_req *r)
{
    struct gw_req *first = TAILQ_FIRST(&c->reqs);
    if (!r->expect_continue) return;
    r->expect_continue = false;
    if (first != NULL && first != r) return;
    evbuffer_add(c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    conn_send_soon(c);
}

void gw_conn_continue(struct gw_conn *c, struct gw_req *r)
{
    if (r == c->body_req && c->state == GW_CONN_BODY) send_continue(c, r);
}

static void on_begin(void *ctx)
{
    struct gw_conn *c = ctx;
    c->state = GW_CONN_HEAD;
    timer_arm(c, gw.cfg->header_timeout_ms);
}

static int on_head(void *ctx, struct gw_req *r)
{
    struct gw_conn *c = ctx;
    size_t n;
    const char *v;

    c->state = GW_CONN_BODY;
    c->body_start_ms = c->body_last_ms = gw_now_mono_ms();
    c->body_bytes = 0;
    body_timer_arm(c);
    v = gw_req_header(r, "expect", &n);
    r->expect_continue =
        v && r->http_minor == 1 && n == 12 && strncasecmp(v, "100-continue", 12) == 0;
    if (c->hooks->head != NULL && gw_reqbody_streamable(r) && c->hooks->head(r)) {
        /* Handed over now; its consumer sends the 100 Continue when ready. */
        request_prepare(c, r, gw_now_mono_ms());
        r->body_stream = true;
        r->close_after = true; /* until its body is in: answered sooner, the connection closes */
        TAILQ_INSERT_TAIL(&c->reqs, r, queue);
        c->nreqs++;
        c->body_req = r;
        gw_http_taken(c->http);
        c->hooks->request(r);
        return 0;
    }
    send_continue(c, r);
    return 0;
}

static void on_request(void *ctx, struct gw_req *r)
{
    struct gw_conn *c = ctx;
    bool taken = r->body_stream; /* handed over at its head: its body is in now */
    uint64_t now = gw_now_mono_ms();

    if (taken) {
        c->body_req = NULL;
        if (c->body_held) reading(c, true);
        c->body_held = false;
        if (!r->streaming) r->close_after = false;
    } else {
        request_prepare(c, r, now);
        TAILQ_INSERT_TAIL(&c->reqs, r, queue);
        c->nreqs++;
    }
    c->begin_ms = now; /* what follows in this read begins now */
    c->served_one = true;
    c->state = GW_CONN_IDLE;
    timer_stop(c);

    /* Not kept alive, or a response streamed while this body came in said
     * close (above): nothing after it is read. */
    if (!r->keep_alive || r->close_after || c->draining || gw.draining) {
        r->close_after = true;
        c->state = GW_CONN_CLOSING;
        gw_http_pause(c->http, true);
        reading(c, false);
    } else if (c->nreqs >= GW_CONN_MAX_PIPELINE ||
               evbuffer_get_length(c->out) > GW_CONN_OUTPUT_HIGH) {
        c->paused = true;
        gw_http_pause(c->http, true);
        reading(c, false);
    }

    if (!taken) c->hooks->request(r);
}

struct gw_http_sink gw_conn_sink(struct gw_conn *c)
{
    struct gw_http_sink sink = {c, on_begin, on_head, on_request};
    return sink;
}
