/* reqbody.c -- a request body passed on as it arrives (see reqbody.h). */
#include "reqbody.h"

#include "xalloc.h"

#define GW_REQBODY_KEEP 4096 /* bytes of a held body's buffer kept once it is passed on */

/* Pauses (full) or resumes reading r's client. */
static void hold(struct gw_req *r, bool full)
{
    if (r->body_held == full) return;
    r->body_held = full;
    if (r->conn != NULL) gw_req_conn->body_reading(r->conn, r, !full);
}

void gw_reqbody_in(struct gw_req *r, const char *data, size_t n)
{
    if (r->body_sink != NULL) {
        if (r->body_sink(r, data, n, false)) hold(r, true);
        return;
    }
    if (r->body_dropped) return;
    pc_buf_append(&r->body, data, n);
    if (r->body.oom) pc_panic("out of memory holding %zu bytes of a request body", r->body.len);
    if (r->body.len >= GW_REQBODY_HOLD_MAX) hold(r, true);
}

void gw_reqbody_in_end(struct gw_req *r)
{
    r->body_end = true;
    r->body_held = false; /* the connection reads the next request as usual */
    if (r->body_sink != NULL) r->body_sink(r, NULL, 0, true);
}

void gw_reqbody_attach(struct gw_req *r, gw_reqbody_sink sink)
{
    bool full = false;

    r->body_sink = sink;
    if (sink == NULL) return;
    if (r->body.len > 0) {
        full = sink(r, r->body.data, r->body.len, false);
        pc_buf_reset(&r->body);
        pc_buf_trim(&r->body, GW_REQBODY_KEEP);
    }
    if (r->body_end) {
        sink(r, NULL, 0, true);
        return;
    }
    hold(r, full);
    if (r->conn != NULL) gw_req_conn->body_continue(r->conn, r);
}

void gw_reqbody_resume(struct gw_req *r)
{
    if (!r->body_end) hold(r, false);
}

void gw_reqbody_detach(struct gw_req *r)
{
    r->body_sink = NULL;
    r->body_dropped = true;
    pc_buf_reset(&r->body);
}
