/* auth.c -- the auth policy: loading it, choosing a rule, deciding a request.
 *
 * Rules match the *route pattern* the router chose, never the raw path, so
 * percent-encoding or dot tricks cannot dodge a rule: whatever path reaches
 * a route is judged by that route's rule. Param names do not count
 * ("/u/{id}" and "/u/{uid}" are the same pattern, as in the router). */
#include "auth.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "buf.h"
#include "cors.h"
#include "gw.h"
#include "jwt.h"
#include "log.h"
#include "names.h"

enum auth_mode { AUTH_PUBLIC, AUTH_API_KEY, AUTH_JWT, AUTH_EITHER };

struct rule {
    char *pattern;          /* a valid route pattern */
    bool prefix;            /* true: matches routes under it; false: exactly it */
    size_t nseg;            /* segments of pattern */
    char **methods;         /* NULL: any method */
    size_t nmethods;
    enum auth_mode mode;
    json_t *claims;         /* required JWT claims (object), or NULL */
};

struct apikey {
    char id[GW_AUTH_KEY_ID_MAX + 1];
    unsigned char digest[32];   /* SHA-256 of the key: the key itself is not kept */
};

static struct {
    bool loaded;
    struct apikey *keys;
    size_t nkeys;
    struct gw_jwt_verifier *jwt;    /* NULL: no JWT configured */
    struct rule *rules;
    size_t nrules;
    enum auth_mode def;
} pol;

/* ------------------------------------------------------------------------ */
/* Patterns                                                                  */
/* ------------------------------------------------------------------------ */

/* Next segment of p[0..n) from *i (which points at a '/'). */
static bool next_seg(const char *p, size_t n, size_t *i, const char **s, size_t *sl)
{
    size_t start;
    if (*i >= n || (n == 1 && *i == 0)) return false;   /* "/" has no segment */
    start = ++*i;
    while (*i < n && p[*i] != '/') (*i)++;
    *s = p + start;
    *sl = *i - start;
    return true;
}

static bool seg_is_param(const char *s, size_t n)
{
    return n >= 2 && s[0] == '{' && s[n - 1] == '}';
}

static size_t count_segs(const char *p)
{
    size_t i = 0, n = strlen(p), c = 0, sl;
    const char *s;
    while (next_seg(p, n, &i, &s, &sl)) c++;
    return c;
}

/* True if rule pattern rp covers route pattern pat (exactly, or as a prefix
 * of whole segments). */
static bool rule_covers(const struct rule *ru, const char *pat)
{
    size_t ri = 0, pi = 0, rn = strlen(ru->pattern), pn = strlen(pat), rl, pl;
    const char *rs, *ps;

    while (next_seg(ru->pattern, rn, &ri, &rs, &rl)) {
        if (!next_seg(pat, pn, &pi, &ps, &pl)) return false;
        if (seg_is_param(rs, rl) && seg_is_param(ps, pl)) continue;
        if (rl != pl || memcmp(rs, ps, rl) != 0) return false;
    }
    return ru->prefix || !next_seg(pat, pn, &pi, &ps, &pl);
}

static bool rule_has_method(const struct rule *ru, const char *method)
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
static long rule_score(const struct rule *ru)
{
    return (ru->prefix ? 0L : 1L << 20) + (long)ru->nseg * 2 + (ru->methods ? 1 : 0);
}

static const struct rule *rule_for(const char *pattern, const char *method)
{
    const struct rule *best = NULL;
    for (size_t i = 0; i < pol.nrules; i++) {
        const struct rule *ru = &pol.rules[i];
        if (!rule_has_method(ru, method) || !rule_covers(ru, pattern)) continue;
        if (best == NULL || rule_score(ru) > rule_score(best)) best = ru;
    }
    return best;
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                   */
/* ------------------------------------------------------------------------ */

static void rule_deinit(struct rule *ru)
{
    free(ru->pattern);
    for (size_t i = 0; i < ru->nmethods; i++) free(ru->methods[i]);
    free(ru->methods);
    json_decref(ru->claims);
}

void gw_auth_unload(void)
{
    for (size_t i = 0; i < pol.nrules; i++) rule_deinit(&pol.rules[i]);
    free(pol.rules);
    if (pol.keys) OPENSSL_cleanse(pol.keys, pol.nkeys * sizeof *pol.keys);
    free(pol.keys);
    gw_jwt_verifier_free(pol.jwt);
    memset(&pol, 0, sizeof pol);
    gw_cors_install(NULL);
}

/* Reads a whole small file (relative paths from dir). Caller frees *out. */
static int read_file(const char *dir, const char *name, char **out, size_t *len, char *err,
                     size_t errlen)
{
    char path[4096];
    struct stat st;
    FILE *f;
    char *buf;

    if (name[0] == '/' || dir[0] == '\0')
        snprintf(path, sizeof path, "%s", name);
    else
        snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%.300s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > GW_AUTH_FILE_MAX) {
        snprintf(err, errlen, "%.300s: not a regular file of at most %d bytes", path,
                 GW_AUTH_FILE_MAX);
        fclose(f);
        return -1;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) abort();
    *len = fread(buf, 1, (size_t)st.st_size, f);
    fclose(f);
    buf[*len] = '\0';
    *out = buf;
    return 0;
}

static int parse_mode(const json_t *v, enum auth_mode *m)
{
    const char *s = json_string_value(v);
    if (s == NULL) return -1;
    if (strcmp(s, "public") == 0) *m = AUTH_PUBLIC;
    else if (strcmp(s, "api_key") == 0) *m = AUTH_API_KEY;
    else if (strcmp(s, "jwt") == 0) *m = AUTH_JWT;
    else if (strcmp(s, "api_key_or_jwt") == 0) *m = AUTH_EITHER;
    else return -1;
    return 0;
}

static bool only_keys(const json_t *obj, const char *const *allowed, const char *where,
                      char *err, size_t errlen)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], key) != 0) i++;
        if (allowed[i] == NULL) {
            snprintf(err, errlen, "%s: unknown key \"%.100s\"", where, key);
            return false;
        }
    }
    return true;
}

static void sha256(const void *data, size_t n, unsigned char out[32])
{
    unsigned int len = 0;
    if (EVP_Digest(data, n, out, &len, EVP_sha256(), NULL) != 1 || len != 32) abort();
}

static bool key_text_ok(const char *k, size_t n)
{
    if (n < GW_AUTH_KEY_MIN || n > GW_AUTH_KEY_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] <= 0x20 || (unsigned char)k[i] >= 0x7f) return false;
    return true;
}

static int load_keys(const json_t *arr, char *err, size_t errlen)
{
    static const char *const allowed[] = {"id", "key", "key_sha256", NULL};
    size_t n = json_array_size(arr);

    if (!json_is_array(arr) || n > GW_AUTH_KEYS_MAX) {
        snprintf(err, errlen, "api_keys must be an array of at most %d objects",
                 GW_AUTH_KEYS_MAX);
        return -1;
    }
    pol.keys = calloc(n ? n : 1, sizeof *pol.keys);
    if (pol.keys == NULL) abort();
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(arr, i);
        const char *id = json_string_value(json_object_get(e, "id"));
        const json_t *key = json_object_get(e, "key"), *hex = json_object_get(e, "key_sha256");
        struct apikey *k = &pol.keys[pol.nkeys];
        size_t idn = id ? strlen(id) : 0;

        if (!json_is_object(e) || !only_keys(e, allowed, "api_keys[]", err, errlen)) {
            if (!json_is_object(e)) snprintf(err, errlen, "api_keys[%zu] is not an object", i);
            return -1;
        }
        if (idn == 0 || idn > GW_AUTH_KEY_ID_MAX ||
            strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:@-") !=
                idn) {
            snprintf(err, errlen, "api_keys[%zu].id must be 1..%d of [A-Za-z0-9._:@-]", i,
                     GW_AUTH_KEY_ID_MAX);
            return -1;
        }
        if ((key != NULL) == (hex != NULL)) {
            snprintf(err, errlen, "api_keys[%zu] needs exactly one of key, key_sha256", i);
            return -1;
        }
        if (key) {
            if (!json_is_string(key) ||
                !key_text_ok(json_string_value(key), json_string_length(key))) {
                snprintf(err, errlen, "api_keys[%zu].key must be %d..%d visible ASCII characters",
                         i, GW_AUTH_KEY_MIN, GW_AUTH_KEY_MAX);
                return -1;
            }
            sha256(json_string_value(key), json_string_length(key), k->digest);
        } else {
            const char *h = json_string_value(hex);
            if (h == NULL || strlen(h) != 64) goto bad_hex;
            for (size_t j = 0; j < 32; j++) {
                int hi = pc_hex_value(h[2 * j]), lo = pc_hex_value(h[2 * j + 1]);
                if (hi < 0 || lo < 0) goto bad_hex;
                k->digest[j] = (unsigned char)(hi << 4 | lo);
            }
        }
        for (size_t j = 0; j < pol.nkeys; j++) {
            if (strcmp(pol.keys[j].id, id) == 0 || memcmp(pol.keys[j].digest, k->digest, 32) == 0) {
                snprintf(err, errlen, "api_keys[%zu]: duplicate id or key", i);
                return -1;
            }
        }
        memcpy(k->id, id, idn + 1);
        pol.nkeys++;
        continue;
bad_hex:
        snprintf(err, errlen, "api_keys[%zu].key_sha256 must be 64 hex digits", i);
        return -1;
    }
    return 0;
}

static int load_jwt(const json_t *o, const char *dir, char *err, size_t errlen)
{
    static const char *const allowed[] = {"hs256_secret", "hs256_secret_file",
                                          "rs256_public_key_file", "issuer", "audience",
                                          "leeway_s", "require_exp", NULL};
    const json_t *v;
    char *text = NULL, why[300];
    size_t len;

    if (!json_is_object(o)) {
        snprintf(err, errlen, "jwt must be an object");
        return -1;
    }
    if (!only_keys(o, allowed, "jwt", err, errlen)) return -1;
    pol.jwt = gw_jwt_verifier_new();
    if (json_object_get(o, "hs256_secret") && json_object_get(o, "hs256_secret_file")) {
        snprintf(err, errlen, "jwt: give hs256_secret or hs256_secret_file, not both");
        return -1;
    }
    if ((v = json_object_get(o, "hs256_secret")) != NULL) {
        if (!json_is_string(v) ||
            gw_jwt_verifier_set_hs256(pol.jwt, json_string_value(v), json_string_length(v), why,
                                      sizeof why) != 0) {
            snprintf(err, errlen, "jwt.hs256_secret: %s",
                     json_is_string(v) ? why : "must be a string");
            return -1;
        }
    }
    if ((v = json_object_get(o, "hs256_secret_file")) != NULL) {
        const char *s;
        if (!json_is_string(v)) {
            snprintf(err, errlen, "jwt.hs256_secret_file must be a string");
            return -1;
        }
        if (read_file(dir, json_string_value(v), &text, &len, why, sizeof why) != 0) {
            snprintf(err, errlen, "jwt.hs256_secret_file: %s", why);
            return -1;
        }
        s = text;   /* surrounding white space (a final newline) is not part of it */
        while (len && strchr(" \t\r\n", s[len - 1])) len--;
        while (len && strchr(" \t\r\n", *s)) s++, len--;
        if (gw_jwt_verifier_set_hs256(pol.jwt, s, len, why, sizeof why) != 0) {
            snprintf(err, errlen, "jwt.hs256_secret_file: %s", why);
            OPENSSL_cleanse(text, strlen(text));
            free(text);
            return -1;
        }
        OPENSSL_cleanse(text, strlen(text));
        free(text);
    }
    if ((v = json_object_get(o, "rs256_public_key_file")) != NULL) {
        int rc;
        if (!json_is_string(v)) {
            snprintf(err, errlen, "jwt.rs256_public_key_file must be a string");
            return -1;
        }
        if (read_file(dir, json_string_value(v), &text, &len, why, sizeof why) != 0) {
            snprintf(err, errlen, "jwt.rs256_public_key_file: %s", why);
            return -1;
        }
        rc = gw_jwt_verifier_set_rs256_pem(pol.jwt, text, len, why, sizeof why);
        free(text);
        if (rc != 0) {
            snprintf(err, errlen, "jwt.rs256_public_key_file: %s", why);
            return -1;
        }
    }
    if (!gw_jwt_verifier_is_ready(pol.jwt)) {
        snprintf(err, errlen, "jwt: no key (hs256_secret, hs256_secret_file or "
                              "rs256_public_key_file)");
        return -1;
    }
    v = json_object_get(o, "issuer");
    if (v && !json_is_string(v)) goto bad_type;
    gw_jwt_verifier_set_issuer(pol.jwt, json_string_value(v));
    v = json_object_get(o, "audience");
    if (v && !json_is_string(v)) goto bad_type;
    gw_jwt_verifier_set_audience(pol.jwt, json_string_value(v));
    v = json_object_get(o, "leeway_s");
    if (v && (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 300)) {
        snprintf(err, errlen, "jwt.leeway_s must be an integer 0..300");
        return -1;
    }
    if (v) gw_jwt_verifier_set_leeway(pol.jwt, (int)json_integer_value(v));
    v = json_object_get(o, "require_exp");
    if (v && !json_is_boolean(v)) goto bad_type;
    if (v) gw_jwt_verifier_set_require_exp(pol.jwt, json_is_true(v));
    return 0;
bad_type:
    snprintf(err, errlen, "jwt: issuer and audience must be strings, require_exp a boolean");
    return -1;
}

static int load_rule(struct rule *ru, const json_t *e, size_t i, char *err, size_t errlen)
{
    static const char *const allowed[] = {"pattern", "prefix", "methods", "auth", "claims",
                                          NULL};
    const json_t *pat = json_object_get(e, "pattern"), *pre = json_object_get(e, "prefix");
    const json_t *pv = pat ? pat : pre, *ms = json_object_get(e, "methods");
    const json_t *cl = json_object_get(e, "claims");
    char where[48];

    snprintf(where, sizeof where, "routes[%zu]", i);
    if (!json_is_object(e)) {
        snprintf(err, errlen, "%s is not an object", where);
        return -1;
    }
    if (!only_keys(e, allowed, where, err, errlen)) return -1;
    if ((pat != NULL) == (pre != NULL) || !json_is_string(pv) ||
        !pc_pattern_is_valid(json_string_value(pv), json_string_length(pv))) {
        snprintf(err, errlen, "%s needs exactly one of pattern, prefix: a route pattern", where);
        return -1;
    }
    ru->pattern = strdup(json_string_value(pv));
    if (ru->pattern == NULL) abort();
    ru->prefix = pre != NULL;
    ru->nseg = count_segs(ru->pattern);
    if (parse_mode(json_object_get(e, "auth"), &ru->mode) != 0) {
        snprintf(err, errlen, "%s.auth must be public, api_key, jwt or api_key_or_jwt", where);
        return -1;
    }
    if (ms != NULL) {
        if (!json_is_array(ms) || json_array_size(ms) == 0 || json_array_size(ms) > 32) {
            snprintf(err, errlen, "%s.methods must be a non-empty array of methods", where);
            return -1;
        }
        ru->methods = calloc(json_array_size(ms), sizeof *ru->methods);
        if (ru->methods == NULL) abort();
        for (size_t j = 0; j < json_array_size(ms); j++) {
            const json_t *m = json_array_get(ms, j);
            if (!json_is_string(m) ||
                !pc_method_is_valid(json_string_value(m), json_string_length(m)) ||
                strcmp(json_string_value(m), "*") == 0) {
                snprintf(err, errlen, "%s.methods: not an upper-case method", where);
                return -1;
            }
            ru->methods[ru->nmethods] = strdup(json_string_value(m));
            if (ru->methods[ru->nmethods++] == NULL) abort();
        }
    }
    if (cl != NULL) {
        if (!json_is_object(cl) || json_object_size(cl) == 0) {
            snprintf(err, errlen, "%s.claims must be a non-empty object", where);
            return -1;
        }
        if (ru->mode != AUTH_JWT) {   /* API keys carry no claims: no silent bypass */
            snprintf(err, errlen, "%s: claims need \"auth\": \"jwt\"", where);
            return -1;
        }
        ru->claims = json_incref((json_t *)cl);
    }
    return 0;
}

/* True if two rules would compete for the same requests at equal rank. */
static bool rules_clash(const struct rule *a, const struct rule *b)
{
    if (a->prefix != b->prefix || a->nseg != b->nseg || (a->methods == NULL) != (b->methods == NULL))
        return false;
    if (!rule_covers(a, b->pattern)) return false;
    if (a->methods == NULL) return true;
    for (size_t i = 0; i < a->nmethods; i++)
        if (rule_has_method(b, a->methods[i])) return true;
    return false;
}

static bool mode_possible(enum auth_mode m)
{
    if ((m == AUTH_API_KEY || m == AUTH_EITHER) && pol.nkeys == 0) return false;
    if ((m == AUTH_JWT || m == AUTH_EITHER) && pol.jwt == NULL) return false;
    return true;
}

static int load_policy(const json_t *root, const char *dir, char *err, size_t errlen)
{
    static const char *const allowed[] = {"api_keys", "jwt", "default", "routes", "cors", NULL};
    const json_t *v;

    if (!json_is_object(root)) {
        snprintf(err, errlen, "not a JSON object");
        return -1;
    }
    if (!only_keys(root, allowed, "top level", err, errlen)) return -1;
    if ((v = json_object_get(root, "api_keys")) != NULL && load_keys(v, err, errlen) != 0)
        return -1;
    if ((v = json_object_get(root, "jwt")) != NULL && load_jwt(v, dir, err, errlen) != 0)
        return -1;
    v = json_object_get(root, "default");
    if (v == NULL && (json_object_get(root, "routes") || json_object_get(root, "api_keys") ||
                      json_object_get(root, "jwt"))) {
        snprintf(err, errlen, "\"default\" is required when keys, jwt or routes are given");
        return -1;
    }
    pol.def = AUTH_PUBLIC;
    if (v && parse_mode(v, &pol.def) != 0) {
        snprintf(err, errlen, "default must be public, api_key, jwt or api_key_or_jwt");
        return -1;
    }
    if (!mode_possible(pol.def)) {
        snprintf(err, errlen, "default: no API keys or jwt configured for it");
        return -1;
    }
    if ((v = json_object_get(root, "routes")) != NULL) {
        if (!json_is_array(v) || json_array_size(v) > GW_AUTH_RULES_MAX) {
            snprintf(err, errlen, "routes must be an array of at most %d rules",
                     GW_AUTH_RULES_MAX);
            return -1;
        }
        pol.rules = calloc(json_array_size(v) + 1, sizeof *pol.rules);
        if (pol.rules == NULL) abort();
        for (size_t i = 0; i < json_array_size(v); i++) {
            struct rule *ru = &pol.rules[pol.nrules++];
            if (load_rule(ru, json_array_get(v, i), i, err, errlen) != 0) return -1;
            if (!mode_possible(ru->mode)) {
                snprintf(err, errlen, "routes[%zu]: no API keys or jwt configured for it", i);
                return -1;
            }
            for (size_t j = 0; j + 1 < pol.nrules; j++)
                if (rules_clash(&pol.rules[j], ru)) {
                    snprintf(err, errlen, "routes[%zu] duplicates routes[%zu]", i, j);
                    return -1;
                }
        }
    }
    if ((v = json_object_get(root, "cors")) != NULL) {
        char why[400];
        struct gw_cors *c = gw_cors_parse(v, why, sizeof why);
        if (c == NULL) {
            snprintf(err, errlen, "%s", why);
            return -1;
        }
        gw_cors_install(c);
    }
    return 0;
}

int gw_auth_load(const char *path, char *err, size_t errlen)
{
    char *text = NULL, dir[4096], why[480];
    const char *slash;
    size_t len;
    json_error_t je;
    json_t *root;
    int rc;

    gw_auth_unload();
    if (path == NULL || path[0] == '\0') return 0;
    if (read_file("", path, &text, &len, why, sizeof why) != 0) {
        snprintf(err, errlen, "auth file %s", why);
        return -1;
    }
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    OPENSSL_cleanse(text, len);   /* it may hold keys and secrets */
    free(text);
    if (root == NULL) {
        snprintf(err, errlen, "auth file %.300s: line %d column %d: %s", path, je.line,
                 je.column, je.text);
        return -1;
    }
    slash = strrchr(path, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 0, path);
    if (slash == path) snprintf(dir, sizeof dir, "/");
    rc = load_policy(root, dir, why, sizeof why);
    json_decref(root);
    if (rc != 0) {
        snprintf(err, errlen, "auth file %.300s: %s", path, why);
        gw_auth_unload();
        return -1;
    }
    pol.loaded = true;
    pc_log(PC_LOG_INFO, "auth", "policy from %s: %zu API key(s), jwt %s, %zu rule(s)", path,
           pol.nkeys, pol.jwt ? "on" : "off", pol.nrules);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Deciding a request                                                        */
/* ------------------------------------------------------------------------ */

struct creds {
    const char *token;  size_t token_len;    /* Authorization: Bearer */
    const char *key;    size_t key_len;      /* X-API-Key or Authorization: ApiKey */
    bool repeated;                           /* a credential header came twice */
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
    if (n <= sl || strncasecmp(v, scheme, sl) != 0 || (v[sl] != ' ' && v[sl] != '\t'))
        return false;
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

/* The id of the key, or NULL. Every configured digest is compared, in
 * constant time, whatever matches. */
static const char *key_lookup(const char *key, size_t n)
{
    unsigned char d[32];
    const char *found = NULL;

    if (n == 0 || n > GW_AUTH_KEY_MAX) return NULL;
    sha256(key, n, d);
    for (size_t i = 0; i < pol.nkeys; i++)
        if (CRYPTO_memcmp(d, pol.keys[i].digest, 32) == 0) found = pol.keys[i].id;
    return found;
}

/* Writes the WWW-Authenticate value for mode; the scheme that failed gets
 * its RFC 6750 error. */
static void challenge(pc_buf *b, enum auth_mode m, const char *bearer_err, const char *desc,
                      bool key_bad)
{
    if (m == AUTH_JWT || m == AUTH_EITHER) {
        pc_buf_puts(b, "Bearer realm=\"portico\"");
        if (bearer_err) {
            pc_buf_puts(b, ", error=\"");
            pc_buf_puts(b, bearer_err);
            pc_buf_puts(b, "\"");
        }
        if (desc) {   /* static text without quotes (jwt.h reasons) */
            pc_buf_puts(b, ", error_description=\"");
            pc_buf_puts(b, desc);
            pc_buf_puts(b, "\"");
        }
    }
    if (m == AUTH_API_KEY || m == AUTH_EITHER) {
        if (b->len) pc_buf_puts(b, ", ");
        pc_buf_puts(b, "ApiKey realm=\"portico\"");
        if (key_bad) pc_buf_puts(b, ", error=\"invalid_key\"");
    }
    if (b->oom) abort();
}

static void refuse(struct gw_req *r, int status, const char *code, const char *msg,
                   enum auth_mode m, const char *bearer_err, const char *desc, bool key_bad)
{
    pc_buf b;
    struct pc_kv h;

    pc_buf_init(&b);
    challenge(&b, m, bearer_err, desc, key_bad);
    h = (struct pc_kv){"www-authenticate", 16, b.data, b.len};
    pc_log(PC_LOG_DEBUG, "auth", "request %s: %d %s", r->request_id, status, desc ? desc : msg);
    r->auth_subject[0] = r->auth_key_id[0] = '\0';
    gw_req_error_hdr(r, status, code, msg, &h);
    pc_buf_deinit(&b);
}

bool gw_auth_check(struct gw_req *r, const struct gw_match *m)
{
    const struct rule *ru;
    enum auth_mode mode;
    struct creds c;
    bool use_tok, use_key;

    r->auth_subject[0] = r->auth_key_id[0] = '\0';
    if (!pol.loaded) return true;
    ru = rule_for(m->pattern, r->method);
    mode = ru ? ru->mode : pol.def;
    if (mode == AUTH_PUBLIC) return true;

    creds_of(r, &c);
    if (c.repeated) {
        refuse(r, 400, "bad_request", "repeated credential headers", mode, "invalid_request",
               NULL, false);
        return false;
    }
    use_tok = c.token && (mode == AUTH_JWT || mode == AUTH_EITHER);
    use_key = c.key && (mode == AUTH_API_KEY || mode == AUTH_EITHER);
    if (!use_tok && !use_key) {
        refuse(r, 401, "unauthorized",
               mode == AUTH_JWT       ? "a bearer token is required"
               : mode == AUTH_API_KEY ? "an API key is required"
                                      : "a bearer token or an API key is required",
               mode, NULL, NULL, false);
        return false;
    }
    if (use_key) {
        const char *id = key_lookup(c.key, c.key_len);
        if (id == NULL) {
            refuse(r, 401, "unauthorized", "invalid API key", mode, NULL, NULL, true);
            return false;
        }
        snprintf(r->auth_key_id, sizeof r->auth_key_id, "%s", id);
    }
    if (use_tok) {
        json_t *claims = NULL;
        const char *why = NULL, *sub;
        int rc = gw_jwt_verify(pol.jwt, c.token, c.token_len,
                               (int64_t)(gw_now_unix_ms() / 1000u), &claims, &why);
        if (rc != GW_JWT_OK) {
            refuse(r, 401, "unauthorized", "invalid bearer token", mode, "invalid_token", why,
                   false);
            return false;
        }
        if (ru && ru->claims && !gw_jwt_claims_satisfy(claims, ru->claims)) {
            json_decref(claims);
            refuse(r, 403, "forbidden", "the token lacks a required claim", AUTH_JWT,
                   "insufficient_scope", NULL, false);
            return false;
        }
        sub = json_string_value(json_object_get(claims, "sub"));
        if (sub) snprintf(r->auth_subject, sizeof r->auth_subject, "%s", sub);
        json_decref(claims);
    }
    return true;
}
