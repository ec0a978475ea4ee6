/* reply.h -- replies on this gateway's reply channel, P:reply:<gateway-id>.
 *
 *   message --> lean reader (wire_lean.c), else the validating decoder
 *     --> in-flight table[id] (inflight.c) --> the client's response
 *   unmatchable, late (client gone, duplicate): dropped and counted;
 *   matched but invalid or over --max-reply-bytes: 502 bad_reply;
 *   body by claim check: read from Redis (claim.c), then answered.
 *
 * The request's life in flight (tries, deadline, instance accounting) is
 * forward.c's: a reply ends it through gw_forward_finish or, while a body is
 * still to come, gw_forward_try_answered. */
#ifndef GW_REPLY_H
#define GW_REPLY_H

#include <stddef.h>

void gw_reply_init(void);
void gw_reply_deinit(void);
/* A message on this gateway's reply channel. */
void gw_reply_on_message(const char *msg, size_t len);

#endif
