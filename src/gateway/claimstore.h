/* claimstore.h -- a large request body stored in its claim-check key as it
 * arrives, never held whole (protocol.md 3.1).
 *
 * A request whose head announces a body over --claim-check-bytes
 * (Content-Length) for a bus route whose live instances all announced
 * claim_check is handed over at its head (forward.c gw_forward_head,
 * reqbody.h). Once its instance is picked, its body goes piece by piece
 * into "<prefix>:body:<id>:req": the first piece with SET PX (the TTL of
 * claim.c), the others with APPEND, on the command connection; the client
 * is not read while more than its share of the large-body budget
 * (GW_CLAIMSTORE_HIGH at least) is unanswered. After the last piece the PUBLISH follows on the same
 * connection (a cluster holds it behind the unanswered SET and APPENDs).
 * A request that leaves flight before its PUBLISH (client gone, deadline,
 * bus down) stops the pieces and deletes the key; nothing is published. */
#ifndef GW_CLAIMSTORE_H
#define GW_CLAIMSTORE_H

#include <stdbool.h>

#include "req.h"

struct gw_route;

/* Unanswered bytes above which the client is not read (until they are down
 * to half): this upload's share of the large-body budget (claim.h), at
 * least GW_CLAIMSTORE_HIGH. */
#define GW_CLAIMSTORE_HIGH (32 * 1024)

/* True when r's body (as its head announces it) is stored as it arrives:
 * --claim-check-bytes is not 0, a Content-Length above it, rt a bus route,
 * not asynchronous, whose live instances all announced claim_check. */
bool gw_claimstore_wanted(const struct gw_req *r, const struct gw_route *rt);

/* Starts storing r's body (r in flight, encoded with body_ref for r->inst);
 * publish(r) is called once its last piece is sent (possibly from inside
 * this call). Returns 0, or -1 when the bus is down. */
int gw_claimstore_start(struct gw_req *r, void (*publish)(struct gw_req *r));

/* r leaves flight (r->claim_up set): the pieces stop and, unless it was
 * published, the key is deleted. */
void gw_claimstore_stop(struct gw_req *r);

#endif
