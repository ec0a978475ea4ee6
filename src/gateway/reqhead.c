/* reqhead.c -- the headers a request goes on with (see reqhead.h). */
#include "reqhead.h"

#include <stdlib.h>

#include "buf.h"
#include "headers.h"
#include "log.h"
#include "trace.h"
#include "xalloc.h"

static struct pc_kv *kv_in, *kv_out; /* header scratch */
static size_t kv_cap;
static pc_buf xff;        /* joined x-forwarded-for */
static pc_buf tracestate; /* the tracestate passed on */

static void grow_kv(size_t n)
{
    if (n <= kv_cap) return;
    free(kv_in);
    free(kv_out);
    kv_cap = n * 2;
    kv_in = pc_xmalloc(kv_cap * sizeof *kv_in);
    kv_out = pc_xmalloc(kv_cap * sizeof *kv_out);
}

size_t gw_reqhead_headers(struct gw_req *r, const struct pc_kv **out)
{
    size_t nh;
    long traced;

    grow_kv(r->nhdrs + GW_HEADERS_ADDED + 2);
    for (uint32_t i = 0; i < r->nhdrs; i++)
        kv_in[i] = (struct pc_kv){gw_req_hdr_name(r, i), r->hdrs[i].name_len,
                                  gw_req_hdr_value(r, i), r->hdrs[i].value_len};
    nh = gw_headers_to_service(kv_in, r->nhdrs, r->request_id, r->remote_addr, r->https,
                               r->auth_subject, r->auth_key_id, kv_out, &xff);
    /* no random bytes (the request id just had some): headers as they were */
    traced = gw_trace_headers(&r->trace, kv_in, r->nhdrs, kv_out, nh, &tracestate);
    if (traced >= 0) nh = (size_t)traced;
    if (xff.oom) pc_panic("out of memory writing request headers");
    *out = kv_out;
    return nh;
}

void gw_reqhead_deinit(void)
{
    free(kv_in);
    free(kv_out);
    kv_in = kv_out = NULL;
    kv_cap = 0;
    pc_buf_deinit(&xff);
    pc_buf_deinit(&tracestate);
}
