/* conn.c -- the per-connection state machine (see conn.h for the picture).
 *
 * Timers: one per connection, re-armed as the state changes.
 *   - --proxy-protocol: the PROXY header and then the first request within
 *     the header timeout from accept (a missing header: closed, no response);
 *   - first request: header timeout from accept (a client that sends nothing);
 *   - a request has begun: header timeout from its first byte, not reset;
 *   - reading a body: the sooner of the header timeout from the last read
 *     (a stalled body) and the body deadline (a trickling one): the body
 *     timeout from the end of the head, plus 1 s per --body-min-rate bytes
 *     read since;
 *   - between keep-alive requests with nothing pending: idle timeout;
 *   - draining, idle: the drain grace;
 *   - lingering close: GW_CONN_LINGER_MS.
 * Slow readers are bounded by a write timeout (the idle timeout, restarted
 * whenever the socket takes bytes). A TLS connection's handshake runs
 * within the first request's header timeout (timing out: closed, counted).
 *
 * Socket I/O (plain or TLS: reads into a shared buffer parsed in place,
 * writes from the same loop iteration, the write event armed only when the
 * socket is full) is sock.c's. */
#include "conn.h"

#include <assert.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "accesslog.h"
#include "clientaddr.h"
#include "gw.h"
#include "http.h"
#include "log.h"
#include "reqbody.h"
#include "sock.h"
#include "stats.h"
#include "xalloc.h"

enum gw_conn_state {
    GW_CONN_PROXY,   /* --proxy-protocol: reading the PROXY header; never answered */
    GW_CONN_IDLE,    /* between requests; nothing of the next one has arrived */
    GW_CONN_HEAD,    /* a request has begun: waiting for the end of its headers */
    GW_CONN_BODY,    /* headers done, reading the body */
    GW_CONN_CLOSING, /* no more requests are read; close once the queue is written */
    GW_CONN_LINGER,  /* all written, write side shut: discard input, then close */
    GW_CONN_DEAD,    /* scheduled to be freed */
};

struct gw_conn {
    TAILQ_ENTRY(gw_conn) link; /* all_conns or dead_conns */
    enum gw_listener_kind kind;
    const struct gw_conn_hooks *hooks; /* the listener's request, cancel and gone */
    enum gw_conn_state state;
    struct gw_sock sock;  /* the socket (plain or TLS) and its events */
    struct evbuffer *in;  /* bytes read but not parsed yet (usually empty) */
    struct evbuffer *out; /* bytes for the socket */
    struct gw_http *http;
    TAILQ_HEAD(, gw_req) reqs; /* in arrival order; head answered first */
    unsigned nreqs;
    bool paused;     /* parser paused: pipelining cap */
    bool served_one; /* a request has completed on this connection */
    bool draining;   /* answer what is queued, then close */
    bool in_parse;   /* inside conn_parse: no re-entry */
    bool counted;    /* addr is counted in addrcount.c */
    struct event timer;
    uint64_t body_start_ms; /* BODY: when the head was complete (monotonic) */
    uint64_t body_last_ms;  /* BODY: the last read */
    uint64_t body_bytes;    /* BODY: bytes read since the head */

    struct gw_req *body_req; /* BODY: handed over at its head, its body streams (reqbody.h) */
    bool body_held;          /* BODY: not read: body_req's consumer is full */
    uint64_t body_held_ms;   /* since when */
    struct gw_addrkey addr;
    struct gw_clientaddr client; /* the peer, or the PROXY header's source */
};

TAILQ_HEAD(gw_conn_list, gw_conn);
static struct gw_conn_list all_conns = TAILQ_HEAD_INITIALIZER(all_conns);
static struct gw_conn_list dead_conns = TAILQ_HEAD_INITIALIZER(dead_conns);
static size_t conn_counts[2];
static struct event *reaper; /* frees dead connections at a safe point */

static void conn_parse(struct gw_conn *c);
static void conn_flush(struct gw_conn *c);
static void conn_free(struct gw_conn *c);
static void conn_written(struct gw_conn *c);
static void conn_drain_close(struct gw_conn *c);

static void reading(struct gw_conn *c, bool on) { gw_sock_reading(&c->sock, on); }

/* Output was queued: write it later in this loop iteration (once). */
static void conn_send_soon(struct gw_conn *c) { gw_sock_send_soon(&c->sock); }

/* ------------------------------------------------------------------------ */
/* Timers                                                                    */
/* ------------------------------------------------------------------------ */

static void timer_arm(struct gw_conn *c, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(&c->timer, &tv);
}

/* The client's x-request-id when it is a valid one, else a new UUID
 * (SPEC §5); from the request's headers when they were read (may be NULL). */
static void request_id_of(const struct gw_req *from, char *id)
{
    size_t n;
    const char *rid = from != NULL ? gw_req_header(from, "x-request-id", &n) : NULL;

    if (rid && gw_request_id_is_valid(rid, n)) {
        memcpy(id, rid, n);
        id[n] = '\0';
    } else {
        pc_uuid_v4(id);
    }
}

/* The request handed over at its head is gone before its body ended
 * (answered, refused, or its connection is closing): the parser forgets
 * it, and the connection closes after its response. */
static void body_req_gone(struct gw_conn *c, struct gw_req *r)
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
    body_req_gone(c, b);
    if (b->streaming) return false;
    TAILQ_REMOVE(&c->reqs, b, queue);
    c->nreqs--;
    c->hooks->cancel(b);
    return true;
}

/* Queues an error response that ends the connection (400/408/413/431).
 * from: the refused request when its head was read (413, 408 in a body),
 * else NULL; rest[0..rest_len): the unparsed bytes that follow (for the
 * access log), or NULL. */
static void conn_fail_rest(struct gw_conn *c, int status, const char *code, const char *why,
                           const struct gw_req *from, const char *rest, size_t rest_len)
{
    struct gw_req *r = gw_req_new();

    pc_log(PC_LOG_DEBUG, "conn", "%s: %d %s", c->client.text, status, why);
    r->conn = c;
    r->close_after = true;
    r->http_minor = 1;
    r->admin = (c->kind == GW_LISTENER_ADMIN);
    r->start_ms = gw_now_mono_ms();
    memcpy(r->remote_addr, c->client.text, sizeof r->remote_addr);
    request_id_of(from, r->request_id);
    snprintf(r->method, sizeof r->method, "%s", "-");
    r->https = c->sock.secure;
    if (gw_accesslog_on) { /* what was read of the refused request */
        const struct gw_req *got = gw_http_partial(c->http, &r->bytes_in);
        if (got != NULL && got->target_len > 0) {
            snprintf(r->method, sizeof r->method, "%s", got->method);
            pc_buf_append(&r->head, got->head.data, got->target_len);
            r->target_len = got->target_len;
            r->path_len = got->path_len;
        } else if (rest != NULL) {
            gw_accesslog_raw_request_line(r, rest, rest_len);
            r->bytes_in += rest_len;
        }
    }
    if (c->body_req != NULL && !body_req_refused(c)) { /* its response began: cut short */
        gw_req_free(r);
        gw_conn_close(c);
        return;
    }
    TAILQ_INSERT_TAIL(&c->reqs, r, queue);
    c->nreqs++;
    c->state = GW_CONN_CLOSING;
    evtimer_del(&c->timer);
    reading(c, false);
    gw_req_error(r, status, code, why);
}

static void conn_fail(struct gw_conn *c, int status, const char *code, const char *why,
                      const struct gw_req *from)
{
    conn_fail_rest(c, status, code, why, from, NULL, 0);
}

/* BODY: when the body must be complete (monotonic ms): --body-timeout-ms
 * after the head, plus 1 s for every --body-min-rate bytes read since. */
static uint64_t body_deadline(const struct gw_conn *c)
{
    uint64_t d = c->body_start_ms + (uint64_t)gw.cfg->body_timeout_ms;
    if (gw.cfg->body_min_rate > 0) d += c->body_bytes * 1000 / (uint64_t)gw.cfg->body_min_rate;
    return d;
}

/* BODY: the sooner of the header timeout from the last read (a stalled
 * body) and the body deadline (a trickling one). */
static void body_timer_arm(struct gw_conn *c)
{
    uint64_t dl = body_deadline(c);
    long ms = gw.cfg->header_timeout_ms;

    if (dl <= c->body_last_ms)
        ms = 0;
    else if (dl - c->body_last_ms < (uint64_t)ms)
        ms = (long)(dl - c->body_last_ms);
    timer_arm(c, ms);
}

/* A request not received in time: 408 and close. */
static void conn_timed_out(struct gw_conn *c, bool body)
{
    if (c->kind == GW_LISTENER_PUBLIC) {
        if (body)
            gw_stats->body_timeouts++;
        else
            gw_stats->header_timeouts++;
    }
    if (body)
        conn_fail(c, 408, "body_timeout", "request body not received in time",
                  gw_http_current(c->http));
    else if (c->state == GW_CONN_IDLE)
        conn_fail(c, 408, "header_timeout", "no request received in time", NULL);
    else
        conn_fail(c, 408, "header_timeout", "request not received in time",
                  gw_http_current(c->http));
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct gw_conn *c = arg;

    switch (c->state) {
    case GW_CONN_PROXY: /* no PROXY header in time: closed, never answered */
        if (c->draining) {
            conn_drain_close(c);
        } else {
            gw_stats->proxy_timeouts++;
            gw_conn_close(c);
        }
        break;
    case GW_CONN_IDLE:
        if (c->draining) {
            conn_drain_close(c); /* the drain grace is over */
        } else if (gw_sock_handshake_expired(&c->sock)) {
            gw_conn_close(c); /* no TLS session: nothing can be answered */
        } else if (!c->served_one && c->nreqs == 0) {
            conn_timed_out(c, false);
        } else {
            gw_conn_close(c); /* keep-alive idle timeout: close quietly */
        }
        break;
    case GW_CONN_HEAD:
        conn_timed_out(c, false);
        break;
    case GW_CONN_BODY: /* whichever of the two limits body_timer_arm chose */
        conn_timed_out(c,
                       body_deadline(c) <= c->body_last_ms + (uint64_t)gw.cfg->header_timeout_ms);
        break;
    case GW_CONN_LINGER:
    case GW_CONN_CLOSING:
        gw_conn_close(c);
        break;
    case GW_CONN_DEAD:
        break;
    default:
        assert(!"bad connection state");
    }
}

/* ------------------------------------------------------------------------ */
/* Parser sink                                                               */
/* ------------------------------------------------------------------------ */

/* What every request gets from its connection before it is handed on. */
static void request_prepare(struct gw_conn *c, struct gw_req *r)
{
    r->conn = c;
    r->admin = (c->kind == GW_LISTENER_ADMIN);
    r->https = c->sock.secure;
    r->start_ms = gw_now_mono_ms();
    gw_clientaddr_resolve(&c->client, &gw.cfg->trusted_proxies, r->head.data, r->hdrs, r->nhdrs,
                          r->remote_addr, &r->xff_cut, &r->xff_keep);
    request_id_of(r, r->request_id);
}

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

void gw_conn_body_reading(struct gw_conn *c, struct gw_req *r, bool on)
{
    uint64_t now = gw_now_mono_ms();

    if (r != c->body_req || c->state != GW_CONN_BODY || c->body_held == !on) return;
    c->body_held = !on;
    if (!on) { /* the wait is the consumer's: the body timers stop */
        c->body_held_ms = now;
        reading(c, false);
        evtimer_del(&c->timer);
        return;
    }
    c->body_start_ms += now - c->body_held_ms;
    c->body_last_ms = now;
    reading(c, true);
    body_timer_arm(c);
    conn_parse(c);
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
        request_prepare(c, r);
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

    if (taken) {
        c->body_req = NULL;
        if (c->body_held) reading(c, true);
        c->body_held = false;
        if (!r->streaming) r->close_after = false;
    } else {
        request_prepare(c, r);
        TAILQ_INSERT_TAIL(&c->reqs, r, queue);
        c->nreqs++;
    }
    c->served_one = true;
    c->state = GW_CONN_IDLE;
    evtimer_del(&c->timer);

    if (!r->keep_alive || c->draining || gw.draining) {
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

/* ------------------------------------------------------------------------ */
/* Socket events                                                             */
/* ------------------------------------------------------------------------ */

/* True while the parser may take more input. */
static bool conn_parsing(const struct gw_conn *c)
{
    return c->state != GW_CONN_CLOSING && c->state != GW_CONN_LINGER && c->state != GW_CONN_DEAD &&
           !c->paused;
}

/* Feeds data[0..len) to the parser until it is consumed, paused or broken.
 * Returns the bytes consumed. */
static size_t conn_feed(struct gw_conn *c, const char *data, size_t len)
{
    size_t used = 0;

    while (used < len && conn_parsing(c)) {
        int status;
        const char *why;
        size_t n = gw_http_feed(c->http, data + used, len - used, &status, &why);
        used += n;
        if (status) {
            const char *code = status == 413   ? "body_too_large"
                               : status == 431 ? "headers_too_large"
                                               : "bad_request";
            conn_fail_rest(c, status, code, why, gw_http_current(c->http), data + used, len - used);
            break;
        }
        if (n == 0) break; /* paused or closing at a message boundary */
    }
    return used;
}

/* Feeds input kept in c->in (bytes read while parsing was paused). */
static void conn_parse(struct gw_conn *c)
{
    if (c->in_parse) return; /* the outer call's loop picks up the rest */
    c->in_parse = true;
    while (conn_parsing(c)) {
        size_t len = evbuffer_get_contiguous_space(c->in);
        if (len == 0) break;
        const char *data = (const char *)evbuffer_pullup(c->in, (ev_ssize_t)len);
        size_t n = conn_feed(c, data, len);
        evbuffer_drain(c->in, n);
        if (n < len) break;
    }
    c->in_parse = false;
}

/* --proxy-protocol: the PROXY header, the first bytes of the stream, read raw
 * by sock.c (before a TLS handshake on a TLS port). Returns its length once
 * complete, 0 while more is needed, -1 to refuse (the connection is closed
 * without a response). */
static long on_preamble(void *ctx, const unsigned char *p, size_t n)
{
    struct gw_conn *c = ctx;
    const char *why = NULL;
    size_t used = 0;

    switch (gw_clientaddr_proxy_bytes(&c->client, p, n, &used, &why)) {
    case GW_PP_MORE:
        return 0;
    case GW_PP_DONE:
        c->state = GW_CONN_IDLE;
        return (long)used;
    case GW_PP_ERROR:
    default:
        pc_log(PC_LOG_DEBUG, "conn", "%s: PROXY header refused: %s", c->client.text, why);
        gw_stats->proxy_invalid++;
        return -1;
    }
}

/* Bytes read into the socket's shared buffer, parsed from there; only what
 * the parser does not take (paused mid-stream) is kept in c->in. */
static void on_data(void *ctx, const char *buf, size_t n)
{
    struct gw_conn *c = ctx;

    if (c->state == GW_CONN_LINGER || c->state == GW_CONN_DEAD) return; /* discarded */
    if (c->state == GW_CONN_BODY) {
        c->body_last_ms = gw_now_mono_ms();
        c->body_bytes += (uint64_t)n;
        body_timer_arm(c);
    }
    if (evbuffer_get_length(c->in) > 0 || c->in_parse) {
        evbuffer_add(c->in, buf, n);
        conn_parse(c);
        return;
    }
    c->in_parse = true;
    size_t used = conn_feed(c, buf, n);
    c->in_parse = false;
    if (used < n && c->state != GW_CONN_DEAD) /* kept for when reading resumes */
        evbuffer_add(c->in, buf + used, n - used);
}

/* The socket took what it could: at the low watermark, more may follow. */
static void on_sent(void *ctx)
{
    struct gw_conn *c = ctx;
    struct gw_req *r;
    if (evbuffer_get_length(c->out) > GW_CONN_OUTPUT_LOW) return;
    r = TAILQ_FIRST(&c->reqs);
    if (r != NULL && r->streaming && r->on_drain != NULL) r->on_drain(r); /* more body */
    conn_written(c);
}

static void on_lost(void *ctx) { gw_conn_close(ctx); }

/* Plain HTTP on the TLS port: answered like nginx (400), then closed. */
static void on_plain_http(void *ctx)
{
    conn_fail(ctx, 400, "plain_http_to_https_port",
              "the plain HTTP request was sent to the HTTPS port", NULL);
}

static const struct gw_sock_handlers sock_handlers = {on_data, on_sent, on_lost, on_plain_http,
                                                      on_preamble};

/* Resumes reading requests once the queue and the output have room again. */
static void conn_maybe_resume(struct gw_conn *c)
{
    if (!c->paused || c->nreqs >= GW_CONN_MAX_PIPELINE ||
        evbuffer_get_length(c->out) > GW_CONN_OUTPUT_LOW)
        return;
    c->paused = false;
    gw_http_pause(c->http, false);
    reading(c, true);
    conn_parse(c);
}

/* Output down to the low watermark. After the last response of a closing
 * connection is all written, shut the write side and linger (read and
 * discard) so the client can read it all. */
static void conn_written(struct gw_conn *c)
{
    if (c->state != GW_CONN_CLOSING) {
        conn_maybe_resume(c);
        return;
    }
    if (c->nreqs != 0 || evbuffer_get_length(c->out) != 0) return;
    c->state = GW_CONN_LINGER;
    gw_sock_shutdown_write(&c->sock);
    reading(c, true);
    timer_arm(c, GW_CONN_LINGER_MS);
}

/* ------------------------------------------------------------------------ */
/* Responses                                                                 */
/* ------------------------------------------------------------------------ */

struct evbuffer *gw_conn_response_buffer(struct gw_conn *c, struct gw_req *r)
{
    if (TAILQ_FIRST(&c->reqs) == r && c->state != GW_CONN_DEAD) return c->out;
    if (r->out == NULL) {
        r->out = evbuffer_new();
        pc_check(r->out != NULL);
    }
    return r->out;
}

void gw_conn_on_response(struct gw_conn *c, struct gw_req *r)
{
    if (r->done) body_req_gone(c, r); /* answered before its body was all read */
    if (gw.draining || c->draining) r->close_after = true;
    if (r->close_after && c->state != GW_CONN_DEAD && c->state != GW_CONN_LINGER &&
        r != c->body_req) { /* (a response streamed while the body still streams) */
        c->state = GW_CONN_CLOSING;
        evtimer_del(&c->timer);
    }
    conn_flush(c);
}

void gw_conn_stream_wrote(struct gw_conn *c, struct gw_req *r)
{
    if (TAILQ_FIRST(&c->reqs) == r && c->state != GW_CONN_DEAD) conn_send_soon(c);
}

size_t gw_conn_output_held(const struct gw_conn *c) { return evbuffer_get_length(c->out); }

/* Moves finished responses at the head of the queue to the socket (and
 * what a streamed response at the head has written so far: it keeps its
 * place until it ends). */
static void conn_flush(struct gw_conn *c)
{
    struct evbuffer *out = c->out;
    struct gw_req *r;

    while ((r = TAILQ_FIRST(&c->reqs)) != NULL && r->done) {
        bool close = r->close_after;
        if (r->out) evbuffer_add_buffer(out, r->out);
        TAILQ_REMOVE(&c->reqs, r, queue);
        c->nreqs--;
        gw_req_release(r);
        if (close) {
            /* Nothing after a closing response is answered. */
            while ((r = TAILQ_FIRST(&c->reqs)) != NULL) {
                TAILQ_REMOVE(&c->reqs, r, queue);
                c->nreqs--;
                body_req_gone(c, r);
                c->hooks->cancel(r);
            }
            c->state = GW_CONN_CLOSING;
            reading(c, false);
            break;
        }
    }
    /* A streamed response now first in line: what it wrote aside goes out. */
    if (r != NULL && r->streaming && r->out != NULL) evbuffer_add_buffer(out, r->out);
    if (evbuffer_get_length(out) > 0) conn_send_soon(c);
    if (c->state == GW_CONN_CLOSING) {
        if (c->nreqs == 0 && evbuffer_get_length(out) == 0) conn_written(c);
        return;
    }
    conn_maybe_resume(c);
    if (c->nreqs == 0 && c->state == GW_CONN_IDLE) {
        if (c->draining || gw.draining)
            conn_drain_close(c); /* not reached: responses close while draining */
        else
            timer_arm(c, gw.cfg->idle_timeout_ms);
    }
}

/* ------------------------------------------------------------------------ */
/* Life cycle                                                                */
/* ------------------------------------------------------------------------ */

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    struct gw_conn *c;
    void (*gone)(void) = NULL;

    while ((c = TAILQ_FIRST(&dead_conns)) != NULL) {
        if (c->hooks->gone != NULL) gone = c->hooks->gone;
        conn_free(c);
    }
    if (gone != NULL) gone();
}

struct gw_conn *gw_conn_new(evutil_socket_t fd, const struct sockaddr *sa,
                            enum gw_listener_kind kind, const struct gw_conn_hooks *hooks,
                            const struct gw_addrkey *counted, bool tls)
{
    struct gw_conn *c = pc_xcalloc(1, sizeof *c);
    struct gw_http_limits lim = {
        .max_header_bytes = (size_t)gw.cfg->max_header_bytes,
        .max_body_bytes = (size_t)gw.cfg->max_body_bytes,
    };
    struct gw_http_sink sink = {c, on_begin, on_head, on_request};

    if (reaper == NULL) {
        reaper = event_new(gw.base, -1, 0, on_reap, NULL);
        pc_check(reaper != NULL);
    }
    c->kind = kind;
    c->hooks = hooks;
    if (counted != NULL) {
        c->counted = true;
        c->addr = *counted;
    }
    c->state = kind == GW_LISTENER_PUBLIC && gw.cfg->proxy_protocol ? GW_CONN_PROXY : GW_CONN_IDLE;
    TAILQ_INIT(&c->reqs);
    gw_clientaddr_init(&c->client, sa, gw.cfg->proxy_protocol ? NULL : &gw.cfg->trusted_proxies);

    c->in = evbuffer_new();
    c->out = evbuffer_new();
    pc_check(c->in != NULL && c->out != NULL);
    c->http = gw_http_new(&sink, &lim);
    evtimer_assign(&c->timer, gw.base, on_timer, c);
    gw_sock_init(&c->sock, fd, tls, c->out, &sock_handlers, c, c->client.text);
    if (c->state == GW_CONN_PROXY) gw_sock_expect_preamble(&c->sock);
    reading(c, true);
    timer_arm(c, gw.cfg->header_timeout_ms);
    TAILQ_INSERT_TAIL(&all_conns, c, link);
    conn_counts[kind]++;
    return c;
}

void gw_conn_close(struct gw_conn *c)
{
    if (c->state == GW_CONN_DEAD) return;
    c->state = GW_CONN_DEAD;
    evtimer_del(&c->timer);
    gw_sock_stop(&c->sock);
    TAILQ_REMOVE(&all_conns, c, link);
    TAILQ_INSERT_TAIL(&dead_conns, c, link);
    event_active(reaper, 0, 0);
}

/* Frees a dead connection: every queued request is cancelled. */
static void conn_free(struct gw_conn *c)
{
    struct gw_req *r;

    while ((r = TAILQ_FIRST(&c->reqs)) != NULL) {
        TAILQ_REMOVE(&c->reqs, r, queue);
        c->nreqs--;
        body_req_gone(c, r);
        c->hooks->cancel(r);
    }
    TAILQ_REMOVE(&dead_conns, c, link);
    conn_counts[c->kind]--;
    if (c->counted) gw_addrcount_del(&c->addr);
    evtimer_del(&c->timer);
    gw_sock_close(&c->sock);
    gw_http_free(c->http);
    evbuffer_free(c->in);
    evbuffer_free(c->out);
    free(c);
}

/* Ends an idle connection of a draining gateway: no more requests are read,
 * and once what is queued for the socket is written it is closed like after
 * a closing response (write side shut, lingering): a request the client
 * sent meanwhile is discarded, never answered with a reset. */
static void conn_drain_close(struct gw_conn *c)
{
    c->state = GW_CONN_CLOSING;
    c->paused = false;
    gw_http_pause(c->http, true);
    reading(c, false);
    evtimer_del(&c->timer);
    conn_written(c);
}

void gw_conn_drain_all(void)
{
    struct gw_conn *c, *next;
    for (c = TAILQ_FIRST(&all_conns); c; c = next) {
        next = TAILQ_NEXT(c, link);
        c->draining = true;
        if ((c->state != GW_CONN_IDLE && c->state != GW_CONN_PROXY) || c->nreqs != 0)
            continue; /* closes after its response */
        /* Idle: a request may be on its way (or already in the socket). It
         * is served, with connection: close, if it begins within the grace. */
        if (gw.cfg->drain_grace_ms > 0)
            timer_arm(c, gw.cfg->drain_grace_ms);
        else
            conn_drain_close(c);
    }
}

void gw_conn_free_all(void)
{
    struct gw_conn *c;
    while ((c = TAILQ_FIRST(&all_conns)) != NULL) gw_conn_close(c);
    while ((c = TAILQ_FIRST(&dead_conns)) != NULL) conn_free(c);
    if (reaper) event_free(reaper);
    reaper = NULL;
    gw_addrcount_free();
}

size_t gw_conn_count(enum gw_listener_kind kind) { return conn_counts[kind]; }

bool gw_conn_is_closed(const struct gw_conn *c) { return c->state == GW_CONN_DEAD; }
