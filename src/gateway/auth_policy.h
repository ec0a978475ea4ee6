/* auth_policy.h -- private to auth_load.c (which fills the policy from
 * --auth-file) and auth.c (which decides requests with it). Nothing else
 * includes it: the rest of the gateway sees auth.h only.
 *
 * The policy is built aside and installed between two loop callbacks (at
 * start, and on a reload); requests only read it. */
#ifndef GW_AUTH_POLICY_H
#define GW_AUTH_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "req.h"

enum gw_auth_mode { GW_AUTH_PUBLIC, GW_AUTH_API_KEY, GW_AUTH_JWT, GW_AUTH_EITHER };

struct gw_auth_rule {
    char *pattern;  /* a valid route pattern */
    bool prefix;    /* true: matches routes under it; false: exactly it */
    size_t nseg;    /* segments of pattern (gw_auth_pattern_segments) */
    char **methods; /* NULL: any method */
    size_t nmethods;
    enum gw_auth_mode mode;
    json_t *claims; /* required JWT claims (object), or NULL */
};

struct gw_auth_key {
    char id[GW_AUTH_KEY_ID_MAX + 1];
    unsigned char digest[32]; /* SHA-256 of the key: the key itself is not kept */
};

struct gw_auth_policy {
    bool loaded; /* false: every route is public */
    struct gw_auth_key *keys;
    size_t nkeys;
    struct gw_jwt_verifier *jwt; /* NULL: no JWT configured */
    struct gw_auth_rule *rules;
    size_t nrules;
    enum gw_auth_mode def; /* for routes no rule covers */
};

/* The process' policy: owned by auth_load.c, read by auth.c. */
extern struct gw_auth_policy gw_auth_pol;

/* auth.c: true if rule ru covers route pattern pat: the same pattern, or for
 * a prefix rule, pc_path_covers (whole segments); param names do not count. */
bool gw_auth_rule_covers(const struct gw_auth_rule *ru, const char *pat);
/* auth.c: true if ru applies to method (a GET rule also guards HEAD). */
bool gw_auth_rule_has_method(const struct gw_auth_rule *ru, const char *method);
/* auth.c: segments of a rule's pattern ("/" has none; a prefix counts as
 * pc_prefix_len leaves it): the rule's specificity. */
size_t gw_auth_pattern_segments(const char *pattern, bool prefix);
/* auth.c: SHA-256 of data[0..n) (aborts if libcrypto cannot compute it). */
void gw_auth_sha256(const void *data, size_t n, unsigned char out[32]);

#endif
