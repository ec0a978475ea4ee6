/* trace.c -- W3C Trace Context at the gateway (see trace.h). */
#include "trace.h"

#include <string.h>

#include "traceparent.h"

static bool name_is(const struct pc_kv *h, const char *name, size_t len)
{
    return h->name_len == len && memcmp(h->name, name, len) == 0;
}

void gw_trace_look(struct gw_trace *t, const char *tp, size_t tp_len, unsigned count)
{
    char parent[17];

    if (t->state != 0) return;
    t->state = 1;
    /* two traceparent headers: neither is believed */
    if (count == 1 && pc_traceparent_parse(tp, tp_len, t->trace_id, parent, t->flags)) {
        t->state = 2;
        t->client = true;
    }
}

/* The client's tracestate headers joined into scratch, bounded
 * (traceparent.h). Returns false when there is none to pass on. */
static bool tracestate_of(const struct pc_kv *in, size_t nin, pc_buf *scratch)
{
    struct pc_tracestate ts;
    const char *v;

    pc_tracestate_init(&ts);
    for (size_t i = 0; i < nin; i++)
        if (name_is(&in[i], "tracestate", 10)) pc_tracestate_add(&ts, in[i].value, in[i].value_len);
    if ((v = pc_tracestate_value(&ts)) == NULL) return false;
    pc_buf_reset(scratch);
    pc_buf_append(scratch, v, ts.len);
    return !scratch->oom;
}

long gw_trace_headers(struct gw_trace *t, const struct pc_kv *in, size_t nin, struct pc_kv *out,
                      size_t n, pc_buf *scratch)
{
    size_t k = 0;

    if (t->state == 0) {
        const char *tp = NULL;
        size_t tp_len = 0;
        unsigned count = 0;
        for (size_t i = 0; i < nin; i++) {
            if (!name_is(&in[i], "traceparent", 11)) continue;
            if (count++ == 0) {
                tp = in[i].value;
                tp_len = in[i].value_len;
            }
        }
        gw_trace_look(t, tp, tp_len, count);
    }
    if (!t->made) {
        if (pc_traceparent_child(t->traceparent, t->state == 2 ? t->trace_id : NULL, t->flags) != 0)
            return -1;
        if (t->state != 2) { /* a new trace */
            memcpy(t->trace_id, t->traceparent + 3, 32);
            t->trace_id[32] = '\0';
            memcpy(t->flags, "01", 3);
            t->state = 2;
        }
        t->made = true;
    }
    for (size_t i = 0; i < n; i++)
        if (!name_is(&out[i], "traceparent", 11) && !name_is(&out[i], "tracestate", 10))
            out[k++] = out[i];
    out[k++] = (struct pc_kv){"traceparent", 11, t->traceparent, GW_TRACEPARENT_LEN};
    if (t->client && tracestate_of(in, nin, scratch))
        out[k++] = (struct pc_kv){"tracestate", 10, scratch->data, scratch->len};
    return (long)k;
}
