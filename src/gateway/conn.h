/* conn.h -- one client connection: the HTTP/1.1 state machine.
 *
 *   bytes in --> http parser --> requests queue --> hooks->request (the listener's)
 *                                      |                   |
 *   bytes out <-- responses, strictly in queue order <-----+
 *
 * A connection is never freed inside the callback that noticed the problem:
 * gw_conn_close() only schedules it. */
#ifndef GW_CONN_H
#define GW_CONN_H

#include <event2/util.h>
#include <stdbool.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "addrcount.h"
#include "req.h"

struct gw_conn;

enum gw_listener_kind {
    GW_LISTENER_PUBLIC, /* requests are forwarded to services */
    GW_LISTENER_ADMIN,  /* /health, /routes, /metrics */
};

#define GW_CONN_MAX_PIPELINE 64 /* requests queued per connection before reading pauses */
/* Responses waiting for a slow reader: above HIGH bytes no further request is
 * read from that client; reading resumes once the output is down to LOW. */
#define GW_CONN_OUTPUT_HIGH (1024 * 1024)
#define GW_CONN_OUTPUT_LOW (256 * 1024)
#define GW_CONN_LINGER_MS 1000 /* reading and discarding after an error response */

/* What a listener's connections do with their requests: the listener
 * (server.c) hands these over, so that this file names no handler. */
struct gw_conn_hooks {
    /* A complete request, queued on its connection: answer it with
     * gw_req_respond (now or later). */
    void (*request)(struct gw_req *r);
    /* Its connection is gone before r was answered: forget r, and hand it
     * to gw_req_release. */
    void (*cancel)(struct gw_req *r);
    /* Connections were freed (a draining gateway may now stop). */
    void (*gone)(void);
    /* Optional: r's head is complete and its body, to be streamed
     * (reqbody.h), follows. True: r is handed over now, through request;
     * its body then goes through gw_reqbody_in. */
    bool (*head)(struct gw_req *r);
};

/* hooks must outlive the connection (a static table). counted: the client
 * address the caller counted with gw_addrcount_add (released when the
 * connection is freed), or NULL. tls: the client speaks TLS (the HTTPS
 * listener); its handshake runs first, within the header timeout. */
struct gw_conn *gw_conn_new(evutil_socket_t fd, const struct sockaddr *sa,
                            enum gw_listener_kind kind, const struct gw_conn_hooks *hooks,
                            const struct gw_addrkey *counted, bool tls);
/* Schedules the connection to be freed at the next safe point (every queued
 * request is then cancelled). */
void gw_conn_close(struct gw_conn *c);
/* True once gw_conn_close was called (the client is gone or being dropped). */
bool gw_conn_is_closed(const struct gw_conn *c);
size_t gw_conn_count(enum gw_listener_kind kind);
/* Draining: every connection closes after its next response; an idle one
 * still reads a request for --drain-grace-ms (answered with connection:
 * close), then is closed (lingering, never with unread input). */
void gw_conn_drain_all(void);
/* Frees every connection now (process exit). */
void gw_conn_free_all(void);

/* Called by gw_req_respond once r->out holds a response. */
void gw_conn_on_response(struct gw_conn *c, struct gw_req *r);
/* r (streamed: not done) wrote part of its response: sent soon when r is
 * first in line (else it waits in r's own buffer, conn_flush moves it). */
void gw_conn_stream_wrote(struct gw_conn *c, struct gw_req *r);
/* r, handed over at its head, is read (on) or not (its body's consumer is
 * full); while not, its body timers stop. */
void gw_conn_body_reading(struct gw_conn *c, struct gw_req *r, bool on);
/* r, handed over at its head, waits for 100 Continue: sent now if nothing
 * is queued ahead of it and its body has not begun. */
void gw_conn_continue(struct gw_conn *c, struct gw_req *r);
/* Bytes written for the client and not yet taken by the socket. */
size_t gw_conn_output_held(const struct gw_conn *c);
/* The evbuffer a response for r should be written into: the socket's output
 * when r is first in line, else a buffer of its own. */
struct evbuffer *gw_conn_response_buffer(struct gw_conn *c, struct gw_req *r);

#endif
