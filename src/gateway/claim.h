/* claim.h -- large bodies through Redis keys instead of pub/sub messages
 * (the claim check, protocol.md 3.1 and 4.1).
 *
 * A pub/sub message larger than Redis' client output buffer limit for
 * subscribers (32 MB by default) makes Redis drop the subscriber, and with it
 * every request in flight. So a request body over --claim-check-bytes goes
 * to an instance that announced "claim_check":true in a key
 * "<prefix>:body:<id>:req" (SET with a TTL, then the PUBLISH, pipelined on
 * the command connection), and a reply may carry its body in
 * "<prefix>:body:<id>:rep", which the gateway reads in slices
 * (GETRANGE; GW_CLAIM_SLICE bytes or its share of GW_CLAIM_BUDGET,
 * whichever is larger) and deletes. A client waiting for a body gets it
 * streamed: the head (with content-length body_len) once the first slice
 * is in, each slice as it comes (the reply's own bytes, not copied), up to
 * GW_CLAIM_AHEAD slices asked for while the client's output holds no more
 * than a slice, before the slice just read is written (so Redis reads the
 * next while the gateway writes); a job (and a HEAD, a 204, a 304) gets it
 * collected whole, a slice at a time. */
#ifndef GW_CLAIM_H
#define GW_CLAIM_H

#include <stdbool.h>
#include <stddef.h>

#include "req.h"

struct gw_instance;
struct evbuffer;

#define GW_CLAIM_TTL_MARGIN_MS 5000  /* a key lives until the deadline + this */
#define GW_CLAIM_SLICE (16 * 1024)   /* bytes of a reply body read per GETRANGE, at least */
#define GW_CLAIM_OUT_LOW (16 * 1024) /* a streamed body's next slice: output at most this */
#define GW_CLAIM_AHEAD 2             /* a streamed body's GETRANGEs unanswered, at most */

/* Large bodies in transfer (replies read, requests stored) share a budget
 * of bytes in flight: a lone transfer moves GW_CLAIM_SHARE_MAX at a time
 * (few round trips to Redis: latency), many move less each, down to their
 * minimum (the gateway's memory stays bounded whatever their number). */
#define GW_CLAIM_BUDGET (512 * 1024)
#define GW_CLAIM_SHARE_MAX (256 * 1024)

/* A transfer begins or ends (counted for the share). */
void gw_claim_transfer(bool begins);
/* This transfer's share of GW_CLAIM_BUDGET, within [min, GW_CLAIM_SHARE_MAX]. */
size_t gw_claim_share(size_t min);

/* True when r's body goes to inst by reference: --claim-check-bytes is not
 * 0, the body is larger, and inst announced claim_check. */
bool gw_claim_wanted(const struct gw_req *r, const struct gw_instance *inst);
/* The key of r's request body, valid until the next call. */
const char *gw_claim_request_key(const struct gw_req *r);
/* Stores r's body under its key (SET PX: the time left before r's deadline
 * + GW_CLAIM_TTL_MARGIN_MS) on the command connection; a PUBLISH sent after
 * it is executed after it. Returns 0, or -1 when the bus is down. */
int gw_claim_store(struct gw_req *r);

/* Deletes r's request body key (a PUBLISH that reached nobody). */
void gw_claim_unstore(struct gw_req *r);

/* How a reply read by reference ends, for r (still in flight): body (moved
 * into the response by the callee) or NULL and why ("bad_ref",
 * "reply_too_large", "missing", "redis_error": 502). Called at most once per
 * gw_claim_fetch, possibly from inside it; never when r left flight meanwhile
 * (deadline, client gone, bus down: those answered it). */
typedef void gw_claim_done_fn(struct gw_req *r, int status, const struct pc_kv *headers,
                              size_t nheaders, struct evbuffer *body, const char *why);

/* The head of a reply whose body streams (r still in flight): takes r out
 * of flight and sends the head with content-length len; false, r out of
 * flight and nothing sent, when r's client has gone. */
typedef bool gw_claim_head_fn(struct gw_req *r, int status, const struct pc_kv *headers,
                              size_t nheaders, size_t len);

/* Reads the body of r's reply from ref, which must be r's reply key, and
 * announced as len bytes (at most --max-reply-bytes); the status and headers
 * are copied. r->claim_reading must be set by the caller. */
void gw_claim_fetch(struct gw_req *r, int status, const struct pc_kv *headers, size_t nheaders,
                    const char *ref, size_t len);
/* A reply by reference that will not be read (no request waits for it, or
 * it is invalid): its key is deleted now rather than at its TTL, when ref is
 * the reply key of id, or with ref NULL, that key whatever the reply said. */
void gw_claim_discard(const char *id, size_t id_len, const char *ref);

/* A streamed body's client output drained (r->on_drain). */
void gw_claim_drained(struct gw_req *r);
/* r's client left while its body streamed (r->claim_rd set): the reading
 * stops and the key is deleted. */
void gw_claim_cancel(struct gw_req *r);

void gw_claim_init(gw_claim_done_fn *done, gw_claim_head_fn *head);
void gw_claim_deinit(void);

#endif
