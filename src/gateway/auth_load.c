/* auth_load.c -- the auth policy from --auth-file: API keys (kept as SHA-256
 * digests), JWT key material, route rules (see auth.h, docs/security.md).
 *
 * Runs at start and on each reload (SIGHUP): a policy is prepared aside
 * and installed only once everything else has loaded too. Every refusal is one line naming the file; the file's
 * text and any secret file are wiped from memory once parsed. Deciding
 * requests with the policy is auth.c's; the "cors" object of the same file
 * is cors.c's. */
#include "auth.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_policy.h"
#include "errf.h"
#include "jsonfile.h"
#include "jwt.h"
#include "log.h"
#include "names.h"
#include "xalloc.h"

struct gw_auth_policy gw_auth_pol;
static struct gw_auth_policy *pol; /* the policy being loaded (never gw_auth_pol) */
static unsigned generation;        /* policies installed so far */

static void rule_deinit(struct gw_auth_rule *ru)
{
    free(ru->pattern);
    for (size_t i = 0; i < ru->nmethods; i++) free(ru->methods[i]);
    free(ru->methods);
    json_decref(ru->claims);
}

static void policy_clear(struct gw_auth_policy *p)
{
    for (size_t i = 0; i < p->nrules; i++) rule_deinit(&p->rules[i]);
    free(p->rules);
    if (p->keys) OPENSSL_cleanse(p->keys, p->nkeys * sizeof *p->keys);
    free(p->keys);
    gw_jwt_verifier_free(p->jwt);
    memset(p, 0, sizeof *p);
}

void gw_auth_unload(void) { policy_clear(&gw_auth_pol); }

unsigned gw_auth_generation(void) { return generation; }

/* Reads a key or secret file named in the auth file (relative names from
 * dir, the auth file's directory) through the shared bounded loader.
 * Returns the text (caller wipes and frees) or NULL with "<path>: <reason>"
 * in err. */
static char *read_file(const char *dir, const char *name, size_t *len, char *err, size_t errlen)
{
    char path[4096];

    if (name[0] == '/' || dir[0] == '\0')
        snprintf(path, sizeof path, "%s", name);
    else
        snprintf(path, sizeof path, "%s/%s", dir, name);
    return pc_file_read("", path, GW_AUTH_FILE_MAX, len, err, errlen);
}

static int parse_mode(const json_t *v, enum gw_auth_mode *m)
{
    const char *s = json_string_value(v);
    if (s == NULL) return -1;
    if (strcmp(s, "public") == 0)
        *m = GW_AUTH_PUBLIC;
    else if (strcmp(s, "api_key") == 0)
        *m = GW_AUTH_API_KEY;
    else if (strcmp(s, "jwt") == 0)
        *m = GW_AUTH_JWT;
    else if (strcmp(s, "api_key_or_jwt") == 0)
        *m = GW_AUTH_EITHER;
    else
        return -1;
    return 0;
}

static bool only_keys(const json_t *obj, const char *const *allowed, const char *where, char *err,
                      size_t errlen)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val)
    {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], key) != 0) i++;
        if (allowed[i] == NULL) {
            snprintf(err, errlen, "%s: unknown key \"%.100s\"", where, key);
            return false;
        }
    }
    return true;
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

    if (!json_is_array(arr) || n > GW_AUTH_KEYS_MAX)
        return pc_errf(err, errlen, "api_keys must be an array of at most %d objects",
                       GW_AUTH_KEYS_MAX);
    pol->keys = pc_xcalloc(n ? n : 1, sizeof *pol->keys);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(arr, i);
        const char *id = json_string_value(json_object_get(e, "id"));
        const json_t *key = json_object_get(e, "key"), *hex = json_object_get(e, "key_sha256");
        struct gw_auth_key *k = &pol->keys[pol->nkeys];
        size_t idn = id ? strlen(id) : 0;

        if (!json_is_object(e) || !only_keys(e, allowed, "api_keys[]", err, errlen)) {
            if (!json_is_object(e)) pc_errf(err, errlen, "api_keys[%zu] is not an object", i);
            return -1;
        }
        if (idn == 0 || idn > GW_AUTH_KEY_ID_MAX ||
            strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:@-") !=
                idn)
            return pc_errf(err, errlen, "api_keys[%zu].id must be 1..%d of [A-Za-z0-9._:@-]", i,
                           GW_AUTH_KEY_ID_MAX);
        if ((key != NULL) == (hex != NULL))
            return pc_errf(err, errlen, "api_keys[%zu] needs exactly one of key, key_sha256", i);
        if (key) {
            if (!json_is_string(key) ||
                !key_text_ok(json_string_value(key), json_string_length(key)))
                return pc_errf(err, errlen,
                               "api_keys[%zu].key must be %d..%d visible ASCII characters", i,
                               GW_AUTH_KEY_MIN, GW_AUTH_KEY_MAX);
            gw_auth_sha256(json_string_value(key), json_string_length(key), k->digest);
        } else {
            const char *h = json_string_value(hex);
            if (h == NULL || strlen(h) != 64) goto bad_hex;
            for (size_t j = 0; j < 32; j++) {
                int hi = pc_hex_value(h[2 * j]), lo = pc_hex_value(h[2 * j + 1]);
                if (hi < 0 || lo < 0) goto bad_hex;
                k->digest[j] = (unsigned char)(hi << 4 | lo);
            }
        }
        for (size_t j = 0; j < pol->nkeys; j++) {
            if (strcmp(pol->keys[j].id, id) == 0 || memcmp(pol->keys[j].digest, k->digest, 32) == 0)
                return pc_errf(err, errlen, "api_keys[%zu]: duplicate id or key", i);
        }
        memcpy(k->id, id, idn + 1);
        pol->nkeys++;
        continue;
    bad_hex:
        return pc_errf(err, errlen, "api_keys[%zu].key_sha256 must be 64 hex digits", i);
    }
    return 0;
}

static int load_jwt(const json_t *o, const char *dir, char *err, size_t errlen)
{
    static const char *const allowed[] = {
        "hs256_secret", "hs256_secret_file", "rs256_public_key_file", "issuer",
        "audience",     "leeway_s",          "require_exp",           NULL};
    const json_t *v;
    char *text = NULL, why[300];
    size_t len, tlen;

    if (!json_is_object(o)) return pc_errf(err, errlen, "jwt must be an object");
    if (!only_keys(o, allowed, "jwt", err, errlen)) return -1;
    pol->jwt = gw_jwt_verifier_new();
    if (json_object_get(o, "hs256_secret") && json_object_get(o, "hs256_secret_file"))
        return pc_errf(err, errlen, "jwt: give hs256_secret or hs256_secret_file, not both");
    if ((v = json_object_get(o, "hs256_secret")) != NULL) {
        if (!json_is_string(v) ||
            gw_jwt_verifier_set_hs256(pol->jwt, json_string_value(v), json_string_length(v), why,
                                      sizeof why) != 0)
            return pc_errf(err, errlen, "jwt.hs256_secret: %s",
                           json_is_string(v) ? why : "must be a string");
    }
    if ((v = json_object_get(o, "hs256_secret_file")) != NULL) {
        const char *s;
        if (!json_is_string(v))
            return pc_errf(err, errlen, "jwt.hs256_secret_file must be a string");
        if ((text = read_file(dir, json_string_value(v), &len, why, sizeof why)) == NULL)
            return pc_errf(err, errlen, "jwt.hs256_secret_file: %s", why);
        s = text; /* surrounding white space (a final newline) is not part of it */
        tlen = len;
        while (len && strchr(" \t\r\n", s[len - 1])) len--;
        while (len && strchr(" \t\r\n", *s)) s++, len--;
        if (gw_jwt_verifier_set_hs256(pol->jwt, s, len, why, sizeof why) != 0) {
            pc_file_free(text, tlen);
            return pc_errf(err, errlen, "jwt.hs256_secret_file: %s", why);
        }
        pc_file_free(text, tlen);
    }
    if ((v = json_object_get(o, "rs256_public_key_file")) != NULL) {
        int rc;
        if (!json_is_string(v))
            return pc_errf(err, errlen, "jwt.rs256_public_key_file must be a string");
        if ((text = read_file(dir, json_string_value(v), &len, why, sizeof why)) == NULL)
            return pc_errf(err, errlen, "jwt.rs256_public_key_file: %s", why);
        rc = gw_jwt_verifier_set_rs256_pem(pol->jwt, text, len, why, sizeof why);
        pc_file_free(text, len);
        if (rc != 0) return pc_errf(err, errlen, "jwt.rs256_public_key_file: %s", why);
    }
    if (!gw_jwt_verifier_is_ready(pol->jwt))
        return pc_errf(err, errlen,
                       "jwt: no key (hs256_secret, hs256_secret_file or "
                       "rs256_public_key_file)");
    v = json_object_get(o, "issuer");
    if (v && !json_is_string(v)) goto bad_type;
    gw_jwt_verifier_set_issuer(pol->jwt, json_string_value(v));
    v = json_object_get(o, "audience");
    if (v && !json_is_string(v)) goto bad_type;
    gw_jwt_verifier_set_audience(pol->jwt, json_string_value(v));
    v = json_object_get(o, "leeway_s");
    if (v && (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 300))
        return pc_errf(err, errlen, "jwt.leeway_s must be an integer 0..300");
    if (v) gw_jwt_verifier_set_leeway(pol->jwt, (int)json_integer_value(v));
    v = json_object_get(o, "require_exp");
    if (v && !json_is_boolean(v)) goto bad_type;
    if (v) gw_jwt_verifier_set_require_exp(pol->jwt, json_is_true(v));
    return 0;
bad_type:
    return pc_errf(err, errlen, "jwt: issuer and audience must be strings, require_exp a boolean");
}

static int load_rule(struct gw_auth_rule *ru, const json_t *e, size_t i, char *err, size_t errlen)
{
    static const char *const allowed[] = {"pattern", "prefix", "methods", "auth", "claims", NULL};
    const json_t *pat = json_object_get(e, "pattern"), *pre = json_object_get(e, "prefix");
    const json_t *pv = pat ? pat : pre, *ms = json_object_get(e, "methods");
    const json_t *cl = json_object_get(e, "claims");
    char where[48];

    snprintf(where, sizeof where, "routes[%zu]", i);
    if (!json_is_object(e)) return pc_errf(err, errlen, "%s is not an object", where);
    if (!only_keys(e, allowed, where, err, errlen)) return -1;
    if ((pat != NULL) == (pre != NULL) || !json_is_string(pv) ||
        !pc_pattern_is_valid(json_string_value(pv), json_string_length(pv)))
        return pc_errf(err, errlen, "%s needs exactly one of pattern, prefix: a route pattern",
                       where);
    ru->pattern = pc_xstrdup(json_string_value(pv));
    ru->prefix = pre != NULL;
    ru->nseg = gw_auth_pattern_segments(ru->pattern, ru->prefix);
    if (parse_mode(json_object_get(e, "auth"), &ru->mode) != 0)
        return pc_errf(err, errlen, "%s.auth must be public, api_key, jwt or api_key_or_jwt",
                       where);
    if (ms != NULL) {
        if (!json_is_array(ms) || json_array_size(ms) == 0 || json_array_size(ms) > 32)
            return pc_errf(err, errlen, "%s.methods must be a non-empty array of methods", where);
        ru->methods = pc_xcalloc(json_array_size(ms), sizeof *ru->methods);
        for (size_t j = 0; j < json_array_size(ms); j++) {
            const json_t *m = json_array_get(ms, j);
            if (!json_is_string(m) ||
                !pc_method_is_valid(json_string_value(m), json_string_length(m)) ||
                strcmp(json_string_value(m), "*") == 0)
                return pc_errf(err, errlen, "%s.methods: not an upper-case method", where);
            ru->methods[ru->nmethods++] = pc_xstrdup(json_string_value(m));
        }
    }
    if (cl != NULL) {
        if (!json_is_object(cl) || json_object_size(cl) == 0)
            return pc_errf(err, errlen, "%s.claims must be a non-empty object", where);
        if (ru->mode != GW_AUTH_JWT) { /* API keys carry no claims: no silent bypass */
            return pc_errf(err, errlen, "%s: claims need \"auth\": \"jwt\"", where);
        }
        ru->claims = json_incref((json_t *)cl);
    }
    return 0;
}

/* True if two rules would compete for the same requests at equal rank. */
static bool rules_clash(const struct gw_auth_rule *a, const struct gw_auth_rule *b)
{
    if (a->prefix != b->prefix || a->nseg != b->nseg ||
        (a->methods == NULL) != (b->methods == NULL))
        return false;
    if (!gw_auth_rule_covers(a, b->pattern)) return false;
    if (a->methods == NULL) return true;
    for (size_t i = 0; i < a->nmethods; i++)
        if (gw_auth_rule_has_method(b, a->methods[i])) return true;
    return false;
}

static bool mode_possible(enum gw_auth_mode m)
{
    if ((m == GW_AUTH_API_KEY || m == GW_AUTH_EITHER) && pol->nkeys == 0) return false;
    if ((m == GW_AUTH_JWT || m == GW_AUTH_EITHER) && pol->jwt == NULL) return false;
    return true;
}

static int load_policy(const json_t *root, const char *dir, char *err, size_t errlen)
{
    /* "cors" is cors.c's (gw_cors_load reads the same file). */
    static const char *const allowed[] = {"api_keys", "jwt", "default", "routes", "cors", NULL};
    const json_t *v;

    if (!json_is_object(root)) return pc_errf(err, errlen, "not a JSON object");
    if (!only_keys(root, allowed, "top level", err, errlen)) return -1;
    if ((v = json_object_get(root, "api_keys")) != NULL && load_keys(v, err, errlen) != 0)
        return -1;
    if ((v = json_object_get(root, "jwt")) != NULL && load_jwt(v, dir, err, errlen) != 0) return -1;
    v = json_object_get(root, "default");
    if (v == NULL && (json_object_get(root, "routes") || json_object_get(root, "api_keys") ||
                      json_object_get(root, "jwt")))
        return pc_errf(err, errlen, "\"default\" is required when keys, jwt or routes are given");
    pol->def = GW_AUTH_PUBLIC;
    if (v && parse_mode(v, &pol->def) != 0)
        return pc_errf(err, errlen, "default must be public, api_key, jwt or api_key_or_jwt");
    if (!mode_possible(pol->def))
        return pc_errf(err, errlen, "default: no API keys or jwt configured for it");
    if ((v = json_object_get(root, "routes")) != NULL) {
        if (!json_is_array(v) || json_array_size(v) > GW_AUTH_RULES_MAX)
            return pc_errf(err, errlen, "routes must be an array of at most %d rules",
                           GW_AUTH_RULES_MAX);
        pol->rules = pc_xcalloc(json_array_size(v) + 1, sizeof *pol->rules);
        for (size_t i = 0; i < json_array_size(v); i++) {
            struct gw_auth_rule *ru = &pol->rules[pol->nrules++];
            if (load_rule(ru, json_array_get(v, i), i, err, errlen) != 0) return -1;
            if (!mode_possible(ru->mode))
                return pc_errf(err, errlen, "routes[%zu]: no API keys or jwt configured for it", i);
            for (size_t j = 0; j + 1 < pol->nrules; j++)
                if (rules_clash(&pol->rules[j], ru))
                    return pc_errf(err, errlen, "routes[%zu] duplicates routes[%zu]", i, j);
        }
    }
    return 0;
}

int gw_auth_prepare(const char *path, struct gw_auth_policy **out, char *err, size_t errlen)
{
    char dir[4096], why[480];
    const char *slash;
    json_t *root;
    int rc;

    *out = pol = pc_xcalloc(1, sizeof *pol);
    if (path == NULL || path[0] == '\0') return 0;
    if ((root = pc_json_file_load("auth file", path, GW_AUTH_FILE_MAX, err, errlen)) == NULL) {
        gw_auth_discard(*out);
        *out = NULL;
        return -1;
    }
    slash = strrchr(path, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 0, path);
    if (slash == path) snprintf(dir, sizeof dir, "/");
    rc = load_policy(root, dir, why, sizeof why);
    json_decref(root);
    if (rc != 0) {
        gw_auth_discard(*out);
        *out = NULL;
        return pc_json_file_err("auth file", path, err, errlen, "%s", why);
    }
    pol->loaded = true;
    pc_log(PC_LOG_DEBUG, "auth", "policy from %s: %zu API key(s), jwt %s, %zu rule(s)", path,
           pol->nkeys, pol->jwt ? "on" : "off", pol->nrules);
    return 0;
}

void gw_auth_commit(struct gw_auth_policy *p)
{
    policy_clear(&gw_auth_pol);
    gw_auth_pol = *p;
    free(p);
    generation++;
    if (gw_auth_pol.loaded)
        pc_log(PC_LOG_INFO, "auth", "policy: %zu API key(s), jwt %s, %zu rule(s)",
               gw_auth_pol.nkeys, gw_auth_pol.jwt ? "on" : "off", gw_auth_pol.nrules);
}

void gw_auth_discard(struct gw_auth_policy *p)
{
    if (p == NULL) return;
    policy_clear(p);
    free(p);
}

int gw_auth_load(const char *path, char *err, size_t errlen)
{
    struct gw_auth_policy *p;

    gw_auth_unload();
    if (gw_auth_prepare(path, &p, err, errlen) != 0) return -1;
    gw_auth_commit(p);
    return 0;
}
