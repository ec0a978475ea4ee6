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
 * Routes: any method on /echo and everything below it; /bytes/{n} answers n
 *         bytes of text (bytes.c: the body benchmark's route).
 * Asynchronous reply: with ?delay_ms=N (first query parameter) the answer is
 * sent N ms later from a timer, after the handler has returned; past the
 * request's deadline the SDK refuses the late reply (the gateway said 504).
 * Streamed reply: with ?stream=N[&every_ms=M] (first query parameter) the
 * answer is the lines "1\n" .. "N\n" (text/plain), one stream message each,
 * written from a timer every M ms (0, the default: 256 per loop turn) after
 * the handler has returned; a cancel (the client went away) stops it. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "example.h"

struct later {
    portico_request *req; /* referenced: valid even past its deadline */
    struct event *timer;
};

struct ticker {           /* a streamed reply in progress (?stream=N) */
    portico_request *req; /* referenced until the stream is over */
    struct event *timer;
    long n, sent, every_ms;
};

static void reply_echo(portico_request *req);

/* True if p[0..n) is valid UTF-8 (RFC 3629: no overlong forms, surrogates
 * or code points past U+10FFFF); ASCII is skipped eight bytes at a time. */
static bool is_utf8(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p, *end = s + n;

    while (s < end) {
        uint64_t eight;
        if (end - s >= 8 && (memcpy(&eight, s, 8), (eight & 0x8080808080808080u) == 0)) {
            s += 8;
            continue;
        }
        unsigned c = *s++, cp, min;
        size_t k;
        if (c < 0x80) continue;
        if (c >= 0xc2 && c <= 0xdf)
            k = 1, cp = c & 0x1f, min = 0x80;
        else if (c >= 0xe0 && c <= 0xef)
            k = 2, cp = c & 0x0f, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4)
            k = 3, cp = c & 0x07, min = 0x10000;
        else
            return false;
        if ((size_t)(end - s) < k) return false;
        for (; k > 0; k--, s++) {
            if ((*s & 0xc0) != 0x80) return false;
            cp = cp << 6 | (*s & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    }
    return true;
}

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

static void ticker_free(struct ticker *k)
{
    portico_request_on_cancel(k->req, NULL, NULL);
    event_free(k->timer);
    portico_request_unref(k->req);
    free(k);
}

static void on_stream_cancel(portico_request *req, void *ud)
{
    struct ticker *k = ud;

    fprintf(stderr, "echo: stream %s cancelled after %ld of %ld lines\n",
            portico_request_request_id(req), k->sent, k->n);
    ticker_free(k);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct ticker *k = arg;
    struct timeval tv = {k->every_ms / 1000, (k->every_ms % 1000) * 1000};
    char line[32];

    (void)fd;
    (void)what;
    for (int burst = k->every_ms > 0 ? 1 : 256; burst > 0 && k->sent < k->n; burst--) {
        int len = snprintf(line, sizeof line, "%ld\n", k->sent + 1);
        if (portico_stream_write(k->req, line, (size_t)len) != 0) { /* Redis lost */
            ticker_free(k);
            return;
        }
        k->sent++;
    }
    if (k->sent < k->n) {
        evtimer_add(k->timer, &tv);
        return;
    }
    portico_stream_end(k->req);
    ticker_free(k);
}

/* ?stream=N[&every_ms=M]: begins the stream, the timer writes the lines. */
static void stream_lines(portico_request *req, struct event_base *base, const char *q)
{
    static const char *const h[] = {"content-type", "text/plain", NULL};
    const char *every = strstr(q, "&every_ms=");
    struct ticker *k = calloc(1, sizeof *k);
    struct timeval now = {0, 0};

    if (k == NULL || (k->timer = evtimer_new(base, on_tick, k)) == NULL) {
        free(k);
        portico_reply_error(req, 503, "no_memory", "out of memory");
        return;
    }
    k->n = strtol(q + 7, NULL, 10);
    k->every_ms = every != NULL ? strtol(every + 10, NULL, 10) : 0;
    if (k->n < 0 || k->n > 10000000 || k->every_ms < 0 || k->every_ms > 60000) {
        event_free(k->timer);
        free(k);
        portico_reply_error(req, 400, "bad_request", "stream=0..10000000, every_ms=0..60000");
        return;
    }
    if (portico_stream_begin(req, 200, h) != 0) {
        event_free(k->timer);
        free(k);
        return;
    }
    k->req = portico_request_ref(req);
    portico_request_on_cancel(req, on_stream_cancel, k);
    evtimer_add(k->timer, &now);
}

static void on_echo(portico_request *req, void *ud)
{
    struct event_base *base = ud;
    const char *q = portico_request_query(req);

    if (strncmp(q, "stream=", 7) == 0) {
        stream_lines(req, base, q);
        return;
    }

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

/* The answer is written straight into the reply (portico_reply_begin): no
 * JSON tree, no allocation. This is the service the benchmark measures. */
static void reply_echo(portico_request *req)
{
    static const char *const json[] = {"content-type", "application/json", NULL};
    portico_writer *w = portico_reply_begin(req);
    size_t body_len = 0;
    const char *body = portico_request_body(req, &body_len);
    json_t *params = portico_request_params(req);
    const char *k;
    json_t *v;
    bool first = true;

    portico_write_str(w, "{\"method\":");
    portico_write_json_str(w, portico_request_method(req));
    portico_write_str(w, ",\"path\":");
    portico_write_json_str(w, portico_request_path(req));
    portico_write_str(w, ",\"query\":");
    portico_write_json_str(w, portico_request_query(req));
    portico_write_str(w, ",\"route\":");
    portico_write_json_str(w, portico_request_route(req));
    portico_write_str(w, ",\"params\":{");
    json_object_foreach(params, k, v)
    {
        portico_write_str(w, first ? "" : ",");
        portico_write_json_str(w, k);
        portico_write_str(w, ":");
        portico_write_json_str(w, json_string_value(v));
        first = false;
    }
    portico_write_str(w, "},\"headers\":[");
    for (size_t i = 0; i < portico_request_header_count(req); i++) {
        const char *name, *value;
        portico_request_header_at(req, i, &name, &value);
        portico_write_str(w, i > 0 ? ",[" : "[");
        portico_write_json_str(w, name);
        portico_write_str(w, ",");
        portico_write_json_str(w, value);
        portico_write_str(w, "]");
    }
    portico_write_str(w, "],\"remote_addr\":");
    portico_write_json_str(w, portico_request_remote_addr(req));
    portico_write_str(w, ",\"request_id\":");
    portico_write_json_str(w, portico_request_request_id(req));
    portico_write_str(w, ",\"instance\":");
    portico_write_json_str(w, portico_service_instance(portico_request_service(req)));
    /* a body that is not UTF-8 cannot be a JSON string: give its length only */
    portico_write_str(w, ",\"body\":");
    if (body == NULL || is_utf8(body, body_len))
        portico_write_json_strn(w, body, body_len);
    else
        portico_write_str(w, "null");
    portico_write_str(w, ",\"body_length\":");
    portico_write_json_int(w, (int64_t)body_len);
    portico_write_str(w, "}");
    portico_reply_end(w, 200, json);
}

int main(int argc, char **argv)
{
    struct example ex;

    if (example_init(&ex, argc, argv, "echo") != 0) return 2;
    if (portico_service_route(ex.svc, "*", "/echo/*", on_echo, ex.base) != 0) return 1;
    if (echo_bytes_route(ex.svc) != 0) return 1;
    return example_run(&ex);
}
