/* conn.c -- the per-connection state machine (see conn.h for the picture).
 *
 * Timers: one per connection, re-armed as the state changes.
 *   - first request: header timeout from accept (a client that sends nothing);
 *   - a request has begun: header timeout from its first byte, not reset;
 *   - reading a body: header timeout, reset whenever body bytes arrive;
 *   - between keep-alive requests with nothing pending: idle timeout;
 *   - lingering close: GW_CONN_LINGER_MS.
 * Slow readers are bounded by the bufferevent write timeout. */
#include "conn.h"

#include <arpa/inet.h>
#include <assert.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "admin.h"
#include "forward.h"
#include "gw.h"
#include "http.h"
#include "log.h"
#include "server.h"

enum gw_conn_state {
    GW_CONN_IDLE,      /* between requests; nothing of the next one has arrived */
    GW_CONN_HEAD,      /* a request has begun: waiting for the end of its headers */
    GW_CONN_BODY,      /* headers done, reading the body */
    GW_CONN_CLOSING,   /* no more requests are read; close once the queue is written */
    GW_CONN_LINGER,    /* all written, write side shut: discard input, then close */
    GW_CONN_DEAD,      /* scheduled to be freed */
};

struct gw_conn {
    TAILQ_ENTRY(gw_conn) link;          /* all_conns or dead_conns */
    enum gw_listener_kind kind;
    enum gw_conn_state state;
    struct bufferevent *bev;
    struct gw_http *http;
    TAILQ_HEAD(, gw_req) reqs;         /* in arrival order; head answered first */
    unsigned nreqs;
    bool paused;                        /* parser paused: pipelining cap */
    bool served_one;                    /* a request has completed on this connection */
    bool draining;                      /* answer what is queued, then close */
    bool in_parse;                      /* inside conn_parse: no re-entry */
    struct event timer;
    char remote[INET6_ADDRSTRLEN];
};

TAILQ_HEAD(gw_conn_list, gw_conn);
static struct gw_conn_list all_conns = TAILQ_HEAD_INITIALIZER(all_conns);
static struct gw_conn_list dead_conns = TAILQ_HEAD_INITIALIZER(dead_conns);
static size_t conn_counts[2];
static struct event *reaper;            /* frees dead connections at a safe point */

static void conn_parse(struct gw_conn *c);
static void conn_flush(struct gw_conn *c);
static void conn_free(struct gw_conn *c);

/* ------------------------------------------------------------------------ */
/* Timers                                                                    */
/* ------------------------------------------------------------------------ */

static void timer_arm(struct gw_conn *c, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(&c->timer, &tv);
}

/* Queues an error response that ends the connection (400/408/413/431). */
static void conn_fail(struct gw_conn *c, int status, const char *code, const char *why)
{
    struct gw_req *r = gw_req_new();

    pc_log(PC_LOG_DEBUG, "conn", "%s: %d %s", c->remote, status, why);
    r->conn = c;
    r->close_after = true;
    r->http_minor = 1;
    r->admin = (c->kind == GW_LISTENER_ADMIN);
    r->start_ms = gw_now_mono_ms();
    pc_uuid_v4(r->request_id);
    snprintf(r->method, sizeof r->method, "%s", "-");
    TAILQ_INSERT_TAIL(&c->reqs, r, queue);
    c->nreqs++;
    c->state = GW_CONN_CLOSING;
    evtimer_del(&c->timer);
    bufferevent_disable(c->bev, EV_READ);
    gw_req_error(r, status, code, why);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct gw_conn *c = arg;

    switch (c->state) {
    case GW_CONN_IDLE:
        if (!c->served_one && c->nreqs == 0) {
            conn_fail(c, 408, "header_timeout", "no request received in time");
        } else {
            gw_conn_close(c);   /* keep-alive idle timeout: close quietly */
        }
        break;
    case GW_CONN_HEAD:
    case GW_CONN_BODY:
        conn_fail(c, 408, "header_timeout", "request not received in time");
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
    timer_arm(c, gw.cfg->header_timeout_ms);
    /* Interim 100 Continue only when nothing is queued ahead of it. */
    v = gw_req_header(r, "expect", &n);
    if (v && r->http_minor == 1 && n == 12 && strncasecmp(v, "100-continue", 12) == 0 && c->nreqs == 0)
        bufferevent_write(c->bev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    return 0;
}

static void on_request(void *ctx, struct gw_req *r)
{
    struct gw_conn *c = ctx;
    size_t n;
    const char *rid = gw_req_header(r, "x-request-id", &n);

    r->conn = c;
    r->admin = (c->kind == GW_LISTENER_ADMIN);
    r->start_ms = gw_now_mono_ms();
    if (rid && gw_request_id_is_valid(rid, n)) {
        memcpy(r->request_id, rid, n);
        r->request_id[n] = '\0';
    } else {
        pc_uuid_v4(r->request_id);
    }
    TAILQ_INSERT_TAIL(&c->reqs, r, queue);
    c->nreqs++;
    c->served_one = true;
    c->state = GW_CONN_IDLE;
    evtimer_del(&c->timer);

    if (!r->keep_alive || c->draining || gw.draining) {
        r->close_after = true;
        c->state = GW_CONN_CLOSING;
        gw_http_pause(c->http, true);
        bufferevent_disable(c->bev, EV_READ);
    } else if (c->nreqs >= GW_CONN_MAX_PIPELINE ||
               evbuffer_get_length(bufferevent_get_output(c->bev)) > GW_CONN_OUTPUT_HIGH) {
        c->paused = true;
        gw_http_pause(c->http, true);
        bufferevent_disable(c->bev, EV_READ);
    }

    if (c->kind == GW_LISTENER_ADMIN)
        gw_admin_handle(r);
    else
        gw_forward_handle(r);
}

/* ------------------------------------------------------------------------ */
/* Socket events                                                             */
/* ------------------------------------------------------------------------ */

/* Feeds buffered input to the parser until it is consumed, paused or broken. */
static void conn_parse(struct gw_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);

    if (c->in_parse) return;   /* the outer call's loop picks up the rest */
    c->in_parse = true;
    while (c->state != GW_CONN_CLOSING && c->state != GW_CONN_LINGER &&
           c->state != GW_CONN_DEAD && !c->paused) {
        size_t len = evbuffer_get_contiguous_space(in);
        int status;
        const char *why;
        if (len == 0) break;
        const char *data = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
        size_t n = gw_http_feed(c->http, data, len, &status, &why);
        evbuffer_drain(in, n);
        if (status) {
            const char *code = status == 413   ? "body_too_large"
                               : status == 431 ? "headers_too_large"
                                               : "bad_request";
            conn_fail(c, status, code, why);
            break;
        }
        if (n < len && c->paused) break;  /* paused at a message boundary */
        if (n < len && c->state == GW_CONN_CLOSING) break;
    }
    c->in_parse = false;
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct gw_conn *c = arg;

    if (c->state == GW_CONN_LINGER || c->state == GW_CONN_DEAD) {
        evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
        return;
    }
    if (c->state == GW_CONN_BODY) timer_arm(c, gw.cfg->header_timeout_ms);
    conn_parse(c);
}

/* Resumes reading requests once the queue and the output have room again. */
static void conn_maybe_resume(struct gw_conn *c)
{
    if (!c->paused || c->nreqs >= GW_CONN_MAX_PIPELINE ||
        evbuffer_get_length(bufferevent_get_output(c->bev)) > GW_CONN_OUTPUT_LOW)
        return;
    c->paused = false;
    gw_http_pause(c->http, false);
    bufferevent_enable(c->bev, EV_READ);
    conn_parse(c);
}

/* Output down to the low watermark. After the last response of a closing
 * connection is all written, shut the write side and linger (read and
 * discard) so the client can read it all. */
static void on_write(struct bufferevent *bev, void *arg)
{
    struct gw_conn *c = arg;

    if (c->state != GW_CONN_CLOSING) {
        conn_maybe_resume(c);
        return;
    }
    if (c->nreqs != 0 || evbuffer_get_length(bufferevent_get_output(bev)) != 0) return;
    c->state = GW_CONN_LINGER;
    shutdown(bufferevent_getfd(bev), SHUT_WR);
    bufferevent_enable(bev, EV_READ);
    timer_arm(c, GW_CONN_LINGER_MS);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct gw_conn *c = arg;
    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) gw_conn_close(c);
}

/* ------------------------------------------------------------------------ */
/* Responses                                                                 */
/* ------------------------------------------------------------------------ */

struct evbuffer *gw_conn_response_buffer(struct gw_conn *c, struct gw_req *r)
{
    if (TAILQ_FIRST(&c->reqs) == r && c->state != GW_CONN_DEAD)
        return bufferevent_get_output(c->bev);
    if (r->out == NULL) {
        r->out = evbuffer_new();
        if (r->out == NULL) abort();
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
    struct evbuffer *out = bufferevent_get_output(c->bev);
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
                gw_forward_cancel(r);
            }
            c->state = GW_CONN_CLOSING;
            bufferevent_disable(c->bev, EV_READ);
            break;
        }
    }
    if (c->state == GW_CONN_CLOSING) {
        if (c->nreqs == 0 && evbuffer_get_length(out) == 0) on_write(c->bev, c);
        return;
    }
    conn_maybe_resume(c);
    if (c->nreqs == 0 && c->state == GW_CONN_IDLE) {
        if (c->draining || gw.draining)
            gw_conn_close(c);
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
    while ((c = TAILQ_FIRST(&dead_conns)) != NULL) conn_free(c);
    gw_server_check_drained(gw.server);
}

struct gw_conn *gw_conn_new(evutil_socket_t fd, const struct sockaddr *sa,
                            enum gw_listener_kind kind)
{
    struct gw_conn *c = calloc(1, sizeof *c);
    struct gw_http_limits lim = {
        .max_header_bytes = (size_t)gw.cfg->max_header_bytes,
        .max_body_bytes = (size_t)gw.cfg->max_body_bytes,
    };
    struct gw_http_sink sink = {c, on_begin, on_head, on_request};
    struct timeval wto = {gw.cfg->idle_timeout_ms / 1000, (gw.cfg->idle_timeout_ms % 1000) * 1000};

    if (c == NULL) abort();
    if (reaper == NULL && (reaper = event_new(gw.base, -1, 0, on_reap, NULL)) == NULL) abort();
    c->kind = kind;
    c->state = GW_CONN_IDLE;
    TAILQ_INIT(&c->reqs);
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, c->remote, sizeof c->remote);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, c->remote, sizeof c->remote);
    else
        snprintf(c->remote, sizeof c->remote, "unix");

    c->bev = bufferevent_socket_new(gw.base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) abort();
    c->http = gw_http_new(&sink, &lim);
    evtimer_assign(&c->timer, gw.base, on_timer, c);
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    bufferevent_set_timeouts(c->bev, NULL, &wto);
    bufferevent_setwatermark(c->bev, EV_WRITE, GW_CONN_OUTPUT_LOW, 0);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
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
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
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
        gw_forward_cancel(r);
    }
    TAILQ_REMOVE(&dead_conns, c, link);
    conn_counts[c->kind]--;
    evtimer_del(&c->timer);
    gw_http_free(c->http);
    bufferevent_free(c->bev);
    free(c);
}

void gw_conn_drain_all(void)
{
    struct gw_conn *c, *next;
    for (c = TAILQ_FIRST(&all_conns); c; c = next) {
        next = TAILQ_NEXT(c, link);
        c->draining = true;
        if (c->state == GW_CONN_IDLE && c->nreqs == 0) gw_conn_close(c);
    }
}

void gw_conn_free_all(void)
{
    struct gw_conn *c;
    while ((c = TAILQ_FIRST(&all_conns)) != NULL) gw_conn_close(c);
    while ((c = TAILQ_FIRST(&dead_conns)) != NULL) conn_free(c);
    if (reaper) event_free(reaper);
    reaper = NULL;
}

size_t gw_conn_count(enum gw_listener_kind kind) { return conn_counts[kind]; }

const char *gw_conn_remote_addr(const struct gw_conn *c) { return c->remote; }
