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
#include <assert.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conn_int.h"
#include "log.h"
#include "stats.h"
#include "xalloc.h"

TAILQ_HEAD(gw_conn_list, gw_conn);
static struct gw_conn_list all_conns = TAILQ_HEAD_INITIALIZER(all_conns);
static struct gw_conn_list dead_conns = TAILQ_HEAD_INITIALIZER(dead_conns);
static size_t conn_counts[2];
static struct event *reaper; /* frees dead connections at a safe point */

static void conn_parse(struct gw_conn *c);
static void conn_flush(struct gw_conn *c);
static void conn_free(struct gw_conn *c, bool client_gone);
static void conn_written(struct gw_conn *c);
static void conn_drain_close(struct gw_conn *c);

/* Queues an error response that ends the connection (400/408/413/431;
 * conn_req.c), or closes it at once when the refused request's response
 * began. from: the refused request when its head was read (413, 408 in a
 * body), else NULL; rest[0..rest_len): the unparsed bytes that follow (for
 * the access log), or NULL. */
static void conn_fail_rest(struct gw_conn *c, int status, const char *code, const char *why,
                           const struct gw_req *from, const char *rest, size_t rest_len)
{
    if (!gw_conn_fail_queue(c, status, code, why, from, rest, rest_len)) gw_conn_close(c);
}

static void conn_fail(struct gw_conn *c, int status, const char *code, const char *why,
                      const struct gw_req *from)
{
    conn_fail_rest(c, status, code, why, from, NULL, 0);
}

/* ------------------------------------------------------------------------ */
/* Timers                                                                    */
/* ------------------------------------------------------------------------ */

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

static void on_timer(void *arg)
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

void gw_conn_body_reading(struct gw_conn *c, struct gw_req *r, bool on)
{
    uint64_t now = gw_now_mono_ms();

    if (r != c->body_req || c->state != GW_CONN_BODY || c->body_held == !on) return;
    c->body_held = !on;
    if (!on) { /* the wait is the consumer's: the body timers stop */
        c->body_held_ms = now;
        reading(c, false);
        timer_stop(c);
        return;
    }
    c->body_start_ms += now - c->body_held_ms;
    c->body_last_ms = now;
    reading(c, true);
    body_timer_arm(c);
    conn_parse(c);
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
    gw_deadline_sync(&c->timer);
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
    if (c->state == GW_CONN_IDLE) c->begin_ms = gw_now_mono_ms();       /* a request's first byte */
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
    gw_deadline_sync(&c->timer);
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

static void on_lost(void *ctx)
{
    struct gw_conn *c = ctx;
    c->lost = true;
    gw_conn_close(c);
}

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

/* A response said close: the connection closes once what is queued is
 * written; the parser (perhaps inside a callback of that response's
 * request) reads no further request. */
static void conn_closing(struct gw_conn *c)
{
    c->state = GW_CONN_CLOSING;
    gw_http_stop(c->http);
    timer_stop(c);
}

void gw_conn_on_response(struct gw_conn *c, struct gw_req *r)
{
    if (r->done) gw_conn_body_req_gone(c, r); /* answered before its body was all read */
    if ((gw.draining || c->draining) && gw_req_is_last(r)) r->close_after = true;
    if (r->close_after && c->state != GW_CONN_DEAD && c->state != GW_CONN_LINGER &&
        r != c->body_req) /* (a response streamed while the body still streams) */
        conn_closing(c);
    conn_flush(c);
}

void gw_conn_stream_wrote(struct gw_conn *c, struct gw_req *r)
{
    if (r->close_after && r != c->body_req && c->state != GW_CONN_CLOSING &&
        c->state != GW_CONN_LINGER && c->state != GW_CONN_DEAD) {
        /* Its head said close (HTTP/1.0, close-delimited): no request after
         * it is read or forwarded (RFC 9112 9.6). */
        conn_closing(c);
        reading(c, false);
    }
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
                gw_conn_body_req_gone(c, r);
                c->hooks->cancel(r);
            }
            c->state = GW_CONN_CLOSING;
            gw_http_stop(c->http);
            reading(c, false);
            break;
        }
    }
    /* A streamed response now first in line: what it wrote aside goes out. */
    if (r != NULL && r->streaming && r->out != NULL) evbuffer_add_buffer(out, r->out);
    if (evbuffer_get_length(out) > 0) {
        gw_sock_write_early(&c->sock); /* a large body: not held till the iteration ends */
        conn_send_soon(c);
    }
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
        conn_free(c, c->lost);
    }
    if (gone != NULL) gone();
}

/* What requests reach their connection by (req.h). */
static const struct gw_req_conn_ops req_conn_ops = {
    gw_conn_response_buffer, gw_conn_on_response, gw_conn_stream_wrote,
    gw_conn_body_reading,    gw_conn_continue,
};

struct gw_conn *gw_conn_new(evutil_socket_t fd, const struct sockaddr *sa,
                            enum gw_listener_kind kind, const struct gw_conn_hooks *hooks,
                            const struct gw_addrkey *counted, bool tls)
{
    struct gw_conn *c = pc_xcalloc(1, sizeof *c);
    struct gw_http_limits lim = {
        .max_header_bytes = (size_t)gw.cfg->max_header_bytes,
        .max_body_bytes = (size_t)gw.cfg->max_body_bytes,
    };
    struct gw_http_sink sink = gw_conn_sink(c);

    if (reaper == NULL) { /* the first connection: conn.c's one-time set-up */
        reaper = event_new(gw.base, -1, 0, on_reap, NULL);
        pc_check(reaper != NULL);
        gw_req_conn = &req_conn_ops;
    }
    c->kind = kind;
    c->hooks = hooks;
    if (counted != NULL) {
        c->counted = true;
        c->addr = *counted;
    }
    c->state = kind == GW_LISTENER_PUBLIC && gw.cfg->proxy_protocol ? GW_CONN_PROXY : GW_CONN_IDLE;
    TAILQ_INIT(&c->reqs);
    c->begin_ms = gw_now_mono_ms(); /* a 408 for a connection that sent nothing */
    gw_clientaddr_init(&c->client, sa, gw.cfg->proxy_protocol);

    c->in = evbuffer_new();
    c->out = evbuffer_new();
    pc_check(c->in != NULL && c->out != NULL);
    c->http = gw_http_new(&sink, &lim);
    gw_deadline_init(&c->timer, on_timer, c);
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
    timer_stop(c);
    gw_sock_stop(&c->sock);
    TAILQ_REMOVE(&all_conns, c, link);
    TAILQ_INSERT_TAIL(&dead_conns, c, link);
    event_active(reaper, 0, 0);
}

/* Frees a dead connection: every queued request is cancelled, and logged
 * (gw_req_conn_closed): a response cut short with what was sent; a request
 * not answered yet with 499 when client_gone (the client went away: end of
 * stream, a reset, a write it refused), not when the gateway closed the
 * connection itself (exit). */
static void conn_free(struct gw_conn *c, bool client_gone)
{
    struct gw_req *r;

    while ((r = TAILQ_FIRST(&c->reqs)) != NULL) {
        TAILQ_REMOVE(&c->reqs, r, queue);
        c->nreqs--;
        if (r == c->body_req) /* its body still coming: what of it was read */
            gw_http_partial(c->http, &r->bytes_in);
        gw_req_conn_closed(r, client_gone);
        gw_conn_body_req_gone(c, r);
        c->hooks->cancel(r);
    }
    TAILQ_REMOVE(&dead_conns, c, link);
    conn_counts[c->kind]--;
    if (c->counted) gw_addrcount_del(&c->addr);
    gw_deadline_deinit(&c->timer);
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
    timer_stop(c);
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
    while ((c = TAILQ_FIRST(&dead_conns)) != NULL) conn_free(c, false);
    if (reaper) event_free(reaper);
    reaper = NULL;
    gw_addrcount_free();
}

size_t gw_conn_count(enum gw_listener_kind kind) { return conn_counts[kind]; }

bool gw_conn_is_closed(const struct gw_conn *c) { return c->state == GW_CONN_DEAD; }
