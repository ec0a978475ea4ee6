/* call.c -- calling other services over the bus.
 *
 *   portico_call_send --> attempt: pick instance (least in flight, RR ties)
 *        |                   | PUBLISH P:svc:<instance>
 *        |                   v
 *        |            PUBLISH answered 0 --> drop instance, attempt again (3 tries)
 *        |            answered >= 1      --> wait for the reply on P:reply:<uuid>
 *        v
 *   exactly one completion: reply | TIMEOUT (deadline timer) | NO_INSTANCE |
 *   BUS (down at send or lost meanwhile) | BAD_REPLY | NO_ROUTE | CANCELLED
 *
 * In-flight calls are found by request id in svc->calls; PUBLISH callbacks
 * carry the id, never a call pointer. Errors found while sending are
 * delivered from the call's own timer event, so the callback never runs
 * inside portico_call_send. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "clock.h"
#include "log.h"
#include "uuid.h"

#include "internal.h"

#define CALL_MAX_HEADERS 100

struct portico_call {
    portico_service *svc;
    char *service, *method, *path, *query;
    struct pc_kv hdrs[CALL_MAX_HEADERS]; /* names and values owned */
    size_t nh;
    char *body;
    size_t body_len;
    int timeout_ms;
    bool has_parent;
    uint64_t parent_deadline_ms;
    char parent_rid[129];
    struct pt_trace parent_trace; /* the trace the call continues ("": a new one) */
    /* in flight */
    char id[PC_UUID_LEN + 1];
    uint64_t deadline_ms;
    int tries;
    char inst[PC_INSTANCE_MAX + 1]; /* instance of the current try, "" none */
    portico_call_fn *cb;
    void *ud;
    struct event *ev; /* deadline, or deferred completion */
    int deferred_err;
    pc_buf msg; /* the encoded request */
    bool encoded;
    int wire; /* the version call->msg is written in (the instance's) */
};

struct portico_response {
    struct pc_reply_in in;
    char *body; /* in.body plus a NUL */
};

struct call_tok { /* privdata of a PUBLISH */
    portico_service *svc;
    char id[PC_UUID_LEN + 1];
};

/* ---- building ---- */

PORTICO_API void portico_call_free(portico_call *call)
{
    if (call == NULL) return;
    for (size_t i = 0; i < call->nh; i++) {
        free((char *)call->hdrs[i].name);
        free((char *)call->hdrs[i].value);
    }
    if (call->ev != NULL) event_free(call->ev);
    pc_buf_deinit(&call->msg);
    free(call->service);
    free(call->method);
    free(call->path);
    free(call->query);
    free(call->body);
    free(call);
}

PORTICO_API portico_call *portico_call_new(portico_service *svc, const char *service,
                                           const char *method, const char *path, int *err)
{
    portico_call *call;
    const char *q;
    int rc = PORTICO_ERR_INVALID;

    if (svc == NULL || service == NULL || method == NULL || path == NULL) goto fail;
    if (!svc->calls_enabled) {
        rc = PORTICO_ERR_STATE;
        goto fail;
    }
    if (!pc_service_name_is_valid(service, strlen(service)) ||
        !pc_method_is_valid(method, strlen(method)) || strcmp(method, "*") == 0 || path[0] != '/')
        goto fail;
    rc = PORTICO_ERR_NOMEM;
    call = calloc(1, sizeof *call);
    if (call == NULL) goto fail;
    pc_buf_init(&call->msg);
    call->svc = svc;
    q = strchr(path, '?');
    call->service = strdup(service);
    call->method = strdup(method);
    call->path = q ? strndup(path, (size_t)(q - path)) : strdup(path);
    call->query = strdup(q ? q + 1 : "");
    if (call->service == NULL || call->method == NULL || call->path == NULL ||
        call->query == NULL) {
        portico_call_free(call);
        goto fail;
    }
    if (svc->ctx_deadline_ms != 0) { /* created while handling a request */
        call->has_parent = true;
        call->parent_deadline_ms = svc->ctx_deadline_ms;
        memcpy(call->parent_rid, svc->ctx_request_id, sizeof call->parent_rid);
    }
    call->parent_trace = *pt_trace_current(svc);
    return call;
fail:
    if (err != NULL) *err = rc;
    return NULL;
}

PORTICO_API int portico_call_add_header(portico_call *call, const char *name, const char *value)
{
    char *n, *v;
    size_t nl;

    if (call == NULL || name == NULL || value == NULL) return PORTICO_ERR_INVALID;
    nl = strlen(name);
    if (!pc_header_name_is_valid(name, nl) || !pc_header_value_is_valid(value, strlen(value)) ||
        call->nh == CALL_MAX_HEADERS)
        return PORTICO_ERR_INVALID;
    n = strdup(name);
    v = strdup(value);
    if (n == NULL || v == NULL) {
        free(n);
        free(v);
        return PORTICO_ERR_NOMEM;
    }
    for (size_t i = 0; i < nl; i++) n[i] = (char)tolower((unsigned char)n[i]);
    if (pc_header_is_hop_by_hop(n, nl)) {
        free(n);
        free(v);
        return PORTICO_ERR_INVALID;
    }
    call->hdrs[call->nh].name = n;
    call->hdrs[call->nh].name_len = nl;
    call->hdrs[call->nh].value = v;
    call->hdrs[call->nh].value_len = strlen(v);
    call->nh++;
    return 0;
}

PORTICO_API int portico_call_set_body(portico_call *call, const void *body, size_t len)
{
    char *copy = NULL;

    if (call == NULL || (body == NULL && len > 0)) return PORTICO_ERR_INVALID;
    if (len > 0) {
        copy = malloc(len);
        if (copy == NULL) return PORTICO_ERR_NOMEM;
        memcpy(copy, body, len);
    }
    free(call->body);
    call->body = copy;
    call->body_len = len;
    return 0;
}

PORTICO_API int portico_call_set_json(portico_call *call, json_t *value)
{
    char *text;
    int rc;

    if (call == NULL || value == NULL) {
        json_decref(value);
        return PORTICO_ERR_INVALID;
    }
    text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(value);
    if (text == NULL) return PORTICO_ERR_NOMEM;
    rc = portico_call_set_body(call, text, strlen(text));
    free(text);
    if (rc == 0) rc = portico_call_add_header(call, "content-type", "application/json");
    return rc;
}

PORTICO_API void portico_call_set_timeout_ms(portico_call *call, int timeout_ms)
{
    if (call != NULL)
        call->timeout_ms = timeout_ms < 0                   ? 0
                           : timeout_ms > PC_TIMEOUT_MAX_MS ? PC_TIMEOUT_MAX_MS
                                                            : timeout_ms;
}

PORTICO_API void portico_call_set_parent(portico_call *call, const portico_request *parent)
{
    if (call == NULL || parent == NULL) return;
    call->has_parent = true;
    call->parent_deadline_ms = portico_request_deadline_ms(parent);
    snprintf(call->parent_rid, sizeof call->parent_rid, "%s", portico_request_request_id(parent));
    call->parent_trace = parent->trace;
}

/* ---- completion ---- */

static void call_finish(portico_call *call, int err, const portico_response *res)
{
    portico_service *svc = call->svc;
    uint64_t saved_deadline = svc->ctx_deadline_ms;
    char saved_rid[sizeof svc->ctx_request_id];
    const struct pt_trace *saved_trace = svc->ctx_trace;

    pc_map_del(svc->calls, call->id, strlen(call->id));
    if (call->inst[0] != '\0') {
        struct pt_inst *in = pt_table_inst(&svc->table, call->inst);
        if (in != NULL && in->inflight > 0) in->inflight--;
    }
    if (err != 0)
        pt_log(svc, PORTICO_LOG_DEBUG, "call %s %s%s to %s: %s", call->method, call->path,
               call->query[0] ? "?..." : "", call->service, portico_strerror(err));
    memcpy(saved_rid, svc->ctx_request_id, sizeof saved_rid);
    svc->ctx_deadline_ms = call->has_parent ? call->parent_deadline_ms : 0;
    memcpy(svc->ctx_request_id, call->parent_rid, sizeof saved_rid);
    svc->ctx_trace = &call->parent_trace; /* the reply's callback goes on with the trace */
    pt_svc_enter(svc);
    call->cb(svc, err, res, call->ud);
    pt_svc_leave(svc);
    svc->ctx_trace = saved_trace;
    svc->ctx_deadline_ms = saved_deadline;
    memcpy(svc->ctx_request_id, saved_rid, sizeof saved_rid);
    portico_call_free(call);
    pt_svc_check_drained(svc);
}

/* Delivers err from the loop, not from the current stack. */
static void call_fail_later(portico_call *call, int err)
{
    call->deferred_err = err;
    event_del(call->ev);
    event_active(call->ev, EV_TIMEOUT, 0);
}

static void on_call_timer(evutil_socket_t fd, short what, void *arg)
{
    portico_call *call = arg;

    (void)fd;
    (void)what;
    call_finish(call, call->deferred_err ? call->deferred_err : PORTICO_ERR_TIMEOUT, NULL);
}

/* ---- sending ---- */

static void on_call_published(void *ud, long long receivers);

/* Writes the request for an instance taking version wire (SPEC §13). */
static int call_encode(portico_call *call, const struct pt_target *tg, int wire)
{
    portico_service *svc = call->svc;
    struct pc_request_out out;
    struct pc_kv params[PC_PATTERN_MAX_PARAMS + 1];
    struct pc_kv hdrs[CALL_MAX_HEADERS + 3];
    char rid[PC_UUID_LEN + 1], tp[PC_TRACEPARENT_LEN + 1];
    size_t np = 0, nh = call->nh, best;
    const char *key;
    json_t *pj, *v;
    bool has_rid = false, has_tp = false, has_ts = false;
    int rc;

    pj = json_object();
    if (pj == NULL) return PORTICO_ERR_NOMEM;
    rc = pt_route_match(tg->routes, tg->nroutes, call->method, call->path, strlen(call->path),
                        &best, pj);
    if (rc != PT_MATCH_OK) {
        json_decref(pj);
        return PORTICO_ERR_NO_ROUTE;
    }
    json_object_foreach(pj, key, v)
    {
        if (np == PC_PATTERN_MAX_PARAMS + 1) break;
        params[np].name = key;
        params[np].name_len = strlen(key);
        params[np].value = json_string_value(v);
        params[np].value_len = json_string_length(v);
        np++;
    }
    memcpy(hdrs, call->hdrs, nh * sizeof *hdrs);
    for (size_t i = 0; i < nh; i++) {
        if (strcmp(hdrs[i].name, "x-request-id") == 0) has_rid = true;
        if (strcmp(hdrs[i].name, "traceparent") == 0) has_tp = true;
        if (strcmp(hdrs[i].name, "tracestate") == 0) has_ts = true;
    }
    /* a child span of the trace being served (a new trace outside one),
     * unless the caller set its own traceparent; the tracestate goes on as
     * received (we add no entry of our own: W3C), unless the caller set one */
    if (!has_tp && pt_trace_child(call->parent_trace.traceparent, tp) == 0) {
        const char *ts = call->parent_trace.tracestate;
        hdrs[nh++] = (struct pc_kv){"traceparent", 11, tp, PC_TRACEPARENT_LEN};
        if (!has_ts && ts[0] != '\0') hdrs[nh++] = (struct pc_kv){"tracestate", 10, ts, strlen(ts)};
    }
    if (!has_rid) {
        if (call->parent_rid[0] != '\0')
            hdrs[nh].value = call->parent_rid;
        else if (pc_uuid_v4(rid) == 0)
            hdrs[nh].value = rid;
        else
            hdrs[nh].value = call->id;
        hdrs[nh].name = "x-request-id";
        hdrs[nh].name_len = strlen("x-request-id");
        hdrs[nh].value_len = strlen(hdrs[nh].value);
        nh++;
    }
    memset(&out, 0, sizeof out);
    out.id = call->id;
    out.reply_to = svc->ch_reply;
    out.deadline_ms = call->deadline_ms;
    out.method = call->method;
    out.path = call->path;
    out.path_len = strlen(call->path);
    out.query = call->query;
    out.query_len = strlen(call->query);
    out.route = tg->routes[best].path;
    out.params = params;
    out.nparams = np;
    out.headers = hdrs;
    out.nheaders = nh;
    out.remote_addr = NULL;
    out.body = call->body;
    out.body_len = call->body_len;
    out.wire = wire;
    call->wire = wire;
    pc_buf_reset(&call->msg);
    pc_wire_encode_request(&call->msg, &out);
    json_decref(pj);
    if (call->msg.oom) return PORTICO_ERR_NOMEM;
    call->encoded = true;
    return 0;
}

/* One try: pick an instance and PUBLISH. Returns 0 or an error code. */
static int call_attempt(portico_call *call)
{
    portico_service *svc = call->svc;
    struct pt_target *tg;
    struct pt_inst *in;
    struct call_tok *tok;
    int rc;

    if (!pt_bus_is_up(svc->bus)) return PORTICO_ERR_BUS;
    tg = pt_table_target(&svc->table, call->service);
    if (tg == NULL) return PORTICO_ERR_NO_INSTANCE;
    in = pt_table_pick(&svc->table, call->service);
    if (in == NULL) return PORTICO_ERR_NO_INSTANCE;
    /* v2 to an instance that announced it, v1 to the others */
    if ((!call->encoded || call->wire != in->wire) && (rc = call_encode(call, tg, in->wire)) != 0)
        return rc;
    tok = malloc(sizeof *tok);
    if (tok == NULL) return PORTICO_ERR_NOMEM;
    tok->svc = svc;
    memcpy(tok->id, call->id, sizeof tok->id);
    if (pt_bus_publish(svc->bus, in->channel, call->msg.data, call->msg.len, on_call_published,
                       tok) != 0) {
        free(tok);
        return PORTICO_ERR_BUS;
    }
    in->inflight++;
    snprintf(call->inst, sizeof call->inst, "%s", in->id);
    call->tries++;
    return 0;
}

static void on_call_published(void *ud, long long receivers)
{
    struct call_tok *tok = ud;
    portico_service *svc = tok->svc;
    portico_call *call = pc_map_get(svc->calls, tok->id, strlen(tok->id));
    struct pt_inst *in;
    int rc;

    free(tok);
    if (call == NULL) return; /* already completed */
    if (receivers < 0) {      /* lost, or Redis refused the PUBLISH */
        call_finish(call, PORTICO_ERR_BUS, NULL);
        return;
    }
    if (receivers > 0) return; /* delivered: wait for the reply or the deadline */
    /* nobody listens on that channel: the instance is gone */
    pt_log(svc, PORTICO_LOG_INFO, "instance %s of %s is gone; dropping it", call->inst,
           call->service);
    in = pt_table_inst(&svc->table, call->inst);
    if (in != NULL && in->inflight > 0) in->inflight--;
    pt_table_drop(&svc->table, call->inst);
    call->inst[0] = '\0';
    if (call->tries >= PT_CALL_TRIES) {
        call_finish(call, PORTICO_ERR_NO_INSTANCE, NULL);
        return;
    }
    rc = call_attempt(call);
    if (rc != 0) call_finish(call, rc, NULL);
}

PORTICO_API int portico_call_send(portico_call *call, portico_call_fn *cb, void *ud)
{
    portico_service *svc;
    struct pt_target *tg;
    uint64_t now, deadline;
    int timeout, rc;
    struct timeval tv;

    if (call == NULL) return PORTICO_ERR_INVALID;
    svc = call->svc;
    if (cb == NULL) {
        portico_call_free(call);
        return PORTICO_ERR_INVALID;
    }
    if (svc->state == PT_SVC_NEW || svc->state == PT_SVC_STOPPED || svc->free_pending) {
        portico_call_free(call);
        return PORTICO_ERR_STATE;
    }
    call->cb = cb;
    call->ud = ud;
    call->ev = evtimer_new(svc->base, on_call_timer, call);
    if (call->ev == NULL || pc_uuid_v4(call->id) != 0) {
        portico_call_free(call);
        return PORTICO_ERR_NOMEM;
    }
    if (pc_map_put(svc->calls, call->id, strlen(call->id), call) != 0) {
        portico_call_free(call);
        return PORTICO_ERR_NOMEM;
    }
    tg = pt_table_target(&svc->table, call->service);
    timeout = call->timeout_ms > 0               ? call->timeout_ms
              : tg != NULL && tg->timeout_ms > 0 ? tg->timeout_ms
                                                 : PT_CALL_TIMEOUT_MS;
    now = pc_unix_ms();
    deadline = now + (uint64_t)timeout;
    if (call->has_parent && call->parent_deadline_ms < deadline)
        deadline = call->parent_deadline_ms;
    call->deadline_ms = deadline;
    if (deadline <= now) {
        call_fail_later(call, PORTICO_ERR_TIMEOUT);
        return 0;
    }
    rc = call_attempt(call);
    if (rc != 0) {
        call_fail_later(call, rc);
        return 0;
    }
    tv.tv_sec = (time_t)((deadline - now) / 1000);
    tv.tv_usec = (suseconds_t)((deadline - now) % 1000) * 1000;
    evtimer_add(call->ev, &tv);
    return 0;
}

/* ---- replies ---- */

static void call_reply(portico_service *svc, const char *msg, size_t len, bool fetched,
                       const unsigned char *body, size_t body_len);

/* The body of a reply by reference, read (claim.c): the reply again. */
static void on_reply_body(portico_service *svc, const char *msg, size_t len,
                          const unsigned char *body, size_t body_len, char **own)
{
    (void)own; /* copied where the call's reply is kept */
    call_reply(svc, msg, len, true, body, body_len);
}

void pt_call_on_reply(portico_service *svc, const char *msg, size_t len)
{
    call_reply(svc, msg, len, false, NULL, 0);
}

/* A reply message; fetched: its body (NULL: missing) was read from Redis. */
static void call_reply(portico_service *svc, const char *msg, size_t len, bool fetched,
                       const unsigned char *body, size_t body_len)
{
    struct portico_response res;
    struct pc_wire_err err;
    portico_call *call;
    int rc;

    memset(&res, 0, sizeof res);
    rc = pc_wire_decode_reply(&res.in, msg, len, &err);
    if (rc == -1 || res.in.id == NULL) {
        if (pc_ratelimit_allow(&svc->bad_rl, pc_mono_ms()))
            pt_log(svc, PORTICO_LOG_WARN, "unreadable reply dropped: %s", err.message);
        pc_wire_reply_in_deinit(&res.in);
        return;
    }
    call = pc_map_get(svc->calls, res.in.id, res.in.id_len);
    if (call == NULL) {
        pt_log(svc, PORTICO_LOG_DEBUG, "late or unknown reply dropped");
    } else if (rc != 0) {
        pt_log(svc, PORTICO_LOG_WARN, "bad reply from %s: %s", call->inst, err.message);
        call_finish(call, PORTICO_ERR_BAD_REPLY, NULL);
    } else if (res.in.body_ref != NULL && !pt_claim_key_ok(svc, res.in.body_ref, res.in.id, true)) {
        pt_log(svc, PORTICO_LOG_WARN, "bad reply from %s: body_ref is not its key", call->inst);
        call_finish(call, PORTICO_ERR_BAD_REPLY, NULL);
    } else if (res.in.body_ref != NULL && !fetched) { /* read the body first */
        if (pt_claim_fetch(svc, res.in.body_ref, res.in.body_len, msg, len, on_reply_body) != 0)
            call_finish(call, PORTICO_ERR_BUS, NULL);
    } else if (res.in.body_ref != NULL && body == NULL) {
        pt_log(svc, PORTICO_LOG_WARN, "reply from %s: its body is missing or expired", call->inst);
        call_finish(call, PORTICO_ERR_BAD_REPLY, NULL);
    } else {
        if (res.in.body_ref != NULL) { /* the body read from Redis */
            res.in.body = (unsigned char *)body;
            res.in.body_len = body_len;
        }
        res.body = malloc(res.in.body_len + 1);
        if (res.body == NULL) {
            call_finish(call, PORTICO_ERR_NOMEM, NULL);
        } else {
            if (res.in.body_len > 0) memcpy(res.body, res.in.body, res.in.body_len);
            res.body[res.in.body_len] = '\0';
            call_finish(call, 0, &res);
        }
    }
    free(res.body);
    if (res.in.body_ref != NULL) res.in.body = NULL; /* borrowed from the fetch */
    pc_wire_reply_in_deinit(&res.in);
}

void pt_calls_fail_all(portico_service *svc, int err)
{
    size_t pos = 0, kl, n = 0, cap = pc_map_count(svc->calls);
    char(*ids)[PC_UUID_LEN + 1];
    const char *k;
    void *v;

    if (cap == 0) return;
    ids = malloc(cap * sizeof *ids);
    if (ids == NULL) return;
    while (n < cap && pc_map_next(svc->calls, &pos, &k, &kl, &v))
        memcpy(ids[n++], ((portico_call *)v)->id, sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        portico_call *call = pc_map_get(svc->calls, ids[i], strlen(ids[i]));
        if (call != NULL) call_finish(call, err, NULL);
    }
    free(ids);
}

/* ---- response accessors ---- */

PORTICO_API int portico_response_status(const portico_response *res) { return res->in.status; }

PORTICO_API const char *portico_response_header(const portico_response *res, const char *name)
{
    size_t n = json_array_size(res->in.headers);

    if (name == NULL) return NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *h = json_array_get(res->in.headers, i);
        const char *hn = json_string_value(json_array_get(h, 0));
        if (hn != NULL && strcasecmp(hn, name) == 0) return json_string_value(json_array_get(h, 1));
    }
    return NULL;
}

PORTICO_API size_t portico_response_header_count(const portico_response *res)
{
    return json_array_size(res->in.headers);
}

PORTICO_API int portico_response_header_at(const portico_response *res, size_t i, const char **name,
                                           const char **value)
{
    json_t *h = json_array_get(res->in.headers, i);

    if (h == NULL) return PORTICO_ERR_INVALID;
    if (name != NULL) *name = json_string_value(json_array_get(h, 0));
    if (value != NULL) *value = json_string_value(json_array_get(h, 1));
    return 0;
}

PORTICO_API const void *portico_response_body(const portico_response *res, size_t *len)
{
    if (len != NULL) *len = res->in.body_len;
    return res->body;
}

PORTICO_API json_t *portico_response_json(const portico_response *res)
{
    if (res->in.body_len == 0) return NULL;
    return json_loadb(res->body, res->in.body_len, JSON_DECODE_ANY, NULL);
}
