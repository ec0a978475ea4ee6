/* sock.c -- a client connection's byte stream (see sock.h for the picture).
 *
 * Socket I/O is done here rather than with a bufferevent, for syscalls (the
 * gateway's largest cost per request after its own code; strace -c):
 * bufferevent asks FIONREAD before every read, and arms and disarms the
 * write event (two epoll_ctl) for every response. Here a read is one
 * read() into a shared buffer, parsed in place by the owner; responses are
 * written with one writev from the same loop iteration (the flush event,
 * activated when output is queued, runs after the callbacks already due, so
 * pipelined responses leave together), and the write event is armed only
 * when the socket is full.
 *
 * TLS runs on the same two events: the handshake first (SSL_accept wanting
 * to read or to write), then SSL_read / SSL_write, either of which may wait
 * for the other direction (rd_wants_wr, wr_wants_rd). Bytes OpenSSL has
 * already taken from the socket do not wake epoll: after a read that leaves
 * some, and when reading resumes, the read event is activated by hand. */
#include "sock.h"

#include <errno.h>
#include <stdlib.h>
#include <event2/buffer.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gw.h"
#include "log.h"
#include "tls.h"
#include "xalloc.h"

#define SOCK_READ_MAX (64 * 1024) /* one read(); one loop, one buffer for all */
static char read_buf[SOCK_READ_MAX];

static void sock_send(struct gw_sock *s);
static void sock_tls_read(struct gw_sock *s);

static bool handshaking(const struct gw_sock *s)
{
    return s->tls != NULL && !gw_tls_established(s->tls);
}

/* The read event follows the owner's wish (or a TLS write waiting for
 * input), but not while a TLS read waits to write. */
static void rd_update(struct gw_sock *s)
{
    if ((s->reading || s->wr_wants_rd) && !s->rd_wants_wr) {
        event_add(&s->rd, NULL);
        if (s->tls != NULL && !s->discard && gw_tls_pending(s->tls))
            event_active(&s->rd, EV_READ, 1); /* already out of the socket */
    } else {
        event_del(&s->rd);
    }
}

/* The write event with the write timeout (--idle-timeout-ms), restarted
 * whenever the socket takes bytes: slow and stopped readers are dropped. */
static void wr_arm(struct gw_sock *s, bool on)
{
    struct timeval wto = {gw.cfg->idle_timeout_ms / 1000, (gw.cfg->idle_timeout_ms % 1000) * 1000};
    if (on) {
        if (!event_pending(&s->wr, EV_WRITE, NULL)) event_add(&s->wr, &wto);
    } else if (event_pending(&s->wr, EV_WRITE, NULL)) {
        event_del(&s->wr);
    }
}

/* One handshake step; on success goes on to read what may have come with it. */
static void sock_handshake(struct gw_sock *s)
{
    switch (gw_tls_handshake(s->tls, s->peer)) {
    case GW_TLS_OK:
        s->rd_wants_wr = false;
        wr_arm(s, evbuffer_get_length(s->out) > 0);
        rd_update(s);
        if (s->reading) sock_tls_read(s);
        if (!s->stopped && evbuffer_get_length(s->out) > 0) gw_sock_send_soon(s);
        return;
    case GW_TLS_WANT_READ:
        s->rd_wants_wr = false;
        wr_arm(s, false);
        rd_update(s);
        return;
    case GW_TLS_WANT_WRITE:
        s->rd_wants_wr = true;
        rd_update(s);
        wr_arm(s, true);
        return;
    case GW_TLS_PLAIN_HTTP:
        gw_tls_free(s->tls);
        s->tls = NULL; /* plain from now on: the owner answers 400 */
        s->rd_wants_wr = false;
        wr_arm(s, false);
        s->h->plain_http(s->ctx);
        return;
    case GW_TLS_FAILED:
        s->h->lost(s->ctx);
        return;
    }
}

/* Reads records into the shared buffer until the socket has no more, the
 * buffer is full, or the stream ends. */
static void sock_tls_read(struct gw_sock *s)
{
    enum gw_tls_step step = GW_TLS_OK;
    ssize_t n = gw_tls_read(s->tls, read_buf, sizeof read_buf, &step);

    if (n < 0) {
        s->h->lost(s->ctx); /* close_notify, end of stream, or an error */
        return;
    }
    if (step == GW_TLS_WANT_WRITE && !s->rd_wants_wr) {
        s->rd_wants_wr = true;
        rd_update(s);
        wr_arm(s, true);
    }
    if (n > 0) s->h->data(s->ctx, read_buf, (size_t)n);
    if (!s->stopped && s->reading && !s->rd_wants_wr && gw_tls_pending(s->tls))
        event_active(&s->rd, EV_READ, 1); /* the buffer filled up: more next turn */
}

static void pre_done(struct gw_sock *s)
{
    s->preamble = false;
    free(s->pre);
    s->pre = NULL;
    s->pre_len = 0;
}

/* The preamble, peeked and then consumed only up to its end: while the
 * owner says every byte so far is still the preamble they are consumed
 * (so a level-triggered read event does not spin on them), once it knows
 * the length exactly that much is. */
static void sock_preamble(struct gw_sock *s)
{
    ssize_t n = recv(s->fd, s->pre + s->pre_len, GW_SOCK_PREAMBLE_MAX - s->pre_len, MSG_PEEK);
    long len;
    size_t take;

    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
        s->h->lost(s->ctx); /* end of stream before the preamble, or an error */
        return;
    }
    len = s->h->preamble(s->ctx, s->pre, s->pre_len + (size_t)n);
    if (len < 0 || (len == 0 && s->pre_len + (size_t)n == GW_SOCK_PREAMBLE_MAX)) {
        if (!s->stopped) s->h->lost(s->ctx);
        return;
    }
    take = len == 0 ? (size_t)n : (size_t)len - s->pre_len;
    if (read(s->fd, s->pre + s->pre_len, take) != (ssize_t)take) { /* peeked: cannot be short */
        s->h->lost(s->ctx);
        return;
    }
    s->pre_len = (unsigned short)(s->pre_len + take);
    if (len > 0) pre_done(s); /* what follows is the stream (TLS: the handshake) */
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    struct gw_sock *s = arg;
    ssize_t n;

    if (s->preamble && !s->discard) {
        sock_preamble(s);
        return;
    }
    if (s->tls != NULL && !s->discard) {
        if (handshaking(s)) {
            sock_handshake(s);
            return;
        }
        if (s->wr_wants_rd) {
            sock_send(s); /* the write that waited for input first */
            if (s->stopped || !s->reading) return;
        }
        sock_tls_read(s);
        return;
    }
    n = read(fd, read_buf, sizeof read_buf);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
        s->h->lost(s->ctx); /* end of stream, or an error */
        return;
    }
    if (!s->discard) s->h->data(s->ctx, read_buf, (size_t)n);
}

/* Writes what the socket takes; arms the write event for the rest. */
static void sock_send(struct gw_sock *s)
{
    bool wait_rd = false;

    if (s->stopped || handshaking(s)) return;
    if (evbuffer_get_length(s->out) > 0) {
        if (s->tls == NULL) {
            if (evbuffer_write(s->out, s->fd) < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
                errno != EINTR) {
                s->h->lost(s->ctx); /* the peer is gone (EPIPE, ECONNRESET) */
                return;
            }
        } else {
            enum gw_tls_step step = gw_tls_write(s->tls, s->out);
            if (step == GW_TLS_FAILED) {
                s->h->lost(s->ctx);
                return;
            }
            wait_rd = step == GW_TLS_WANT_READ; /* e.g. a key update under way */
        }
    }
    if (wait_rd != s->wr_wants_rd) {
        s->wr_wants_rd = wait_rd;
        rd_update(s); /* input is wanted even while the owner reads nothing */
    }
    wr_arm(s, evbuffer_get_length(s->out) > 0 && !wait_rd);
    s->h->sent(s->ctx);
}

static void on_flush(evutil_socket_t fd, short what, void *arg) { sock_send(arg); }

/* Writable again, or the write timeout passed with bytes still queued. */
static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    struct gw_sock *s = arg;

    if (what & EV_TIMEOUT) {
        pc_log(PC_LOG_DEBUG, "conn", "%s: write timeout", s->peer);
        s->h->lost(s->ctx);
        return;
    }
    if (handshaking(s)) {
        sock_handshake(s);
        return;
    }
    if (s->rd_wants_wr) {
        s->rd_wants_wr = false;
        rd_update(s);
        if (s->reading) sock_tls_read(s);
        if (s->stopped) return;
    }
    sock_send(s);
}

void gw_sock_init(struct gw_sock *s, evutil_socket_t fd, bool tls, struct evbuffer *out,
                  const struct gw_sock_handlers *h, void *ctx, const char *peer)
{
    s->fd = fd;
    s->tls = tls ? gw_tls_new(fd) : NULL;
    s->secure = tls;
    s->out = out;
    s->h = h;
    s->ctx = ctx;
    s->peer = peer;
    event_assign(&s->rd, gw.base, fd, EV_READ | EV_PERSIST, on_read, s);
    event_assign(&s->wr, gw.base, fd, EV_WRITE | EV_PERSIST, on_writable, s);
    event_assign(&s->flush, gw.base, -1, 0, on_flush, s);
}

void gw_sock_expect_preamble(struct gw_sock *s)
{
    s->pre = pc_xmalloc(GW_SOCK_PREAMBLE_MAX);
    s->pre_len = 0;
    s->preamble = true;
}

void gw_sock_reading(struct gw_sock *s, bool on)
{
    if (s->tls == NULL) { /* the plain path: nothing else to consider */
        s->reading = on;
        if (on)
            event_add(&s->rd, NULL);
        else
            event_del(&s->rd);
        return;
    }
    if (s->stopped) return;
    s->reading = on;
    rd_update(s);
}

void gw_sock_send_soon(struct gw_sock *s)
{
    if (!s->stopped) event_active(&s->flush, EV_WRITE, 1);
}

void gw_sock_write_early(struct gw_sock *s)
{
    if (s->stopped || s->tls != NULL || s->discard ||
        evbuffer_get_length(s->out) < GW_SOCK_WRITE_EARLY)
        return;
    (void)evbuffer_write(s->out, s->fd); /* an error comes again to the flush */
}

bool gw_sock_handshake_expired(struct gw_sock *s)
{
    if (!handshaking(s)) return false;
    gw_tls_handshake_timeout(s->tls, s->peer);
    return true;
}

void gw_sock_shutdown_write(struct gw_sock *s)
{
    if (s->tls != NULL) gw_tls_close_notify(s->tls);
    shutdown(s->fd, SHUT_WR);
    s->discard = true;
    s->rd_wants_wr = s->wr_wants_rd = false;
    wr_arm(s, false);
}

void gw_sock_stop(struct gw_sock *s)
{
    s->stopped = true;
    event_del(&s->rd);
    event_del(&s->wr);
    event_del(&s->flush);
}

void gw_sock_close(struct gw_sock *s)
{
    gw_sock_stop(s);
    if (s->pre != NULL) pre_done(s);
    if (s->tls != NULL) {
        if (!s->discard) gw_tls_close_notify(s->tls); /* once: not again after a shutdown */
        gw_tls_free(s->tls);
        s->tls = NULL;
    }
    evutil_closesocket(s->fd);
}
