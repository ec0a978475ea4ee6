/* job.h -- asynchronous requests: the 202 pattern (protocol.md 5.8).
 *
 *   POST /reports + Prefer: respond-async, on a route announced "async":true
 *     --> id = UUIDv4; HSET P:job:<id> state pending deadline ... + PEXPIRE
 *     --> Redis confirmed: 202 Accepted, Location: /_portico/jobs/<id>
 *     --> a detached copy of the request (no connection, r->job) is forwarded
 *         with deadline --async-timeout-ms
 *     --> its response (the reply, or 502/503/504) goes to the record:
 *         HSET state done status headers body + PEXPIRE --job-ttl-ms, then
 *         PUBLISH P:event:portico.job, an event (protocol.md, Events) whose
 *         data is {"id":<job id>,"status":N,"state":"done"}
 *   GET /_portico/jobs/<id> on any gateway on the same Redis (jobpoll.c)
 *     --> 202 + Retry-After while pending, 504 once the deadline passed,
 *         the stored response when done, 404 when unknown, expired, or
 *         another identity's.
 *
 * The record (a hash, every field a binary-safe Redis string):
 *   state     "pending" | "done"
 *   deadline  unix ms: the forwarded request's deadline
 *   route     the route pattern the request matched
 *   method    the request's method
 *   ident     who may read it: "" (no client authentication), else
 *             "key:<api key id>", "sub:<jwt sub>" or "key:<id> sub:<sub>"
 *   request_id  the submitting request's x-request-id (a done poll answers with it)
 *   gateway   id of the gateway that accepted it (for operators)
 *   status    (done) HTTP status
 *   headers   (done) JSON [[name,value],...]: the response headers as sent,
 *             without those every response gets (date, content-length,
 *             connection, x-request-id, CORS, RateLimit-*)
 *   body      (done) the body, raw bytes
 * TTL: --async-timeout-ms + --job-ttl-ms while pending, --job-ttl-ms once
 * done. A read does not remove it. */
#ifndef GW_JOB_H
#define GW_JOB_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "req.h"

struct gw_route;

#define GW_JOB_POLL_PREFIX "/_portico/jobs"       /* the gateway's own path for polls */
#define GW_JOB_POLL_PATTERN "/_portico/jobs/{id}" /* its rate-limit rule (ratelimit.h) */
#define GW_JOB_RETRY_AFTER "1"                    /* seconds, on a 202 for a pending job */
#define GW_JOB_IDENT_MAX (4 + GW_AUTH_KEY_ID_MAX + 5 + GW_AUTH_SUBJECT_MAX + 1)

/* Registers the response sink of jobs (req.h). */
void gw_job_init(void);

/* True when r asks to be answered asynchronously: a Prefer header (any of
 * them) holds the preference respond-async (RFC 7240: case-insensitive,
 * among others, with or without parameters). */
bool gw_job_wanted(const struct gw_req *r);

/* What a job goes on with once accepted (forward.c): j is the detached
 * copy, j->job set, its id and deadline_ms those of the record. */
typedef void gw_job_cont(struct gw_req *j);

/* r (authenticated, allowed by the rate limiter) on the async route rt,
 * matched as pattern: records the job, then answers r 202 and hands the
 * copy to cont; or answers r 503 (record not written, nothing forwarded). */
void gw_job_submit(struct gw_req *r, const struct gw_route *rt, const char *pattern,
                   gw_job_cont *cont);

/* r's path is /_portico/jobs or below it: the gateway answers (jobpoll.c). */
bool gw_job_is_poll(const struct gw_req *r);
void gw_job_poll(struct gw_req *r);

/* Helpers shared by job.c and jobpoll.c. */
/* "<prefix>:job:<id>" into out. */
void gw_job_key(pc_buf *out, const char *id);
/* r's verified identity as the record keeps it (see above). */
void gw_job_identity(const struct gw_req *r, char out[GW_JOB_IDENT_MAX]);

#endif
