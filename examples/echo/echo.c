/* echo -- a portico service that answers every request with the request it
 * received, as JSON. The smallest useful service: one catch-all route.
 *
 * Build: ninja -C build (examples/echo/echo)
 * Run:   build/examples/echo/echo [--redis redis://127.0.0.1:6379] [--prefix portico]
 *        (or set PORTICO_REDIS); it prints "echo ready" once registered.
 * Try:   curl -s 'http://127.0.0.1:8000/echo/a/b?x=1' -d 'hello'
 *        {"method":"POST","path":"/echo/a/b","query":"x=1","route":"/echo/[*]",
 *         "params":{"*":"a/b"},"headers":[...],"body":"hello",...}
 *        (route shown with [*] for the final wildcard segment)
 * Routes: any method on /echo and everything below it.
 * Asynchronous reply: with ?delay_ms=N (first query parameter) the answer is
 * sent N ms later from a timer, after the handler has returned; past the
 * request's deadline the SDK refuses the late reply (the gateway said 504). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example.h"

struct later {
    portico_request *req;    /* referenced: valid even past its deadline */
    struct event *timer;
};

static void reply_echo(portico_request *req);

static void on_later(evutil_socket_t fd, short what, void *arg)
{
    struct later *l = arg;

    (void)fd;
    (void)what;
    if (portico_request_is_done(l->req))
        fprintf(stderr, "echo: request %s: deadline passed before the delayed reply\n",
                portico_request_request_id(l->req));
    else
        reply_echo(l->req);
    portico_request_unref(l->req);
    event_free(l->timer);
    free(l);
}

static void on_echo(portico_request *req, void *ud)
{
    struct event_base *base = ud;
    const char *q = portico_request_query(req);

    if (strncmp(q, "delay_ms=", 9) == 0) {
        long ms = strtol(q + 9, NULL, 10);
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        struct later *l = calloc(1, sizeof *l);
        if (l != NULL && ms >= 0 && ms <= 600000 &&
            (l->timer = evtimer_new(base, on_later, l)) != NULL) {
            l->req = portico_request_ref(req);
            evtimer_add(l->timer, &tv);
            return;
        }
        free(l);
    }
    reply_echo(req);
}

static void reply_echo(portico_request *req)
{
    json_t *headers = json_array();
    json_t *params = json_deep_copy(portico_request_params(req));
    size_t body_len = 0;
    const char *body = portico_request_body(req, &body_len);

    for (size_t i = 0; i < portico_request_header_count(req); i++) {
        const char *name, *value;
        portico_request_header_at(req, i, &name, &value);
        json_array_append_new(headers, json_pack("[s, s]", name, value));
    }
    json_t *out = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:s}",
        "method", portico_request_method(req),
        "path", portico_request_path(req),
        "query", portico_request_query(req),
        "route", portico_request_route(req),
        "params", params,
        "headers", headers,
        "remote_addr", portico_request_remote_addr(req),
        "request_id", portico_request_request_id(req),
        "instance", portico_service_instance(portico_request_service(req)));
    /* a body that is not UTF-8 cannot be a JSON string: give its length only */
    json_t *b = json_stringn(body ? body : "", body_len);
    json_object_set_new(out, "body", b ? b : json_null());
    json_object_set_new(out, "body_length", json_integer((json_int_t)body_len));
    portico_reply_json(req, 200, out);
}

int main(int argc, char **argv)
{
    struct example ex;

    if (example_init(&ex, argc, argv, "echo") != 0)
        return 2;
    if (portico_service_route(ex.svc, "*", "/echo/*", on_echo, ex.base) != 0)
        return 1;
    return example_run(&ex);
}
