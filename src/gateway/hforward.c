/* hforward.c -- requests to HTTP upstreams and their streamed responses
 * (see hforward.h). */
#include "hforward.h"

#include <event2/buffer.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accesslog.h"
#include "conn.h"
#include "deadline.h"
#include "gw.h"
#include "hclient.h"
#include "headers.h"
#include "reqhead.h"
#include "log.h"
#include "path.h"
#include "registry.h"
#include "reqbody.h"
#include "routesfile.h"
#include "stats.h"
#include "upstream.h"
#include "uresp.h"
#include "xalloc.h"

struct gw_hx {
    struct gw_req *r;
    struct gw_http_route *hr; /* held (its table) */
    struct gw_upstream *up;   /* this try's: referenced, counted in flight */
    struct gw_uconn *c;       /* this try's connection */
    int tries;
    long timeout_ms;
    bool idempotent;
    bool no_host;       /* the client sent no Host (HTTP/1.0): each try names its upstream */
    bool reused;        /* this try's connection came from the pool */
    bool got_byte;      /* a byte of this try's response arrived */
    bool head_out;      /* the response head went to the client */
    bool chunked_out;   /* the body goes to the client chunked */
    bool complete;      /* the response is complete */
    bool keep_alive;    /* the upstream keeps the connection */
    bool paused;        /* reading paused: the client's output is full */
    bool body_stream;   /* the request body streams (reqbody.h) ... */
    bool body_chunked;  /* ... chunked (its length unknown) */
    bool body_attached; /* this try's connection takes the body's pieces */
    bool body_given;    /* a body byte went to a try: no other try can have it */
    bool body_done;     /* the body's end went to this try's connection */
    /* Kept when the exchange is reused (hx_new clears what is above). */
    gw_uresp *parser;
    pc_buf head;              /* the request head, as sent to every try */
    struct gw_deadline timer; /* the deadline; after the head, the longest wait for more */
    struct gw_hx *next_free;
};

_Static_assert(GW_REQ_LOG_INSTANCE_MAX >= GW_UPSTREAM_URL_MAX,
               "the access log's instance holds an upstream's URL");

#define GW_HX_POOL_MAX 256 /* exchanges kept for reuse (each with its parser) */
static struct gw_hx *free_hx;
static size_t nfree_hx;

static void on_connected(void *ctx);
static void on_data(void *ctx, const char *buf, size_t n);
static void on_failed(void *ctx, enum gw_uconn_fail why);
static void on_sent(void *ctx);
static struct evbuffer *into(void *ctx, size_t *max);
static const struct gw_uconn_handlers handlers = {on_connected, on_data, on_failed, on_sent, into};

static int sink_head(void *ctx, const struct gw_uresp_head *h);
static int sink_body(void *ctx, const char *data, size_t n);
static int sink_done(void *ctx);
static void try_next(struct gw_hx *hx, struct gw_upstream *avoid);

/* ------------------------------------------------------------------------ */
/* Exchanges                                                                 */
/* ------------------------------------------------------------------------ */

static void on_timer(void *arg);

static struct gw_hx *hx_new(void)
{
    struct gw_hx *hx = free_hx;
    if (hx != NULL) {
        free_hx = hx->next_free;
        nfree_hx--;
        memset(hx, 0, offsetof(struct gw_hx, parser));
    } else {
        struct gw_uresp_sink sink = {NULL, sink_head, sink_body, sink_done};
        hx = pc_xcalloc(1, sizeof *hx);
        sink.ctx = hx; /* the parser stays with this exchange object */
        hx->parser = gw_uresp_new(&sink);
        pc_buf_init(&hx->head);
        gw_deadline_init(&hx->timer, on_timer, hx);
    }
    return hx;
}

static void hx_free(struct gw_hx *hx)
{
    gw_deadline_deinit(&hx->timer);
    gw_uresp_free(hx->parser);
    pc_buf_deinit(&hx->head);
    free(hx);
}

static void timer_arm(struct gw_hx *hx, long ms) { gw_deadline_in(&hx->timer, ms); }

/* The try is over: its upstream released, its connection kept (pooled) or
 * closed. */
static void end_try(struct gw_hx *hx, bool pool)
{
    struct gw_uconn *c = hx->c;
    struct gw_upstream *up = hx->up;

    hx->c = NULL;
    hx->up = NULL;
    if (hx->body_attached) { /* held again (a next try starts from what is held) */
        hx->body_attached = false;
        gw_reqbody_attach(hx->r, NULL);
    }
    if (c != NULL) {
        if (pool && evbuffer_get_length(c->out) == 0)
            gw_upstream_idle_put(up, c);
        else
            gw_uconn_free(c);
    }
    if (up != NULL) {
        up->inflight--;
        gw_upstream_unref(up);
    }
}

/* Ends the exchange: r no longer knows it (returned to the caller). */
static struct gw_req *hx_end(struct gw_hx *hx, bool pool)
{
    struct gw_req *r = hx->r;

    end_try(hx, pool);
    if (hx->body_stream) gw_reqbody_detach(r);
    gw_deadline_clear(&hx->timer);
    gw_http_route_drop(hx->hr);
    r->hx = NULL;
    r->on_drain = NULL;
    if (nfree_hx < GW_HX_POOL_MAX) {
        pc_buf_trim(&hx->head, 4096);
        hx->next_free = free_hx;
        free_hx = hx;
        nfree_hx++;
    } else {
        hx_free(hx);
    }
    return r;
}

static void fail(struct gw_hx *hx, int status, const char *code, const char *msg)
{
    struct gw_req *r = hx_end(hx, false);
    gw_req_error(r, status, code, msg);
}

/* After the head went out nothing can be said any more: the client's
 * connection is closed, the response cut short. */
static void cut_short(struct gw_hx *hx, const char *why)
{
    pc_log(PC_LOG_DEBUG, "upstream", "%s: response cut short: %s", hx->up ? hx->up->url : "-", why);
    gw_req_stream_abort(hx_end(hx, false));
}

static void on_timer(void *arg)
{
    struct gw_hx *hx = arg;
    if (hx->head_out)
        cut_short(hx, "timed out");
    else
        fail(hx, 504, "timeout", "the upstream did not answer in time");
}

/* ------------------------------------------------------------------------ */
/* The request                                                               */
/* ------------------------------------------------------------------------ */

static bool method_is_idempotent(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || strcmp(m, "OPTIONS") == 0 ||
           strcmp(m, "PUT") == 0 || strcmp(m, "DELETE") == 0;
}

/* The request target sent upstream: the path without its first
 * strip_segments segments ("/" when nothing is left), then the query. */
static void put_target(pc_buf *b, const struct gw_req *r, size_t strip)
{
    const char *p = r->head.data, *end = p + r->path_len;

    for (size_t i = 0; i < strip && p < end; i++) {
        p++; /* the '/' */
        while (p < end && *p != '/') p++;
    }
    if (p == end) pc_buf_putc(b, '/');
    pc_buf_append(b, p, (size_t)(end - p));
    pc_buf_append(b, r->head.data + r->path_len, r->target_len - r->path_len);
}

/* "name: value" CRLF, with one reservation (out of memory: b->oom). */
static void put_field(pc_buf *b, const char *name, size_t nl, const char *value, size_t vl)
{
    char *o;

    if (!pc_buf_reserve(b, nl + vl + 4)) return;
    o = b->data + b->len;
    memcpy(o, name, nl);
    o += nl;
    *o++ = ':';
    *o++ = ' ';
    memcpy(o, value, vl);
    o += vl;
    *o++ = '\r';
    *o++ = '\n';
    *o = '\0';
    b->len += nl + vl + 4;
}

/* The request head, once per request: the header rules of SPEC §4 and the
 * trace context of §10 (the same function builds the bus envelope's
 * headers), minus the framing headers the gateway sets itself. */
static void build_head(struct gw_hx *hx)
{
    struct gw_req *r = hx->r;
    pc_buf *b = &hx->head;
    const struct pc_kv *hs;
    size_t nh, body_len;

    pc_buf_reset(b);
    pc_buf_puts(b, r->method);
    pc_buf_putc(b, ' ');
    put_target(b, r, hx->hr->strip_segments);
    pc_buf_puts(b, " HTTP/1.1\r\n");
    nh = gw_reqhead_headers(r, &hs);
    hx->no_host = true;
    for (size_t i = 0; i < nh; i++) {
        const struct pc_kv *h = &hs[i];
        /* The gateway frames the body itself, and answers 100 Continue. */
        if ((h->name_len == 14 && memcmp(h->name, "content-length", 14) == 0) ||
            (h->name_len == 6 && memcmp(h->name, "expect", 6) == 0))
            continue;
        if (h->name_len == 4 && memcmp(h->name, "host", 4) == 0) hx->no_host = false;
        put_field(b, h->name, h->name_len, h->value, h->value_len);
    }
    gw_req_body(r, &body_len);
    if (hx->body_chunked)
        pc_buf_puts(b, "transfer-encoding: chunked\r\n");
    else if (hx->body_stream)
        pc_buf_printf(b, "content-length: %llu\r\n", (unsigned long long)r->body_length);
    else if (body_len > 0 || strcmp(r->method, "POST") == 0 || strcmp(r->method, "PUT") == 0 ||
             strcmp(r->method, "PATCH") == 0)
        pc_buf_printf(b, "content-length: %zu\r\n", body_len);
    pc_buf_puts(b, "\r\n");
    if (b->oom) pc_panic("out of memory writing a request head");
}

/* This try's request into the connection's output (a whole body by
 * reference: r outlives the connection's hold on it, see end_try; a
 * streamed one follows once the connection is up, body_sink). An HTTP/1.1
 * request needs a Host (RFC 9112 3.2): when the client (HTTP/1.0) sent
 * none, the upstream's host:port, as nginx sends. */
static void queue_request(struct gw_hx *hx)
{
    struct gw_req *r = hx->r;
    struct evbuffer *out = hx->c->out;
    size_t body_len;
    const char *body = gw_req_body(r, &body_len);

    if (hx->no_host) { /* the upstream's, before the head's blank line */
        const char *host = gw_upstream_authority(hx->up);
        pc_check(evbuffer_add(out, hx->head.data, hx->head.len - 2) == 0);
        pc_check(evbuffer_add_printf(out, "host: %s\r\n\r\n", host) > 0);
    } else {
        pc_check(evbuffer_add(out, hx->head.data, hx->head.len) == 0);
    }
    if (!hx->body_stream && body_len > 0)
        pc_check(evbuffer_add_reference(out, body, body_len, NULL, NULL) == 0);
}

/* While a streamed body is sent, the deadline runs only when the upstream
 * is waited for (its socket full, or the body all in): a client slow to
 * send is its body timers' (conn.c). It restarts with every progress. */
static void body_timer(struct gw_hx *hx)
{
    if (hx->paused) return; /* a slow client reader is the write timeout's */
    if (hx->body_done || evbuffer_get_length(hx->c->out) > 0)
        timer_arm(hx, hx->timeout_ms);
    else
        gw_deadline_clear(&hx->timer);
}

/* A piece of a streamed body (reqbody.h) into the connection's output,
 * chunked again when it came chunked; full above GW_HFORWARD_BODY_HIGH. */
static bool body_sink(struct gw_req *r, const char *data, size_t n, bool end)
{
    struct gw_hx *hx = r->hx;
    struct evbuffer *out = hx->c->out;

    if (n > 0) {
        hx->body_given = true;
        if (hx->body_chunked) {
            char line[24];
            int k = snprintf(line, sizeof line, "%zx\r\n", n);
            evbuffer_add(out, line, (size_t)k);
            evbuffer_add(out, data, n);
            evbuffer_add(out, "\r\n", 2);
        } else {
            evbuffer_add(out, data, n);
        }
    }
    if (end) {
        if (hx->body_chunked) evbuffer_add(out, "0\r\n\r\n", 5); /* trailers are dropped */
        hx->body_done = true;
    }
    gw_uconn_send(hx->c);
    body_timer(hx);
    return evbuffer_get_length(out) > GW_HFORWARD_BODY_HIGH;
}

/* This try's connection is up: a streamed body flows into it. */
static void body_attach(struct gw_hx *hx)
{
    if (!hx->body_stream) return;
    hx->body_attached = true;
    gw_reqbody_attach(hx->r, body_sink);
    body_timer(hx);
}

/* The upstream's socket took more: progress, and room for more body. */
static void on_sent(void *ctx)
{
    struct gw_hx *hx = ctx;
    if (!hx->body_attached) return;
    body_timer(hx);
    if (evbuffer_get_length(hx->c->out) <= GW_HFORWARD_BODY_LOW) gw_reqbody_resume(hx->r);
}

void gw_hforward_start(struct gw_req *r, struct gw_route *rt)
{
    struct gw_hx *hx = hx_new();

    hx->r = r;
    r->hx = hx;
    hx->hr = rt->http;
    gw_http_route_hold(hx->hr);
    hx->idempotent = method_is_idempotent(r->method);
    hx->body_stream = r->body_stream;
    hx->body_chunked = r->body_stream && r->body_length == GW_REQ_NO_LENGTH;
    hx->timeout_ms = hx->hr->timeout_ms ? hx->hr->timeout_ms : gw.cfg->timeout_ms;
    build_head(hx);
    timer_arm(hx, hx->timeout_ms);
    try_next(hx, NULL);
}

void gw_hforward_cancel(struct gw_req *r)
{
    if (r->hx != NULL) hx_end(r->hx, false);
}

/* ------------------------------------------------------------------------ */
/* Tries                                                                     */
/* ------------------------------------------------------------------------ */

/* The next try, on another upstream than avoid (the one that just failed,
 * or NULL for the first try) when there is one. A retry is counted only
 * when there is an upstream to send it to. */
static void try_next(struct gw_hx *hx, struct gw_upstream *avoid)
{
    struct gw_http_route *hr = hx->hr;
    struct gw_upstream *up = gw_upstream_pick(hr->up, hr->nup, &hr->rr, avoid);
    enum gw_uconn_fail why;
    struct gw_uconn *c;

    if (up == NULL) {
        if (hx->tries == 0) {
            gw_accesslog_note_route(hx->r, hr->pattern, hr->service);
            fail(hx, 503, "no_instance", "every upstream of this route is ejected");
        } else {
            fail(hx, 502, "upstream_error", "the upstream failed and no other one is up");
        }
        return;
    }
    if (avoid != NULL) {
        avoid->retries++;
        gw_stats->upstream_retries++;
    }
    if (hx->tries++ == 0) gw_accesslog_note_route(hx->r, hr->pattern, hr->service);
    gw_accesslog_note_instance(hx->r, up->url);
    hx->r->sent_ms = gw_now_mono_ms(); /* upstream time: from here to the response head */
    hx->up = up;
    gw_upstream_ref(up);
    up->inflight++;
    hx->got_byte = false;
    gw_uresp_reset(hx->parser, hx->r->is_head);
    c = gw_upstream_idle_take(up);
    hx->reused = c != NULL;
    if (c != NULL) {
        hx->c = c;
        gw_uconn_attach(c, &handlers, hx);
        queue_request(hx);
        gw_uconn_send(c);
        body_attach(hx);
        return;
    }
    c = gw_uconn_connect(up, gw.cfg->upstream_connect_timeout_ms, &handlers, hx, &why);
    if (c == NULL) {
        on_failed(hx, why); /* at most GW_HFORWARD_MAX_TRIES deep */
        return;
    }
    hx->c = c;
    queue_request(hx);
}

static void on_connected(void *ctx)
{
    struct gw_hx *hx = ctx;
    gw_uconn_send(hx->c);
    body_attach(hx);
}

static const char *fail_name(enum gw_uconn_fail why)
{
    switch (why) {
    case GW_UCONN_REFUSED:
        return "connection refused";
    case GW_UCONN_RESET:
        return "connection reset";
    case GW_UCONN_TIMEOUT:
        return "connect timed out";
    case GW_UCONN_EOF:
        return "connection closed";
    default:
        return "connection error";
    }
}

/* The try's connection failed (or the upstream closed it). */
static void on_failed(void *ctx, enum gw_uconn_fail why)
{
    struct gw_hx *hx = ctx;
    struct gw_upstream *failed_up = hx->up;
    bool sent = hx->c != NULL && hx->c->written > 0;
    const char *perr;

    if (why == GW_UCONN_EOF && hx->got_byte) { /* the end of a close-delimited body? */
        if (gw_uresp_eof(hx->parser, &perr) == GW_URESP_OK) {
            hx->keep_alive = false;
            if (hx->complete) { /* done ran: finish below, as for any complete response */
                on_data(hx, NULL, 0);
                return;
            }
        }
    }
    if (hx->head_out) {
        cut_short(hx, fail_name(why));
        return;
    }
    /* Before any answer, a fresh connection refused, reset or not made in
     * time says the upstream is down; a pooled one closing says nothing. */
    if (!hx->got_byte && (!hx->reused || why == GW_UCONN_REFUSED) &&
        (why == GW_UCONN_REFUSED || why == GW_UCONN_RESET ||
         (why == GW_UCONN_TIMEOUT && hx->c != NULL && hx->c->connecting)))
        gw_upstream_eject(failed_up);
    pc_log(PC_LOG_DEBUG, "upstream", "%s: %s (try %d)", failed_up->url, fail_name(why), hx->tries);
    if (hx->tries < GW_HFORWARD_MAX_TRIES && !hx->got_byte && !hx->body_given &&
        (!sent || hx->idempotent)) {
        gw_upstream_ref(failed_up);
        end_try(hx, false);
        try_next(hx, failed_up);
        gw_upstream_unref(failed_up);
        return;
    }
    fail(hx, 502, "upstream_error",
         hx->got_byte ? "the upstream's response was cut short"
                      : "the upstream failed before answering");
}

/* ------------------------------------------------------------------------ */
/* The response                                                              */
/* ------------------------------------------------------------------------ */

static void on_drain(struct gw_req *r)
{
    struct gw_hx *hx = r->hx;
    if (hx == NULL || !hx->paused || hx->c == NULL) return;
    hx->paused = false;
    gw_uconn_reading(hx->c, true);
    timer_arm(hx, hx->timeout_ms);
}

static void on_data(void *ctx, const char *buf, size_t n)
{
    struct gw_hx *hx = ctx;
    struct gw_req *r = hx->r;
    const char *why = NULL;
    size_t used = 0;

    if (buf == NULL && n > 0) { /* body bytes read straight into the client's output (into) */
        gw_req_stream_appended(r, n);
        gw_uresp_body_taken(hx->parser, n);
        used = n;
    } else if (n > 0) {
        hx->got_byte = true;
        if (gw_uresp_feed(hx->parser, buf, n, &used, &why) != GW_URESP_OK) {
            pc_log(PC_LOG_DEBUG, "upstream", "%s: bad response: %s", hx->up->url, why);
            if (hx->head_out)
                cut_short(hx, why);
            else
                fail(hx, 502, "upstream_error", "the upstream's response was not valid HTTP");
            return;
        }
    }
    if (hx->complete) {
        /* Bytes after the response, or a request body not all sent (the
         * upstream answered first): not reusable. */
        bool pool = hx->keep_alive && used == n && (!hx->body_stream || hx->body_done);
        /* A body read straight through stops at its length: whatever the
         * upstream sent past it still sits in the socket. */
        if (pool && buf == NULL) pool = !gw_uconn_has_input(hx->c);
        if (hx->chunked_out) gw_req_stream_last_chunk(r);
        gw_req_stream_end(hx_end(hx, pool));
        return;
    }
    if (!hx->head_out) return;
    gw_req_stream_push(r);
    if (evbuffer_get_length(gw_req_stream_buffer(r)) > GW_CONN_OUTPUT_HIGH) {
        hx->paused = true;
        r->on_drain = on_drain;
        gw_uconn_reading(hx->c, false);
        gw_deadline_clear(&hx->timer); /* a slow client is the write timeout's */
    } else {
        timer_arm(hx, hx->timeout_ms);
    }
}

/* Once the head is out, a body with a length goes from the upstream's
 * socket to the client's output with no parse and no copy: read there
 * (hclient.c), counted here (on_data). Chunked and close-delimited bodies
 * go through the parser. */
static struct evbuffer *into(void *ctx, size_t *max)
{
    struct gw_hx *hx = ctx;
    uint64_t left;

    if (!hx->head_out || hx->chunked_out || hx->r->conn == NULL) return NULL;
    left = gw_uresp_body_left(hx->parser);
    if (left == 0) return NULL;
    *max = left > SIZE_MAX ? SIZE_MAX : (size_t)left;
    return gw_req_stream_buffer(hx->r);
}

static int sink_head(void *ctx, const struct gw_uresp_head *h)
{
    struct gw_hx *hx = ctx;
    struct gw_req *r = hx->r;
    struct pc_kv kv[GW_URESP_MAX_HEADERS + 1];
    size_t n = gw_headers_to_client(h->headers, h->nheaders, NULL, kv);
    uint64_t len = h->content_length;
    bool bodiless = r->is_head || h->status == 204 || h->status == 304;

    if (bodiless) {
        if (!r->is_head) len = GW_REQ_NO_LENGTH;
    } else if (len == GW_URESP_NO_LENGTH) {
        len = GW_REQ_NO_LENGTH;
        if (r->http_minor >= 1) { /* chunked stays chunked (and an until-close body becomes so) */
            kv[n++] = (struct pc_kv){"transfer-encoding", 17, "chunked", 7};
            hx->chunked_out = true;
        } else {
            r->close_after = true; /* HTTP/1.0: the body ends with the connection */
        }
    }
    hx->keep_alive = h->keep_alive;
    hx->head_out = true;
    gw_req_upstream_answered(r);
    gw_req_stream_head(r, h->status, kv, n, len);
    return 0;
}

static int sink_body(void *ctx, const char *data, size_t n)
{
    struct gw_hx *hx = ctx;

    gw_req_stream_append(hx->r, data, n, hx->chunked_out);
    return 0;
}

static int sink_done(void *ctx)
{
    struct gw_hx *hx = ctx;
    hx->complete = true;
    return 0;
}

void gw_hforward_deinit(void)
{
    struct gw_hx *hx;
    while ((hx = free_hx) != NULL) {
        free_hx = hx->next_free;
        hx_free(hx);
    }
    nfree_hx = 0;
}
