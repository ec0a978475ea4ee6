/* reqbody.h -- a request body passed on as it arrives, never held whole.
 *
 * A request whose route wants its body streamed (an HTTP upstream of the
 * routes file) is handed over at the end of its head (conn.c asks the
 * listener's head hook). Its body then goes, piece by piece, from the
 * parser to a consumer:
 *
 *   http.c on_body --gw_reqbody_in--> consumer's sink (hforward.c: into the
 *        upstream connection's output)           or, while there is none,
 *                                     held in r->body (at most
 *                                     GW_REQBODY_HOLD_MAX, then reading pauses)
 *   sink returns "full" --> the client's socket is not read (conn.c);
 *   consumer drained   --gw_reqbody_resume--> reading resumes
 *
 * Content-Length bodies up to GW_REQBODY_WHOLE_MAX bytes are read whole
 * first as before (one write upstream, and a request that can be retried
 * whole); bodies announced larger, and every chunked body, stream. */
#ifndef GW_REQBODY_H
#define GW_REQBODY_H

#include <stdbool.h>
#include <stddef.h>

#include "req.h"

#define GW_REQBODY_WHOLE_MAX (64 * 1024) /* Content-Length bodies read whole first */
#define GW_REQBODY_HOLD_MAX (256 * 1024) /* held while no consumer takes them */

/* Takes a piece of r's body (data NULL, n 0 with end); returns true when
 * the consumer is full: the client is not read until gw_reqbody_resume. */
typedef bool (*gw_reqbody_sink)(struct gw_req *r, const char *data, size_t n, bool end);

/* Whether r's body, as its head frames it, streams when its route wants
 * it (a chunked body, or a Content-Length above GW_REQBODY_WHOLE_MAX). */
static inline bool gw_reqbody_streamable(const struct gw_req *r)
{
    return r->body_length == GW_REQ_NO_LENGTH || r->body_length > GW_REQBODY_WHOLE_MAX;
}

/* The parser's side (r->body_stream set): a piece, and the end. */
void gw_reqbody_in(struct gw_req *r, const char *data, size_t n);
void gw_reqbody_in_end(struct gw_req *r);

/* The consumer's side. attach: from now on the pieces go to sink, first
 * what is held (and the end when it was read); the client is sent its
 * 100 Continue if it waits for one. attach with NULL: held again (a try
 * that gave nothing away ended). resume: the consumer has room again.
 * detach: the consumer is gone; what follows is dropped. */
void gw_reqbody_attach(struct gw_req *r, gw_reqbody_sink sink);
void gw_reqbody_resume(struct gw_req *r);
void gw_reqbody_detach(struct gw_req *r);

#endif
