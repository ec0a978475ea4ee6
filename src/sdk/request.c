/* request.c -- a request being served: arrival, handler, deadline, replies.
 *
 * References: the SDK holds one from arrival until the request is done
 * (replied to, or its deadline passed), dispatch holds one while the handler
 * runs, and the application may take more (portico_request_ref). The object
 * is freed when the last one goes. A request that is done is never replied
 * to again: a late reply returns PORTICO_ERR_DEADLINE and sends nothing
 * (the gateway has answered 504 and would drop it anyway). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "clock.h"
#include "log.h"

#include "internal.h"

#define REPLY_MAX_HEADERS 100

struct portico_request {
    portico_service *svc;          /* NULL once the service is freed */
    struct pc_request_in in;
    json_t *own_params;            /* params we matched ourselves (no route given) */
    const char *route;             /* pattern that matched, owned by in or svc */
    char *body;                    /* in.body plus a NUL */
    char request_id[129];          /* x-request-id or "" */
    int refs;
    bool pending;                  /* the SDK's reference is still held */
    bool replied, expired;
    struct event *deadline_ev;
    struct portico_request *prev, *next;
};

static void req_free(portico_request *req)
{
    portico_service *svc = req->svc;

    if (svc != NULL) {
        if (req->prev != NULL)
            req->prev->next = req->next;
        else
            svc->reqs = req->next;
        if (req->next != NULL)
            req->next->prev = req->prev;
    }
    if (req->deadline_ev != NULL)
        event_free(req->deadline_ev);
    json_decref(req->own_params);
    pc_wire_request_in_deinit(&req->in);
    free(req->body);
    free(req);
}

PORTICO_API portico_request *portico_request_ref(portico_request *req)
{
    if (req != NULL)
        req->refs++;
    return req;
}

PORTICO_API void portico_request_unref(portico_request *req)
{
    if (req != NULL && --req->refs == 0)
        req_free(req);
}

/* The request is replied to or expired: drop the SDK's reference. req may
 * be freed on return. */
static void req_done(portico_request *req)
{
    portico_service *svc = req->svc;

    if (!req->pending)
        return;
    req->pending = false;
    if (req->deadline_ev != NULL)
        event_del(req->deadline_ev);
    if (svc != NULL)
        svc->reqs_pending--;
    portico_request_unref(req);
    if (svc != NULL)
        pt_svc_check_drained(svc);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    portico_request *req = arg;

    (void)fd;
    (void)what;
    req->expired = true;
    pt_log(req->svc, PORTICO_LOG_DEBUG, "request %s %s (%s) expired without a reply",
           req->in.method, req->in.path, req->in.id);
    req_done(req);
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

static void find_request_id(portico_request *req)
{
    size_t i, n = json_array_size(req->in.headers);

    for (i = 0; i < n; i++) {
        json_t *h = json_array_get(req->in.headers, i);
        const char *name = json_string_value(json_array_get(h, 0));
        const char *value = json_string_value(json_array_get(h, 1));
        if (name != NULL && value != NULL && strcasecmp(name, "x-request-id") == 0) {
            size_t vl = strlen(value);
            if (vl < sizeof req->request_id) {
                memcpy(req->request_id, value, vl + 1);
            }
            return;
        }
    }
}

void pt_request_dispatch(portico_service *svc, const char *msg, size_t len)
{
    portico_request *req;
    struct pc_wire_err err;
    uint64_t now;
    long idx = -1;
    struct timeval tv;
    uint64_t saved_deadline;
    char saved_rid[sizeof svc->ctx_request_id];

    req = calloc(1, sizeof *req);
    if (req == NULL) {
        pt_log(svc, PORTICO_LOG_ERROR, "request dropped: out of memory");
        return;
    }
    if (pc_wire_decode_request(&req->in, msg, len, &err) != 0) {
        if (pc_ratelimit_allow(&svc->bad_rl, pc_mono_ms()))
            pt_log(svc, PORTICO_LOG_WARN, "bad request message dropped: %s", err.message);
        free(req);
        return;
    }
    now = pc_unix_ms();
    if (req->in.deadline_ms <= now) {
        pt_log(svc, PORTICO_LOG_DEBUG, "request %s dropped: past its deadline on arrival",
               req->in.id);
        pc_wire_request_in_deinit(&req->in);
        free(req);
        return;
    }
    if (req->in.body != NULL) {
        req->body = malloc(req->in.body_len + 1);
        if (req->body == NULL) {
            pc_wire_request_in_deinit(&req->in);
            free(req);
            return;
        }
        memcpy(req->body, req->in.body, req->in.body_len);
        req->body[req->in.body_len] = '\0';
    }
    if (req->in.route != NULL && req->in.route[0] != '\0') {
        idx = pt_route_find(svc->decls, svc->nroutes, req->in.method, req->in.route);
        req->route = idx >= 0 ? svc->decls[idx].path : req->in.route;
        if (idx >= 0 && strcmp(svc->decls[idx].path, req->in.route) != 0) {
            /* the gateway knows the pattern under another instance's param
             * names: capture the params again under ours */
            size_t one;
            req->own_params = json_object();
            if (req->own_params != NULL &&
                pt_route_match(&svc->decls[idx], 1, svc->decls[idx].method, req->in.path,
                               strlen(req->in.path), &one, req->own_params) != PT_MATCH_OK) {
                json_decref(req->own_params);
                req->own_params = NULL;
            }
        }
        if (req->own_params == NULL && req->in.params == NULL)
            req->own_params = json_object();
    } else {
        size_t best;
        req->own_params = json_object();
        if (req->own_params != NULL &&
            pt_route_match(svc->decls, svc->nroutes, req->in.method, req->in.path,
                           strlen(req->in.path), &best, req->own_params) == PT_MATCH_OK) {
            idx = (long)best;
            req->route = svc->decls[best].path;
        }
    }
    find_request_id(req);

    req->svc = svc;
    req->refs = 2; /* the SDK's, and this function's */
    req->pending = true;
    req->next = svc->reqs;
    if (svc->reqs != NULL)
        svc->reqs->prev = req;
    svc->reqs = req;
    svc->reqs_pending++;
    req->deadline_ev = evtimer_new(svc->base, on_deadline, req);
    if (req->deadline_ev != NULL) {
        uint64_t left = req->in.deadline_ms - now;
        tv.tv_sec = (time_t)(left / 1000);
        tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
        evtimer_add(req->deadline_ev, &tv);
    }

    if (idx < 0) {
        portico_reply_error(req, 404, "not_found", "no route for this method and path");
    } else {
        const struct pt_route *r = &svc->routes[idx];
        saved_deadline = svc->ctx_deadline_ms;
        memcpy(saved_rid, svc->ctx_request_id, sizeof saved_rid);
        svc->ctx_deadline_ms = req->in.deadline_ms;
        memcpy(svc->ctx_request_id, req->request_id, sizeof saved_rid);
        pt_svc_enter(svc);
        r->handler(req, r->ud);
        pt_svc_leave(svc);
        svc->ctx_deadline_ms = saved_deadline;
        memcpy(svc->ctx_request_id, saved_rid, sizeof saved_rid);
    }
    portico_request_unref(req);
}

/* ---- accessors ---- */

PORTICO_API portico_service *portico_request_service(const portico_request *req)
{
    return req->svc;
}

PORTICO_API const char *portico_request_method(const portico_request *req)
{
    return req->in.method;
}

PORTICO_API const char *portico_request_path(const portico_request *req)
{
    return req->in.path;
}

PORTICO_API const char *portico_request_query(const portico_request *req)
{
    return req->in.query ? req->in.query : "";
}

PORTICO_API const char *portico_request_route(const portico_request *req)
{
    return req->route ? req->route : "";
}

PORTICO_API const char *portico_request_id(const portico_request *req)
{
    return req->in.id;
}

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
    json_t *params = req->own_params ? req->own_params : req->in.params;

    if (name == NULL || params == NULL)
        return NULL;
    return json_string_value(json_object_get(params, name));
}

PORTICO_API json_t *portico_request_params(const portico_request *req)
{
    return req->own_params ? req->own_params : req->in.params;
}

PORTICO_API const char *portico_request_header(const portico_request *req, const char *name)
{
    size_t i, n = json_array_size(req->in.headers);

    if (name == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        json_t *h = json_array_get(req->in.headers, i);
        const char *hn = json_string_value(json_array_get(h, 0));
        if (hn != NULL && strcasecmp(hn, name) == 0)
            return json_string_value(json_array_get(h, 1));
    }
    return NULL;
}

PORTICO_API size_t portico_request_header_count(const portico_request *req)
{
    return json_array_size(req->in.headers);
}

PORTICO_API int portico_request_header_at(const portico_request *req, size_t i,
                                          const char **name, const char **value)
{
    json_t *h = json_array_get(req->in.headers, i);

    if (h == NULL)
        return PORTICO_ERR_INVALID;
    if (name != NULL)
        *name = json_string_value(json_array_get(h, 0));
    if (value != NULL)
        *value = json_string_value(json_array_get(h, 1));
    return 0;
}

PORTICO_API const void *portico_request_body(const portico_request *req, size_t *len)
{
    if (len != NULL)
        *len = req->body ? req->in.body_len : 0;
    return req->body;
}

PORTICO_API json_t *portico_request_json(const portico_request *req)
{
    if (req->body == NULL)
        return NULL;
    return json_loadb(req->body, req->in.body_len, JSON_DECODE_ANY, NULL);
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
    return req->replied || req->expired || pc_unix_ms() >= req->in.deadline_ms;
}

/* ---- replies ---- */

PORTICO_API int portico_reply(portico_request *req, int status, const char *const *headers,
                              const void *body, size_t body_len)
{
    struct pc_kv kv[REPLY_MAX_HEADERS];
    size_t nh = 0;
    portico_service *svc;
    pc_buf b;
    int rc = 0;

    if (req == NULL)
        return PORTICO_ERR_INVALID;
    if (req->replied)
        return PORTICO_ERR_REPLIED;
    if (status < 200 || status > 599 || (body == NULL && body_len > 0))
        return PORTICO_ERR_INVALID;
    for (; headers != NULL && headers[2 * nh] != NULL; nh++) {
        const char *name = headers[2 * nh], *value = headers[2 * nh + 1];
        if (nh == REPLY_MAX_HEADERS || value == NULL ||
            !pc_header_name_is_valid(name, strlen(name)) ||
            !pc_header_value_is_valid(value, strlen(value)))
            return PORTICO_ERR_INVALID;
        kv[nh].name = name;
        kv[nh].name_len = strlen(name);
        kv[nh].value = value;
        kv[nh].value_len = strlen(value);
    }
    svc = req->svc;
    if (svc == NULL)
        return PORTICO_ERR_STATE;
    if (req->expired || pc_unix_ms() > req->in.deadline_ms) {
        req->expired = true;
        req_done(req);
        return PORTICO_ERR_DEADLINE;
    }
    pc_buf_init(&b);
    pc_wire_encode_reply(&b, req->in.id, status, kv, nh, body, body_len);
    if (b.oom)
        rc = PORTICO_ERR_NOMEM;
    else if (pt_bus_publish(&svc->bus, req->in.reply_to, b.data, b.len, NULL, NULL) != 0)
        rc = PORTICO_ERR_BUS;
    pc_buf_deinit(&b);
    if (rc == PORTICO_ERR_NOMEM)
        return rc;
    req->replied = true;
    req_done(req);
    return rc;
}

PORTICO_API int portico_reply_json(portico_request *req, int status, json_t *value)
{
    static const char *const h[] = {"content-type", "application/json", NULL};
    char *text;
    int rc;

    if (value == NULL)
        return PORTICO_ERR_INVALID;
    text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(value);
    if (text == NULL)
        return PORTICO_ERR_NOMEM;
    rc = portico_reply(req, status, h, text, strlen(text));
    free(text);
    return rc;
}

PORTICO_API int portico_reply_text(portico_request *req, int status, const char *fmt, ...)
{
    static const char *const h[] = {"content-type", "text/plain; charset=utf-8", NULL};
    va_list ap;
    pc_buf b;
    int rc;

    pc_buf_init(&b);
    va_start(ap, fmt);
    pc_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    rc = b.oom ? PORTICO_ERR_NOMEM : portico_reply(req, status, h, b.data, b.len);
    pc_buf_deinit(&b);
    return rc;
}

PORTICO_API int portico_reply_error(portico_request *req, int status, const char *code,
                                    const char *message)
{
    json_t *o = json_pack("{s:s, s:s, s:s}", "error", code ? code : "error", "message",
                          message ? message : "", "request_id", req->request_id);

    if (o == NULL)
        return PORTICO_ERR_NOMEM;
    return portico_reply_json(req, status, o);
}
