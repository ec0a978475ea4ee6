/* stream.c -- streamed replies (portico_stream_*) and the gateway's cancel
 * (docs/protocol.md 4.3).
 *
 * The first message is a reply with "more":true; each write is a
 * continuation {"seq":N,"more":true,"body"}, N = 1, 2, ...; the end is one
 * with "more":false. Every message is in the request's wire version (a v2
 * request gets v2 heads with the raw bytes after them), as any reply. Messages go out on the service's command connection in
 * order, so the gateway sees them in seq order. Once begun, the request's
 * deadline timer is stopped (the gateway's idle timeout applies) and the
 * request stays pending (a stop waits for it) until the end, a cancel, or a
 * lost bus. A stop keeps the instance's channel while streams are open, so
 * that their cancels still arrive, and ends those still open after
 * PORTICO_STOP_STREAM_MS as a cancel would (pt_streams_cut). */
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "resp.h"
#include "uuid.h"

#include "internal.h"

/* The stream is over (ended, cancelled, or the bus lost): the request is done. */
static void stream_over(portico_request *req)
{
    if (req->streaming && req->svc != NULL) req->svc->streams_open--;
    req->streaming = false;
    req->replied = true;
    pt_request_done(req); /* may free req */
}

/* Writes one stream message into the service's envelope buffer and
 * publishes it. */
static int stream_publish(portico_request *req, long long seq, const void *data, size_t len,
                          bool more)
{
    pc_buf *b = &req->svc->reply_env;
    int rc;

    pc_buf_reset(b);
    pc_resp_publish_open(b);
    pc_wire_encode_stream(b, req->in.wire, req->in.id, seq, data, len, more);
    pc_resp_publish_close(b);
    rc = pt_reply_publish(req, b);
    pc_buf_trim(b, PT_BUF_KEEP);
    return rc;
}

PORTICO_API int portico_stream_begin(portico_request *req, int status, const char *const *headers)
{
    struct pc_kv kv[PT_REPLY_MAX_HEADERS];
    size_t nh = 0;
    pc_buf *b;
    int rc;

    if (req == NULL) return PORTICO_ERR_INVALID;
    if (req->replied || req->streaming) return PORTICO_ERR_REPLIED;
    if (status < 200 || status > 599 || pt_reply_headers(headers, kv, &nh) != 0)
        return PORTICO_ERR_INVALID;
    if (req->svc == NULL || req->svc->streams_cut) return PORTICO_ERR_STATE;
    if (req->cancelled) return PORTICO_ERR_CANCELLED;
    if (req->expired || pc_unix_ms() > req->in.deadline_ms) {
        req->expired = true;
        pt_request_done(req);
        return PORTICO_ERR_DEADLINE;
    }
    b = &req->svc->reply_env;
    pc_buf_reset(b);
    pc_resp_publish_open(b);
    pc_wire_encode_reply_more(b, req->in.wire, req->in.id, status, kv, nh, NULL, 0);
    pc_resp_publish_close(b);
    rc = pt_reply_publish(req, b);
    pc_buf_trim(b, PT_BUF_KEEP);
    if (rc == PORTICO_ERR_NOMEM) return rc;
    if (rc != 0) { /* the gateway answers 503 */
        stream_over(req);
        return rc;
    }
    req->streaming = true;
    req->svc->streams_open++;
    req->seq = 1;
    if (req->deadline_ev != NULL) event_del(req->deadline_ev); /* the idle timeout applies */
    return 0;
}

/* A write (more true) or the end (more false). */
static int stream_next(portico_request *req, const void *data, size_t len, bool more)
{
    int rc;

    if (req == NULL || (data == NULL && len > 0)) return PORTICO_ERR_INVALID;
    if (req->cancelled) return PORTICO_ERR_CANCELLED;
    if (req->replied) return PORTICO_ERR_REPLIED;
    if (!req->streaming) return PORTICO_ERR_STATE;
    if (req->svc == NULL) return PORTICO_ERR_STATE;
    if (more && len == 0) return 0;
    rc = stream_publish(req, req->seq, data, len, more);
    if (rc == PORTICO_ERR_NOMEM) return rc;
    req->seq++;
    if (rc != 0 || !more) stream_over(req); /* Redis lost: the gateway ended it */
    return rc;
}

PORTICO_API int portico_stream_write(portico_request *req, const void *data, size_t len)
{
    return stream_next(req, data, len, true);
}

PORTICO_API int portico_stream_end(portico_request *req)
{
    return stream_next(req, NULL, 0, false);
}

PORTICO_API bool portico_request_cancelled(const portico_request *req)
{
    return req != NULL && req->cancelled;
}

PORTICO_API void portico_request_on_cancel(portico_request *req, portico_cancel_fn *fn, void *ud)
{
    if (req == NULL) return;
    req->cancel_fn = fn;
    req->cancel_ud = ud;
}

/* Ends req as the gateway's cancel does: the flag, the cancel callback
 * (once), and a stream is over. Nothing is published. */
static void req_cancel(portico_request *req)
{
    portico_service *svc = req->svc;

    req->cancelled = true;
    portico_request_ref(req);
    if (req->cancel_fn != NULL) {
        pt_svc_enter(svc);
        req->cancel_fn(req, req->cancel_ud);
        pt_svc_leave(svc);
    }
    if (req->streaming) stream_over(req);
    portico_request_unref(req);
}

/* See internal.h. */
bool pt_request_cancel(portico_service *svc, const char *msg, size_t len)
{
    char id[PC_UUID_LEN + 1];
    portico_request *req;

    if (!pc_wire_decode_cancel(msg, len, id)) return false;
    for (req = svc->reqs; req != NULL; req = req->next)
        if (strcmp(req->in.id, id) == 0) break;
    if (req == NULL || req->cancelled) return true; /* done already, or told twice */
    pt_log(svc, PORTICO_LOG_DEBUG, "request %s %s (%s) cancelled by the gateway", req->in.method,
           req->in.path, req->in.id);
    req_cancel(req);
    return true;
}

/* See internal.h. A callback may end or free any request: the list is
 * walked again from its head after each one. */
void pt_streams_cut(portico_service *svc)
{
    portico_request *req;

    svc->streams_cut = true;
    for (;;) {
        for (req = svc->reqs; req != NULL && !req->streaming; req = req->next) {}
        if (req == NULL) return;
        pt_log(svc, PORTICO_LOG_DEBUG, "stream %s %s (%s) ended by the stop", req->in.method,
               req->in.path, req->in.id);
        req_cancel(req);
    }
}
