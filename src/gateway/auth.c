/* auth.c -- deciding a request with the auth policy: the rule for its route
 * pattern, the credentials it presents, the answer when they do not do.
 * The policy itself is loaded by auth_load.c (auth_policy.h between them).
 *
 * Rules match the *route pattern* the router chose, never the raw path, so
 * percent-encoding or dot tricks cannot dodge a rule: whatever path reaches
 * a route is judged by that route's rule. Patterns and prefixes are compared
 * by path.h, as everywhere: param names do not count ("/u/{id}" and
 * "/u/{uid}" are the same pattern), and a prefix covers whole segments
 * ("/api" covers "/api" and "/api/x", not "/apix"). */
#include "auth.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth_policy.h"
#include "buf.h"
#include "gw.h"
#include "jwt.h"
#include "log.h"
#include "path.h"
#include "ratelimit.h"
#include "stats.h"
#include "xalloc.h"

static const struct gw_auth_policy *const pol = &gw_auth_pol;

/* ------------------------------------------------------------------------ */
/* Rules                                                                     */
/* ------------------------------------------------------------------------ */

size_t gw_auth_pattern_segments(const char *pattern, bool prefix)
{
    size_t n = strlen(pattern);
    return pc_path_count_segments(pattern, prefix ? pc_prefix_len(pattern, n) : n);
}

bool gw_auth_rule_covers(const struct gw_auth_rule *ru, const char *pat)
{
    size_t rn = strlen(ru->pattern), pn = strlen(pat);
    return ru->prefix ? pc_path_covers(ru->pattern, rn, pat, pn)
                      : pc_pattern_equal(ru->pattern, rn, pat, pn);
}

bool gw_auth_rule_has_method(const struct gw_auth_rule *ru, const char *method)
{
    if (ru->methods == NULL) return true;
    for (size_t i = 0; i < ru->nmethods; i++) {
        if (strcmp(ru->methods[i], method) == 0) return true;
        /* HEAD is served by GET routes: a GET rule guards it too. */
        if (strcmp(method, "HEAD") == 0 && strcmp(ru->methods[i], "GET") == 0) return true;
    }
    return false;
}

/* Exact beats prefix, a longer prefix beats a shorter one, a rule naming
 * methods beats one for any method. */
static long rule_score(const struct gw_auth_rule *ru)
{
    return (ru->prefix ? 0L : 1L << 20) + (long)ru->nseg * 2 + (ru->methods ? 1 : 0);
}

static const struct gw_auth_rule *rule_for(const char *pattern, const char *method)
{
    const struct gw_auth_rule *best = NULL;
    for (size_t i = 0; i < pol->nrules; i++) {
        const struct gw_auth_rule *ru = &pol->rules[i];
        if (!gw_auth_rule_has_method(ru, method) || !gw_auth_rule_covers(ru, pattern)) continue;
        if (best == NULL || rule_score(ru) > rule_score(best)) best = ru;
    }
    return best;
}

/* ------------------------------------------------------------------------ */
/* Deciding a request                                                        */
/* ------------------------------------------------------------------------ */

struct creds {
    const char *token;
    size_t token_len; /* Authorization: Bearer */
    const char *key;
    size_t key_len; /* X-API-Key or Authorization: ApiKey */
    bool repeated;  /* a credential header came twice */
};

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) (*s)++, (*n)--;
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t')) (*n)--;
}

/* If v[0..n) is "<scheme> <credentials>" (scheme case-insensitive), points
 * *rest at the credentials. */
static bool scheme_is(const char *v, size_t n, const char *scheme, const char **rest, size_t *rn)
{
    size_t sl = strlen(scheme);
    if (n <= sl || strncasecmp(v, scheme, sl) != 0 || (v[sl] != ' ' && v[sl] != '\t')) return false;
    *rest = v + sl;
    *rn = n - sl;
    trim(rest, rn);
    return true;
}

static void creds_of(const struct gw_req *r, struct creds *c)
{
    int nauth = 0, nkey = 0;

    memset(c, 0, sizeof *c);
    for (uint32_t i = 0; i < r->nhdrs; i++) {
        const char *name = gw_req_hdr_name(r, i), *v = gw_req_hdr_value(r, i), *rest;
        size_t nl = r->hdrs[i].name_len, vn = r->hdrs[i].value_len, rn;

        if (nl == 13 && memcmp(name, "authorization", 13) == 0) {
            nauth++;
            if (scheme_is(v, vn, "Bearer", &rest, &rn)) {
                c->token = rest;
                c->token_len = rn;
            } else if (scheme_is(v, vn, "ApiKey", &rest, &rn)) {
                nkey++;
                c->key = rest;
                c->key_len = rn;
            }
        } else if (nl == 9 && memcmp(name, "x-api-key", 9) == 0) {
            nkey++;
            c->key = v;
            c->key_len = vn;
            trim(&c->key, &c->key_len);
        }
    }
    c->repeated = nauth > 1 || nkey > 1;
}

void gw_auth_sha256(const void *data, size_t n, unsigned char out[32])
{
    unsigned int len = 0;
    pc_check(EVP_Digest(data, n, out, &len, EVP_sha256(), NULL) == 1 && len == 32);
}

/* The id of the key, or NULL. Every configured digest is compared, in
 * constant time, whatever matches. */
static const char *key_lookup(const char *key, size_t n)
{
    unsigned char d[32];
    const char *found = NULL;

    if (n == 0 || n > GW_AUTH_KEY_MAX) return NULL;
    gw_auth_sha256(key, n, d);
    for (size_t i = 0; i < pol->nkeys; i++)
        if (CRYPTO_memcmp(d, pol->keys[i].digest, 32) == 0) found = pol->keys[i].id;
    return found;
}

/* Writes the WWW-Authenticate value for mode; the scheme that failed gets
 * its RFC 6750 error. */
static void challenge(pc_buf *b, enum gw_auth_mode m, const char *bearer_err, const char *desc,
                      bool key_bad)
{
    if (m == GW_AUTH_JWT || m == GW_AUTH_EITHER) {
        pc_buf_puts(b, "Bearer realm=\"portico\"");
        if (bearer_err) {
            pc_buf_puts(b, ", error=\"");
            pc_buf_puts(b, bearer_err);
            pc_buf_puts(b, "\"");
        }
        if (desc) { /* static text without quotes (jwt.h reasons) */
            pc_buf_puts(b, ", error_description=\"");
            pc_buf_puts(b, desc);
            pc_buf_puts(b, "\"");
        }
    }
    if (m == GW_AUTH_API_KEY || m == GW_AUTH_EITHER) {
        if (b->len) pc_buf_puts(b, ", ");
        pc_buf_puts(b, "ApiKey realm=\"portico\"");
        if (key_bad) pc_buf_puts(b, ", error=\"invalid_key\"");
    }
    pc_check(!b->oom);
}

/* ------------------------------------------------------------------------ */
/* Failed credentials per client address                                     */
/* ------------------------------------------------------------------------ */

/* Route key of the failure buckets in the rate limiter's local table: no
 * route pattern can be it (patterns start with '/'), so they never share a
 * bucket with a request limit. Keyed by the client address (clientaddr.h:
 * a header is believed only from a trusted proxy or as a PROXY header). */
#define FAIL_ROUTE "!auth-fail"

/* The limit from the settings (--auth-fail-limit per --auth-fail-window-ms):
 * a bucket of `limit` tokens, one back every window / limit (at least 1 us);
 * NULL when off (limit 0). Made from gw.cfg, again whenever a reload
 * changed the two settings (the buckets then start over: ratelimit.c drops
 * a bucket found under another rule). */
static const struct gw_rl_rule *fail_rule(void)
{
    static struct gw_rl_rule rules[2];
    static int cur, limit = -1, window = -1;

    if (gw.cfg != NULL &&
        (gw.cfg->auth_fail_limit != limit || gw.cfg->auth_fail_window_ms != window)) {
        struct gw_rl_rule *rule = &rules[cur ^= 1]; /* a new address for a new rule */
        limit = gw.cfg->auth_fail_limit;
        window = gw.cfg->auth_fail_window_ms;
        memset(rule, 0, sizeof *rule);
        if (limit > 0) {
            rule->burst = (uint32_t)limit;
            rule->interval_us = (uint64_t)window * 1000u / rule->burst;
            if (rule->interval_us == 0) rule->interval_us = 1;
            rule->window_s = (uint32_t)((window + 999) / 1000);
        }
    }
    return rules[cur].burst ? &rules[cur] : NULL;
}

/* True when r's address has used up its failures: r is answered 429 (when
 * answer is set). */
static bool fail_locked(struct gw_req *r, bool answer)
{
    const struct gw_rl_rule *rule = fail_rule();
    struct gw_rl_result res;

    if (rule == NULL) return false;
    gw_ratelimit_local_peek(rule, FAIL_ROUTE, r->remote_addr, gw_now_unix_ms(), &res);
    if (res.allowed) return false;
    gw_stats->auth_throttled++;
    gw_stats->auth_rejections[GW_AUTH_REJECT_THROTTLED]++;
    pc_log(PC_LOG_DEBUG, "auth", "request %s: 429, too many failed credentials from %s",
           r->request_id, r->remote_addr);
    r->auth_subject[0] = r->auth_key_id[0] = '\0';
    if (!answer) return true;
    gw_ratelimit_refuse(r, res.retry_after_ms,
                        "too many failed credentials from this address; retry later");
    return true;
}

/* One failed credential from r's address (a 401, or a 400 from here). */
static void fail_count(const struct gw_req *r)
{
    const struct gw_rl_rule *rule = fail_rule();
    struct gw_rl_result res;

    gw_stats->auth_failures++;
    if (rule != NULL) gw_ratelimit_local(rule, FAIL_ROUTE, r->remote_addr, gw_now_unix_ms(), &res);
}

/* ------------------------------------------------------------------------ */
/* Answers                                                                   */
/* ------------------------------------------------------------------------ */

/* Answers r with status (400, 401: a failed credential, counted; 403: valid
 * credentials without the claims, not counted); without answer, only counts
 * and forgets the identity. */
static void refuse(struct gw_req *r, bool answer, enum gw_auth_reject why, int status,
                   const char *code, const char *msg, enum gw_auth_mode m, const char *bearer_err,
                   const char *desc, bool key_bad)
{
    pc_buf b;
    struct pc_kv h;

    gw_stats->auth_rejections[why]++;
    if (status != 403) fail_count(r);
    if (!answer) {
        r->auth_subject[0] = r->auth_key_id[0] = '\0';
        return;
    }

    pc_buf_init(&b);
    challenge(&b, m, bearer_err, desc, key_bad);
    h = (struct pc_kv){"www-authenticate", 16, b.data, b.len};
    pc_log(PC_LOG_DEBUG, "auth", "request %s: %d %s", r->request_id, status, desc ? desc : msg);
    r->auth_subject[0] = r->auth_key_id[0] = '\0';
    gw_req_error_hdr(r, status, code, msg, &h);
    pc_buf_deinit(&b);
}

/* gw_auth_check and gw_auth_identify: r's credentials under the rule for
 * (pattern, method); refusals answered when answer is set. */
static bool decide(struct gw_req *r, const char *pattern, const char *method, bool answer)
{
    const struct gw_auth_rule *ru;
    enum gw_auth_mode mode;
    struct creds c;
    bool use_tok, use_key;

    r->auth_subject[0] = r->auth_key_id[0] = '\0';
    if (!pol->loaded) return true;
    ru = rule_for(pattern, method);
    mode = ru ? ru->mode : pol->def;
    if (mode == GW_AUTH_PUBLIC) return true;
    if (fail_locked(r, answer)) return false; /* even with good credentials */

    creds_of(r, &c);
    if (c.repeated) {
        refuse(r, answer, GW_AUTH_REJECT_REPEATED, 400, "bad_request",
               "repeated credential headers", mode, "invalid_request", NULL, false);
        return false;
    }
    use_tok = c.token && (mode == GW_AUTH_JWT || mode == GW_AUTH_EITHER);
    use_key = c.key && (mode == GW_AUTH_API_KEY || mode == GW_AUTH_EITHER);
    if (!use_tok && !use_key) {
        refuse(r, answer, GW_AUTH_REJECT_MISSING, 401, "unauthorized",
               mode == GW_AUTH_JWT       ? "a bearer token is required"
               : mode == GW_AUTH_API_KEY ? "an API key is required"
                                         : "a bearer token or an API key is required",
               mode, NULL, NULL, false);
        return false;
    }
    if (use_key) {
        const char *id = key_lookup(c.key, c.key_len);
        if (id == NULL) {
            refuse(r, answer, GW_AUTH_REJECT_INVALID_KEY, 401, "unauthorized", "invalid API key",
                   mode, NULL, NULL, true);
            return false;
        }
        snprintf(r->auth_key_id, sizeof r->auth_key_id, "%s", id);
    }
    if (use_tok) {
        json_t *claims = NULL;
        const char *why = NULL, *sub;
        int rc = gw_jwt_verify(pol->jwt, c.token, c.token_len, (int64_t)(gw_now_unix_ms() / 1000u),
                               &claims, &why);
        if (rc != GW_JWT_OK) {
            refuse(r, answer, GW_AUTH_REJECT_INVALID_TOKEN, 401, "unauthorized",
                   "invalid bearer token", mode, "invalid_token", why, false);
            return false;
        }
        if (ru && ru->claims && !gw_jwt_claims_satisfy(claims, ru->claims)) {
            json_decref(claims);
            refuse(r, answer, GW_AUTH_REJECT_CLAIMS, 403, "forbidden",
                   "the token lacks a required claim", GW_AUTH_JWT, "insufficient_scope", NULL,
                   false);
            return false;
        }
        sub = json_string_value(json_object_get(claims, "sub"));
        if (sub) snprintf(r->auth_subject, sizeof r->auth_subject, "%s", sub);
        json_decref(claims);
    }
    return true;
}

bool gw_auth_check(struct gw_req *r, const struct gw_match *m)
{
    return decide(r, m->pattern, r->method, true);
}

bool gw_auth_identify(struct gw_req *r, const char *pattern, const char *method)
{
    return decide(r, pattern, method, false);
}
