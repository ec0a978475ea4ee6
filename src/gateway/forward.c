/* forward.c -- the request path to services and back (see forward.h). */
#include "forward.h"

#include <stdlib.h>
#include <string.h>

#include "accesslog.h"
#include "auth.h"
#include "bus.h"
#include "claim.h"
#include "claimstore.h"
#include "conn.h"
#include "cors.h"
#include "gw.h"
#include "hforward.h"
#include "http.h"
#include "inflight.h"
#include "job.h"
#include "ratelimit.h"
#include "registry.h"
#include "reqhead.h"
#include "resp.h"
#include "router.h"
#include "stats.h"
#include "trace.h"
#include "xalloc.h"

static struct gw_match *match;        /* one match result, reused (it is large) */
#define GW_FORWARD_KEEP_ENVELOPE 4096 /* bytes of envelope buffer kept for reuse */

/* Requests waiting for an announcement after Redis came back (below). */
LIST_HEAD(wait_list, gw_req);
static struct wait_list waiters = LIST_HEAD_INITIALIZER(waiters);

/* Retry budget: each request that may be retried earns GW_RETRY_EARN, a retry
 * costs GW_RETRY_COST, so retries stay at most 1 in 5 (20 %) of those
 * requests; at most GW_RETRY_CREDIT_MAX is saved up (a burst of 10 retries
 * after a long quiet spell). It starts empty. */
#define GW_RETRY_EARN 1
#define GW_RETRY_COST 5
#define GW_RETRY_CREDIT_MAX 50
static unsigned retry_credit;

/* ------------------------------------------------------------------------ */
/* In-flight bookkeeping                                                     */
/* ------------------------------------------------------------------------ */

static void on_deadline(evutil_socket_t fd, short what, void *arg);
static void publish(struct gw_req *r);
static void on_try_timer(evutil_socket_t fd, short what, void *arg);
static void encode(struct gw_req *r, const struct gw_match *m, const struct gw_instance *inst);

/* The envelope is no longer needed: keep a small one's memory for the next
 * request (the request pool reuses it), give a large one back now. */
void gw_forward_envelope_done(struct gw_req *r)
{
    pc_buf_trim(&r->envelope, GW_FORWARD_KEEP_ENVELOPE);
}

static void try_timer_arm(struct gw_req *r, uint64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    if (!r->try_timer_set) evtimer_assign(&r->try_timer, gw.base, on_try_timer, r);
    evtimer_add(&r->try_timer, &tv);
    r->try_timer_set = true;
}

/* Stops the per-try timer or the wait, whichever runs. */
static void try_timer_stop(struct gw_req *r)
{
    if (r->try_timer_set) {
        evtimer_del(&r->try_timer);
        r->try_timer_set = false;
    }
    if (r->waiting) {
        LIST_REMOVE(r, wait_link);
        r->waiting = false;
    }
}

/* The current try is over (res: how, for outlier detection): its instance
 * is released. */
static void end_try(struct gw_req *r, enum gw_try_result res)
{
    struct gw_instance *in = r->inst;
    if (in == NULL) return;
    if (res == GW_TRY_REPLIED) gw_req_upstream_answered(r); /* PUBLISH to reply */
    r->inst = NULL;
    gw_outlier_done(&in->outlier, in->id, r->probe, res);
    r->probe = false;
    gw_instance_release(in);
}

/* Takes r out of flight: table, timers, instance. Idempotent. */
void gw_forward_finish(struct gw_req *r, enum gw_try_result res)
{
    if (r->claim_up != NULL) gw_claimstore_stop(r);
    if (r->in_flight) gw_inflight_del(r);
    if (r->deadline_set) {
        evtimer_del(&r->deadline);
        r->deadline_set = false;
    }
    try_timer_stop(r);
    end_try(r, res);
    r->claim_reading = false;
}

static void finish(struct gw_req *r) { gw_forward_finish(r, GW_TRY_ABANDONED); }

void gw_forward_try_answered(struct gw_req *r)
{
    try_timer_stop(r);
    end_try(r, GW_TRY_REPLIED);
    gw_forward_envelope_done(r);
}

void gw_forward_stream_started(struct gw_req *r)
{
    gw_forward_try_answered(r);
    if (r->deadline_set) {
        evtimer_del(&r->deadline);
        r->deadline_set = false;
    }
}

static void fail_as(struct gw_req *r, enum gw_try_result res, int status, const char *code,
                    const char *msg)
{
    gw_forward_finish(r, res);
    gw_forward_envelope_done(r);
    gw_req_error(r, status, code, msg);
}

static void fail(struct gw_req *r, int status, const char *code, const char *msg)
{
    fail_as(r, GW_TRY_ABANDONED, status, code, msg);
}

/* Publishes the envelope to inst: the PUBLISH head is written into the room
 * left in front of it (again for each instance tried), so the envelope is
 * handed to hiredis as it is, never copied into a command first. */
static void send_to(struct gw_req *r, struct gw_instance *inst)
{
    bool claimed = gw_claim_wanted(r, inst);

    /* The body goes by reference only to an instance that announced it,
     * and as v2 only to one that announced "wire":2 (match is r's route's,
     * route_again's after the first try). */
    if (claimed != r->claimed || inst->wire != r->wire) encode(r, match, inst);
    if (claimed && !r->body_stream && gw_claim_store(r) != 0) {
        fail(r, 503, "bus_unavailable", "the message bus is unavailable");
        return;
    }
    r->tries++;
    r->inst = inst;
    gw_accesslog_note_instance(r, inst->id);
    gw_instance_acquire(inst);
    r->probe = gw_outlier_sent(&inst->outlier);
    if (r->body_stream) { /* published once the body is in its key */
        if (gw_claimstore_start(r, publish) != 0)
            fail(r, 503, "bus_unavailable", "the message bus is unavailable");
        return;
    }
    publish(r);
}

/* Publishes r's envelope to r->inst. */
static void publish(struct gw_req *r)
{
    const struct gw_instance *inst = r->inst;
    const char *cmd, *msg;
    size_t cmd_len, len;
    int rc;

    r->sent_ms = gw_now_mono_ms();
    if (r->env_in_body)
        cmd = pc_resp_publish_frame_in(r->env_msg, r->env_msg_len,
                                       (size_t)(r->env_msg - r->body.data), inst->channel,
                                       strlen(inst->channel), &cmd_len);
    else
        cmd = pc_resp_publish_frame(&r->envelope, inst->channel, strlen(inst->channel), &cmd_len);
    if (cmd != NULL) {
        rc = gw_bus_publish_resp(gw.bus, cmd, cmd_len, r);
    } else { /* a channel too long for the room (not with valid names) */
        msg = r->env_in_body ? r->env_msg : pc_resp_publish_msg(&r->envelope, &len);
        len = r->env_in_body ? r->env_msg_len : len;
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
    fail_as(r, GW_TRY_TIMED_OUT, 504, "timeout", "the service did not reply in time");
}

/* The route r matched, matched again (the table may have changed since). */
static struct gw_route *route_again(struct gw_req *r)
{
    return gw_router_match(gw.router, r->method, r->head.data, r->path_len, match) == GW_MATCH_OK
               ? match->value
               : NULL;
}

/* The next try after a PUBLISH answered 0 or a wait: one pick per try (the
 * pick moves the route's round-robin cursor); heard_since_ms as
 * gw_route_pick's. */
static void next_try(struct gw_req *r, uint64_t heard_since_ms)
{
    struct gw_route *rt = route_again(r);
    struct gw_instance *next = rt ? gw_route_pick(rt, NULL, heard_since_ms) : NULL;
    if (next == NULL) {
        fail(r, 503, "no_instance", "no live instance serves this route");
        return;
    }
    send_to(r, next);
}

/* A PUBLISH reached nobody, sent to an instance not heard from since Redis
 * came back: its service has probably not re-subscribed yet. Wait for an
 * announcement (gw_forward_on_announce) or GW_FORWARD_ANNOUNCE_WAIT_MS,
 * within the deadline, then try again. r stays in the in-flight table (bus
 * down, deadline and cancel find it there as usual). */
static void wait_for_announce(struct gw_req *r)
{
    uint64_t now = gw_now_unix_ms();
    uint64_t left = r->deadline_ms > now ? r->deadline_ms - now : 1;

    try_timer_stop(r); /* a per-try timeout does not apply to the wait */
    r->may_retry = false;
    LIST_INSERT_HEAD(&waiters, r, wait_link);
    r->waiting = true;
    try_timer_arm(r, left < GW_FORWARD_ANNOUNCE_WAIT_MS ? left : GW_FORWARD_ANNOUNCE_WAIT_MS);
}

static bool method_is_idempotent(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || strcmp(m, "OPTIONS") == 0 ||
           strcmp(m, "PUT") == 0 || strcmp(m, "DELETE") == 0;
}

/* The per-try timeout of a retry route: send the request once more, to
 * another instance, when the budget allows. Same envelope, same id, same
 * deadline: whichever reply comes first answers the client, the other is
 * dropped as late (the table holds one entry per id). */
static void retry_try(struct gw_req *r)
{
    struct gw_route *rt;
    struct gw_instance *next;

    r->may_retry = false;
    /* One PUBLISH outstanding per request at most; the 3 tries of SPEC §5. */
    if (r->inst == NULL || r->publish_pending || r->tries >= GW_FORWARD_MAX_TRIES) return;
    rt = route_again(r);
    next = rt ? gw_route_pick(rt, r->inst, 0) : NULL;
    if (next == NULL) return; /* no other healthy instance: wait for the deadline */
    if (retry_credit < GW_RETRY_COST) {
        gw_stats->retry_budget_exhausted++;
        return;
    }
    retry_credit -= GW_RETRY_COST;
    gw_stats->upstream_retries++;
    end_try(r, GW_TRY_TIMED_OUT);
    send_to(r, next);
}

static void on_try_timer(evutil_socket_t fd, short what, void *arg)
{
    struct gw_req *r = arg;
    (void)fd;
    (void)what;
    r->try_timer_set = false;
    if (r->waiting) {
        LIST_REMOVE(r, wait_link);
        r->waiting = false;
        next_try(r, 0);
    } else if (r->may_retry) {
        retry_try(r);
    }
}

void gw_forward_on_announce(void)
{
    struct gw_req *r, *next;
    uint64_t since = gw_registry_bus_up_ms();

    /* Answering r may free r, never another waiter (connections are freed
     * later, by the reaper). */
    for (r = LIST_FIRST(&waiters); r != NULL; r = next) {
        struct gw_route *rt = route_again(r);
        struct gw_instance *in = rt ? gw_route_pick(rt, NULL, since) : NULL;
        next = LIST_NEXT(r, wait_link);
        if (in == NULL) continue;
        try_timer_stop(r);
        send_to(r, in);
    }
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                  */
/* ------------------------------------------------------------------------ */

/* A v2 request: its head (in r->envelope after the PUBLISH room) copied
 * into the room http.c left in front of the body, so that the message is
 * the body where it lies with the head before it and the PUBLISH head
 * before that: the body is not copied (item "fewer copies", protocol.md
 * 4.2). False when the head does not fit: the caller copies the body. */
static bool head_before_body(struct gw_req *r, size_t body_len)
{
    size_t hlen = r->envelope.len - PC_RESP_PUBLISH_ROOM;

    if (hlen + PC_RESP_PUBLISH_ROOM > r->body_room || !pc_buf_reserve(&r->body, 2)) return false;
    r->env_msg = r->body.data + r->body_room - hlen;
    memcpy(r->env_msg, r->envelope.data + PC_RESP_PUBLISH_ROOM, hlen);
    r->env_msg_len = hlen + body_len;
    r->env_in_body = true; /* the "\r\n" after it: pc_resp_publish_frame_in, at each send */
    return true;
}

/* Writes the request envelope (SPEC §4; v2, §13, for an instance that
 * announced it) into r->envelope, framed for PUBLISH in place (resp.h); a
 * v2 body stays where it is (head_before_body). */
static void encode(struct gw_req *r, const struct gw_match *m, const struct gw_instance *inst)
{
    bool claimed = gw_claim_wanted(r, inst);
    struct pc_kv params[PC_PATTERN_MAX_PARAMS + 1];
    struct pc_request_out o;
    const struct pc_kv *headers;
    size_t nh = gw_reqhead_headers(r, &headers);
    const char *target = r->head.data;

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
    o.headers = headers;
    o.nheaders = nh;
    o.remote_addr = r->remote_addr;
    o.body = gw_req_body(r, &o.body_len);
    if (r->body_stream) o.body_len = (size_t)r->body_length; /* in its key (claimstore.h) */
    o.body_ref = claimed ? gw_claim_request_key(r) : NULL;
    o.wire = inst->wire;
    r->claimed = claimed;
    r->wire = inst->wire;
    r->env_in_body = false;
    pc_buf_reset(&r->envelope);
    pc_resp_publish_open(&r->envelope);
    if (o.wire == PC_WIRE_V2 && !claimed && o.body_len > 0) {
        pc_wire_encode_request_head(&r->envelope, &o);
        if (r->envelope.oom || !head_before_body(r, o.body_len))
            pc_buf_append(&r->envelope, o.body, o.body_len); /* did not fit: one copy, raw */
    } else {
        pc_wire_encode_request(&r->envelope, &o);
    }
    if (!r->env_in_body) pc_resp_publish_close(&r->envelope);
    if (r->envelope.oom) pc_panic("out of memory encoding a request");
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
    if (!gw_bus_is_up(gw.bus) &&
        !(res == GW_MATCH_OK && ((struct gw_route *)match->value)->http != NULL)) {
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

static void forward_job(struct gw_req *r);

/* Picks an instance of rt, encodes r for it and publishes (match is rt's);
 * an asynchronous request goes to job.c first. */
static void forward_start(struct gw_req *r, struct gw_route *rt)
{
    struct gw_instance *inst;
    struct timeval tv;
    uint64_t now = gw_now_unix_ms(), tmo;

    if (rt->http != NULL) { /* a routes-file route: its HTTP upstreams */
        gw_hforward_start(r, rt);
        return;
    }
    gw_accesslog_note_route(r, rt->pattern, rt->owner); /* also on a 503 below */
    /* Taken at its head for an HTTP route that a reload has since moved to
     * the bus, or for a claim check no longer possible: its body is not held. */
    if (r->body_stream && !gw_claimstore_wanted(r, rt)) {
        gw_req_error(r, 503, "no_instance", "the route changed while the request was read");
        return;
    }
    if (rt->async && !r->job && gw_job_wanted(r)) { /* 202 now, the reply kept in Redis */
        gw_job_submit(r, rt, match->pattern, forward_job);
        return;
    }
    inst = gw_route_pick(rt, NULL, 0);
    if (inst == NULL) {
        gw_req_error(r, 503, "no_instance", "no live instance serves this route");
        return;
    }
    if (r->job) { /* its id and deadline are the job record's */
        tmo = r->deadline_ms > now ? r->deadline_ms - now : 1;
    } else {
        if (gw_req_bus_id(r, r->id) != 0) {
            gw_req_error(r, 503, "no_entropy", "no randomness available for a request id");
            return;
        }
        tmo = (uint64_t)inst->timeout_ms;
        r->deadline_ms = now + tmo;
    }
    encode(r, match, inst);

    gw_inflight_add(r);
    evtimer_assign(&r->deadline, gw.base, on_deadline, r);
    tv.tv_sec = (time_t)(tmo / 1000);
    tv.tv_usec = (suseconds_t)(tmo % 1000) * 1000;
    evtimer_add(&r->deadline, &tv);
    r->deadline_set = true;
    r->may_retry = rt->retry && method_is_idempotent(r->method) && tmo >= 2 && !r->body_stream;
    if (r->may_retry) {
        retry_credit += GW_RETRY_EARN;
        if (retry_credit > GW_RETRY_CREDIT_MAX) retry_credit = GW_RETRY_CREDIT_MAX;
        try_timer_arm(r, tmo / 2);
    }
    send_to(r, inst);
}

/* A job accepted by job.c (its record written, 202 sent): the route is
 * matched again (the table may have changed meanwhile) and the job sent. */
static void forward_job(struct gw_req *r)
{
    struct gw_route *rt = route_again(r);
    if (rt == NULL) {
        gw_req_error(r, 503, "no_instance", "no live instance serves this route");
        return;
    }
    forward_start(r, rt);
}

/* After a shared rate-limit decision allowed r: the route table may have
 * changed during the Redis round trip, so match again, and check the
 * (possibly different) route's auth rule again. */
/* After the shared limiter allowed r: matched and checked again (the route
 * may have changed meanwhile), unless a reload replaced the auth policy
 * meanwhile: then the decision made under the policy r started with
 * stands. */
static void forward_resume(struct gw_req *r)
{
    struct gw_route *rt = route_of(r);
    if (rt != NULL && (r->auth_gen != gw_auth_generation() || gw_auth_check(r, match)))
        forward_start(r, rt);
}

void gw_forward_handle(struct gw_req *r)
{
    struct gw_route *rt;

    if (gw_http_method_is_refused(r->method)) { /* CONNECT, TRACE: never forwarded */
        gw_req_error(r, 405, "method_not_allowed", "the gateway does not forward this method");
        return;
    }
    if (gw_cors_preflight(r)) return; /* answered by the gateway, before auth and routing */
    if (gw_job_is_poll(r)) {          /* GET /_portico/jobs/<id>: any gateway answers */
        gw_job_poll(r);
        return;
    }
    rt = route_of(r);
    if (rt == NULL) return;
    if (!gw_auth_check(r, match)) return;
    r->auth_gen = gw_auth_generation();
    /* Rate limiting: after authentication (the identity is known), before
     * an instance is picked. A shared-limit decision resumes later. */
    if (gw_ratelimit_check(r, match->pattern, forward_resume) != GW_RL_CONTINUE) return;
    forward_start(r, rt);
}

bool gw_forward_head(struct gw_req *r)
{
    int res = gw_router_match(gw.router, r->method, r->head.data, r->path_len, match);
    return res == GW_MATCH_OK && (((struct gw_route *)match->value)->http != NULL ||
                                  gw_claimstore_wanted(r, match->value));
}

void gw_forward_on_published(void *priv, long long receivers)
{
    struct gw_req *r = priv;
    struct gw_instance *gone;
    bool unconfirmed;

    r->publish_pending = false;
    if (r->conn == NULL && !r->job) { /* orphaned: answered or abandoned meanwhile */
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
        if (!r->may_retry) gw_forward_envelope_done(r); /* delivered: no retry will need it */
        return;
    }
    /* Nobody received it: nobody has the request, so another try is safe.
     * An instance heard from since the bus came up is gone: drop it. One
     * not heard from since may simply not have re-subscribed yet after a
     * Redis restart: keep it (its TTL still runs) and wait a little. */
    gone = r->inst;
    if (r->claimed) gw_claim_unstore(r); /* nobody will read it; the next try stores it again */
    if (r->body_stream) r->tries = GW_FORWARD_MAX_TRIES; /* ... but a stored body is not kept */
    unconfirmed = !gw_instance_heard_since_up(gone);
    if (unconfirmed) {
        gw_stats->publish_waits++;
    } else {
        gw_stats->publish_failovers++;
        gw_registry_drop(gone, "PUBLISH reached no subscriber");
    }
    end_try(r, GW_TRY_ABANDONED);
    if (r->tries >= GW_FORWARD_MAX_TRIES) {
        fail(r, 503, "no_instance", "no live instance answered");
        return;
    }
    if (unconfirmed)
        wait_for_announce(r);
    else
        next_try(r, 0);
}

void gw_forward_cancel(struct gw_req *r)
{
    if (r->hx != NULL) gw_hforward_cancel(r);
    if (r->claim_rd != NULL) gw_claim_cancel(r);
    finish(r);
    gw_req_release(r);
}

static void fail_bus_gone(struct gw_req *r)
{
    fail(r, 503, "bus_unavailable", "the message bus went away");
}

/* Nothing is put in the table while the bus is down, so this answers every
 * request still in flight. */
void gw_forward_on_bus_down(void) { gw_inflight_each_first(fail_bus_gone); }

size_t gw_forward_inflight(void) { return gw_inflight_count(); }

void gw_forward_init(void)
{
    gw_inflight_init();
    match = pc_xmalloc(sizeof *match);
}

/* Process exit: jobs still in flight are dropped (their records say pending
 * until their deadline, then polls answer 504). */
static void drop_job(struct gw_req *r)
{
    finish(r);
    gw_req_free(r);
}

void gw_forward_deinit(void)
{
    gw_inflight_each_first(drop_job);
    gw_inflight_deinit();
    gw_claim_deinit();
    free(match);
    gw_reqhead_deinit();
}
