/* accesslog.c -- the access log's buffer and writer (see accesslog.h). */
#include "accesslog.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accesslog_fmt.h"
#include "config.h"
#include "gw.h"
#include "log.h"
#include "stats.h"
#include "xalloc.h"

_Static_assert(GW_ALOG_LINE_MAX <= PIPE_BUF, "a line must fit one atomic pipe write");

enum dest_kind {
    DEST_FILE,   /* a regular file: one O_APPEND write of every line of a batch */
    DEST_STREAM, /* pipe, tty, other: whole lines, <= PIPE_BUF a write, non-blocking */
    DEST_SOCKET, /* the same with send(MSG_DONTWAIT) */
};

bool gw_accesslog_on;
static struct pc_ratelimit err_log = {.interval_ms = 10000};
static char dest_now[1024]; /* the destination in force: "off", "stdout", "stderr" or a path */
static bool started;        /* gw_accesslog_start ran: a commit switches at once */
static char path[1024];     /* the file SIGUSR1 reopens; "" for stdout / stderr */
static int fd = -1;
static bool own_fd; /* fd is ours to close */
static enum dest_kind kind;
static char *buf; /* lines waiting, buf[0..len) */
static size_t len;
static struct event *flush_ev; /* active once per loop turn with lines */
static struct event *write_ev; /* a full pipe or socket has room again */
static bool blocked;           /* waiting on write_ev */

static uint64_t lines_in(const char *p, size_t n)
{
    uint64_t k = 0;
    for (size_t i = 0; i < n; i++) k += p[i] == '\n';
    return k;
}

static void count_dropped(uint64_t n)
{
    __atomic_fetch_add(&gw_stats->access_log_dropped, n, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------------ */
/* Destinations                                                              */
/* ------------------------------------------------------------------------ */

static int std_fd(const char *dest)
{
    if (strcmp(dest, "stdout") == 0) return STDOUT_FILENO;
    if (strcmp(dest, "stderr") == 0) return STDERR_FILENO;
    return -1;
}

static int open_path(const char *p)
{
    return open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

static bool is_off(const char *dest) { return dest[0] == '\0' || strcmp(dest, "off") == 0; }

/* Opens dest ("stdout", "stderr" or a path, for append, created 0644):
 * 0 with *f and whether it is ours to close, or -1 with one line in err. */
static int dest_open(const char *dest, int *f, bool *own, char *err, size_t errlen)
{
    *own = false;
    if ((*f = std_fd(dest)) >= 0) return 0;
    if ((*f = open_path(dest)) < 0) {
        snprintf(err, errlen, "--access-log %.300s: %s", dest, strerror(errno));
        return -1;
    }
    *own = true;
    return 0;
}

/* Takes f (a file, pipe, tty or socket) as the destination. A pipe or tty
 * gets a non-blocking file description of its own (stdout's flags are
 * shared with whoever else holds it); without /proc, f made non-blocking. */
static void take_fd(int f, bool own)
{
    struct stat st;

    fd = f;
    own_fd = own;
    kind = DEST_STREAM;
    if (fstat(f, &st) == 0 && S_ISREG(st.st_mode)) {
        kind = DEST_FILE;
    } else if (fstat(f, &st) == 0 && S_ISSOCK(st.st_mode)) {
        kind = DEST_SOCKET;
    } else {
        char p[64];
        int nf = -1;
        if (!own) {
            snprintf(p, sizeof p, "/proc/self/fd/%d", f);
            nf = open(p, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        }
        if (nf >= 0) {
            fd = nf;
            own_fd = true;
        } else {
            fcntl(f, F_SETFL, fcntl(f, F_GETFL) | O_NONBLOCK);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Writing                                                                   */
/* ------------------------------------------------------------------------ */

/* Writes the buffered lines (see accesslog.h): one write for a file, whole
 * lines of at most PIPE_BUF a write for a pipe or socket; what a full pipe
 * does not take stays for its write event. Lines a write error loses are
 * counted as dropped. */
static void flush(void)
{
    size_t off = 0;

    while (off < len && !blocked) {
        size_t chunk = len - off;
        ssize_t w;

        if (kind != DEST_FILE && chunk > GW_ALOG_LINE_MAX) {
            const char *nl = memrchr(buf + off, '\n', GW_ALOG_LINE_MAX);
            chunk = (size_t)(nl - (buf + off)) + 1;
        }
        if (kind == DEST_SOCKET)
            w = send(fd, buf + off, chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
        else
            w = write(fd, buf + off, chunk);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && kind != DEST_FILE) {
            blocked = true;
            event_add(write_ev, NULL);
            break;
        }
        if (w <= 0) { /* EPIPE, ENOSPC...: these lines are lost, counted */
            if (pc_ratelimit_allow(&err_log, gw_now_mono_ms()))
                pc_log(PC_LOG_WARN, "accesslog", "write: %s; lines dropped",
                       w < 0 ? strerror(errno) : "nothing written");
            count_dropped(lines_in(buf + off, len - off));
            off = len;
            break;
        }
        off += (size_t)w;
    }
    if (off > 0) {
        memmove(buf, buf + off, len - off);
        len -= off;
    }
}

/* Once per loop turn in which lines were logged (made active by the first). */
static void on_flush(evutil_socket_t f, short what, void *arg)
{
    (void)f;
    (void)what;
    (void)arg;
    flush();
}

static void on_writable(evutil_socket_t f, short what, void *arg)
{
    (void)f;
    (void)what;
    (void)arg;
    blocked = false;
    flush();
}

/* ------------------------------------------------------------------------ */
/* Switching destinations                                                    */
/* ------------------------------------------------------------------------ */

/* Takes f as the destination (the buffer and the flush event made the
 * first time) and turns the log on. */
static void dest_take(int f, bool own)
{
    take_fd(f, own);
    if (buf == NULL) {
        buf = pc_xmalloc(GW_ALOG_BUFFER);
        len = 0;
        flush_ev = event_new(gw.base, -1, 0, on_flush, NULL);
        pc_check(flush_ev != NULL);
    }
    blocked = false;
    write_ev = event_new(gw.base, fd, EV_WRITE, on_writable, NULL);
    pc_check(write_ev != NULL);
    gw_accesslog_on = true;
}

/* Lets the destination go: what is buffered is written to it first (what a
 * full pipe does not take now is dropped and counted), then it is closed.
 * Returns the lines dropped. */
static uint64_t dest_release(void)
{
    uint64_t lost;

    blocked = false;
    flush();
    lost = lines_in(buf, len);
    count_dropped(lost);
    len = 0;
    event_free(write_ev);
    write_ev = NULL;
    if (own_fd) close(fd);
    fd = -1;
    return lost;
}

/* The log off: the buffer and its event freed (after dest_release). */
static void log_off(void)
{
    event_free(flush_ev);
    flush_ev = NULL;
    free(buf);
    buf = NULL;
    gw_accesslog_on = false;
}

int gw_accesslog_start(const char *dest, char *err, size_t errlen)
{
    int f;
    bool own;

    started = true;
    if (is_off(dest)) return 0;
    if (dest_open(dest, &f, &own, err, errlen) != 0) return -1;
    snprintf(path, sizeof path, "%s", own ? dest : "");
    dest_take(f, own);
    return 0;
}

void gw_accesslog_reopen(void)
{
    int f;

    if (!gw_accesslog_on || path[0] == '\0') return;
    f = open_path(path);
    if (f < 0) {
        pc_log(PC_LOG_WARN, "accesslog", "reopen %s: %s; still writing the old file", path,
               strerror(errno));
        return;
    }
    /* what was logged before the signal goes to the old file, all of it */
    if (dest_release() > 0 && pc_ratelimit_allow(&err_log, gw_now_mono_ms()))
        pc_log(PC_LOG_WARN, "accesslog", "reopen: the old file did not take every line");
    dest_take(f, true);
    pc_log(PC_LOG_INFO, "accesslog", "reopened %s", path);
}

void gw_accesslog_stop(void)
{
    if (!gw_accesslog_on) return;
    dest_release(); /* a full pipe: what it does not take now is dropped, counted */
    log_off();
}

/* A destination opened by a reload's prepare, not in use yet. */
struct staged_dest {
    char dest[sizeof dest_now];
    int fd; /* -1 for "off" */
    bool own;
};

int gw_accesslog_prepare(const struct gw_config *next, void **staged, char *err, size_t errlen)
{
    struct staged_dest *d;
    const char *dest = is_off(next->access_log) ? "off" : next->access_log;

    *staged = NULL;
    if (dest_now[0] != '\0' && strcmp(dest, dest_now) == 0) return 0; /* unchanged: kept open */
    d = pc_xcalloc(1, sizeof *d);
    snprintf(d->dest, sizeof d->dest, "%s", dest);
    d->fd = -1;
    if (!is_off(dest) && dest_open(dest, &d->fd, &d->own, err, errlen) != 0) {
        free(d);
        return -1;
    }
    *staged = d;
    return 0;
}

void gw_accesslog_commit(void *staged, struct gw_config *cfg)
{
    struct staged_dest *d = staged;

    (void)cfg;
    if (d == NULL) return;
    memcpy(dest_now, d->dest, sizeof dest_now);
    if (!started) { /* start-up: checked; each process opens its own in gw_accesslog_start */
        gw_accesslog_discard(d);
        return;
    }
    /* what was logged before the reload goes to the old destination */
    if (gw_accesslog_on && dest_release() > 0 && pc_ratelimit_allow(&err_log, gw_now_mono_ms()))
        pc_log(PC_LOG_WARN, "accesslog", "reload: the old destination did not take every line");
    if (d->fd < 0) {
        if (gw_accesslog_on) log_off();
    } else {
        snprintf(path, sizeof path, "%s", d->own ? d->dest : "");
        dest_take(d->fd, d->own);
    }
    pc_log(PC_LOG_INFO, "accesslog", "destination: %s", d->dest);
    free(d);
}

void gw_accesslog_discard(void *staged)
{
    struct staged_dest *d = staged;

    if (d == NULL) return;
    if (d->own) close(d->fd);
    free(d);
}

/* ------------------------------------------------------------------------ */
/* Lines                                                                     */
/* ------------------------------------------------------------------------ */

static struct gw_alog_str str(const char *s) { return (struct gw_alog_str){s, strlen(s)}; }

/* The first header named lname (lower-case), read from the request's
 * fields (inline accessors: accesslog.c stays below req.c). */
static struct gw_alog_str header(const struct gw_req *r, const char *lname, size_t ln)
{
    for (uint32_t i = 0; i < r->nhdrs; i++)
        if (r->hdrs[i].name_len == ln && memcmp(gw_req_hdr_name(r, i), lname, ln) == 0)
            return (struct gw_alog_str){gw_req_hdr_value(r, i), r->hdrs[i].value_len};
    return (struct gw_alog_str){NULL, 0};
}

/* The client's trace-id, when the request has one (forwarded: the trace
 * the gateway sent on; else a valid client traceparent's). */
static struct gw_alog_str trace_id_of(struct gw_req *r)
{
    if (r->trace.state == 0) {
        const char *tp = NULL;
        size_t n = 0;
        unsigned count = 0;
        for (uint32_t i = 0; i < r->nhdrs; i++) {
            if (r->hdrs[i].name_len != 11 || memcmp(gw_req_hdr_name(r, i), "traceparent", 11))
                continue;
            if (count++ == 0) {
                tp = gw_req_hdr_value(r, i);
                n = r->hdrs[i].value_len;
            }
        }
        gw_trace_look(&r->trace, tp, n, count);
    }
    return r->trace.state == 2 ? (struct gw_alog_str){r->trace.trace_id, 32}
                               : (struct gw_alog_str){NULL, 0};
}

void gw_accesslog_response(struct gw_req *r, uint64_t bytes_out, uint64_t body_out)
{
    struct gw_alog_rec rec;
    const char *target = r->head.data;
    bool combined = gw.cfg->access_log_combined;

    if (r->logged) return; /* one line per request (a stream cut short by its client) */
    r->logged = true;
    if (GW_ALOG_BUFFER - len < GW_ALOG_LINE_MAX) {
        count_dropped(1);
        return;
    }
    memset(&rec, 0, sizeof rec);
    rec.ts_ms = gw_now_unix_ms();
    rec.request_id = str(r->request_id);
    rec.remote_addr = str(r->remote_addr);
    if (strcmp(r->method, "-") != 0) rec.method = str(r->method);
    if (target != NULL) {
        rec.path = (struct gw_alog_str){target, r->path_len};
        if (r->path_len < r->target_len)
            rec.query =
                (struct gw_alog_str){target + r->path_len + 1, r->target_len - r->path_len - 1};
    }
    rec.status = r->status;
    rec.http_minor = r->http_minor;
    rec.bytes_in = r->bytes_in;
    rec.bytes_out = bytes_out;
    rec.body_out = body_out;
    rec.duration_ms = gw_now_mono_ms() - r->start_ms;
    rec.route = str(r->log_route);
    rec.service = str(r->log_service);
    rec.instance = str(r->log_instance);
    rec.upstream_ms = r->upstream_known ? (int64_t)r->upstream_ms : -1;
    if (r->error != NULL) rec.error = str(r->error);
    rec.trace_id = trace_id_of(r);
    rec.tls = r->https;
    rec.user = str(r->auth_subject[0] ? r->auth_subject : r->auth_key_id);
    if (combined) {
        rec.referer = header(r, "referer", 7);
        rec.user_agent = header(r, "user-agent", 10);
    }
    if (len == 0 && !blocked) event_active(flush_ev, EV_TIMEOUT, 0); /* the turn's first line */
    len +=
        combined ? gw_alog_format_combined(buf + len, &rec) : gw_alog_format_json(buf + len, &rec);
}

/* s copied into dst[0..cap), cut to fit, NUL-terminated (no printf per request). */
static void copy_cut(char *dst, size_t cap, const char *s)
{
    size_t n = strnlen(s, cap - 1);
    memcpy(dst, s, n);
    dst[n] = '\0';
}

void gw_accesslog_note_route(struct gw_req *r, const char *pattern, const char *service)
{
    if (!gw_accesslog_on) return;
    copy_cut(r->log_route, sizeof r->log_route, pattern);
    copy_cut(r->log_service, sizeof r->log_service, service);
}

void gw_accesslog_note_instance(struct gw_req *r, const char *instance)
{
    if (!gw_accesslog_on) return;
    copy_cut(r->log_instance, sizeof r->log_instance, instance);
}

void gw_accesslog_raw_request_line(struct gw_req *r, const char *p, size_t n)
{
    size_t m = 0, t, end;

    while (m < n && m < sizeof r->method - 1 && p[m] >= 'A' && p[m] <= 'Z') m++;
    if (m == 0 || m >= n || p[m] != ' ') return;
    for (t = m + 1, end = t; end < n && end - t < 8192; end++)
        if (p[end] == ' ' || p[end] == '\r' || p[end] == '\n') break;
    if (end == t) return;
    memcpy(r->method, p, m);
    r->method[m] = '\0';
    pc_buf_reset(&r->head);
    pc_buf_append(&r->head, p + t, end - t);
    r->target_len = (uint32_t)(end - t);
    for (r->path_len = 0; r->path_len < r->target_len && p[t + r->path_len] != '?';) r->path_len++;
}
