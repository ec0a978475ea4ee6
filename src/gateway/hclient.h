/* hclient.h -- one connection to an HTTP upstream: its socket and bytes.
 *
 *   gw_uconn_connect --non-blocking connect, timeout--> h->connected
 *   owner appends to c->out, gw_uconn_send --write()--> socket
 *     (the socket was full and took more: h->sent, from the write event)
 *   socket --read() into a buffer shared by the loop--> h->data
 *   refused / reset / timeout / end of input --> h->failed
 *
 * Every socket call of the client side is here, as sock.c holds the
 * client connections'. The owner is the exchange using it (hforward.c), or
 * the upstream's pool while it is idle (upstream.c). */
#ifndef GW_HCLIENT_H
#define GW_HCLIENT_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "deadline.h"

struct evbuffer;
struct gw_upstream;

enum gw_uconn_fail {
    GW_UCONN_REFUSED, /* connect refused */
    GW_UCONN_RESET,   /* connection reset (or broken pipe) */
    GW_UCONN_TIMEOUT, /* connect did not complete in time */
    GW_UCONN_EOF,     /* the upstream closed its side */
    GW_UCONN_ERROR,   /* any other socket error */
};

struct gw_uconn_handlers {
    void (*connected)(void *ctx);
    /* n bytes read into buf; buf NULL: n bytes read into the buffer into gave. */
    void (*data)(void *ctx, const char *buf, size_t n);
    void (*failed)(void *ctx, enum gw_uconn_fail why);
    /* Optional: the socket took more of c->out after it was full. */
    void (*sent)(void *ctx);
    /* Optional, asked before each read: a buffer to read at most *max bytes
     * straight into (a body passed through as it is), or NULL for the
     * usual read into the shared buffer. */
    struct evbuffer *(*into)(void *ctx, size_t *max);
};

struct gw_uconn {
    TAILQ_ENTRY(gw_uconn) link; /* the upstream's idle list */
    struct gw_upstream *up;     /* referenced */
    evutil_socket_t fd;
    struct event rd, wr;      /* wr: connecting, or the socket is full */
    struct gw_deadline timer; /* connect, response or pooled-idle timeout */
    struct evbuffer *out;
    const struct gw_uconn_handlers *h;
    void *ctx;
    bool connecting;
    bool reading;
    int pending_fail; /* a write failed: 1 + enum gw_uconn_fail, reported from the loop */
    uint64_t written; /* bytes the socket took, since gw_uconn_attach */
    uint64_t idle_since_ms;
};

/* Starts a connection to up (referenced while it lives). NULL with the
 * failure in *why when it fails at once. */
struct gw_uconn *gw_uconn_connect(struct gw_upstream *up, int timeout_ms,
                                  const struct gw_uconn_handlers *h, void *ctx,
                                  enum gw_uconn_fail *why);
/* A new owner (a pooled connection taken for a request, or put back). */
void gw_uconn_attach(struct gw_uconn *c, const struct gw_uconn_handlers *h, void *ctx);
/* Writes what is in c->out (now, and when the socket has room again). */
void gw_uconn_send(struct gw_uconn *c);
/* Whether the owner wants input (backpressure toward the client). */
void gw_uconn_reading(struct gw_uconn *c, bool on);
/* Arms (ms > 0) or stops (0) the connection's one timer; on expiry the
 * owner gets failed(GW_UCONN_TIMEOUT). */
void gw_uconn_timer(struct gw_uconn *c, long ms);
/* Whether bytes wait in c's socket (a peek, no read): a response followed by
 * more than it announced leaves the connection unfit for another request. */
bool gw_uconn_has_input(const struct gw_uconn *c);
/* Closes the socket and frees c (unreferencing its upstream). */
void gw_uconn_free(struct gw_uconn *c);

#endif
