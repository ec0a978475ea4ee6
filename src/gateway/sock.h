/* sock.h -- a client connection's byte stream: a plain socket, or TLS over it.
 *
 *   socket --read()/SSL_read--> one buffer shared by the loop --> h->data
 *   owner's evbuffer --writev/SSL_write--> socket (from the flush event, or
 *                                          the write event once the socket was full)
 *
 * Plain: a read is one read() into the shared buffer; the output is written
 * with one writev (evbuffer_write) later in the loop iteration it was queued
 * in (the flush event), and the write event is armed only while the socket
 * is full. TLS (tls.h owns every OpenSSL call) keeps the same shape: the
 * handshake runs first on the same two events, then records are read into
 * the same buffer and the output is written as records.
 *
 * The owner (conn.c) is called back through struct gw_sock_handlers; after
 * gw_sock_stop nothing is called back any more. */
#ifndef GW_SOCK_H
#define GW_SOCK_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stddef.h>

struct evbuffer;
struct gw_tls;

/* The longest preamble: a PROXY v2 header (16 + 4096 bytes). */
#define GW_SOCK_PREAMBLE_MAX (16 + 4096)

struct gw_sock_handlers {
    /* n > 0 bytes arrived; buf is reused after the call. */
    void (*data)(void *ctx, const char *buf, size_t n);
    /* The socket took what it could of the output (the rest waits). */
    void (*sent)(void *ctx);
    /* End of input, a socket error, a write timeout or a failed TLS
     * handshake (counted by tls.c): the owner closes. */
    void (*lost)(void *ctx);
    /* TLS: the client sent plain HTTP (counted). The stream is plain from
     * now on, so the owner can answer 400 and close. */
    void (*plain_http)(void *ctx);
    /* With gw_sock_expect_preamble: the first bytes of the stream, read raw
     * (before TLS), so far p[0..n). Returns the preamble's length once it is
     * complete (the bytes after it are the stream's), 0 while every byte is
     * still part of it, -1 to refuse (the owner closes). */
    long (*preamble)(void *ctx, const unsigned char *p, size_t n);
};

struct gw_sock {
    evutil_socket_t fd;
    struct gw_tls *tls;   /* NULL: plain */
    struct evbuffer *out; /* the owner's output */
    const struct gw_sock_handlers *h;
    void *ctx;
    const char *peer;       /* the client's address, for logs */
    struct event rd, wr;    /* persistent; wr armed only while the socket is full */
    struct event flush;     /* writes out, later in this loop iteration */
    bool reading;           /* the owner wants input */
    bool stopped;           /* gw_sock_stop: no more events, no more calls back */
    bool discard;           /* after gw_sock_shutdown_write: input read raw and dropped */
    bool secure;            /* accepted on the TLS listener (stays true) */
    bool rd_wants_wr;       /* TLS: a read waits for the socket to be writable */
    bool wr_wants_rd;       /* TLS: a write waits for the socket to be readable */
    bool preamble;          /* the stream starts with a preamble (a PROXY header) */
    unsigned short pre_len; /* preamble bytes consumed so far... */
    unsigned char *pre;     /* ...kept here (GW_SOCK_PREAMBLE_MAX; only while expected) */
};

/* tls: make a TLS server stream (tls.h). Does not start reading. */
void gw_sock_init(struct gw_sock *s, evutil_socket_t fd, bool tls, struct evbuffer *out,
                  const struct gw_sock_handlers *h, void *ctx, const char *peer);
/* The stream starts with a preamble (h->preamble decides its length): it is
 * read from the socket raw and never past its end, so that on a TLS port
 * the handshake's bytes stay in the socket for OpenSSL. */
void gw_sock_expect_preamble(struct gw_sock *s);
/* Whether the owner wants input (reading pauses with pipelining limits). */
void gw_sock_reading(struct gw_sock *s, bool on);
/* Output was queued: write it later in this loop iteration (once). */
void gw_sock_send_soon(struct gw_sock *s);
/* Bytes this many or more in the output of a plain socket are worth a
 * write of their own now, not at the end of the iteration: large bodies
 * leaving many connections in one iteration are not all held at once. */
#define GW_SOCK_WRITE_EARLY (16 * 1024)
/* With GW_SOCK_WRITE_EARLY bytes or more queued on a plain socket, writes
 * what the socket takes now. Never calls back: what it could not write,
 * and any error, are the flush's (gw_sock_send_soon), which must follow. */
void gw_sock_write_early(struct gw_sock *s);
/* A TLS handshake still running when the connection's time is up: counted
 * as failed (timeout); returns true and the owner closes. False otherwise. */
bool gw_sock_handshake_expired(struct gw_sock *s);
/* Everything written: end the write side (TLS: close_notify first), then
 * read and discard input until the owner closes. */
void gw_sock_shutdown_write(struct gw_sock *s);
/* No more events and no more calls back (the owner is closing). */
void gw_sock_stop(struct gw_sock *s);
/* Stops, ends TLS (close_notify when the session is healthy) and closes
 * the socket. */
void gw_sock_close(struct gw_sock *s);

#endif
