/* req_stub.c -- stands in for src/gateway/req.c where http.c is compiled
 * alone (the http fuzz target, unit-framing): req.c would drag in the whole
 * gateway. These do what req.c's do for a request that was never forwarded
 * (and reqbody.c's, never reached: no request is handed over at its head). */
#include <stdlib.h>

#include "reqbody.h"
#include "req.h"
#include "xalloc.h"

struct gw_req *gw_req_new(void)
{
    struct gw_req *r = pc_xcalloc(1, sizeof *r);
    pc_buf_init(&r->head);
    pc_buf_init(&r->body);
    pc_buf_init(&r->envelope);
    return r;
}

void gw_req_free(struct gw_req *r)
{
    if (r == NULL) return;
    pc_buf_deinit(&r->head);
    pc_buf_deinit(&r->body);
    pc_buf_deinit(&r->envelope);
    free(r->hdrs);
    free(r);
}

void gw_reqbody_in(struct gw_req *r, const char *data, size_t n)
{
    pc_buf_append(&r->body, data, n);
}

void gw_reqbody_in_end(struct gw_req *r) { r->body_end = true; }
