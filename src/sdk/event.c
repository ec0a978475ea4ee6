/* event.c -- events: fire-and-forget facts on "<prefix>:event:<topic>".
 *
 * The message (docs/sdk.md, "Event protocol"):
 *   {"v":1,"type":"event","id":"<uuid>","topic":"order.placed",
 *    "source":"orders","instance":"orders-1a2b3c4d","ts_ms":1763772345678,
 *    "data":<any JSON>,"traceparent":"00-...","tracestate":"k=v"}
 * Delivery is Redis pub/sub: at most once, to every subscriber listening at
 * that moment, nothing kept for later. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "uuid.h"

#include "internal.h"

struct portico_event {
    const char *topic, *id, *source, *instance;
    struct pt_trace trace; /* its "traceparent" (valid, as 00) and "tracestate", or "" */
    uint64_t ts_ms;
    json_t *data;
};

static char *event_channel(const portico_service *svc, const char *topic)
{
    size_t n = strlen(svc->prefix) + strlen(":event:") + strlen(topic) + 1;
    char *ch = malloc(n);

    if (ch != NULL) snprintf(ch, n, "%s:event:%s", svc->prefix, topic);
    return ch;
}

PORTICO_API int portico_event_publish(portico_service *svc, const char *topic, json_t *data)
{
    const struct pt_trace *trace = pt_trace_current(svc);
    char id[PC_UUID_LEN + 1], tp[PC_TRACEPARENT_LEN + 1];
    json_t *msg;
    char *text, *ch;
    int rc = 0;

    if (svc == NULL || !pt_topic_is_valid(topic) || data == NULL) return PORTICO_ERR_INVALID;
    if (svc->state != PT_SVC_RUNNING && svc->state != PT_SVC_STOPPING) return PORTICO_ERR_STATE;
    if (!pt_bus_is_up(svc->bus)) return PORTICO_ERR_BUS;
    if (pc_uuid_v4(id) != 0) return PORTICO_ERR_NOMEM;
    msg = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:I, s:O}", "v", 1, "type", "event", "id", id,
                    "topic", topic, "source", svc->name, "instance", svc->instance, "ts_ms",
                    (json_int_t)pc_unix_ms(), "data", data);
    if (msg == NULL) return PORTICO_ERR_NOMEM;
    /* a child span of the trace being served (a new trace outside one),
     * with the tracestate as received (no entry of our own: W3C) */
    if (pt_trace_child(trace->traceparent, tp) == 0 &&
        (json_object_set_new(msg, "traceparent", json_string(tp)) != 0 ||
         (trace->tracestate[0] != '\0' &&
          json_object_set_new(msg, "tracestate", json_string(trace->tracestate)) != 0))) {
        json_decref(msg);
        return PORTICO_ERR_NOMEM;
    }
    text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    ch = event_channel(svc, topic);
    if (text == NULL || ch == NULL)
        rc = PORTICO_ERR_NOMEM;
    else if (strlen(text) > PT_EVENT_MAX)
        rc = PORTICO_ERR_INVALID;
    else if (pt_bus_publish(svc->bus, ch, text, strlen(text), NULL, NULL) != 0)
        rc = PORTICO_ERR_BUS;
    free(text);
    free(ch);
    return rc;
}

static bool topic_has_sub(const portico_service *svc, const char *topic, const struct pt_sub *upto)
{
    for (const struct pt_sub *s = svc->subs; s != NULL && s != upto; s = s->next)
        if (strcmp(s->topic, topic) == 0) return true;
    return false;
}

PORTICO_API int portico_event_subscribe(portico_service *svc, const char *topic,
                                        portico_event_fn *fn, void *ud)
{
    struct pt_sub *sub, **tail;

    if (svc == NULL || fn == NULL || !pt_topic_is_valid(topic)) return PORTICO_ERR_INVALID;
    if (svc->state == PT_SVC_STOPPED) return PORTICO_ERR_STATE;
    sub = calloc(1, sizeof *sub);
    if (sub == NULL || (sub->topic = strdup(topic)) == NULL) {
        free(sub);
        return PORTICO_ERR_NOMEM;
    }
    sub->fn = fn;
    sub->ud = ud;
    if (svc->state == PT_SVC_RUNNING && pt_bus_is_up(svc->bus) &&
        !topic_has_sub(svc, topic, NULL)) {
        sub->channel = event_channel(svc, topic);
        if (sub->channel != NULL) {
            const char *ch = sub->channel;
            pt_bus_subscribe(svc->bus, &ch, 1);
        }
    }
    for (tail = &svc->subs; *tail != NULL; tail = &(*tail)->next)
        ;
    *tail = sub;
    return 0;
}

void pt_events_resubscribe(portico_service *svc)
{
    for (struct pt_sub *s = svc->subs; s != NULL; s = s->next) {
        char *ch;
        const char *c;
        if (topic_has_sub(svc, s->topic, s)) continue;
        ch = event_channel(svc, s->topic);
        if (ch == NULL) continue;
        c = ch;
        pt_bus_subscribe(svc->bus, &c, 1);
        free(ch);
    }
}

void pt_events_free(portico_service *svc)
{
    struct pt_sub *s = svc->subs, *next;

    for (; s != NULL; s = next) {
        next = s->next;
        free(s->topic);
        free(s->channel);
        free(s);
    }
    svc->subs = NULL;
}

void pt_event_dispatch(portico_service *svc, const char *topic, size_t topic_len, const char *msg,
                       size_t len)
{
    struct portico_event ev;
    json_t *root, *v;
    const char *t;
    json_error_t jerr;

    if (svc->state != PT_SVC_RUNNING && svc->state != PT_SVC_STOPPING) return;
    if (len > PT_EVENT_MAX || !pc_json_depth_is_ok(msg, len, PC_WIRE_MAX_DEPTH)) goto bad;
    root = json_loadb(msg, len, 0, &jerr);
    if (root == NULL) goto bad;
    v = json_object_get(root, "v");
    t = json_string_value(json_object_get(root, "topic"));
    if (!json_is_integer(v) || json_integer_value(v) != 1 ||
        json_string_value(json_object_get(root, "type")) == NULL ||
        strcmp(json_string_value(json_object_get(root, "type")), "event") != 0 || t == NULL ||
        strlen(t) != topic_len || memcmp(t, topic, topic_len) != 0 ||
        json_object_get(root, "data") == NULL) {
        json_decref(root);
        goto bad;
    }
    ev.topic = t;
    ev.id = json_string_value(json_object_get(root, "id"));
    ev.source = json_string_value(json_object_get(root, "source"));
    ev.instance = json_string_value(json_object_get(root, "instance"));
    ev.ts_ms = json_is_integer(json_object_get(root, "ts_ms"))
                   ? (uint64_t)json_integer_value(json_object_get(root, "ts_ms"))
                   : 0;
    ev.data = json_object_get(root, "data");
    if (ev.id == NULL) ev.id = "";
    if (ev.source == NULL) ev.source = "";
    if (ev.instance == NULL) ev.instance = "";
    {
        json_t *tp = json_object_get(root, "traceparent"),
               *st = json_object_get(root, "tracestate");
        struct pc_tracestate ts;
        char tid[33];
        pc_tracestate_init(&ts);
        if (json_is_string(st))
            pc_tracestate_add(&ts, json_string_value(st), json_string_length(st));
        pt_trace_read(&ev.trace, json_string_value(tp), json_string_length(tp), &ts, tid);
    }
    for (struct pt_sub *s = svc->subs; s != NULL; s = s->next) {
        const struct pt_trace *saved = svc->ctx_trace;
        if (strcmp(s->topic, t) != 0) continue;
        svc->ctx_trace = &ev.trace; /* calls and events from the handler continue it */
        pt_svc_enter(svc);
        s->fn(svc, &ev, s->ud);
        pt_svc_leave(svc);
        svc->ctx_trace = saved;
    }
    json_decref(root);
    return;
bad:
    if (pc_ratelimit_allow(&svc->bad_rl, pc_mono_ms()))
        pt_log(svc, PORTICO_LOG_WARN, "bad event message on topic %.*s dropped", (int)topic_len,
               topic);
}

PORTICO_API const char *portico_event_topic(const portico_event *ev) { return ev->topic; }

PORTICO_API const char *portico_event_id(const portico_event *ev) { return ev->id; }

PORTICO_API const char *portico_event_source(const portico_event *ev) { return ev->source; }

PORTICO_API const char *portico_event_instance(const portico_event *ev) { return ev->instance; }

PORTICO_API uint64_t portico_event_ts_ms(const portico_event *ev) { return ev->ts_ms; }

PORTICO_API json_t *portico_event_data(const portico_event *ev) { return ev->data; }

PORTICO_API const char *portico_event_traceparent(const portico_event *ev)
{
    return ev->trace.traceparent;
}

PORTICO_API const char *portico_event_tracestate(const portico_event *ev)
{
    return ev->trace.tracestate;
}
