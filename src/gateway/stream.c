/* stream.c -- streamed replies (see stream.h). */
#include "stream.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accesslog.h"
#include "bus.h"
#include "conn.h"
#include "forward.h"
#include "gw.h"
#include "log.h"
#include "registry.h"
#include "xalloc.h"

struct gw_stream {
    LIST_ENTRY(gw_stream) link; /* every stream (Redis loss ends them all) */
    struct gw_req *r;
    struct event idle;  /* --stream-idle-timeout-ms from the last message */
    long long next_seq; /* the seq the next message must carry */
    bool chunked;       /* HTTP/1.1: chunked; HTTP/1.0: close-delimited */
    char channel[];     /* the instance's channel (for cancel); "" when unknown */
};

/* Requests whose client left while they waited for their first message:
 * if that message turns out to start a stream, the service is told to stop
 * (once). The last GW_STREAM_ABANDONED_MAX are kept: a fixed table, no
 * allocation, scanned only for stream messages nobody waits for. */
#define GW_STREAM_ABANDONED_MAX 64
#define GW_STREAM_CHANNEL_MAX 256
static struct {
    char id[PC_UUID_LEN + 1]; /* "" when free */
    char channel[GW_STREAM_CHANNEL_MAX];
    int wire; /* the instance's version */
} abandoned[GW_STREAM_ABANDONED_MAX];
static unsigned abandoned_next;

static pc_buf cancel_msg; /* a cancel message, reused */
static LIST_HEAD(, gw_stream) all_streams = LIST_HEAD_INITIALIZER(all_streams);
static struct pc_ratelimit stream_log = {.interval_ms = 10000};

static const char *inst_channel(const struct gw_req *r)
{
    return r->inst != NULL ? r->inst->channel : "";
}

/* Tells the instance that request id is over, in the instance's version
 * wire (nothing when the channel is unknown or Redis is down: nobody to
 * tell, or nobody to tell it with). */
static void publish_cancel(const char *id, const char *channel, int wire)
{
    if (channel[0] == '\0') return;
    pc_buf_reset(&cancel_msg);
    pc_wire_encode_cancel(&cancel_msg, wire, id);
    if (cancel_msg.oom) pc_panic("out of memory writing a cancel message");
    (void)gw_bus_publish(gw.bus, channel, cancel_msg.data, cancel_msg.len, NULL);
}

/* Takes the stream off r (timer stopped, memory freed, cancel published
 * when asked) and r out of flight; counts how it ended. */
static void stream_free(struct gw_req *r, enum gw_stream_result why, bool cancel)
{
    struct gw_stream *s = r->stream;

    r->stream = NULL;
    LIST_REMOVE(s, link);
    if (gw_accesslog_on) /* one line per response, when it ends */
        gw_accesslog_response(r, r->stream_head_bytes + r->stream_bytes_out, r->stream_body_out);
    evtimer_del(&s->idle);
    if (cancel) publish_cancel(r->id, s->channel, r->wire);
    gw_stats->streams[why]++;
    free(s);
    gw_forward_finish(r, GW_TRY_ABANDONED);
}

/* Bytes held for r's client: the connection's output, and r's own buffer
 * while a response ahead of it is still being made. */
static size_t held(const struct gw_req *r)
{
    size_t own = r->out != NULL ? evbuffer_get_length(r->out) : 0;
    return r->conn != NULL ? gw_conn_output_held(r->conn) + own : own;
}

/* One chunk (or, close-delimited, the bytes as they are). */
static void stream_write(struct gw_req *r, const void *data, size_t len)
{
    if (len == 0 || r->conn == NULL) return;
    gw_req_stream_append(r, data, len, r->stream->chunked);
    gw_conn_stream_wrote(r->conn, r);
}

static void idle_arm(struct gw_stream *s)
{
    long ms = gw.cfg->stream_idle_timeout_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(&s->idle, &tv);
}

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
    struct gw_req *r = arg;
    (void)fd;
    (void)what;
    if (r->conn != NULL && gw_conn_is_closed(r->conn))
        gw_stream_client_gone(r);
    else
        gw_stream_abort(r, GW_STREAM_IDLE_TIMEOUT);
}

void gw_stream_abort(struct gw_req *r, enum gw_stream_result why)
{
    struct gw_conn *c = r->conn;

    if (why != GW_STREAM_BUS_DOWN && pc_ratelimit_allow(&stream_log, gw_now_mono_ms()))
        pc_log(PC_LOG_WARN, "stream", "streamed reply %s aborted: %s", r->id,
               gw_stream_result_names[why]);
    stream_free(r, why, true);
    if (c == NULL) return;
    r->close_after = true;
    r->done = true;
    if (why == GW_STREAM_TOO_SLOW || gw_conn_is_closed(c))
        gw_conn_close(c); /* what is held goes with it */
    else
        gw_conn_on_response(c, r); /* what was written goes out, then the close */
}

void gw_stream_client_gone(struct gw_req *r)
{
    if (r->stream != NULL) {
        stream_free(r, GW_STREAM_CLIENT_GONE, true);
        return;
    }
    publish_cancel(r->id, inst_channel(r), r->wire);
    gw_stats->streams[GW_STREAM_CLIENT_GONE]++;
    gw_forward_finish(r, GW_TRY_ABANDONED);
}

/* r leaves flight because its client left, before any reply. */
static void remember_abandoned(const struct gw_req *r)
{
    const char *ch = inst_channel(r);
    size_t n = strlen(ch);

    if (n == 0 || n >= GW_STREAM_CHANNEL_MAX) return;
    memcpy(abandoned[abandoned_next].id, r->id, sizeof r->id);
    memcpy(abandoned[abandoned_next].channel, ch, n + 1);
    abandoned[abandoned_next].wire = r->wire;
    abandoned_next = (abandoned_next + 1) % GW_STREAM_ABANDONED_MAX;
}

void gw_stream_cancel(struct gw_req *r)
{
    if (r->stream != NULL)
        gw_stream_client_gone(r);
    else if (r->in_flight && r->inst != NULL)
        remember_abandoned(r);
    gw_forward_cancel(r);
}

void gw_stream_on_bus_down(void)
{
    struct gw_stream *s;
    while ((s = LIST_FIRST(&all_streams)) != NULL) gw_stream_abort(s->r, GW_STREAM_BUS_DOWN);
}

void gw_stream_unknown(const char *id, size_t id_len)
{
    gw_stats->stream_dropped++;
    if (id_len != PC_UUID_LEN) return;
    for (unsigned i = 0; i < GW_STREAM_ABANDONED_MAX; i++) {
        if (memcmp(abandoned[i].id, id, PC_UUID_LEN) != 0) continue;
        publish_cancel(abandoned[i].id, abandoned[i].channel, abandoned[i].wire);
        gw_stats->streams[GW_STREAM_CLIENT_GONE]++;
        abandoned[i].id[0] = '\0'; /* once */
        return;
    }
}

/* A first message that cannot start a stream: 502, cancel published. */
static void refuse(struct gw_req *r, enum gw_stream_result why, const char *detail)
{
    if (pc_ratelimit_allow(&stream_log, gw_now_mono_ms()))
        pc_log(PC_LOG_WARN, "stream", "streamed reply %s refused: %s", r->id, detail);
    publish_cancel(r->id, inst_channel(r), r->wire);
    gw_stats->streams[why]++;
    gw_stats->bad_replies++;
    gw_forward_finish(r, GW_TRY_REPLIED);
    gw_forward_envelope_done(r);
    gw_req_error(r, 502, "bad_reply", "the service sent an invalid reply");
}

/* A HEAD asked of a streamed reply: the head a GET gets (no length;
 * chunked for HTTP/1.1), without the body. */
static void head_as_get(struct gw_req *r, int status, const struct pc_kv *headers, size_t nheaders)
{
    struct pc_kv *kv = pc_xmalloc((nheaders + 1) * sizeof *kv);
    size_t n = nheaders;

    if (nheaders > 0) memcpy(kv, headers, nheaders * sizeof *kv);
    if (r->http_minor >= 1) kv[n++] = (struct pc_kv){"transfer-encoding", 17, "chunked", 7};
    gw_req_stream_head(r, status, kv, n, GW_REQ_NO_LENGTH);
    free(kv);
    gw_req_stream_end(r);
}

/* The first message: the head goes out now. */
static void stream_start(struct gw_req *r, long long seq, int status, const struct pc_kv *headers,
                         size_t nheaders, const void *body, size_t len)
{
    const char *ch = inst_channel(r);
    size_t chlen = strlen(ch);
    struct gw_stream *s;

    if (r->job) { /* a job keeps one reply message (job.h): 502 stored */
        refuse(r, GW_STREAM_BAD_MESSAGE, "a job's reply must be one message");
        return;
    }
    if (seq != 0) {
        refuse(r, GW_STREAM_BAD_SEQ, "a continuation came before the first message");
        return;
    }
    if (len > (size_t)gw.cfg->max_reply_bytes) {
        refuse(r, GW_STREAM_BAD_MESSAGE, "body over --max-reply-bytes");
        return;
    }
    if (r->is_head || status == 204 || status == 304) { /* no body will be sent */
        publish_cancel(r->id, ch, r->wire);
        gw_stats->streams[GW_STREAM_NO_BODY]++;
        gw_forward_finish(r, GW_TRY_REPLIED);
        gw_forward_envelope_done(r);
        if (r->is_head && status != 204 && status != 304)
            head_as_get(r, status, headers, nheaders);
        else
            gw_req_respond(r, status, NULL, headers, nheaders, NULL, 0);
        return;
    }
    s = pc_xmalloc(sizeof *s + chlen + 1);
    memcpy(s->channel, ch, chlen + 1);
    s->r = r;
    LIST_INSERT_HEAD(&all_streams, s, link);
    s->next_seq = 1;
    s->chunked = r->http_minor >= 1;
    evtimer_assign(&s->idle, gw.base, on_idle, r);
    r->stream = s;
    gw_forward_stream_started(r);
    gw_req_respond_stream(r, status, headers, nheaders, s->chunked);
    stream_write(r, body, len);
    idle_arm(s);
}

void gw_stream_on_message(struct gw_req *r, long long seq, bool more, int status,
                          const struct pc_kv *headers, size_t nheaders, const void *body,
                          size_t len)
{
    struct gw_stream *s = r->stream;
    struct gw_conn *c;

    if (s == NULL) {
        stream_start(r, seq, status, headers, nheaders, body, len);
        return;
    }
    if (seq != s->next_seq) {
        gw_stream_abort(r, GW_STREAM_BAD_SEQ);
        return;
    }
    if (len > (size_t)gw.cfg->max_reply_bytes) {
        gw_stream_abort(r, GW_STREAM_BAD_MESSAGE);
        return;
    }
    /* A client that has not taken what came before: too slow. What one
     * message adds is not held against it (a message larger than the
     * bound still goes to a client that keeps up). */
    if (held(r) > GW_CONN_OUTPUT_HIGH) {
        gw_stream_abort(r, GW_STREAM_TOO_SLOW);
        return;
    }
    s->next_seq++;
    stream_write(r, body, len);
    if (more) {
        idle_arm(s);
        return;
    }
    c = r->conn;
    if (s->chunked) gw_req_stream_last_chunk(r);
    stream_free(r, GW_STREAM_COMPLETED, false);
    r->done = true;
    gw_conn_on_response(c, r); /* r may be freed */
}

void gw_stream_init(void) { pc_buf_init(&cancel_msg); }

void gw_stream_deinit(void)
{
    pc_buf_deinit(&cancel_msg);
    memset(abandoned, 0, sizeof abandoned);
}
