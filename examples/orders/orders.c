/* orders -- a service that calls another service and emits events.
 *
 * POST /orders checks the user by calling the users service through the
 * SDK's call API (GET /users/{id}), stores the order and publishes an
 * "order.placed" event. The same process also subscribes to "order.placed"
 * (as any other service could) and logs every event it receives; GET
 * /orders/events shows them.
 *
 * Build: ninja -C build (examples/orders/orders)
 * Run:   build/examples/users/users &  build/examples/orders/orders
 *        [--redis redis://127.0.0.1:6379] [--prefix portico] (or PORTICO_REDIS);
 *        it prints "orders ready" once registered.
 * Routes:
 *   POST /orders         {"user_id":"1","item":"book","qty":2}
 *                        201 the order; 400 bad_json; 422 unknown_user;
 *                        503 users_unavailable (no users instance, Redis down);
 *                        504 users_timeout; 502 users_bad_reply
 *   GET  /orders         200 {"orders":[...]}
 *   GET  /orders/{id}    200 the order, 404 when missing
 *   GET  /orders/events  200 {"events":[{"topic","id","source","data",
 *                        "traceparent","tracestate"}...]}
 *                        (the last 100 events this instance received: order.placed,
 *                        and portico.job, which gateways publish when a job ends)
 *   POST /orders/report  200 {"orders":N,"events":N}; announced async: with
 *                        "Prefer: respond-async" the gateway answers 202 and a
 *                        Location to poll (docs/protocol.md 5.8)
 * Optional query on POST: ?users_timeout_ms=N sets the call's timeout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example.h"

#define EVENTS_KEPT 100

struct state {
    json_t *orders; /* id -> order */
    json_t *events; /* array, oldest first */
    long next_id;
};

struct pending { /* a POST /orders waiting for the users service */
    struct state *st;
    portico_request *req; /* referenced until the call completes */
    json_t *order;
};

static void on_user_checked(portico_service *svc, int err, const portico_response *res, void *ud)
{
    struct pending *p = ud;
    portico_request *req = p->req;
    char id[32];
    int status = res ? portico_response_status(res) : 0;

    if (err == PORTICO_ERR_TIMEOUT)
        portico_reply_error(req, 504, "users_timeout", "the users service did not answer in time");
    else if (err == PORTICO_ERR_BAD_REPLY)
        portico_reply_error(req, 502, "users_bad_reply", "the users service answered garbage");
    else if (err != 0)
        portico_reply_error(req, 503, "users_unavailable", portico_strerror(err));
    else if (status == 404)
        portico_reply_error(req, 422, "unknown_user", "no user with this user_id");
    else if (status != 200)
        portico_reply_error(req, 502, "users_error", "the users service failed");
    else {
        json_t *user = portico_response_json(res);
        snprintf(id, sizeof id, "%ld", ++p->st->next_id);
        json_object_set_new(p->order, "id", json_string(id));
        json_object_set(p->order, "user_name", json_object_get(user, "name"));
        json_object_set(p->st->orders, id, p->order);
        json_decref(user);
        if (portico_event_publish(svc, "order.placed", p->order) != 0)
            fprintf(stderr, "orders: order.placed for order %s not published\n", id);
        portico_reply_json(req, 201, json_incref(p->order));
    }
    portico_request_unref(req);
    json_decref(p->order);
    free(p);
}

static void on_create(portico_request *req, void *ud)
{
    struct state *st = ud;
    json_t *body = portico_request_json(req);
    const char *user_id = json_string_value(json_object_get(body, "user_id"));
    const char *item = json_string_value(json_object_get(body, "item"));
    json_t *qty = json_object_get(body, "qty");
    const char *q = strstr(portico_request_query(req), "users_timeout_ms=");
    struct pending *p;
    portico_call *call;
    char path[300];
    int err = 0;

    if (!json_is_object(body) || user_id == NULL || user_id[0] == '\0' || strlen(user_id) > 64 ||
        strchr(user_id, '/') != NULL || item == NULL || (qty != NULL && !json_is_integer(qty))) {
        json_decref(body);
        portico_reply_error(req, 400, "bad_json",
                            "want {\"user_id\": string, \"item\": string, \"qty\": integer}");
        return;
    }
    p = calloc(1, sizeof *p);
    snprintf(path, sizeof path, "/users/%s", user_id);
    call = p ? portico_call_new(portico_request_service(req), "users", "GET", path, &err) : NULL;
    if (call == NULL) {
        free(p);
        json_decref(body);
        portico_reply_error(req, 500, "internal", portico_strerror(err));
        return;
    }
    if (q != NULL) portico_call_set_timeout_ms(call, atoi(q + strlen("users_timeout_ms=")));
    portico_call_set_parent(call, req); /* automatic in a handler; explicit reads better */
    p->st = st;
    p->req = portico_request_ref(req);
    p->order = json_pack("{s:s, s:s, s:I}", "user_id", user_id, "item", item, "qty",
                         qty ? json_integer_value(qty) : (json_int_t)1);
    json_decref(body);
    err = portico_call_send(call, on_user_checked, p);
    if (err != 0) { /* only for a bad argument: the callback will not run */
        portico_reply_error(req, 500, "internal", portico_strerror(err));
        portico_request_unref(req);
        json_decref(p->order);
        free(p);
    }
}

static void on_list(portico_request *req, void *ud)
{
    struct state *st = ud;
    json_t *list = json_array(), *order;
    const char *id;

    json_object_foreach(st->orders, id, order) json_array_append(list, order);
    portico_reply_json(req, 200, json_pack("{s:o}", "orders", list));
}

/* Announced async (portico_service_route_async): answered like any request;
 * the gateway keeps the reply for a client that asked for a job. */
static void on_report(portico_request *req, void *ud)
{
    struct state *st = ud;
    portico_reply_json(req, 200,
                       json_pack("{s:I, s:I}", "orders", (json_int_t)json_object_size(st->orders),
                                 "events", (json_int_t)json_array_size(st->events)));
}

static void on_get(portico_request *req, void *ud)
{
    struct state *st = ud;
    json_t *order = json_object_get(st->orders, portico_request_param(req, "id"));

    if (order == NULL)
        portico_reply_error(req, 404, "not_found", "no such order");
    else
        portico_reply_json(req, 200, json_incref(order));
}

static void on_events(portico_request *req, void *ud)
{
    struct state *st = ud;

    portico_reply_json(req, 200, json_pack("{s:O}", "events", st->events));
}

/* The event logger (order.placed, portico.job): what any interested service would do. */
static void on_order_placed(portico_service *svc, const portico_event *ev, void *ud)
{
    struct state *st = ud;
    char *text = json_dumps(portico_event_data(ev), JSON_COMPACT);

    (void)svc;
    fprintf(stderr, "orders: event %s from %s: %s\n", portico_event_topic(ev),
            portico_event_source(ev), text ? text : "?");
    free(text);
    if (json_array_size(st->events) == EVENTS_KEPT) json_array_remove(st->events, 0);
    json_array_append_new(st->events,
                          json_pack("{s:s, s:s, s:s, s:O, s:s, s:s}", "topic",
                                    portico_event_topic(ev), "id", portico_event_id(ev), "source",
                                    portico_event_source(ev), "data", portico_event_data(ev),
                                    "traceparent", portico_event_traceparent(ev), "tracestate",
                                    portico_event_tracestate(ev)));
}

int main(int argc, char **argv)
{
    struct example ex;
    struct state st = {json_object(), json_array(), 0};
    int rc;

    if (example_init(&ex, argc, argv, "orders") != 0) return 2;
    if (portico_service_enable_calls(ex.svc) != 0 ||
        portico_service_route(ex.svc, "POST", "/orders", on_create, &st) != 0 ||
        portico_service_route(ex.svc, "GET", "/orders", on_list, &st) != 0 ||
        portico_service_route(ex.svc, "GET", "/orders/events", on_events, &st) != 0 ||
        portico_service_route(ex.svc, "GET", "/orders/{id}", on_get, &st) != 0 ||
        portico_service_route(ex.svc, "POST", "/orders/report", on_report, &st) != 0 ||
        portico_service_route_async(ex.svc, "POST", "/orders/report") != 0 ||
        portico_event_subscribe(ex.svc, "order.placed", on_order_placed, &st) != 0 ||
        portico_event_subscribe(ex.svc, "portico.job", on_order_placed, &st) != 0)
        return 1;
    rc = example_run(&ex);
    json_decref(st.orders);
    json_decref(st.events);
    return rc;
}
