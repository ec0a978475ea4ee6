/* cors.h -- Cross-Origin Resource Sharing for the public listener (Fetch standard).
 *
 * Configured by the "cors" object of the auth file (see docs/security.md),
 * loaded by gw_cors_load at start and again on each reload (SIGHUP).
 * Without it the gateway adds no CORS header and forwards OPTIONS like any
 * other method. With it:
 *   - a preflight (OPTIONS + Origin + Access-Control-Request-Method) is
 *     answered by the gateway itself, before auth and routing: 204 with the
 *     Access-Control-Allow-* headers, or 403 when the origin, the method or
 *     a requested header is not allowed;
 *   - every other response to an allowed Origin gets
 *     Access-Control-Allow-Origin (+ credentials, expose headers), added in
 *     gw_req_respond, so errors carry them too. The gateway owns these
 *     three headers: a service's own are dropped. */
#ifndef GW_CORS_H
#define GW_CORS_H

#include <stdbool.h>
#include <stddef.h>

#include "req.h"

#define GW_CORS_MAX_HEADERS 4 /* headers gw_cors_response_headers adds, at most */

/* Loads the policy from the "cors" object of the auth file (--auth-file;
 * NULL, "" or no "cors" object: none). The rest of that file is auth's
 * (auth.h, gw_auth_load). Returns 0, or -1 with one line in err naming the
 * file. */
int gw_cors_load(const char *auth_file, char *err, size_t errlen);
/* The same in two steps, for a reload (reload.h): prepare parses into *out
 * (NULL: no policy) and changes nothing; commit installs it (freeing the
 * old one), discard frees it. */
struct gw_cors;
int gw_cors_prepare(const char *auth_file, struct gw_cors **out, char *err, size_t errlen);
void gw_cors_commit(struct gw_cors *c);
void gw_cors_discard(struct gw_cors *c);
/* Frees the policy; no CORS afterwards. */
void gw_cors_unload(void);

/* If r is a preflight and CORS is configured, answers it and returns true
 * (r may be freed: do not touch it). Otherwise returns false. */
bool gw_cors_preflight(struct gw_req *r);

/* Writes to out (room for GW_CORS_MAX_HEADERS) the CORS headers of a
 * response to r; returns how many. Values point into r or static memory. */
size_t gw_cors_response_headers(const struct gw_req *r, struct pc_kv *out);

/* True if a response header (lower-case name) is one the gateway sets itself
 * when CORS is configured, so that a service's copy must be dropped. */
bool gw_cors_owns_header(const char *lname, size_t n);

#endif
