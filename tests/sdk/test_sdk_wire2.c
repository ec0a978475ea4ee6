/* The SDK and wire version 2 without Redis: a v2 request's raw body (NUL and
 * newlines included) reaches the handler as sent, NUL-terminated, and the
 * request remembers its version; bad v2 requests never reach a handler; a
 * reply written in place (the head put in front of the body) and one whose
 * head is too long for that room (the body copied) both end as the bus
 * being down, with nothing leaked or overrun (the ASan build runs this). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "internal.h"
#include "test.h"

#define ID "0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9"

static int calls;
static int want_wire;
static const char *want_body;
static size_t want_len;
static int reply_headers; /* long headers: a head over the writer's room */
static int reply_rc;

static void on_w(portico_request *req, void *ud)
{
    static char big[600];
    const char *hdrs[] = {"x-a", big, "x-b", big, "content-type", "application/json", NULL};
    const char *small[] = {"content-type", "application/octet-stream", NULL};
    size_t len = 0;
    const char *body = portico_request_body(req, &len);
    portico_writer *w;

    (void)ud;
    calls++;
    memset(big, 'v', sizeof big - 1);
    CHECK_EQ_INT(req->in.wire, want_wire);
    CHECK_EQ_MEM(body, len, want_body, want_len);
    if (body != NULL) CHECK(body[len] == '\0');
    w = portico_reply_begin(req);
    portico_write(w, body, len);
    portico_write_str(w, "\n-- and more");
    reply_rc = portico_reply_end(w, 200, reply_headers ? hdrs : small);
}

/* A request of version wire for PUT /w with body. */
static void dispatch(portico_service *svc, int wire, const char *body, size_t len)
{
    char head[512];
    int n = snprintf(head, sizeof head,
                     "{\"v\":%d,\"id\":\"" ID "\",\"reply_to\":\"portico:reply:x\","
                     "\"deadline_ms\":%" PRIu64 ",\"method\":\"PUT\",\"path\":\"/w\","
                     "\"route\":\"/w\",\"headers\":[]",
                     wire, pc_unix_ms() + 5000);
    char *m = malloc((size_t)n + 64 + len * 6);
    size_t ml = (size_t)n;

    memcpy(m, head, ml);
    if (wire == PC_WIRE_V2) {
        ml += (size_t)sprintf(m + ml, ",\"body_len\":%zu}\n", len);
        memcpy(m + ml, body, len);
        ml += len;
    } else { /* v1 with a plain ASCII body */
        ml += (size_t)sprintf(m + ml, ",\"body\":\"%.*s\"}", (int)len, body);
    }
    want_wire = wire;
    want_body = body;
    want_len = len;
    pt_request_dispatch(svc, m, ml);
    free(m);
}

int main(void)
{
    struct event_base *base = event_base_new();
    static const char bin[] = "a\0b\n{\"v\":2}\n\r\n\xff\xfe";
    char big_body[60000]; /* under the claim-check threshold: inline */
    portico_service *svc;
    int err = 0;

    for (size_t i = 0; i < sizeof big_body; i++) big_body[i] = (char)(i * 13);
    svc = portico_service_new(base, "w", "redis://127.0.0.1:1", &err);
    CHECK(svc != NULL);
    CHECK_EQ_INT(portico_service_route(svc, "PUT", "/w", on_w, NULL), 0);
    CHECK_EQ_INT(portico_service_start(svc), 0); /* nothing on port 1: the bus stays down */

    /* v2 bodies as sent; the reply in place, then with a head too long */
    for (reply_headers = 0; reply_headers <= 1; reply_headers++) {
        int before = calls;
        dispatch(svc, PC_WIRE_V2, bin, sizeof bin - 1);
        dispatch(svc, PC_WIRE_V2, "", 0);
        dispatch(svc, PC_WIRE_V2, big_body, sizeof big_body);
        dispatch(svc, 1, "plain", 5);
        CHECK_EQ_INT(calls - before, 4);
        CHECK_EQ_INT(reply_rc, PORTICO_ERR_BUS);
        CHECK_EQ_INT(svc->reqs_pending, 0);
    }

    /* bad v2 requests: no handler runs */
    {
        char ok[512];
        int n = snprintf(ok, sizeof ok,
                         "{\"v\":2,\"id\":\"" ID "\",\"reply_to\":\"portico:reply:x\","
                         "\"deadline_ms\":%" PRIu64 ",\"method\":\"PUT\",\"path\":\"/w\","
                         "\"route\":\"/w\"",
                         pc_unix_ms() + 5000);
        const char *tails[] = {
            ",\"body_len\":3}",                                      /* no newline */
            ",\"body_len\":3}\nab",                                  /* too short */
            ",\"body_len\":3}\nabcd",                                /* too long */
            "}\nabc",                                                /* bytes without body_len */
            ",\"body\":\"abc\"}\n",                                  /* a body in the head */
            ",\"body_encoding\":\"base64\"}\n",                      /* an encoding in the head */
            ",\"body_len\":-1}\n",                                   /* not a length */
            ",\"body_len\":3\nabc",                                  /* head not JSON */
            ",\"body_ref\":\"portico:body:x\",\"body_len\":3}\nabc", /* claim check + bytes */
        };
        int before = calls;
        for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
            char m[1024];
            int k = snprintf(m, sizeof m, "%s%s", ok, tails[i]);
            CHECK(k > n);
            pt_request_dispatch(svc, m, (size_t)k);
        }
        CHECK_EQ_INT(calls, before);
        CHECK_EQ_INT(svc->reqs_pending, 0);
    }

    portico_service_free(svc);
    event_base_free(base);
    return test_finish("sdk-wire2");
}
