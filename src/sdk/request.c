/* request.c -- a request being served: arrival, handler, deadline; replies
 * are in reply.c.
 *
 * References: the SDK holds one from arrival until the request is done
 * (replied to, or its deadline passed), dispatch holds one while the handler
 * runs, and the application may take more (portico_request_ref). The object
 * is freed when the last one goes. A request that is done is never replied
 * to again: a late reply returns PORTICO_ERR_DEADLINE and sends nothing
 * (the gateway has answered 504 and would drop it anyway). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "clock.h"
#include "log.h"

#include "internal.h"

static void req_free(portico_request *req)
{
    portico_service *svc = req->svc;

    if (svc != NULL) {
        if (req->prev != NULL)
            req->prev->next = req->next;
        else
            svc->reqs = req->next;
        if (req->next != NULL) req->next->prev = req->prev;
    }
    if (req->deadline_ev != NULL) event_free(req->deadline_ev);
    json_decref(req->params_obj);
    pc_wire_request_in_deinit(&req->full);
    free(req->full_kv);
    free(req->full_body);
    free(req->msg);
    pc_buf_deinit(&req->writer.buf);
    free(req);
}

PORTICO_API portico_request *portico_request_ref(portico_request *req)
{
    if (req != NULL) req->refs++;
    return req;
}

PORTICO_API void portico_request_unref(portico_request *req)
{
    if (req != NULL && --req->refs == 0) req_free(req);
}

/* See internal.h. */
void pt_request_done(portico_request *req)
{
    portico_service *svc = req->svc;

    if (!req->pending) return;
    req->pending = false;
    if (req->deadline_ev != NULL) event_del(req->deadline_ev);
    if (svc != NULL) svc->reqs_pending--;
    portico_request_unref(req);
    if (svc != NULL) pt_svc_check_drained(svc);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    portico_request *req = arg;

    (void)fd;
    (void)what;
    req->expired = true;
    pt_log(req->svc, PORTICO_LOG_DEBUG, "request %s %s (%s) expired without a reply",
           req->in.method, req->in.path, req->in.id);
    pt_request_done(req);
}

void pt_requests_detach(portico_service *svc)
{
    portico_request *req = svc->reqs, *next;

    svc->reqs = NULL;
    for (; req != NULL; req = next) {
        next = req->next;
        req->prev = req->next = NULL;
        req->svc = NULL;
        if (req->deadline_ev != NULL) {
            event_free(req->deadline_ev);
            req->deadline_ev = NULL;
        }
        if (req->pending) {
            req->pending = false;
            portico_request_unref(req);
        }
    }
    svc->reqs_pending = 0;
}

/* Copies the strings of a json [name, value] pair or an object member. */
static void kv_from_json(struct pc_kv *kv, const char *name, json_t *value)
{
    kv->name = name;
    kv->name_len = strlen(name);
    kv->value = json_string_value(value);
    kv->value_len = json_string_length(value);
}

/* The full decoder's path (a message the lean reader declined): the same
 * view, pointing into the tree. Returns 0, or -1 (err filled). */
static int decode_full(portico_request *req, const char *msg, size_t len, struct pc_wire_err *err)
{
    struct pc_request_in *f = &req->full;
    struct pc_request_view *v = &req->in;
    size_t np, nh, i = 0;
    const char *k;
    json_t *val;

    if (pc_wire_decode_request(f, msg, len, err) != 0) return -1;
    np = f->params ? json_object_size(f->params) : 0;
    nh = f->headers ? json_array_size(f->headers) : 0;
    if ((np + nh > 0 && (req->full_kv = malloc((np + nh) * sizeof *req->full_kv)) == NULL) ||
        (f->body != NULL && (req->full_body = malloc(f->body_len + 1)) == NULL)) {
        err->reason = "no_memory";
        snprintf(err->message, sizeof err->message, "no memory for a request");
        return -1;
    }
    json_object_foreach(f->params, k, val) kv_from_json(&req->full_kv[i++], k, val);
    for (size_t j = 0; j < nh; j++) {
        json_t *h = json_array_get(f->headers, j);
        kv_from_json(&req->full_kv[np + j], json_string_value(json_array_get(h, 0)),
                     json_array_get(h, 1));
    }
    if (f->body != NULL) {
        memcpy(req->full_body, f->body, f->body_len);
        req->full_body[f->body_len] = '\0';
    }
    *v = (struct pc_request_view){
        .id = f->id,
        .reply_to = f->reply_to,
        .method = f->method,
        .path = f->path,
        .query = f->query,
        .route = f->route,
        .remote_addr = f->remote_addr,
        .deadline_ms = f->deadline_ms,
        .params = req->full_kv,
        .nparams = np,
        .headers = req->full_kv + np,
        .nheaders = nh,
        .body = req->full_body,
        .body_len = f->body != NULL ? f->body_len : 0,
        .wire = f->wire,
    };
    return 0;
}

/* Reads a request message into a new request (refs 0), or NULL (logged). */
static portico_request *req_decode(portico_service *svc, const char *msg, size_t len)
{
    portico_request *req = len < SIZE_MAX - sizeof *req ? malloc(sizeof *req + len + 1) : NULL;
    struct pc_wire_err err;

    if (req == NULL) {
        pt_log(svc, PORTICO_LOG_ERROR, "request dropped: out of memory");
        return NULL;
    }
    memset(req, 0, offsetof(portico_request, kv));
    if (pc_wire_decode_request_lean_ref(&req->in, msg, len, req->text, req->kv, PT_REQ_KV)) {
        if (req->in.body != NULL && req->in.wire == PC_WIRE_V2) {
            /* a v2 body, in the message: kept there when the message can be
             * taken from the bus (no copy), else copied after the strings */
            if ((req->msg = pt_bus_take_message(svc->bus, msg)) == NULL) {
                char *t = req->text + (len - req->in.body_len);
                memcpy(t, req->in.body, req->in.body_len);
                t[req->in.body_len] = '\0';
                req->in.body = (const unsigned char *)t;
            }
        }
        return req;
    }
    if (decode_full(req, msg, len, &err) != 0) {
        if (pt_request_cancel(svc, msg, len)) { /* not a request: a cancel (v1 or v2) */
            req_free(req);
            return NULL;
        }
        if (pc_ratelimit_allow(&svc->bad_rl, pc_mono_ms()))
            pt_log(svc, PORTICO_LOG_WARN, "bad request message dropped: %s", err.message);
        req_free(req);
        return NULL;
    }
    return req;
}

/* True if reply_to names a gateway's reply channel, "<prefix>:reply:<id>":
 * a request may not make us publish anywhere else (on P:register, or
 * outside our prefix). */
static bool reply_to_ok(const portico_service *svc, const char *reply_to)
{
    size_t pl = strlen(svc->prefix);

    return strncmp(reply_to, svc->prefix, pl) == 0 && strncmp(reply_to + pl, ":reply:", 7) == 0 &&
           reply_to[pl + 7] != '\0';
}

/* Finds the route for req: the gateway's pattern (our own param names when
 * another instance announced it with others), else our own match. Returns
 * its index or -1. */
static long req_route(portico_service *svc, portico_request *req)
{
    size_t best;
    long idx;

    if (req->in.route != NULL && req->in.route[0] != '\0') {
        idx = pt_route_find(svc->decls, svc->nroutes, req->in.method, req->in.route);
        req->route = idx >= 0 ? svc->decls[idx].path : req->in.route;
        if (idx >= 0 && strcmp(svc->decls[idx].path, req->in.route) != 0) {
            /* the gateway knows the pattern under another instance's param
             * names: capture the params again under ours */
            size_t one;
            req->params_obj = json_object();
            if (req->params_obj != NULL &&
                pt_route_match(&svc->decls[idx], 1, svc->decls[idx].method, req->in.path,
                               strlen(req->in.path), &one, req->params_obj) != PT_MATCH_OK) {
                json_decref(req->params_obj);
                req->params_obj = NULL;
            }
        }
        return idx;
    }
    req->params_obj = json_object();
    if (req->params_obj != NULL &&
        pt_route_match(svc->decls, svc->nroutes, req->in.method, req->in.path, strlen(req->in.path),
                       &best, req->params_obj) == PT_MATCH_OK) {
        req->route = svc->decls[best].path;
        return (long)best;
    }
    return -1;
}

static void find_request_id(portico_request *req)
{
    const struct pc_kv *tp = NULL;
    struct pc_tracestate ts;
    bool rid = false;
    int ntp = 0;

    pc_tracestate_init(&ts);
    for (size_t i = 0; i < req->in.nheaders; i++) {
        const struct pc_kv *h = &req->in.headers[i];
        if (!rid && h->name_len == 12 && strcasecmp(h->name, "x-request-id") == 0) {
            if (h->value_len < sizeof req->request_id)
                memcpy(req->request_id, h->value, h->value_len + 1);
            rid = true;
        } else if (h->name_len == 11 && strcasecmp(h->name, "traceparent") == 0) {
            tp = h;
            ntp++;
        } else if (h->name_len == 10 && strcasecmp(h->name, "tracestate") == 0) {
            pc_tracestate_add(&ts, h->value, h->value_len);
        }
    }
    /* the trace context (W3C): one valid traceparent, and the tracestate
     * headers that came with it */
    pt_trace_read(&req->trace, ntp == 1 ? tp->value : NULL, ntp == 1 ? tp->value_len : 0, &ts,
                  req->trace_id);
}

bool pt_trace_read(struct pt_trace *t, const char *tp, size_t tp_len,
                   const struct pc_tracestate *ts, char *trace_id)
{
    char parent[17], flags[3];
    const char *state = ts != NULL ? pc_tracestate_value(ts) : NULL;

    t->traceparent[0] = t->tracestate[0] = trace_id[0] = '\0';
    if (tp == NULL || !pc_traceparent_parse(tp, tp_len, trace_id, parent, flags)) return false;
    memcpy(t->traceparent, tp, PC_TRACEPARENT_LEN);
    memcpy(t->traceparent, "00", 2);
    t->traceparent[PC_TRACEPARENT_LEN] = '\0';
    if (state != NULL) memcpy(t->tracestate, state, ts->len + 1);
    return true;
}

const struct pt_trace *pt_trace_current(const portico_service *svc)
{
    static const struct pt_trace none; /* "" and "" */

    return svc->ctx_trace != NULL ? svc->ctx_trace : &none;
}

int pt_trace_child(const char *parent, char *out)
{
    if (parent != NULL && parent[0] != '\0') {
        char trace_id[33] = {0}, flags[3] = {0};
        memcpy(trace_id, parent + 3, 32);
        memcpy(flags, parent + 53, 2);
        return pc_traceparent_child(out, trace_id, flags);
    }
    return pc_traceparent_child(out, NULL, NULL);
}

/* A body read from Redis for a request that named it (claim.c). */
struct claimed {
    const unsigned char *body; /* NULL: missing or expired */
    size_t len;
    char **own; /* body itself, malloc'd with a NUL after it, if not NULL: taken */
};

static void dispatch(portico_service *svc, const char *msg, size_t len, const struct claimed *c,
                     bool refuse);

/* The body of a request that arrived before any stop: served even when the
 * service is stopping now. */
static void on_request_body(portico_service *svc, const char *msg, size_t len,
                            const unsigned char *body, size_t body_len, char **own)
{
    struct claimed c = {body, body_len, own};
    dispatch(svc, msg, len, &c, false);
}

/* See internal.h. */
void pt_request_dispatch(portico_service *svc, const char *msg, size_t len)
{
    dispatch(svc, msg, len, NULL, svc->state != PT_SVC_RUNNING);
}

/* Sets req's body to the one read from Redis; false when out of memory. */
static bool take_claimed(portico_request *req, const struct claimed *c)
{
    if (c->own != NULL && *c->own != NULL) { /* the reply's own bytes: no copy */
        req->full_body = (unsigned char *)*c->own;
        *c->own = NULL;
    } else {
        if ((req->full_body = malloc(c->len + 1)) == NULL) return false;
        if (c->len > 0) memcpy(req->full_body, c->body, c->len);
        req->full_body[c->len] = '\0';
    }
    req->in.body = c->len > 0 ? req->full_body : NULL;
    req->in.body_len = c->len;
    return true;
}

/* A request message (c NULL) or, for one whose body is in Redis, the same
 * message again once the body was read (c). Refused (a stop has begun): not
 * served, its body not read, but answered at once, so that its client
 * need not wait for a 504. */
static void dispatch(portico_service *svc, const char *msg, size_t len, const struct claimed *c,
                     bool refuse)
{
    portico_request *req = req_decode(svc, msg, len);
    uint64_t now;
    long idx;
    struct timeval tv;
    uint64_t saved_deadline;
    char saved_rid[sizeof svc->ctx_request_id];
    const struct pt_trace *saved_trace;

    if (req == NULL) return;
    if (!reply_to_ok(svc, req->in.reply_to)) {
        if (pc_ratelimit_allow(&svc->bad_rl, pc_mono_ms()))
            pt_log(svc, PORTICO_LOG_WARN, "request %s dropped: reply_to is not a reply channel",
                   req->in.id);
        req_free(req);
        return;
    }
    if (req->full.body_ref != NULL &&
        !pt_claim_key_ok(svc, req->full.body_ref, req->in.id, false)) {
        if (pc_ratelimit_allow(&svc->bad_rl, pc_mono_ms()))
            pt_log(svc, PORTICO_LOG_WARN, "request %s dropped: body_ref is not its key",
                   req->in.id);
        req_free(req);
        return;
    }
    if (req->full.body_ref != NULL && c == NULL && !refuse) { /* read the body first */
        if (pt_claim_fetch(svc, req->full.body_ref, req->full.body_len, msg, len,
                           on_request_body) != 0)
            pt_log(svc, PORTICO_LOG_WARN, "request %s dropped: its body cannot be read",
                   req->in.id);
        req_free(req);
        return;
    }
    if (c != NULL && c->body != NULL && !take_claimed(req, c)) {
        pt_log(svc, PORTICO_LOG_ERROR, "request dropped: out of memory");
        req_free(req);
        return;
    }
    now = pc_unix_ms();
    if (req->in.deadline_ms <= now) {
        pt_log(svc, PORTICO_LOG_DEBUG, "request %s dropped: past its deadline on arrival",
               req->in.id);
        req_free(req);
        return;
    }
    idx = req_route(svc, req);
    find_request_id(req);

    req->svc = svc;
    req->refs = 2; /* the SDK's, and this function's */
    req->pending = true;
    req->next = svc->reqs;
    if (svc->reqs != NULL) svc->reqs->prev = req;
    svc->reqs = req;
    svc->reqs_pending++;
    req->deadline_ev = evtimer_new(svc->base, on_deadline, req);
    if (req->deadline_ev != NULL) {
        uint64_t left = req->in.deadline_ms - now;
        tv.tv_sec = (time_t)(left / 1000);
        tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
        evtimer_add(req->deadline_ev, &tv);
    }

    if (refuse) {
        pt_log(svc, PORTICO_LOG_DEBUG, "request %s %s (%s) refused: stopping", req->in.method,
               req->in.path, req->in.id);
        portico_reply_error(req, 503, "stopping", "the instance is stopping");
    } else if (c != NULL && c->body == NULL) {
        portico_reply_error(req, 400, "bad_request", "the request body is missing or expired");
    } else if (idx < 0) {
        portico_reply_error(req, 404, "not_found", "no route for this method and path");
    } else {
        const struct pt_route *r = &svc->routes[idx];
        saved_deadline = svc->ctx_deadline_ms;
        memcpy(saved_rid, svc->ctx_request_id, sizeof saved_rid);
        saved_trace = svc->ctx_trace;
        svc->ctx_deadline_ms = req->in.deadline_ms;
        memcpy(svc->ctx_request_id, req->request_id, sizeof saved_rid);
        svc->ctx_trace = &req->trace; /* req is held (refs) until after the handler */
        pt_svc_enter(svc);
        r->handler(req, r->ud);
        pt_svc_leave(svc);
        svc->ctx_trace = saved_trace;
        svc->ctx_deadline_ms = saved_deadline;
        memcpy(svc->ctx_request_id, saved_rid, sizeof saved_rid);
    }
    portico_request_unref(req);
}

/* ---- accessors ---- */

PORTICO_API const char *portico_request_traceparent(const portico_request *req)
{
    return req != NULL ? req->trace.traceparent : "";
}

PORTICO_API const char *portico_request_tracestate(const portico_request *req)
{
    return req != NULL ? req->trace.tracestate : "";
}

PORTICO_API const char *portico_request_trace_id(const portico_request *req)
{
    return req != NULL ? req->trace_id : "";
}

PORTICO_API portico_service *portico_request_service(const portico_request *req)
{
    return req->svc;
}

PORTICO_API const char *portico_request_method(const portico_request *req)
{
    return req->in.method;
}

PORTICO_API const char *portico_request_path(const portico_request *req) { return req->in.path; }

PORTICO_API const char *portico_request_query(const portico_request *req)
{
    return req->in.query ? req->in.query : "";
}

PORTICO_API const char *portico_request_route(const portico_request *req)
{
    return req->route ? req->route : "";
}

PORTICO_API const char *portico_request_id(const portico_request *req) { return req->in.id; }

PORTICO_API const char *portico_request_remote_addr(const portico_request *req)
{
    return req->in.remote_addr ? req->in.remote_addr : "";
}

PORTICO_API const char *portico_request_request_id(const portico_request *req)
{
    return req->request_id;
}

PORTICO_API const char *portico_request_param(const portico_request *req, const char *name)
{
    if (name == NULL) return NULL;
    if (req->params_obj != NULL) return json_string_value(json_object_get(req->params_obj, name));
    for (size_t i = 0; i < req->in.nparams; i++)
        if (strcmp(req->in.params[i].name, name) == 0) return req->in.params[i].value;
    return NULL;
}

PORTICO_API json_t *portico_request_params(const portico_request *req)
{
    portico_request *r = (portico_request *)req; /* built once, on demand */

    if (r->params_obj == NULL && (r->params_obj = json_object()) != NULL) {
        for (size_t i = 0; i < r->in.nparams; i++) {
            const struct pc_kv *p = &r->in.params[i];
            json_object_setn_new_nocheck(r->params_obj, p->name, p->name_len,
                                         json_stringn_nocheck(p->value, p->value_len));
        }
    }
    return r->params_obj;
}

PORTICO_API const char *portico_request_header(const portico_request *req, const char *name)
{
    if (name == NULL) return NULL;
    for (size_t i = 0; i < req->in.nheaders; i++)
        if (strcasecmp(req->in.headers[i].name, name) == 0) return req->in.headers[i].value;
    return NULL;
}

PORTICO_API size_t portico_request_header_count(const portico_request *req)
{
    return req->in.nheaders;
}

PORTICO_API int portico_request_header_at(const portico_request *req, size_t i, const char **name,
                                          const char **value)
{
    if (i >= req->in.nheaders) return PORTICO_ERR_INVALID;
    if (name != NULL) *name = req->in.headers[i].name;
    if (value != NULL) *value = req->in.headers[i].value;
    return 0;
}

PORTICO_API const void *portico_request_body(const portico_request *req, size_t *len)
{
    if (len != NULL) *len = req->in.body_len;
    return req->in.body;
}

PORTICO_API json_t *portico_request_json(const portico_request *req)
{
    if (req->in.body == NULL) return NULL;
    return json_loadb((const char *)req->in.body, req->in.body_len, JSON_DECODE_ANY, NULL);
}

PORTICO_API uint64_t portico_request_deadline_ms(const portico_request *req)
{
    return req->in.deadline_ms;
}

PORTICO_API int64_t portico_request_remaining_ms(const portico_request *req)
{
    uint64_t now = pc_unix_ms();

    return now >= req->in.deadline_ms ? 0 : (int64_t)(req->in.deadline_ms - now);
}

PORTICO_API bool portico_request_is_done(const portico_request *req)
{
    return req->replied || req->expired || req->cancelled ||
           (!req->streaming && pc_unix_ms() >= req->in.deadline_ms);
}
