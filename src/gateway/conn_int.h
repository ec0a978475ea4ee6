/* conn_int.h -- what the two files of a client connection share (conn.c:
 * life cycle, timers, socket events, parsing, ordered output; conn_req.c:
 * the requests it takes in, from the parser or refused). Private to them;
 * conn_req.c never calls conn.c. */
#ifndef GW_CONN_INT_H
#define GW_CONN_INT_H

#include <event2/event.h>
#include <stdint.h>

#include "clientaddr.h"
#include "conn.h"
#include "deadline.h"
#include "gw.h"
#include "http.h"
#include "sock.h"

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
    bool paused;              /* parser paused: pipelining cap */
    bool served_one;          /* a request has completed on this connection */
    bool draining;            /* answer what is queued, then close */
    bool in_parse;            /* inside conn_parse: no re-entry */
    bool counted;             /* addr is counted in addrcount.c */
    bool lost;                /* the client went away (end of stream, reset): not our close */
    struct gw_deadline timer; /* moved lazily: see deadline.h */
    uint64_t body_start_ms;   /* BODY: when the head was complete (monotonic) */
    uint64_t body_last_ms;    /* BODY: the last read */
    uint64_t body_bytes;      /* BODY: bytes read since the head */
    uint64_t begin_ms;        /* the first byte of the request being read came (else accept) */

    struct gw_req *body_req; /* BODY: handed over at its head, its body streams (reqbody.h) */
    bool body_held;          /* BODY: not read: body_req's consumer is full */
    uint64_t body_held_ms;   /* since when */
    struct gw_addrkey addr;
    struct gw_clientaddr client; /* the peer, or the PROXY header's source */
};

static inline void reading(struct gw_conn *c, bool on) { gw_sock_reading(&c->sock, on); }

/* Output was queued: write it later in this loop iteration (once). */
static inline void conn_send_soon(struct gw_conn *c) { gw_sock_send_soon(&c->sock); }

/* The connection's one timer, due in ms; inside a parse (which may begin,
 * complete and clear several requests) armed once, when the parse ends. */
static inline void timer_arm(struct gw_conn *c, long ms)
{
    if (c->in_parse)
        gw_deadline_in_later(&c->timer, ms);
    else
        gw_deadline_in(&c->timer, ms);
}

static inline void timer_stop(struct gw_conn *c) { gw_deadline_clear(&c->timer); }

/* BODY: when the body must be complete (monotonic ms): --body-timeout-ms
 * after the head, plus 1 s for every --body-min-rate bytes read since. */
static inline uint64_t body_deadline(const struct gw_conn *c)
{
    uint64_t d = c->body_start_ms + (uint64_t)gw.cfg->body_timeout_ms;
    if (gw.cfg->body_min_rate > 0) d += c->body_bytes * 1000 / (uint64_t)gw.cfg->body_min_rate;
    return d;
}

/* BODY: the sooner of the header timeout from the last read (a stalled
 * body) and the body deadline (a trickling one). */
static inline void body_timer_arm(struct gw_conn *c)
{
    uint64_t dl = body_deadline(c);
    long ms = gw.cfg->header_timeout_ms;

    if (dl <= c->body_last_ms)
        ms = 0;
    else if (dl - c->body_last_ms < (uint64_t)ms)
        ms = (long)(dl - c->body_last_ms);
    timer_arm(c, ms);
}

/* conn_req.c: the parser's sink for c (on_begin, on_head, on_request). */
struct gw_http_sink gw_conn_sink(struct gw_conn *c);
/* conn_req.c: r, handed over at its head, is gone before its body ended. */
void gw_conn_body_req_gone(struct gw_conn *c, struct gw_req *r);
/* conn_req.c: queues an error response that ends the connection (see
 * conn_fail in conn.c); false when it cannot: the refused request's
 * response began (the request keeps code as its access-log error, and the
 * bytes read of it), and the caller closes the connection. */
bool gw_conn_fail_queue(struct gw_conn *c, int status, const char *code, const char *why,
                        const struct gw_req *from, const char *rest, size_t rest_len);

#endif
