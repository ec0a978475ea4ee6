/* forward.c -- the request path to services and back (see forward.h). */
#include "forward.h"

#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "bus.h"
#include "conn.h"
#include "cors.h"
#include "gw.h"
#include "log.h"
#include "map.h"
#include "ratelimit.h"
#include "registry.h"
#include "router.h"
#include "stats.h"

static pc_map *inflight;            /* request id -> struct gw_req */
static struct gw_match *match;      /* one match result, reused (it is large) */
static struct pc_kv *kv_in, *kv_out;/* header scratch */
static size_t kv_cap;
static pc_buf xff;                  /* joined x-forwarded-for */
static pc_buf reply_scratch;        /* strings of the reply being answered */
static pc_buf reply_lower;          /* its header names, lower-cased */
static struct pc_kv reply_kv[64];   /* its headers (more: the full decoder) */
#define GW_FORWARD_KEEP_ENVELOPE 4096    /* bytes of envelope buffer kept for reuse */
static struct pc_ratelimit bad_reply_log = {.interval_ms = 10000};

/* ------------------------------------------------------------------------ */
/* In-flight bookkeeping                                                     */
/* ------------------------------------------------------------------------ */

static void on_deadline(evutil_socket_t fd, short what, void *arg);

/* The envelope is no longer needed: keep a small one's memory for the next
 * request (the request pool reuses it), give a large one back now. */
static void envelope_done(struct gw_req *r)
{
    if (r->envelope.cap > GW_FORWARD_KEEP_ENVELOPE)
        pc_buf_deinit(&r->envelope);
    else
        pc_buf_reset(&r->envelope);
}

/* Takes r out of flight: table, timer, instance. Idempotent. */
static void finish(struct gw_req *r)
{
    if (r->in_flight) {
        pc_map_del(inflight, r->id, PC_UUID_LEN);
        r->in_flight = false;
    }
    if (r->deadline_set) {
        evtimer_del(&r->deadline);
        r->deadline_set = false;
    }
    if (r->inst) {
        r->inst->inflight--;
        gw_instance_unref(r->inst);
        r->inst = NULL;
    }
}

static void fail(struct gw_req *r, int status, const char *code, const char *msg)
{
    finish(r);
    envelope_done(r);
    gw_req_error(r, status, code, msg);
}

/* Publishes the envelope to inst. */
static void send_to(struct gw_req *r, struct gw_instance *inst)
{
    r->tries++;
    r->inst = inst;
    gw_instance_ref(inst);
    inst->inflight++;
    if (gw_bus_publish(gw.bus, inst->channel, r->envelope.data, r->envelope.len, r) != 0) {
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
    kv_in = malloc(kv_cap * sizeof *kv_in);
    kv_out = malloc(kv_cap * sizeof *kv_out);
    if (kv_in == NULL || kv_out == NULL) abort();
}

/* Writes the request envelope (SPEC §4) into r->envelope. */
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
    nh = gw_headers_to_service(kv_in, r->nhdrs, r->request_id, gw_conn_remote_addr(r->conn),
                               r->auth_subject, r->auth_key_id, kv_out, &xff);
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
    o.remote_addr = gw_conn_remote_addr(r->conn);
    o.body = r->body.data;
    o.body_len = r->body.len;
    pc_buf_reset(&r->envelope);
    pc_wire_encode_request(&r->envelope, &o);
    if (r->envelope.oom || xff.oom) abort();
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

    if (pc_map_put(inflight, r->id, PC_UUID_LEN, r) != 0) abort();
    r->in_flight = true;
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

    if (gw_cors_preflight(r)) return;   /* answered by the gateway, before auth and routing */
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
    struct gw_instance *gone;
    struct gw_route *rt;

    r->publish_pending = false;
    if (r->conn == NULL) {          /* orphaned: answered or abandoned meanwhile */
        finish(r);
        if (!r->rl_pending) gw_req_free(r);
        return;
    }
    if (r->done) return;            /* answered already (deadline, reply, bus down) */
    if (receivers < 0) {
        fail(r, 503, "bus_unavailable", "the message bus is unavailable");
        return;
    }
    if (receivers > 0) {
        envelope_done(r);   /* delivered: no retry will need it */
        return;
    }
    /* Nobody received it: the instance is gone. Safe to try another. */
    gone = r->inst;
    r->inst = NULL;
    gone->inflight--;
    gw_stats.publish_failovers++;
    gw_registry_drop(gone, "PUBLISH reached no subscriber");
    gw_instance_unref(gone);
    if (r->tries >= GW_FORWARD_MAX_TRIES) {
        fail(r, 503, "no_instance", "no live instance answered");
        return;
    }
    if (gw_router_match(gw.router, r->method, r->head.data, r->path_len, match) != GW_MATCH_OK ||
        (rt = match->value, gw_route_pick(rt) == NULL)) {
        fail(r, 503, "no_instance", "no live instance serves this route");
        return;
    }
    send_to(r, gw_route_pick(rt));
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
    if (!pc_buf_reserve(&reply_lower, names + 1)) abort();
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

/* The common case: a well-formed reply read without a tree. Returns false,
 * having done nothing, when the full decoder must judge the message. */
static bool on_reply_lean(const char *msg, size_t len)
{
    struct pc_reply_view v;
    struct gw_req *r;

    if (!pc_wire_decode_reply_lean(&v, msg, len, &reply_scratch, reply_kv,
                                   sizeof reply_kv / sizeof reply_kv[0]))
        return false;
    r = v.id_len == PC_UUID_LEN ? pc_map_get(inflight, v.id, v.id_len) : NULL;
    if (r == NULL) {
        gw_stats.late_replies++;
        return true;
    }
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
        gw_stats.bad_replies++;
        if (pc_ratelimit_allow(&bad_reply_log, gw_now_mono_ms()))
            pc_log(PC_LOG_WARN, "forward", "unmatchable reply dropped (%s): %s", err.reason,
                   err.message);
        goto out;
    }
    r = rep.id_len == PC_UUID_LEN ? pc_map_get(inflight, rep.id, rep.id_len) : NULL;
    if (r == NULL) {
        gw_stats.late_replies++;
        goto out;
    }
    finish(r);
    envelope_done(r);
    if (rc == -2) {
        gw_stats.bad_replies++;
        if (pc_ratelimit_allow(&bad_reply_log, gw_now_mono_ms()))
            pc_log(PC_LOG_WARN, "forward", "invalid reply for %s (%s): %s", r->id, err.reason,
                   err.message);
        gw_req_error(r, 502, "bad_reply", "the service sent an invalid reply");
        goto out;
    }
    {
        size_t n = rep.headers ? json_array_size(rep.headers) : 0;
        struct pc_kv *hdrs = n ? malloc(n * sizeof *hdrs) : NULL;
        if (n && hdrs == NULL) abort();
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
    size_t pos = 0, klen;
    const char *key;
    void *val;

    /* Answering may close connections, which cancels (deletes) other entries:
     * the map allows that during iteration, and nothing is inserted while the
     * bus is down, so one pass sees every request still in flight. */
    while (pc_map_next(inflight, &pos, &key, &klen, &val))
        fail(val, 503, "bus_unavailable", "the message bus went away");
}

size_t gw_forward_inflight(void) { return pc_map_count(inflight); }

void gw_forward_init(void)
{
    inflight = pc_map_new();
    match = malloc(sizeof *match);
    if (inflight == NULL || match == NULL) abort();
    pc_buf_init(&xff);
    pc_buf_init(&reply_scratch);
    pc_buf_init(&reply_lower);
}

void gw_forward_deinit(void)
{
    pc_map_free(inflight);
    inflight = NULL;
    free(match);
    free(kv_in);
    free(kv_out);
    kv_in = kv_out = NULL;
    kv_cap = 0;
    pc_buf_deinit(&xff);
    pc_buf_deinit(&reply_scratch);
    pc_buf_deinit(&reply_lower);
}
