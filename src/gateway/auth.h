/* auth.h -- client authentication: API keys, JWT, per-route policy.
 *
 * The policy is loaded at startup (and on each reload) from --auth-file (format in
 * docs/security.md). Without one every route is public. For each matched
 * route the most specific rule decides what the request must present:
 *
 *   public          nothing
 *   api_key         X-API-Key: <key>  or  Authorization: ApiKey <key>
 *   jwt             Authorization: Bearer <token>, plus the rule's claims
 *   api_key_or_jwt  either (every credential presented must be valid)
 *
 * A refused request is answered here: 401 with WWW-Authenticate (RFC 6750,
 * RFC 7235), 403 when a valid token lacks the claims, 400 when credential
 * headers are repeated. The verified identity is stored on the request
 * (auth_subject, auth_key_id) and forwarded as x-auth-subject /
 * x-auth-key-id; headers.c strips client copies of those names always. */
#ifndef GW_AUTH_H
#define GW_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "req.h"
#include "router.h"

#define GW_AUTH_FILE_MAX (1024 * 1024) /* bytes of the auth file */
#define GW_AUTH_KEYS_MAX 10000         /* API keys in the file */
#define GW_AUTH_RULES_MAX 10000        /* route rules in the file */
#define GW_AUTH_KEY_MIN 16             /* bytes of an API key, at least */
#define GW_AUTH_KEY_MAX 256            /* bytes of an API key, at most */

/* Loads the policy from path (auth_load.c); NULL or "" = none (all public).
 * Relative key and secret file paths are relative to the auth file's
 * directory. The file's "cors" object is left to gw_cors_load (cors.h).
 * Returns 0, or -1 with one line (no newline) in err. */
int gw_auth_load(const char *path, char *err, size_t errlen);
/* Frees the policy; everything is public afterwards. */
void gw_auth_unload(void);
/* The same load in two steps, for a reload (reload.h): prepare builds a
 * policy aside in *out and changes nothing (-1 with one line in err, *out
 * NULL); commit installs it in place of the running one (freeing that);
 * discard frees a prepared policy that was not installed. */
struct gw_auth_policy;
int gw_auth_prepare(const char *path, struct gw_auth_policy **out, char *err, size_t errlen);
void gw_auth_commit(struct gw_auth_policy *p);
void gw_auth_discard(struct gw_auth_policy *p);
/* How many policies were installed so far: a request that waits (the shared
 * rate limiter) notes it, and keeps the decision it had if it changed. */
unsigned gw_auth_generation(void);

/* Decides r for its matched route m. Returns true to go on (identity stored
 * on r), or false after answering r (r may be freed: do not touch it). */
bool gw_auth_check(struct gw_req *r, const struct gw_match *m);
/* The same decision for the route pattern and method given, answering
 * nothing: true with the identity stored on r (none when the rule is
 * public), false when r's credentials do not do (a failed credential is
 * counted as by gw_auth_check). For job polls (job.h). */
bool gw_auth_identify(struct gw_req *r, const char *pattern, const char *method);

#endif
