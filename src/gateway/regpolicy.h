/* regpolicy.h -- which registrations the gateway accepts (SPEC §3,
 * docs/security.md "Signed registration").
 *
 * Loaded once at start from up to three files:
 *
 *   secret file     (--registration-secret-file): the global secret; white
 *                   space around it is ignored.
 *   secrets file    (--registration-secrets-file): a JSON object mapping a
 *                   service name to its own secret, {"users":"s3cr3t",...}.
 *   allow-list file (--route-allowlist-file): a JSON object mapping a
 *                   service name to the path prefixes it may own,
 *                   {"users":["/users","/accounts/"],...}.
 *
 * Key choice: a service named in the secrets file must sign with its own
 * secret (the global one is not accepted for it); any other service signs
 * with the global secret, and is refused ("unknown_service") when there is
 * none. Signatures are required as soon as either secret file is given.
 *
 * The signing itself (HMAC, envelope, secret files) is shared with the SDK
 * and lives in src/common/sign.h; this policy is the gateway's alone. */
#ifndef GW_REGPOLICY_H
#define GW_REGPOLICY_H

#include <stdbool.h>
#include <stddef.h>

#define GW_REGPOLICY_FILE_MAX (1024 * 1024) /* bytes of a secrets or allow-list file */
#define GW_REGPOLICY_MAX_PREFIXES 1024      /* prefixes per service in an allow-list */

struct gw_regpolicy;

/* Loads the files (NULL or "" = not given). Returns 0 with *out set (NULL
 * when no file was given: accept unsigned, allow every route), or -1 with a
 * one-line reason in err naming the file. *out is owned by the caller. */
int gw_regpolicy_load(struct gw_regpolicy **out, const char *secret_file, const char *secrets_file,
                      const char *allowlist_file, char *err, size_t errlen);
void gw_regpolicy_free(struct gw_regpolicy *p); /* wipes the secrets; NULL is fine */

/* True when registrations must be signed (p may be NULL: false). */
bool gw_regpolicy_wants_signature(const struct gw_regpolicy *p);
/* The key service[0..n) must sign with: 0 and *key and *keylen set (borrowed
 * from p), or -1 when the service may not register at all. */
int gw_regpolicy_key(const struct gw_regpolicy *p, const char *service, size_t n, const void **key,
                     size_t *keylen);
/* True when service may own pattern: no allow-list, or one of the service's
 * prefixes covers it by whole segments (pc_path_covers): "/users" allows
 * "/users", "/users/{id}" and "/users" + "/" + "*", not "/usersx"; "/"
 * allows everything. A service the allow-list does not name owns nothing. */
bool gw_regpolicy_route_allowed(const struct gw_regpolicy *p, const char *service,
                                const char *pattern);

/* Shadowing (docs/security.md "Shadowing"): whether a new route (nm, np)
 * would take requests from an existing route (om, op), i.e. some request the
 * existing route serves now would go to the new one. Compared with path.h,
 * the router's rules: at the first segment where the patterns differ in kind
 * the more specific one (literal, then {param}, then a final "*"; a pattern
 * ending where the other has "*") is tried first, so the new route takes
 * requests when it is the more specific there and the rest of both can match
 * one path, and their methods share a request method. On the same pattern,
 * an exact method takes requests from "*", and HEAD from GET. */
bool gw_route_shadows(const char *nm, const char *np, const char *om, const char *op);
/* True when the gateway refuses shadowing another service's routes: with
 * per-service secrets (only then are service names trustworthy). */
bool gw_regpolicy_refuses_shadowing(const struct gw_regpolicy *p);
/* True when the allow-list grants service pattern np although it shadows
 * another service's op: one of service's prefixes covers np and not op
 * (the operator gave it that narrower space by name). */
bool gw_regpolicy_shadow_granted(const struct gw_regpolicy *p, const char *service, const char *np,
                                 const char *op);

/* True when p accepts unsigned registration while Redis is reached at a
 * and a is neither a unix socket nor a loopback address: then whoever can
 * publish on that Redis can announce routes. Loopback: 127.0.0.0/8, ::1,
 * ::ffff:127.0.0.0/104 and the name "localhost"; other names are not
 * resolved (the gateway cannot know where they lead), so they count as
 * not loopback, as do 0.0.0.0 and ::. */
struct pc_redis_addr;
bool gw_regpolicy_unsigned_exposed(const struct gw_regpolicy *p, const struct pc_redis_addr *a);
/* Logs the start-up warning when gw_regpolicy_unsigned_exposed (once). */
void gw_regpolicy_warn_exposed(const struct gw_regpolicy *p, const struct pc_redis_addr *a);

#endif
