/* hclient.c -- one connection to an HTTP upstream (see hclient.h). */
#include "hclient.h"

#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "gw.h"
#include "upstream.h"
#include "xalloc.h"

#define GW_UCONN_READ_MAX (64 * 1024) /* bytes read per call: the most a paused owner gets */

/* Bytes read per call straight into a client's output: a little under 64
 * KiB, so that libevent's chain (its header included) is one 64 KiB block. */
#define GW_UCONN_INTO_MAX (64 * 1024 - 256)

static char rbuf[GW_UCONN_READ_MAX]; /* shared by every connection: parsed in place */

static enum gw_uconn_fail fail_of(int err)
{
    switch (err) {
    case ECONNREFUSED:
        return GW_UCONN_REFUSED;
    case ECONNRESET:
    case EPIPE:
    case ECONNABORTED:
        return GW_UCONN_RESET;
    case ETIMEDOUT:
        return GW_UCONN_TIMEOUT;
    default:
        return GW_UCONN_ERROR;
    }
}

static void failed(struct gw_uconn *c, enum gw_uconn_fail why)
{
    event_del(&c->rd);
    event_del(&c->wr);
    gw_deadline_clear(&c->timer);
    c->reading = false;
    c->h->failed(c->ctx, why);
}

/* Reads at most max bytes onto the end of dst: one readv into the room
 * libevent reserves there (the bytes are read once, never copied). */
static ssize_t read_into(int fd, struct evbuffer *dst, size_t max)
{
    struct evbuffer_iovec v[2];
    struct iovec iov[2];
    size_t want = max < GW_UCONN_INTO_MAX ? max : GW_UCONN_INTO_MAX, left = want;
    int nv = evbuffer_reserve_space(dst, (ev_ssize_t)want, v, 2);
    ssize_t n;

    pc_check(nv > 0);
    for (int i = 0; i < nv; i++) {
        iov[i].iov_base = v[i].iov_base;
        iov[i].iov_len = v[i].iov_len < left ? v[i].iov_len : left;
        left -= iov[i].iov_len;
    }
    n = readv(fd, iov, nv);
    if (n <= 0) return n;
    left = (size_t)n;
    for (int i = 0; i < nv; i++) {
        v[i].iov_len = iov[i].iov_len < left ? iov[i].iov_len : left;
        left -= v[i].iov_len;
    }
    pc_check(evbuffer_commit_space(dst, v, nv) == 0);
    return n;
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    struct gw_uconn *c = arg;
    struct evbuffer *dst = NULL;
    size_t max = 0;
    ssize_t n;
    (void)what;

    if (c->h->into != NULL) dst = c->h->into(c->ctx, &max);
    if (dst != NULL && max > 0) {
        n = read_into(fd, dst, max);
        if (n > 0) {
            c->h->data(c->ctx, NULL, (size_t)n);
            return;
        }
    } else {
        n = read(fd, rbuf, sizeof rbuf);
        if (n > 0) {
            c->h->data(c->ctx, rbuf, (size_t)n);
            return;
        }
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    failed(c, n == 0 ? GW_UCONN_EOF : fail_of(errno));
}

/* Writes c->out; arms the write event while the socket is full. */
static void write_out(struct gw_uconn *c)
{
    while (evbuffer_get_length(c->out) > 0) {
        int n = evbuffer_write(c->out, c->fd);
        if (n > 0) {
            c->written += (uint64_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            event_add(&c->wr, NULL);
            return;
        }
        /* Reported from the loop, never inside the owner's own call. */
        c->pending_fail = (int)(n == 0 ? GW_UCONN_RESET : fail_of(errno)) + 1;
        gw_deadline_in(&c->timer, 0); /* the next loop turn; gw_uconn_timer keeps it */
        return;
    }
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    struct gw_uconn *c = arg;
    (void)fd;
    (void)what;

    if (c->connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        if (err != 0) {
            failed(c, fail_of(err));
            return;
        }
        c->connecting = false;
        gw_deadline_clear(&c->timer);
        if (c->reading) event_add(&c->rd, NULL);
        c->h->connected(c->ctx);
        return;
    }
    write_out(c);
    if (c->pending_fail == 0 && c->h->sent != NULL) c->h->sent(c->ctx);
}

static void on_timer(void *arg)
{
    struct gw_uconn *c = arg;
    failed(c, c->pending_fail ? (enum gw_uconn_fail)(c->pending_fail - 1) : GW_UCONN_TIMEOUT);
}

struct gw_uconn *gw_uconn_connect(struct gw_upstream *up, int timeout_ms,
                                  const struct gw_uconn_handlers *h, void *ctx,
                                  enum gw_uconn_fail *why)
{
    struct gw_uconn *c;
    int fd, one = 1;

    fd = socket(up->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *why = GW_UCONN_ERROR;
        return NULL;
    }
    if (up->addr.ss_family != AF_UNIX) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (const struct sockaddr *)&up->addr, up->addrlen) != 0 && errno != EINPROGRESS) {
        *why = fail_of(errno);
        close(fd);
        return NULL;
    }
    c = pc_xcalloc(1, sizeof *c);
    c->fd = fd;
    c->up = up;
    gw_upstream_ref(up);
    c->out = evbuffer_new();
    pc_check(c->out != NULL);
    c->h = h;
    c->ctx = ctx;
    c->connecting = true;
    c->reading = true;
    event_assign(&c->rd, gw.base, fd, EV_READ | EV_PERSIST, on_read, c);
    event_assign(&c->wr, gw.base, fd, EV_WRITE, on_write, c);
    gw_deadline_init(&c->timer, on_timer, c);
    event_add(&c->wr, NULL);
    gw_uconn_timer(c, timeout_ms);
    up->connects++;
    return c;
}

void gw_uconn_attach(struct gw_uconn *c, const struct gw_uconn_handlers *h, void *ctx)
{
    c->h = h;
    c->ctx = ctx;
    c->written = 0;
    gw_deadline_clear(&c->timer);
    gw_uconn_reading(c, true);
}

void gw_uconn_send(struct gw_uconn *c)
{
    if (c->connecting) return; /* written once connected */
    write_out(c);
}

void gw_uconn_reading(struct gw_uconn *c, bool on)
{
    if (c->reading == on) return; /* the read event is as wanted (taken from the pool: kept) */
    c->reading = on;
    if (c->connecting) return;
    if (on)
        event_add(&c->rd, NULL);
    else
        event_del(&c->rd);
}

void gw_uconn_timer(struct gw_uconn *c, long ms)
{
    if (c->pending_fail != 0) return; /* reported in the next loop turn */
    if (ms <= 0)
        gw_deadline_clear(&c->timer);
    else
        gw_deadline_in(&c->timer, ms);
}

bool gw_uconn_has_input(const struct gw_uconn *c)
{
    char b;
    return recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

void gw_uconn_free(struct gw_uconn *c)
{
    if (c == NULL) return;
    event_del(&c->rd);
    event_del(&c->wr);
    gw_deadline_deinit(&c->timer);
    close(c->fd);
    evbuffer_free(c->out);
    gw_upstream_unref(c->up);
    free(c);
}
