/* reply.c -- a service's reply to the client's response (see reply.h). */
#include "reply.h"

#include <stdlib.h>
#include <strings.h>

#include "claim.h"
#include "digits.h"
#include "conn.h"
#include "forward.h"
#include "gw.h"
#include "headers.h"
#include "inflight.h"
#include "log.h"
#include "stats.h"
#include "stream.h"
#include "wire.h"
#include "xalloc.h"

static pc_buf reply_scratch;      /* strings of the reply being answered */
static pc_buf reply_lower;        /* its header names, lower-cased */
static struct pc_kv reply_kv[64]; /* its headers (more: the full decoder) */
static struct pc_kv *kv_out;      /* the headers passed on */
static size_t kv_cap;
static struct pc_ratelimit bad_reply_log = {.interval_ms = 10000};

/* A reply's headers as passed on, in kv_out: names lower-cased, hop-by-hop
 * and content-length dropped (gw_headers_to_client). Returns their number. */
static size_t headers_out(const struct pc_kv *hdrs, size_t n)
{
    size_t names = 0;

    for (size_t i = 0; i < n; i++) names += hdrs[i].name_len;
    pc_buf_reset(&reply_lower);
    if (!pc_buf_reserve(&reply_lower, names + 1)) pc_panic("out of memory reading a reply");
    if (n + 1 > kv_cap) {
        free(kv_out);
        kv_cap = (n + 1) * 2;
        kv_out = pc_xmalloc(kv_cap * sizeof *kv_out);
    }
    reply_lower.len = names;
    return gw_headers_to_client(hdrs, n, reply_lower.data, kv_out);
}

/* A bodiless reply to a HEAD: the content-length it gave (what a GET would
 * get, RFC 9110 8.6) when it is a number (every one it gave the same), else
 * GW_REQ_NO_LENGTH (none sent). */
static uint64_t head_length(const struct pc_kv *hdrs, size_t n)
{
    uint64_t len = GW_REQ_NO_LENGTH;

    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        if (hdrs[i].name_len != 14 || strncasecmp(hdrs[i].name, "content-length", 14) != 0)
            continue;
        if (!pc_get_u64(hdrs[i].value, hdrs[i].value_len, &v) ||
            (len != GW_REQ_NO_LENGTH && v != len))
            return GW_REQ_NO_LENGTH; /* not a number, or two that disagree */
        len = v;
    }
    return len;
}

/* Answers r with a reply's status, headers (headers_out) and body; or, for
 * a stream message (stream true), hands them to stream.c. */
static void respond_with(struct gw_req *r, int status, const struct pc_kv *hdrs, size_t n,
                         const void *body, size_t body_len, struct evbuffer *ebody, bool stream,
                         long long seq, bool more)
{
    size_t k = headers_out(hdrs, n);
    uint64_t len;

    if (!stream && !r->job && r->is_head && status != 204 && status != 304 && body_len == 0 &&
        ebody == NULL) {
        /* no body: the length a GET gets when the reply gave it, else none
         * (RFC 9110 8.6: a HEAD's content-length must be the GET's) */
        len = head_length(hdrs, n);
        gw_req_stream_head(r, status, kv_out, k, len);
        gw_req_stream_end(r);
        return;
    }
    if (stream)
        gw_stream_on_message(r, seq, more, status, kv_out, k, body, body_len);
    else if (ebody != NULL)
        gw_req_respond_evbuffer(r, status, kv_out, k, ebody);
    else
        gw_req_respond(r, status, NULL, kv_out, k, body, body_len);
}

/* 502 for a reply that was matched but cannot be used. */
static void bad_reply(struct gw_req *r, const char *why, const char *detail)
{
    gw_stats->bad_replies++;
    if (pc_ratelimit_allow(&bad_reply_log, gw_now_mono_ms()))
        pc_log(PC_LOG_WARN, "reply", "invalid reply for %s (%s): %s", r->id, why, detail);
    gw_req_error(r, 502, "bad_reply", "the service sent an invalid reply");
}

/* A reply body larger than --max-reply-bytes: 502 (true), nothing done (false). */
static bool reply_too_large(struct gw_req *r, size_t body_len)
{
    if (body_len <= (size_t)gw.cfg->max_reply_bytes) return false;
    bad_reply(r, "reply_too_large", "body over --max-reply-bytes");
    return true;
}

/* The end of a reply body read from Redis (claim.c). */
static void on_claimed(struct gw_req *r, int status, const struct pc_kv *hdrs, size_t n,
                       struct evbuffer *body, const char *why)
{
    bool gone = r->conn != NULL && gw_conn_is_closed(r->conn);
    gw_forward_finish(r, GW_TRY_ABANDONED);
    if (gone) return; /* released with its connection */
    if (body == NULL)
        bad_reply(r, why, "the body could not be read from Redis");
    else
        respond_with(r, status, hdrs, n, NULL, 0, body, false, 0, false);
}

/* The head of a reply whose body streams from Redis (claim.c). */
static bool on_claim_head(struct gw_req *r, int status, const struct pc_kv *hdrs, size_t n,
                          size_t len)
{
    bool gone = r->conn != NULL && gw_conn_is_closed(r->conn);
    gw_forward_finish(r, GW_TRY_ABANDONED);
    if (gone) return false; /* released with its connection */
    size_t k = headers_out(hdrs, n);
    gw_req_stream_head(r, status, kv_out, k, len);
    return true;
}

/* The request a reply answers, or NULL (counted late, or for a stream
 * message dropped) when there is none any more, or its client has gone: a
 * connection closed but not yet freed (that happens later in the loop
 * iteration) must not take the reply; a stream then tells the service. */
static struct gw_req *reply_match(const char *id, size_t id_len, bool stream)
{
    struct gw_req *r = gw_inflight_find(id, id_len);

    if (r != NULL && r->claim_reading) r = NULL; /* answered already: a duplicate */
    if (r != NULL && r->conn != NULL && gw_conn_is_closed(r->conn)) {
        if (stream || r->stream != NULL)
            gw_stream_client_gone(r); /* cancel published once */
        else
            gw_forward_finish(r, GW_TRY_ABANDONED); /* released with its connection */
        r = NULL;
    }
    if (r == NULL) {
        if (stream)
            gw_stream_unknown(id, id_len);
        else
            gw_stats->late_replies++;
    }
    return r;
}

/* The common case: a well-formed reply read without a tree. Returns false,
 * having done nothing, when the full decoder must judge the message. */
static bool on_reply_lean(const char *msg, size_t len)
{
    struct pc_reply_view v;
    struct gw_req *r;

    if (!pc_wire_decode_reply_lean(&v, msg, len, &reply_scratch, reply_kv,
                                   sizeof reply_kv / sizeof reply_kv[0]))
        return false;
    r = reply_match(v.id, v.id_len, v.seq > 0 || v.more);
    if (r == NULL) return true;
    if (v.seq > 0 || v.more || r->stream != NULL) { /* a plain reply to a stream: a bad seq */
        respond_with(r, v.status, v.headers, v.nheaders, v.body, v.body_len, NULL, true, v.seq,
                     v.more);
        return true;
    }
    gw_forward_finish(r, GW_TRY_REPLIED);
    gw_forward_envelope_done(r);
    if (!reply_too_large(r, v.body_len))
        respond_with(r, v.status, v.headers, v.nheaders, v.body, v.body_len, NULL, false, 0, false);
    return true;
}

void gw_reply_on_message(const char *msg, size_t len)
{
    struct pc_reply_in rep;
    struct pc_wire_err err;
    struct gw_req *r;
    bool stream;
    int rc;

    if (on_reply_lean(msg, len)) return;
    rc = pc_wire_decode_reply(&rep, msg, len, &err);
    if (rc == -1) {
        gw_stats->bad_replies++;
        if (pc_ratelimit_allow(&bad_reply_log, gw_now_mono_ms()))
            pc_log(PC_LOG_WARN, "reply", "unmatchable reply dropped (%s): %s", err.reason,
                   err.message);
        goto out;
    }
    r = reply_match(rep.id, rep.id_len, rep.seq > 0 || rep.more);
    if (r == NULL) {
        if (rc == 0 && rep.body_ref) gw_claim_discard(rep.id, rep.id_len, rep.body_ref);
        goto out;
    }
    if (r->stream != NULL && (rc != 0 || rep.body_ref)) { /* invalid, or a plain reply */
        if (rc == 0) gw_claim_discard(rep.id, rep.id_len, rep.body_ref);
        gw_stream_abort(r, rc != 0 ? GW_STREAM_BAD_MESSAGE : GW_STREAM_BAD_SEQ);
        goto out;
    }
    stream = rc == 0 && (rep.seq > 0 || rep.more || r->stream != NULL);
    if (stream) {
        /* stream.c ends the try (first message) or finds it over */
    } else if (rc == 0 && rep.body_ref) { /* the try is over; r waits for its body in flight */
        gw_forward_try_answered(r);
        r->claim_reading = true;
    } else {
        /* even an invalid reply shows the instance is alive */
        gw_forward_finish(r, GW_TRY_REPLIED);
        gw_forward_envelope_done(r);
    }
    if (rc == -2) {
        if (json_object_get(rep.root, "body_ref")) gw_claim_discard(rep.id, rep.id_len, NULL);
        bad_reply(r, err.reason, err.message);
        goto out;
    }
    if (!stream && !rep.body_ref && reply_too_large(r, rep.body_len)) goto out;
    {
        size_t n = rep.headers ? json_array_size(rep.headers) : 0;
        struct pc_kv *hdrs = n ? pc_xmalloc(n * sizeof *hdrs) : NULL;
        for (size_t i = 0; i < n; i++) {
            json_t *pair = json_array_get(rep.headers, i);
            hdrs[i] = (struct pc_kv){json_string_value(json_array_get(pair, 0)),
                                     json_string_length(json_array_get(pair, 0)),
                                     json_string_value(json_array_get(pair, 1)),
                                     json_string_length(json_array_get(pair, 1))};
        }
        if (rep.body_ref)
            gw_claim_fetch(r, rep.status, hdrs, n, rep.body_ref, rep.body_len);
        else
            respond_with(r, rep.status, hdrs, n, rep.body, rep.body_len, NULL, stream, rep.seq,
                         rep.more);
        free(hdrs);
    }
out:
    pc_wire_reply_in_deinit(&rep);
}


void gw_reply_init(void)
{
    gw_claim_init(on_claimed, on_claim_head);
    gw_stream_init();
    pc_buf_init(&reply_scratch);
    pc_buf_init(&reply_lower);
}

void gw_reply_deinit(void)
{
    free(kv_out);
    kv_out = NULL;
    kv_cap = 0;
    pc_buf_deinit(&reply_scratch);
    pc_buf_deinit(&reply_lower);
    gw_stream_deinit();
}
