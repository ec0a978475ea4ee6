/* The serving side without Redis: argument checks, request dispatch to the
 * right handler, params and accessors, requests dropped when already past
 * their deadline, replies after the deadline and second replies refused,
 * 404 for an unknown route, event dispatch and validation, calls failing
 * with a typed error when the bus is down (callback exactly once, never
 * inside portico_call_send); the stream API's refusals, and the gateway's
 * cancel message (callback once, writes refused, other messages ignored);
 * the trace context a request and an event give (tracestate only with a
 * valid traceparent, bounded). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "internal.h"
#include "test.h"

static int calls_a, calls_b;
static portico_request *kept;
static int last_reply_rc;

static void on_a(portico_request *req, void *ud)
{
    calls_a++;
    CHECK(ud == (void *)&calls_a);
    CHECK_EQ_STR(portico_request_method(req), "GET");
    CHECK_EQ_STR(portico_request_path(req), "/users/42");
    CHECK_EQ_STR(portico_request_query(req), "v=1");
    CHECK_EQ_STR(portico_request_route(req), "/users/{id}");
    CHECK_EQ_STR(portico_request_param(req, "id"), "42"); /* our name, not the gateway's */
    CHECK(portico_request_param(req, "nope") == NULL);
    CHECK_EQ_STR(portico_request_header(req, "X-Request-Id"), "rid-1");
    CHECK_EQ_STR(portico_request_request_id(req), "rid-1");
    CHECK_EQ_INT(portico_request_header_count(req), 2);
    {
        const char *n, *v;
        CHECK_EQ_INT(portico_request_header_at(req, 1, &n, &v), 0);
        CHECK_EQ_STR(n, "accept");
        CHECK_EQ_INT(portico_request_header_at(req, 2, &n, &v), PORTICO_ERR_INVALID);
    }
    {
        size_t len;
        const char *b = portico_request_body(req, &len);
        CHECK_EQ_INT(len, 7);
        CHECK_EQ_STR(b, "{\"a\":1}");
        json_t *j = portico_request_json(req);
        CHECK(json_is_object(j));
        json_decref(j);
    }
    CHECK_EQ_STR(portico_request_remote_addr(req), "203.0.113.9");
    CHECK(portico_request_remaining_ms(req) > 0);
    CHECK(!portico_request_is_done(req));
    /* the bus is down: the reply cannot go out, and the request is done */
    last_reply_rc = portico_reply_text(req, 200, "hello %d", 42);
    CHECK_EQ_INT(last_reply_rc, PORTICO_ERR_BUS);
    CHECK_EQ_INT(portico_reply_text(req, 200, "again"), PORTICO_ERR_REPLIED);
    CHECK(portico_request_is_done(req));
}

static void on_b(portico_request *req, void *ud)
{
    (void)ud;
    calls_b++;
    /* bad replies are refused without consuming the request */
    CHECK_EQ_INT(portico_reply(req, 99, NULL, NULL, 0), PORTICO_ERR_INVALID);
    {
        const char *bad[] = {"bad name", "x", NULL};
        CHECK_EQ_INT(portico_reply(req, 200, bad, NULL, 0), PORTICO_ERR_INVALID);
        const char *badv[] = {"x-a", "a\r\nb", NULL};
        CHECK_EQ_INT(portico_reply(req, 200, badv, NULL, 0), PORTICO_ERR_INVALID);
    }
    CHECK_EQ_INT(portico_reply_json(req, 200, NULL), PORTICO_ERR_INVALID);
    CHECK(!portico_request_is_done(req));
    kept = portico_request_ref(req); /* reply later, after the deadline */
}

static char *request_json(const char *method, const char *path, const char *route,
                          int64_t deadline_delta_ms)
{
    char *s = malloc(1024);
    snprintf(s, 1024,
             "{\"v\":1,\"id\":\"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9\","
             "\"reply_to\":\"portico:reply:x\",\"deadline_ms\":%" PRIu64 ","
             "\"method\":\"%s\",\"path\":\"%s\",\"query\":\"v=1\",%s%s%s"
             "\"params\":{\"id\":\"42\"},\"headers\":[[\"x-request-id\",\"rid-1\"],"
             "[\"accept\",\"*/*\"]],\"remote_addr\":\"203.0.113.9\",\"body\":\"{\\\"a\\\":1}\"}",
             (uint64_t)((int64_t)pc_unix_ms() + deadline_delta_ms), method, path,
             route ? "\"route\":\"" : "", route ? route : "", route ? "\"," : "");
    return s;
}

static void dispatch(portico_service *svc, const char *method, const char *path, const char *route,
                     int64_t delta)
{
    char *m = request_json(method, path, route, delta);
    pt_request_dispatch(svc, m, strlen(m));
    free(m);
}

static int cancels_seen;
static void on_cancelled(portico_request *req, void *ud)
{
    CHECK(ud == (void *)&cancels_seen);
    CHECK(portico_request_cancelled(req));
    cancels_seen++;
}

static void cancel(portico_service *svc, const char *id)
{
    char m[128];
    snprintf(m, sizeof m, "{\"v\":1,\"id\":\"%s\",\"cancel\":true}", id);
    pt_request_dispatch(svc, m, strlen(m));
}

/* What a handler or an event handler was given of the trace context. */
static char seen_tp[64], seen_ts[600];

static void on_trace(portico_request *req, void *ud)
{
    (void)ud;
    snprintf(seen_tp, sizeof seen_tp, "%s", portico_request_traceparent(req));
    snprintf(seen_ts, sizeof seen_ts, "%s", portico_request_tracestate(req));
    portico_reply_text(req, 200, "ok"); /* lost: bus down */
}

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

/* A GET /trace request with headers (a JSON array's members) to on_trace. */
static void dispatch_trace(portico_service *svc, const char *headers)
{
    char m[2048];
    snprintf(m, sizeof m,
             "{\"v\":1,\"id\":\"1b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9\","
             "\"reply_to\":\"portico:reply:x\",\"deadline_ms\":%" PRIu64 ","
             "\"method\":\"GET\",\"path\":\"/trace\",\"headers\":[%s]}",
             pc_unix_ms() + 5000, headers);
    seen_tp[0] = seen_ts[0] = '?';
    seen_tp[1] = seen_ts[1] = '\0';
    pt_request_dispatch(svc, m, strlen(m));
}

static void test_request_trace(portico_service *svc)
{
    /* several tracestate headers (any case) are one list, trimmed */
    dispatch_trace(svc, "[\"traceparent\",\"" TP "\"],[\"tracestate\",\"a=1 , b=2\"],"
                        "[\"TraceState\",\"c=3\"]");
    CHECK_EQ_STR(seen_tp, TP);
    CHECK_EQ_STR(seen_ts, "a=1,b=2,c=3");
    /* none: "", never made up */
    dispatch_trace(svc, "[\"traceparent\",\"" TP "\"]");
    CHECK_EQ_STR(seen_tp, TP);
    CHECK_EQ_STR(seen_ts, "");
    /* without a valid traceparent (bad, or two): no tracestate either */
    dispatch_trace(svc, "[\"traceparent\",\"00-x\"],[\"tracestate\",\"a=1\"]");
    CHECK_EQ_STR(seen_tp, "");
    CHECK_EQ_STR(seen_ts, "");
    dispatch_trace(svc, "[\"traceparent\",\"" TP "\"],[\"traceparent\",\"" TP "\"],"
                        "[\"tracestate\",\"a=1\"]");
    CHECK_EQ_STR(seen_tp, "");
    CHECK_EQ_STR(seen_ts, "");
    dispatch_trace(svc, "[\"tracestate\",\"a=1\"]");
    CHECK_EQ_STR(seen_ts, "");
    /* the gateway's bounds: a bad member drops it all, 512 bytes at most */
    dispatch_trace(svc, "[\"traceparent\",\"" TP "\"],[\"tracestate\",\"a=1,novalue\"]");
    CHECK_EQ_STR(seen_tp, TP);
    CHECK_EQ_STR(seen_ts, "");
    {
        char h[1200], big[601];
        memset(big, 'v', 600);
        big[600] = '\0';
        big[0] = 'k', big[1] = '=';
        snprintf(h, sizeof h, "[\"traceparent\",\"" TP "\"],[\"tracestate\",\"x=1,%s,y=2\"]", big);
        dispatch_trace(svc, h);
        CHECK_EQ_STR(seen_ts, "x=1,y=2");
    }
}

static int events_seen;
static void on_event(portico_service *svc, const portico_event *ev, void *ud)
{
    (void)svc;
    (void)ud;
    events_seen++;
    snprintf(seen_tp, sizeof seen_tp, "%s", portico_event_traceparent(ev));
    snprintf(seen_ts, sizeof seen_ts, "%s", portico_event_tracestate(ev));
    CHECK_EQ_STR(portico_event_topic(ev), "order.placed");
    CHECK_EQ_STR(portico_event_source(ev), "orders");
    CHECK_EQ_INT(portico_event_ts_ms(ev), 5);
    CHECK_EQ_INT(json_integer_value(json_object_get(portico_event_data(ev), "n")), 7);
}

static int call_cb_count, call_cb_err;
static bool in_send;
static void on_call(portico_service *svc, int err, const portico_response *res, void *ud)
{
    (void)svc;
    (void)ud;
    CHECK(!in_send);
    CHECK(res == NULL);
    call_cb_count++;
    call_cb_err = err;
}

static void on_stop_loop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

static void run_loop_ms(struct event_base *base, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    struct event *ev = evtimer_new(base, on_stop_loop, base);
    evtimer_add(ev, &tv);
    event_base_dispatch(base);
    event_free(ev);
}

/* ---- a stop ---- */

static int stopped_count;
static void on_stopped(portico_service *svc, void *ud)
{
    (void)svc;
    (void)ud;
    stopped_count++;
}

/* While a stop waits for a pending request, what still comes on the
 * instance channel is not served: a request is answered at once (the reply
 * is lost here: no bus) and done, a cancel still reaches its request. */
static void test_stop_refuses(struct event_base *base)
{
    portico_service *svc = portico_service_new(base, "users", "redis://127.0.0.1:1", NULL);

    CHECK_EQ_INT(portico_service_route(svc, "POST", "/users/{id}", on_b, NULL), 0);
    CHECK_EQ_INT(portico_service_route(svc, "GET", "/users/{id}", on_a, &calls_a), 0);
    CHECK_EQ_INT(portico_service_start(svc), 0);
    kept = NULL;
    calls_a = calls_b = cancels_seen = 0;
    dispatch(svc, "POST", "/users/42", "/users/{id}", 5000);
    CHECK(kept != NULL);
    portico_request_on_cancel(kept, on_cancelled, &cancels_seen);
    CHECK_EQ_INT(portico_service_stop(svc, on_stopped, NULL), 0);
    dispatch(svc, "GET", "/users/42", "/users/{id}", 5000);
    CHECK_EQ_INT(calls_a, 0);           /* not served */
    CHECK_EQ_INT(svc->reqs_pending, 1); /* answered at once: only kept is left */
    run_loop_ms(base, 50);
    CHECK_EQ_INT(stopped_count, 0); /* kept is pending */
    cancel(svc, "0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9");
    CHECK_EQ_INT(cancels_seen, 1);
    CHECK_EQ_INT(portico_reply_text(kept, 200, "done"), PORTICO_ERR_BUS);
    portico_request_unref(kept);
    CHECK_EQ_INT(svc->reqs_pending, 0);
    run_loop_ms(base, 50);
    CHECK_EQ_INT(stopped_count, 1);
    CHECK(!event_pending(svc->streams_ev, EV_TIMEOUT, NULL)); /* nothing keeps the loop */
    portico_service_free(svc);
}

/* ---- the register message's size (SPEC §3) ---- */

static char last_error[512];

static void on_log_error(int level, const char *msg, void *ud)
{
    (void)ud;
    if (level == PORTICO_LOG_ERROR) snprintf(last_error, sizeof last_error, "%s", msg);
}

/* A service "big" (instance big-1) with 1000 routes "/rNNN/xx...x", each
 * with len x's but the last, which has len + extra; signed when secret. */
static portico_service *big_service(struct event_base *base, size_t len, size_t extra,
                                    const char *secret)
{
    portico_service *svc = portico_service_new(base, "big", "redis://127.0.0.1:1", NULL);
    char pat[PC_PATTERN_MAX + 1];

    CHECK(svc != NULL);
    CHECK_EQ_INT(portico_service_set_instance(svc, "big-1"), 0);
    if (secret != NULL)
        CHECK_EQ_INT(portico_service_set_registration_secret(svc, secret, strlen(secret)), 0);
    portico_service_set_log(svc, PORTICO_LOG_ERROR, on_log_error, NULL);
    for (int i = 0; i < PC_WIRE_MAX_ROUTES; i++) {
        size_t n = len + (i == PC_WIRE_MAX_ROUTES - 1 ? extra : 0);
        int head = snprintf(pat, sizeof pat, "/r%03d/", i);
        memset(pat + head, 'x', n);
        pat[head + (int)n] = '\0';
        CHECK_EQ_INT(portico_service_route(svc, "GET", pat, on_a, NULL), 0);
    }
    CHECK_EQ_INT(portico_service_route(svc, "GET", "/one-more", on_a, NULL), PORTICO_ERR_INVALID);
    return svc;
}

/* The size a refused start logged ("register message of N bytes ..."). */
static size_t logged_size(const char *limit)
{
    const char *p = strstr(last_error, "register message of ");
    size_t n = 0;

    CHECK(p != NULL);
    CHECK(strstr(last_error, limit) != NULL); /* the limit named */
    if (p != NULL) sscanf(p + 20, "%zu", &n);
    return n;
}

/* Every gateway drops a register message over 64 KiB: the start refuses it
 * (one ERROR line with its size and the limit) and leaves the service
 * unstarted; exactly 64 KiB is fine, signed or not. */
static void test_register_size(struct event_base *base)
{
    portico_service *svc;
    size_t big, base_len, len, extra;

    /* 1000 routes of 70 bytes: about 100 KB */
    svc = big_service(base, 64, 0, NULL);
    last_error[0] = '\0';
    CHECK_EQ_INT(portico_service_start(svc), PORTICO_ERR_INVALID);
    big = logged_size("65536-byte limit");
    CHECK(big > PC_WIRE_MAX_REGISTER);
    CHECK_EQ_INT(portico_service_stop(svc, NULL, NULL), PORTICO_ERR_STATE); /* not started */
    CHECK_EQ_INT(portico_service_start(svc), PORTICO_ERR_INVALID);          /* again: same answer */
    portico_service_free(svc);

    /* the same message but for the x's: sized to the limit exactly, then one over */
    base_len = big - (size_t)PC_WIRE_MAX_ROUTES * 64;
    len = (PC_WIRE_MAX_REGISTER - base_len) / PC_WIRE_MAX_ROUTES;
    extra = (PC_WIRE_MAX_REGISTER - base_len) % PC_WIRE_MAX_ROUTES;
    for (int signed_ = 0; signed_ <= 1; signed_++) {
        const char *secret = signed_ ? "s3cret" : NULL;
        last_error[0] = '\0';
        svc = big_service(base, len, extra, secret);
        CHECK_EQ_INT(portico_service_start(svc), 0);
        CHECK_EQ_STR(last_error, "");
        if (!signed_) { /* what the gateway's decoder makes of it: exactly the limit, taken */
            struct pc_register r;
            struct pc_wire_err err;
            pc_buf b;
            pc_buf_init(&b);
            pc_wire_encode_register(&b, "big", "big-1", svc->ch_svc, svc->ttl_ms, svc->timeout_ms,
                                    pc_unix_ms(), svc->decls, svc->nroutes, true, PC_WIRE_V2);
            CHECK_EQ_INT(b.len, PC_WIRE_MAX_REGISTER);
            CHECK_EQ_INT(pc_wire_decode_register(&r, b.data, b.len, "portico", &err), 0);
            pc_wire_register_deinit(&r);
            pc_buf_deinit(&b);
        }
        portico_service_free(svc);
        svc = big_service(base, len, extra + 1, secret);
        CHECK_EQ_INT(portico_service_start(svc), PORTICO_ERR_INVALID);
        CHECK_EQ_INT(logged_size("65536-byte limit"), PC_WIRE_MAX_REGISTER + 1);
        portico_service_free(svc);
    }
}

int main(void)
{
    struct event_base *base = event_base_new();
    portico_service *svc;
    int err = 0;

    /* argument checks */
    CHECK(portico_service_new(base, "Bad Name", NULL, &err) == NULL);
    CHECK_EQ_INT(err, PORTICO_ERR_INVALID);
    CHECK(portico_service_new(base, "users", "http://x", &err) == NULL);
    CHECK_EQ_INT(err, PORTICO_ERR_INVALID);
    CHECK(portico_service_new(NULL, "users", NULL, &err) == NULL);
    svc = portico_service_new(base, "users", "redis://127.0.0.1:1/2", &err);
    CHECK(svc != NULL);
    CHECK(strncmp(portico_service_instance(svc), "users-", 6) == 0);
    CHECK_EQ_INT(strlen(portico_service_instance(svc)), 14);
    CHECK_EQ_INT(portico_service_route(svc, "get", "/x", on_a, NULL), PORTICO_ERR_INVALID);
    CHECK_EQ_INT(portico_service_route(svc, "GET", "x", on_a, NULL), PORTICO_ERR_INVALID);
    CHECK_EQ_INT(portico_service_route(svc, "GET", "/x", NULL, NULL), PORTICO_ERR_INVALID);
    CHECK_EQ_INT(portico_service_route(svc, "GET", "/users/{id}", on_a, &calls_a), 0);
    CHECK_EQ_INT(portico_service_route(svc, "GET", "/users/{uid}", on_a, NULL),
                 PORTICO_ERR_INVALID); /* same pattern but for the param name */
    CHECK_EQ_INT(portico_service_route(svc, "POST", "/users/{id}", on_b, NULL), 0);
    CHECK_EQ_INT(portico_service_route(svc, "GET", "/trace", on_trace, NULL), 0);
    /* async: only a route already added (param names ignored), any number of times */
    CHECK_EQ_INT(portico_service_route_async(svc, "PUT", "/users/{id}"), PORTICO_ERR_INVALID);
    CHECK_EQ_INT(portico_service_route_async(svc, "POST", "/nope"), PORTICO_ERR_INVALID);
    CHECK_EQ_INT(portico_service_route_async(svc, NULL, "/users/{id}"), PORTICO_ERR_INVALID);
    CHECK_EQ_INT(portico_service_route_async(svc, "POST", "/users/{x}"), 0);
    CHECK_EQ_INT(portico_service_route_async(svc, "POST", "/users/{id}"), 0);
    CHECK_EQ_INT(portico_service_set_instance(svc, "bad instance"), PORTICO_ERR_INVALID);
    CHECK_EQ_INT(portico_service_set_instance(svc, "users-test"), 0);
    CHECK_EQ_INT(portico_service_set_prefix(svc, "a b"), PORTICO_ERR_INVALID);
    CHECK_EQ_INT(portico_service_enable_calls(svc), 0);
    CHECK_EQ_INT(portico_event_subscribe(svc, "bad topic", on_event, NULL), PORTICO_ERR_INVALID);
    CHECK_EQ_INT(portico_event_subscribe(svc, "order.placed", on_event, NULL), 0);
    {
        json_t *data = json_object(); /* borrowed by publish */
        CHECK_EQ_INT(portico_event_publish(svc, "order.placed", data), PORTICO_ERR_STATE);
        json_decref(data);
    }
    CHECK(portico_call_new(svc, "Bad", "GET", "/x", &err) == NULL);
    CHECK_EQ_INT(err, PORTICO_ERR_INVALID);
    CHECK_EQ_STR(portico_strerror(PORTICO_ERR_TIMEOUT), "timeout");
    CHECK_EQ_STR(portico_strerror(12345), "unknown");
    CHECK_EQ_STR(portico_version(), PORTICO_VERSION_STRING);

    /* nothing listens on port 1: start works, the bus just stays down */
    CHECK_EQ_INT(portico_service_start(svc), 0);
    CHECK_EQ_INT(portico_service_start(svc), PORTICO_ERR_STATE);
    CHECK_EQ_INT(portico_service_route(svc, "GET", "/y", on_a, NULL), PORTICO_ERR_STATE);
    CHECK_EQ_INT(portico_service_route_async(svc, "GET", "/users/{id}"), PORTICO_ERR_STATE);
    CHECK(!portico_service_is_connected(svc));
    /* what the register message announces: POST async, GET not */
    CHECK_EQ_INT(svc->nroutes, 3);
    CHECK(!svc->decls[0].async);
    CHECK(svc->decls[1].async);

    /* dispatch by route string (param names ignored) */
    dispatch(svc, "GET", "/users/42", "/users/{uid}", 5000);
    CHECK_EQ_INT(calls_a, 1);
    CHECK_EQ_INT(svc->reqs_pending, 0);
    /* already past its deadline: the handler does not run */
    dispatch(svc, "GET", "/users/42", "/users/{id}", -1);
    CHECK_EQ_INT(calls_a, 1);
    /* no route given: matched on the path */
    dispatch(svc, "GET", "/users/42", NULL, 5000);
    CHECK_EQ_INT(calls_a, 2);
    /* unknown route: a 404 reply (lost: bus down), no handler, nothing left over */
    dispatch(svc, "DELETE", "/users/42", "/users/{id}", 5000);
    CHECK_EQ_INT(calls_a + calls_b, 2);
    CHECK_EQ_INT(svc->reqs_pending, 0);
    /* garbage is dropped */
    pt_request_dispatch(svc, "{", 1);
    pt_request_dispatch(svc, "{\"v\":1}", 7);
    test_request_trace(svc);
    CHECK_EQ_INT(svc->reqs_pending, 0);

    /* asynchronous: kept past its deadline, then a late reply is refused */
    dispatch(svc, "POST", "/users/42", "/users/{id}", 150);
    CHECK_EQ_INT(calls_b, 1);
    CHECK(kept != NULL);
    CHECK_EQ_INT(svc->reqs_pending, 1);
    run_loop_ms(base, 300);
    CHECK_EQ_INT(svc->reqs_pending, 0);
    CHECK(portico_request_is_done(kept));
    CHECK_EQ_INT(portico_reply_text(kept, 200, "late"), PORTICO_ERR_DEADLINE);
    CHECK_EQ_INT(portico_request_remaining_ms(kept), 0);
    portico_request_unref(kept);

    /* streams: refusals before begin, a begin that cannot go out (bus down) */
    kept = NULL;
    dispatch(svc, "POST", "/users/42", "/users/{id}", 5000);
    CHECK(kept != NULL);
    CHECK_EQ_INT(portico_stream_write(kept, "x", 1), PORTICO_ERR_STATE);
    CHECK_EQ_INT(portico_stream_end(kept), PORTICO_ERR_STATE);
    CHECK_EQ_INT(portico_stream_begin(kept, 199, NULL), PORTICO_ERR_INVALID);
    {
        const char *bad[] = {"x-a", "a\nb", NULL};
        CHECK_EQ_INT(portico_stream_begin(kept, 200, bad), PORTICO_ERR_INVALID);
    }
    CHECK_EQ_INT(portico_stream_begin(NULL, 200, NULL), PORTICO_ERR_INVALID);
    CHECK_EQ_INT(portico_stream_write(NULL, "x", 1), PORTICO_ERR_INVALID);
    CHECK_EQ_INT(portico_stream_begin(kept, 200, NULL), PORTICO_ERR_BUS);
    CHECK(portico_request_is_done(kept));
    CHECK_EQ_INT(svc->reqs_pending, 0);
    CHECK_EQ_INT(svc->streams_open, 0); /* never open */
    CHECK_EQ_INT(portico_stream_write(kept, "x", 1), PORTICO_ERR_REPLIED);
    CHECK_EQ_INT(portico_stream_begin(kept, 200, NULL), PORTICO_ERR_REPLIED);
    CHECK_EQ_INT(portico_reply_text(kept, 200, "no"), PORTICO_ERR_REPLIED);
    portico_request_unref(kept);

    /* cancel: the callback runs once, writes are refused; other ids, bad
     * cancels and garbage change nothing */
    kept = NULL;
    dispatch(svc, "POST", "/users/42", "/users/{id}", 5000);
    CHECK(kept != NULL);
    portico_request_on_cancel(kept, on_cancelled, &cancels_seen);
    cancel(svc, "1b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9"); /* another request */
    pt_request_dispatch(svc,
                        "{\"v\":1,\"id\":\"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9\","
                        "\"cancel\":false}",
                        66);
    CHECK_EQ_INT(cancels_seen, 0);
    CHECK(!portico_request_cancelled(kept));
    cancel(svc, "0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9");
    CHECK_EQ_INT(cancels_seen, 1);
    CHECK(portico_request_cancelled(kept));
    CHECK(portico_request_is_done(kept));
    cancel(svc, "0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9"); /* told twice: once */
    CHECK_EQ_INT(cancels_seen, 1);
    CHECK_EQ_INT(portico_stream_begin(kept, 200, NULL), PORTICO_ERR_CANCELLED);
    CHECK_EQ_INT(portico_stream_write(kept, "x", 1), PORTICO_ERR_CANCELLED);
    CHECK_EQ_INT(portico_reply_text(kept, 200, "late"), PORTICO_ERR_BUS); /* not refused: lost */
    portico_request_unref(kept);
    CHECK_EQ_INT(svc->reqs_pending, 0);

    /* events: valid ones reach the handler, others are dropped */
    {
        const char *ok =
            "{\"v\":1,\"type\":\"event\",\"id\":\"e1\",\"topic\":\"order.placed\","
            "\"source\":\"orders\",\"instance\":\"o-1\",\"ts_ms\":5,\"data\":{\"n\":7}}";
        const char *bad[] = {
            "{\"v\":2,\"type\":\"event\",\"topic\":\"order.placed\",\"data\":1}",
            "{\"v\":1,\"type\":\"x\",\"topic\":\"order.placed\",\"data\":1}",
            "{\"v\":1,\"type\":\"event\",\"topic\":\"other\",\"data\":1}",
            "{\"v\":1,\"type\":\"event\",\"topic\":\"order.placed\"}",
            "not json",
        };
        pt_event_dispatch(svc, "order.placed", 12, ok, strlen(ok));
        CHECK_EQ_INT(events_seen, 1);
        CHECK_EQ_STR(seen_tp, "");
        CHECK_EQ_STR(seen_ts, "");
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            pt_event_dispatch(svc, "order.placed", 12, bad[i], strlen(bad[i]));
        CHECK_EQ_INT(events_seen, 1);
        pt_event_dispatch(svc, "other", 5, ok, strlen(ok)); /* no handler for it */
        CHECK_EQ_INT(events_seen, 1);
    }
    /* an event's trace context: tracestate only with a valid traceparent */
    {
        static const struct {
            const char *trace, *tp, *ts;
        } cases[] = {
            {"\"traceparent\":\"" TP "\",\"tracestate\":\"a=1, b=2\"", TP, "a=1,b=2"},
            {"\"traceparent\":\"" TP "\"", TP, ""},
            {"\"tracestate\":\"a=1\"", "", ""},
            {"\"traceparent\":\"00-x\",\"tracestate\":\"a=1\"", "", ""},
            {"\"traceparent\":\"" TP "\",\"tracestate\":\"a\"", TP, ""},
            {"\"traceparent\":\"" TP "\",\"tracestate\":7", TP, ""},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            char m[512];
            snprintf(m, sizeof m,
                     "{\"v\":1,\"type\":\"event\",\"topic\":\"order.placed\",\"source\":"
                     "\"orders\",\"ts_ms\":5,\"data\":{\"n\":7},%s}",
                     cases[i].trace);
            pt_event_dispatch(svc, "order.placed", 12, m, strlen(m));
            CHECK_EQ_INT(events_seen, 2 + (int)i);
            CHECK_EQ_STR(seen_tp, cases[i].tp);
            CHECK_EQ_STR(seen_ts, cases[i].ts);
        }
    }

    /* a call while the bus is down: exactly one callback, from the loop */
    {
        portico_call *call = portico_call_new(svc, "orders", "GET", "/orders?x=1", &err);
        CHECK(call != NULL);
        CHECK_EQ_INT(portico_call_add_header(call, "Connection", "close"), PORTICO_ERR_INVALID);
        CHECK_EQ_INT(portico_call_add_header(call, "X-Thing", "1"), 0);
        in_send = true;
        CHECK_EQ_INT(portico_call_send(call, on_call, NULL), 0);
        in_send = false;
        CHECK_EQ_INT(call_cb_count, 0);
        run_loop_ms(base, 50);
        CHECK_EQ_INT(call_cb_count, 1);
        CHECK_EQ_INT(call_cb_err, PORTICO_ERR_BUS);
        CHECK_EQ_INT(portico_call_send(NULL, on_call, NULL), PORTICO_ERR_INVALID);
    }
    /* a pending call is cancelled by free, exactly once */
    {
        portico_call *call = portico_call_new(svc, "orders", "GET", "/orders", &err);
        CHECK_EQ_INT(portico_call_send(call, on_call, NULL), 0);
        portico_service_free(svc);
        CHECK_EQ_INT(call_cb_count, 2);
        CHECK_EQ_INT(call_cb_err, PORTICO_ERR_CANCELLED);
    }
    test_stop_refuses(base);
    test_register_size(base);
    event_base_free(base);
    return test_finish("sdk-service");
}
