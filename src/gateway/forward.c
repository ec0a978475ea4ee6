/* forward.c -- the request path to services and back (see forward.h). */
#include "forward.h"

#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "bus.h"
#include "conn.h"
#include "cors.h"
#include "gw.h"
#include "http.h"
#include "log.h"
#include "ratelimit.h"
#include "registry.h"
#include "resp.h"
#include "router.h"
#include "stats.h"
#include "xalloc.h"

LIST_HEAD(inflight_bucket, gw_req);
static struct inflight_bucket *inflight; /* request id -> struct gw_req (below) */
static size_t inflight_bits, inflight_count;
#define GW_INFLIGHT_MIN_BITS 6       /* 64 buckets at first */
static struct gw_match *match;       /* one match result, reused (it is large) */
static struct pc_kv *kv_in, *kv_out; /* header scratch */
static size_t kv_cap;
static pc_buf xff;                    /* joined x-forwarded-for */
static pc_buf reply_scratch;          /* strings of the reply being answered */
static pc_buf reply_lower;            /* its header names, lower-cased */
static struct pc_kv reply_kv[64];     /* its headers (more: the full decoder) */
#define GW_FORWARD_KEEP_ENVELOPE 4096 /* bytes of envelope buffer kept for reuse */
static struct pc_ratelimit bad_reply_log = {.interval_ms = 10000};

/* ------------------------------------------------------------------------ */
/* The in-flight table                                                       */
/* ------------------------------------------------------------------------ */

/* Requests in flight by id: buckets of lists linked through the requests
 * themselves, so putting one in and taking it out allocate nothing and hash
 * nothing but eight bytes. The ids are UUIDv4 we drew from getrandom, whose
 * first eight characters are random hex digits: a multiply of them spreads
 * them evenly (no keyed hash needed, as only our own ids are ever put in; an
 * id from the network is only looked up). At most one request per bucket on
 * average: the table doubles when the count reaches the bucket count. */

static size_t inflight_slot(const char *id, size_t bits)
{
    uint64_t v;
    memcpy(&v, id, 8);
    return (size_t)((v * 0x9e3779b97f4a7c15u) >> (64 - bits));
}

static void inflight_alloc(size_t bits)
{
    struct inflight_bucket *old = inflight;
    size_t old_n = inflight ? (size_t)1 << inflight_bits : 0;
    struct gw_req *r;

    inflight = pc_xcalloc((size_t)1 << bits, sizeof *inflight); /* all empty lists */
    inflight_bits = bits;
    for (size_t i = 0; i < old_n; i++) {
        while ((r = LIST_FIRST(&old[i])) != NULL) {
            LIST_REMOVE(r, inflight_link);
            LIST_INSERT_HEAD(&inflight[inflight_slot(r->id, bits)], r, inflight_link);
        }
    }
    free(old);
}

static void inflight_add(struct gw_req *r)
{
    if (inflight_count >= (size_t)1 << inflight_bits) inflight_alloc(inflight_bits + 1);
    LIST_INSERT_HEAD(&inflight[inflight_slot(r->id, inflight_bits)], r, inflight_link);
    inflight_count++;
    r->in_flight = true;
}

static void inflight_del(struct gw_req *r)
{
    LIST_REMOVE(r, inflight_link);
    inflight_count--;
    r->in_flight = false;
}

/* The request in flight with this id, or NULL. */
static struct gw_req *inflight_find(const char *id, size_t len)
{
    struct gw_req *r;

    if (len != PC_UUID_LEN) return NULL;
    LIST_FOREACH(r, &inflight[inflight_slot(id, inflight_bits)], inflight_link)
    if (memcmp(r->id, id, PC_UUID_LEN) == 0) return r;
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* In-flight bookkeeping                                                     */
/* ------------------------------------------------------------------------ */

static void on_deadline(evutil_socket_t fd, short what, void *arg);

/* The envelope is no longer needed: keep a small one's memory for the next
 * request (the request pool reuses it), give a large one back now. */
static void envelope_done(struct gw_req *r) { pc_buf_trim(&r->envelope, GW_FORWARD_KEEP_ENVELOPE); }

/* Takes r out of flight: table, timer, instance. Idempotent. */
static void finish(struct gw_req *r)
{
    if (r->in_flight) inflight_del(r);
    if (r->deadline_set) {
        evtimer_del(&r->deadline);
        r->deadline_set = false;
    }
    if (r->inst) {
        gw_instance_release(r->inst);
        r->inst = NULL;
    }
}

static void fail(struct gw_req *r, int status, const char *code, const char *msg)
{
    finish(r);
    envelope_done(r);
    gw_req_error(r, status, code, msg);
}

/* Publishes the envelope to inst: the PUBLISH head is written into the room
 * left in front of it (again for each instance tried), so the envelope is
 * handed to hiredis as it is, never copied into a command first. */
static void send_to(struct gw_req *r, struct gw_instance *inst)
{
    const char *cmd, *msg;
    size_t cmd_len, len;
    int rc;

    r->tries++;
    r->inst = inst;
    gw_instance_acquire(inst);
    cmd = pc_resp_publish_frame(&r->envelope, inst->channel, strlen(inst->channel), &cmd_len);
    if (cmd != NULL) {
        rc = gw_bus_publish_resp(gw.bus, cmd, cmd_len, r);
    } else { /* a channel too long for the room (not with valid names) */
        msg = pc_resp_publish_msg(&r->envelope, &len);
        rc = gw_bus_publish(gw.bus, inst->channel, msg, len, r);
    }
    if (rc != 0) {
        fail(r, 503, "bus_unavailable", "the message bus is unavailable");
        return;
    }
    r->publish_pending = true;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct gw_req *r = arg;
    r->deadline_set = false;
    fail(r, 504, "timeout", "the service did not reply in time");
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                  */
/* ------------------------------------------------------------------------ */

static void grow_kv(size_t n)
{
    if (n <= kv_cap) return;
    free(kv_in);
    free(kv_out);
    kv_cap = n * 2;
    kv_in = pc_xmalloc(kv_cap * sizeof *kv_in);
    kv_out = pc_xmalloc(kv_cap * sizeof *kv_out);
}

/* Writes the request envelope (SPEC §4) into r->envelope, framed for
 * PUBLISH in place (resp.h). */
static void encode(struct gw_req *r, const struct gw_match *m)
{
    struct pc_kv params[PC_PATTERN_MAX_PARAMS + 1];
    struct pc_request_out o;
    size_t nh;
    const char *target = r->head.data;

    grow_kv(r->nhdrs + GW_HEADERS_ADDED);
    for (uint32_t i = 0; i < r->nhdrs; i++)
        kv_in[i] = (struct pc_kv){gw_req_hdr_name(r, i), r->hdrs[i].name_len,
                                  gw_req_hdr_value(r, i), r->hdrs[i].value_len};
    nh = gw_headers_to_service(kv_in, r->nhdrs, r->request_id, r->remote_addr, r->auth_subject,
                               r->auth_key_id, kv_out, &xff);
    for (size_t i = 0; i < m->nparams; i++)
        params[i] = (struct pc_kv){m->params[i].name, m->params[i].name_len, m->params[i].value,
                                   m->params[i].value_len};

    memset(&o, 0, sizeof o);
    o.id = r->id;
    o.reply_to = gw.reply_channel;
    o.deadline_ms = r->deadline_ms;
    o.method = r->method;
    o.path = target;
    o.path_len = r->path_len;
    o.query = r->path_len < r->target_len ? target + r->path_len + 1 : "";
    o.query_len = r->path_len < r->target_len ? r->target_len - r->path_len - 1 : 0;
    o.route = m->pattern;
    o.params = params;
    o.nparams = m->nparams;
    o.headers = kv_out;
    o.nheaders = nh;
    o.remote_addr = r->remote_addr;
    o.body = r->body.data;
    o.body_len = r->body.len;
    pc_buf_reset(&r->envelope);
    pc_resp_publish_open(&r->envelope);
    pc_wire_encode_request(&r->envelope, &o);
    pc_resp_publish_close(&r->envelope);
    if (r->envelope.oom || xff.oom) pc_panic("out of memory encoding a request");
}

/* Matches r's route; on failure answers the client and returns NULL.
 * A bad path is 400 whatever the bus does; with the bus down, the route
 * table cannot be trusted, so everything else is 503 bus_unavailable. */
static struct gw_route *route_of(struct gw_req *r)
{
    int res = gw_router_match(gw.router, r->method, r->head.data, r->path_len, match);
    if (res == GW_MATCH_BAD_PATH) {
        r->close_after = true;
        gw_req_error(r, 400, "bad_request", "invalid request path");
        return NULL;
    }
    if (!gw_bus_is_up(gw.bus)) {
        gw_req_error(r, 503, "bus_unavailable", "the message bus is unavailable");
        return NULL;
    }
    switch (res) {
    case GW_MATCH_OK:
        return match->value;
    case GW_MATCH_NO_METHOD: {
        struct pc_kv allow = {"allow", 5, match->allow, strlen(match->allow)};
        gw_req_error_hdr(r, 405, "method_not_allowed", "the route does not accept this method",
                         &allow);
        return NULL;
    }
    case GW_MATCH_NOT_FOUND:
    default:
        gw_req_error(r, 404, "not_found", "no route matches this path");
        return NULL;
    }
}

/* Picks an instance of rt, encodes r for it and publishes (match is rt's). */
static void forward_start(struct gw_req *r, struct gw_route *rt)
{
    struct gw_instance *inst;
    struct timeval tv;

    inst = gw_route_pick(rt);
    if (inst == NULL) {
        gw_req_error(r, 503, "no_instance", "no live instance serves this route");
        return;
    }
    if (pc_uuid_v4(r->id) != 0) {
        gw_req_error(r, 503, "no_entropy", "no randomness available for a request id");
        return;
    }
    r->deadline_ms = gw_now_unix_ms() + (uint64_t)inst->timeout_ms;
    encode(r, match);

    inflight_add(r);
    evtimer_assign(&r->deadline, gw.base, on_deadline, r);
    tv.tv_sec = inst->timeout_ms / 1000;
    tv.tv_usec = (inst->timeout_ms % 1000) * 1000;
    evtimer_add(&r->deadline, &tv);
    r->deadline_set = true;
    send_to(r, inst);
}

/* After a shared rate-limit decision allowed r: the route table may have
 * changed while Redis was answering, so match again. */
static void forward_resume(struct gw_req *r)
{
    /* The route table may have changed during the Redis round trip: match
     * again, and check the (possibly different) route's auth rule again. */
    struct gw_route *rt = route_of(r);
    if (rt != NULL && gw_auth_check(r, match)) forward_start(r, rt);
}

void gw_forward_handle(struct gw_req *r)
{
    struct gw_route *rt;

    if (gw_http_method_is_refused(r->method)) { /* CONNECT, TRACE: never forwarded */
        gw_req_error(r, 405, "method_not_allowed", "the gateway does not forward this method");
        return;
    }
    if (gw_cors_preflight(r)) return; /* answered by the gateway, before auth and routing */
    rt = route_of(r);
    if (rt == NULL) return;
    if (!gw_auth_check(r, match)) return;
    /* Rate limiting: after authentication (the identity is known), before
     * an instance is picked. A shared-limit decision resumes later. */
    if (gw_ratelimit_check(r, match->pattern, forward_resume) != GW_RL_CONTINUE) return;
    forward_start(r, rt);
}

void gw_forward_on_published(void *priv, long long receivers)
{
    struct gw_req *r = priv;
    struct gw_instance *gone, *next;

    r->publish_pending = false;
    if (r->conn == NULL) { /* orphaned: answered or abandoned meanwhile */
        finish(r);
        if (!r->rl_pending) gw_req_free(r);
        return;
    }
    if (r->done) return; /* answered already (deadline, reply, bus down) */
    if (receivers < 0) {
        fail(r, 503, "bus_unavailable", "the message bus is unavailable");
        return;
    }
    if (receivers > 0) {
        envelope_done(r); /* delivered: no retry will need it */
        return;
    }
    /* Nobody received it: the instance is gone. Safe to try another. */
    gone = r->inst;
    r->inst = NULL;
    gw_stats->publish_failovers++;
    gw_registry_drop(gone, "PUBLISH reached no subscriber");
    gw_instance_release(gone);
    if (r->tries >= GW_FORWARD_MAX_TRIES) {
        fail(r, 503, "no_instance", "no live instance answered");
        return;
    }
    /* One pick per try: the pick moves the route's round-robin cursor. */
    next = gw_router_match(gw.router, r->method, r->head.data, r->path_len, match) == GW_MATCH_OK
               ? gw_route_pick(match->value)
               : NULL;
    if (next == NULL) {
        fail(r, 503, "no_instance", "no live instance serves this route");
        return;
    }
    send_to(r, next);
}

void gw_forward_cancel(struct gw_req *r)
{
    finish(r);
    gw_req_release(r);
}

/* ------------------------------------------------------------------------ */
/* Replies                                                                   */
/* ------------------------------------------------------------------------ */

/* Answers r with a reply's status, headers (names lower-cased, hop-by-hop
 * and content-length dropped) and body. */
static void respond_with(struct gw_req *r, int status, const struct pc_kv *hdrs, size_t n,
                         const void *body, size_t body_len)
{
    size_t k = 0, names = 0;

    for (size_t i = 0; i < n; i++) names += hdrs[i].name_len;
    pc_buf_reset(&reply_lower);
    if (!pc_buf_reserve(&reply_lower, names + 1)) pc_panic("out of memory reading a reply");
    grow_kv(n + 1);
    for (size_t i = 0; i < n; i++) {
        const char *name = hdrs[i].name;
        size_t nl = hdrs[i].name_len;
        char *ln = reply_lower.data + reply_lower.len;
        for (size_t j = 0; j < nl; j++)
            ln[j] = (name[j] >= 'A' && name[j] <= 'Z') ? (char)(name[j] + 32) : name[j];
        reply_lower.len += nl;
        if (gw_headers_reply_drops(ln, nl)) continue;
        kv_out[k++] = (struct pc_kv){ln, nl, hdrs[i].value, hdrs[i].value_len};
    }
    gw_req_respond(r, status, NULL, kv_out, k, body, body_len);
}

/* The request a reply answers, or NULL (counted late) when there is none
 * any more, or its client has gone: a connection closed but not yet freed
 * (that happens later in the loop iteration) must not take the reply. */
static struct gw_req *reply_match(const char *id, size_t id_len)
{
    struct gw_req *r = inflight_find(id, id_len);

    if (r != NULL && r->conn != NULL && gw_conn_is_closed(r->conn)) {
        finish(r); /* released with its connection */
        r = NULL;
    }
    if (r == NULL) gw_stats->late_replies++;
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
    r = reply_match(v.id, v.id_len);
    if (r == NULL) return true;
    finish(r);
    envelope_done(r);
    respond_with(r, v.status, v.headers, v.nheaders, v.body, v.body_len);
    return true;
}

void gw_forward_on_reply(const char *msg, size_t len)
{
    struct pc_reply_in rep;
    struct pc_wire_err err;
    struct gw_req *r;
    int rc;

    if (on_reply_lean(msg, len)) return;
    rc = pc_wire_decode_reply(&rep, msg, len, &err);
    if (rc == -1) {
        gw_stats->bad_replies++;
        if (pc_ratelimit_allow(&bad_reply_log, gw_now_mono_ms()))
            pc_log(PC_LOG_WARN, "forward", "unmatchable reply dropped (%s): %s", err.reason,
                   err.message);
        goto out;
    }
    r = reply_match(rep.id, rep.id_len);
    if (r == NULL) goto out;
    finish(r);
    envelope_done(r);
    if (rc == -2) {
        gw_stats->bad_replies++;
        if (pc_ratelimit_allow(&bad_reply_log, gw_now_mono_ms()))
            pc_log(PC_LOG_WARN, "forward", "invalid reply for %s (%s): %s", r->id, err.reason,
                   err.message);
        gw_req_error(r, 502, "bad_reply", "the service sent an invalid reply");
        goto out;
    }
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
        respond_with(r, rep.status, hdrs, n, rep.body, rep.body_len);
        free(hdrs);
    }
out:
    pc_wire_reply_in_deinit(&rep);
}

void gw_forward_on_bus_down(void)
{
    struct gw_req *r;

    /* Answering takes r out of the table, and may close connections, which
     * cancels (takes out) other entries: so always answer the first one
     * left in a bucket. Nothing is put in while the bus is down, so this
     * sees every request still in flight. */
    for (size_t i = 0; i < (size_t)1 << inflight_bits; i++)
        while ((r = LIST_FIRST(&inflight[i])) != NULL)
            fail(r, 503, "bus_unavailable", "the message bus went away");
}

size_t gw_forward_inflight(void) { return inflight_count; }

void gw_forward_init(void)
{
    inflight_alloc(GW_INFLIGHT_MIN_BITS);
    match = pc_xmalloc(sizeof *match);
    pc_buf_init(&xff);
    pc_buf_init(&reply_scratch);
    pc_buf_init(&reply_lower);
}

void gw_forward_deinit(void)
{
    free(inflight);
    inflight = NULL;
    inflight_bits = inflight_count = 0;
    free(match);
    free(kv_in);
    free(kv_out);
    kv_in = kv_out = NULL;
    kv_cap = 0;
    pc_buf_deinit(&xff);
    pc_buf_deinit(&reply_scratch);
    pc_buf_deinit(&reply_lower);
}
