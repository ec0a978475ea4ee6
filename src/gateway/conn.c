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
 * whenever the socket takes bytes).
 *
 * Socket I/O is done here rather than with a bufferevent, for syscalls (the
 * gateway's largest cost per request after its own code; strace -c):
 * bufferevent asks FIONREAD before every read, and arms and disarms the
 * write event (two epoll_ctl) for every response. Here a read is one
 * read() into a shared buffer, parsed in place; responses are written with
 * one writev from the same loop iteration (a per-connection flush event,
 * activated when output is queued, runs after the callbacks already due, so
 * pipelined responses leave together), and the write event is armed only
 * when the socket is full. */
#include "conn.h"

#include <assert.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clientaddr.h"
#include "gw.h"
#include "http.h"
#include "log.h"
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
    evutil_socket_t fd;
    struct evbuffer *in;  /* bytes read but not parsed yet (usually empty) */
    struct evbuffer *out; /* bytes for the socket */
    struct event rd, wr;  /* persistent; wr armed only while the socket is full */
    struct event flush;   /* writes out, later in this loop iteration */
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

/* ------------------------------------------------------------------------ */
/* Socket                                                                    */
/* ------------------------------------------------------------------------ */

#define CONN_READ_MAX (64 * 1024) /* one read(); one loop, one buffer for all */
static char read_buf[CONN_READ_MAX];

static void reading(struct gw_conn *c, bool on)
{
    if (on)
        event_add(&c->rd, NULL);
    else
        event_del(&c->rd);
}

/* Output was queued: write it later in this loop iteration (once). */
static void conn_send_soon(struct gw_conn *c)
{
    if (c->state != GW_CONN_DEAD) event_active(&c->flush, EV_WRITE, 1);
}

/* Writes what the socket takes; arms the write event (with the write
 * timeout) for the rest. */
static void conn_send(struct gw_conn *c)
{
    struct timeval wto = {gw.cfg->idle_timeout_ms / 1000, (gw.cfg->idle_timeout_ms % 1000) * 1000};

    if (c->state == GW_CONN_DEAD) return;
    if (evbuffer_get_length(c->out) > 0 && evbuffer_write(c->out, c->fd) < 0 && errno != EAGAIN &&
        errno != EWOULDBLOCK && errno != EINTR) {
        gw_conn_close(c); /* the peer is gone (EPIPE, ECONNRESET) */
        return;
    }
    if (evbuffer_get_length(c->out) > 0) {
        if (!event_pending(&c->wr, EV_WRITE, NULL)) event_add(&c->wr, &wto);
    } else if (event_pending(&c->wr, EV_WRITE, NULL)) {
        event_del(&c->wr);
    }
    if (evbuffer_get_length(c->out) <= GW_CONN_OUTPUT_LOW) conn_written(c);
}

static void on_flush(evutil_socket_t fd, short what, void *arg) { conn_send(arg); }

/* Writable again, or the write timeout passed with bytes still queued. */
static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    struct gw_conn *c = arg;

    if (what & EV_TIMEOUT) {
        pc_log(PC_LOG_DEBUG, "conn", "%s: write timeout", c->client.text);
        gw_conn_close(c);
        return;
    }
    conn_send(c);
}

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

/* Queues an error response that ends the connection (400/408/413/431).
 * from: the refused request when its head was read (413, 408 in a body),
 * else NULL. */
static void conn_fail(struct gw_conn *c, int status, const char *code, const char *why,
                      const struct gw_req *from)
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
    TAILQ_INSERT_TAIL(&c->reqs, r, queue);
    c->nreqs++;
    c->state = GW_CONN_CLOSING;
    evtimer_del(&c->timer);
    reading(c, false);
    gw_req_error(r, status, code, why);
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
    /* Interim 100 Continue only when nothing is queued ahead of it. */
    v = gw_req_header(r, "expect", &n);
    if (v && r->http_minor == 1 && n == 12 && strncasecmp(v, "100-continue", 12) == 0 &&
        c->nreqs == 0) {
        evbuffer_add(c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        conn_send_soon(c);
    }
    return 0;
}

static void on_request(void *ctx, struct gw_req *r)
{
    struct gw_conn *c = ctx;

    r->conn = c;
    r->admin = (c->kind == GW_LISTENER_ADMIN);
    r->start_ms = gw_now_mono_ms();
    gw_clientaddr_resolve(&c->client, &gw.cfg->trusted_proxies, r);
    request_id_of(r, r->request_id);
    TAILQ_INSERT_TAIL(&c->reqs, r, queue);
    c->nreqs++;
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

    c->hooks->request(r);
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
            conn_fail(c, status, code, why, gw_http_current(c->http));
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

/* --proxy-protocol: the PROXY header, from the very first byte (before
 * anything else reads the stream: HTTP here, a TLS handshake on a TLS
 * port), gathered in c->in; then the rest is HTTP. */
static void conn_proxy(struct gw_conn *c, const char *data, size_t n)
{
    const char *why = NULL;

    evbuffer_add(c->in, data, n);
    switch (gw_clientaddr_proxy(&c->client, c->in, &why)) {
    case GW_PP_MORE:
        return;
    case GW_PP_ERROR:
        pc_log(PC_LOG_DEBUG, "conn", "%s: PROXY header refused: %s", c->client.text, why);
        gw_stats->proxy_invalid++;
        gw_conn_close(c);
        return;
    case GW_PP_DONE:
        c->state = GW_CONN_IDLE;
        conn_parse(c);
        return;
    }
}

/* One read() into the shared buffer, parsed from there; only what the parser
 * does not take (paused mid-stream) is kept in c->in. */
static void on_read(evutil_socket_t fd, short what, void *arg)
{
    struct gw_conn *c = arg;
    ssize_t n = read(fd, read_buf, sizeof read_buf);

    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
        gw_conn_close(c); /* end of stream, or an error */
        return;
    }
    if (c->state == GW_CONN_LINGER || c->state == GW_CONN_DEAD) return; /* discarded */
    if (c->state == GW_CONN_PROXY) {
        conn_proxy(c, read_buf, (size_t)n);
        return;
    }
    if (c->state == GW_CONN_BODY) {
        c->body_last_ms = gw_now_mono_ms();
        c->body_bytes += (uint64_t)n;
        body_timer_arm(c);
    }
    if (evbuffer_get_length(c->in) > 0 || c->in_parse) {
        evbuffer_add(c->in, read_buf, (size_t)n);
        conn_parse(c);
        return;
    }
    c->in_parse = true;
    size_t used = conn_feed(c, read_buf, (size_t)n);
    c->in_parse = false;
    if (used < (size_t)n && c->state != GW_CONN_DEAD) /* kept for when reading resumes */
        evbuffer_add(c->in, read_buf + used, (size_t)n - used);
}

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
    shutdown(c->fd, SHUT_WR);
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
    if (gw.draining || c->draining) r->close_after = true;
    if (r->close_after && c->state != GW_CONN_DEAD && c->state != GW_CONN_LINGER) {
        c->state = GW_CONN_CLOSING;
        evtimer_del(&c->timer);
    }
    conn_flush(c);
}

/* Moves finished responses at the head of the queue to the socket. */
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
                c->hooks->cancel(r);
            }
            c->state = GW_CONN_CLOSING;
            reading(c, false);
            break;
        }
    }
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
                            const struct gw_addrkey *counted)
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

    c->fd = fd;
    c->in = evbuffer_new();
    c->out = evbuffer_new();
    pc_check(c->in != NULL && c->out != NULL);
    c->http = gw_http_new(&sink, &lim);
    evtimer_assign(&c->timer, gw.base, on_timer, c);
    event_assign(&c->rd, gw.base, fd, EV_READ | EV_PERSIST, on_read, c);
    event_assign(&c->wr, gw.base, fd, EV_WRITE | EV_PERSIST, on_writable, c);
    event_assign(&c->flush, gw.base, -1, 0, on_flush, c);
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
    event_del(&c->rd);
    event_del(&c->wr);
    event_del(&c->flush);
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
        c->hooks->cancel(r);
    }
    TAILQ_REMOVE(&dead_conns, c, link);
    conn_counts[c->kind]--;
    if (c->counted) gw_addrcount_del(&c->addr);
    evtimer_del(&c->timer);
    event_del(&c->rd);
    event_del(&c->wr);
    event_del(&c->flush);
    gw_http_free(c->http);
    evbuffer_free(c->in);
    evbuffer_free(c->out);
    evutil_closesocket(c->fd);
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
