/* regpolicy.c -- the registration policy: secrets per service and the route
 * allow-list (see regpolicy.h). */
#include "regpolicy.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "errf.h"
#include "jsonfile.h"
#include "log.h"
#include "map.h"
#include "names.h"
#include "path.h"
#include "redisurl.h"
#include "sign.h"
#include "xalloc.h"

struct policy_key {
    size_t len;
    char bytes[]; /* NUL-terminated */
};

struct policy_allow {
    size_t n;
    char **prefix; /* without a trailing '/' ("/" stays "/") */
};

struct gw_regpolicy {
    struct policy_key *secret; /* global; NULL = none */
    pc_map *secrets;           /* service -> struct policy_key *; NULL = no file */
    pc_map *allow;             /* service -> struct policy_allow *; NULL = no file */
};

/* ------------------------------------------------------------------ freeing */

static struct policy_key *key_new(const char *s, size_t n)
{
    struct policy_key *k = pc_xmalloc(sizeof *k + n + 1);
    k->len = n;
    memcpy(k->bytes, s, n);
    k->bytes[n] = '\0';
    return k;
}

static void key_free(struct policy_key *k)
{
    if (k == NULL) return;
    OPENSSL_cleanse(k->bytes, k->len);
    free(k);
}

static void allow_free(struct policy_allow *a)
{
    if (a == NULL) return;
    for (size_t i = 0; i < a->n; i++) free(a->prefix[i]);
    free(a->prefix);
    free(a);
}

void gw_regpolicy_free(struct gw_regpolicy *p)
{
    size_t pos = 0, klen;
    const char *k;
    void *v;

    if (p == NULL) return;
    key_free(p->secret);
    if (p->secrets) {
        while (pc_map_next(p->secrets, &pos, &k, &klen, &v)) key_free(v);
        pc_map_free(p->secrets);
    }
    pos = 0;
    if (p->allow) {
        while (pc_map_next(p->allow, &pos, &k, &klen, &v)) allow_free(v);
        pc_map_free(p->allow);
    }
    free(p);
}

/* ------------------------------------------------------------------ loading */

static pc_map *map_new(void)
{
    pc_map *m = pc_map_new();
    pc_check(m != NULL);
    return m;
}

/* Loads a policy file: a JSON object of at most GW_REGPOLICY_FILE_MAX bytes
 * whose keys are valid service names. Returns the tree or NULL (err set). */
static json_t *policy_file(const char *what, const char *path, char *err, size_t errlen)
{
    const char *key;
    json_t *val, *root = pc_json_file_load(what, path, GW_REGPOLICY_FILE_MAX, err, errlen);

    if (root == NULL) return NULL;
    if (!json_is_object(root)) {
        pc_json_file_err(what, path, err, errlen, "not a JSON object");
        json_decref(root);
        return NULL;
    }
    json_object_foreach(root, key, val)
    {
        if (!pc_service_name_is_valid(key, strlen(key))) {
            pc_json_file_err(what, path, err, errlen, "\"%.80s\" is not a service name", key);
            json_decref(root);
            return NULL;
        }
    }
    return root;
}

static int load_secrets(struct gw_regpolicy *p, const char *path, char *err, size_t errlen)
{
    static const char what[] = "secrets file";
    const char *key;
    json_t *val, *root = policy_file(what, path, err, errlen);
    int rc = -1;

    if (root == NULL) return -1;
    p->secrets = map_new();
    json_object_foreach(root, key, val)
    {
        size_t n;
        char *tmp;
        struct policy_key *k;
        if (!json_is_string(val)) {
            pc_json_file_err(what, path, err, errlen, "the secret of \"%s\" must be a string", key);
            goto out;
        }
        n = json_string_length(val);
        if (n > PC_SIGN_SECRET_MAX + 256 || memchr(json_string_value(val), '\0', n)) {
            pc_json_file_err(what, path, err, errlen, "the secret of \"%s\" is too long", key);
            goto out;
        }
        tmp = pc_xstrndup(json_string_value(val), n);
        pc_sign_secret_trim(tmp, &n);
        k = (n > 0 && n <= PC_SIGN_SECRET_MAX) ? key_new(tmp, n) : NULL;
        OPENSSL_cleanse(tmp, json_string_length(val));
        free(tmp);
        if (k == NULL) {
            pc_json_file_err(what, path, err, errlen,
                             "the secret of \"%s\" is empty or longer than %d bytes", key,
                             PC_SIGN_SECRET_MAX);
            goto out;
        }
        pc_check(pc_map_put(p->secrets, key, strlen(key), k) == 0);
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* A prefix: starts with '/', literal segments only. */
static bool prefix_is_valid(const char *s, size_t n)
{
    if (n == 0 || s[0] != '/' || n > PC_PATTERN_MAX) return false;
    if (n == 1) return true;
    if (s[n - 1] == '/') n--; /* "/accounts/" means "/accounts" */
    return pc_pattern_is_valid(s, n) && memchr(s, '{', n) == NULL && memchr(s, '*', n) == NULL;
}

static int load_allowlist(struct gw_regpolicy *p, const char *path, char *err, size_t errlen)
{
    static const char what[] = "allow-list file";
    const char *key;
    json_t *val, *root = policy_file(what, path, err, errlen);
    int rc = -1;

    if (root == NULL) return -1;
    p->allow = map_new();
    json_object_foreach(root, key, val)
    {
        struct policy_allow *a;
        size_t i;
        json_t *item;
        if (!json_is_array(val) || json_array_size(val) > GW_REGPOLICY_MAX_PREFIXES) {
            pc_json_file_err(what, path, err, errlen,
                             "\"%s\" must be an array of at most %d path prefixes", key,
                             GW_REGPOLICY_MAX_PREFIXES);
            goto out;
        }
        a = pc_xcalloc(1, sizeof *a);
        a->prefix = pc_xcalloc(json_array_size(val) + 1, sizeof *a->prefix);
        pc_check(pc_map_put(p->allow, key, strlen(key), a) == 0);
        json_array_foreach(val, i, item)
        {
            const char *s = json_string_value(item);
            size_t n = s ? json_string_length(item) : 0;
            if (s == NULL || strlen(s) != n || !prefix_is_valid(s, n)) {
                pc_json_file_err(what, path, err, errlen,
                                 "\"%s\": item %zu is not a path prefix like \"/users\" "
                                 "(literal segments only)",
                                 key, i);
                goto out;
            }
            if (n > 1 && s[n - 1] == '/') n--;
            a->prefix[a->n++] = pc_xstrndup(s, n);
        }
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

static int load_secret(struct gw_regpolicy *p, const char *path, char *err, size_t errlen)
{
    char *buf = pc_xmalloc(PC_SIGN_SECRET_MAX + 1), why[400];
    size_t n;
    int rc = -1;

    if (pc_sign_secret_load(path, buf, &n, why, sizeof why) != 0) {
        pc_errf(err, errlen, "registration secret file %s", why);
    } else {
        p->secret = key_new(buf, n);
        OPENSSL_cleanse(buf, n);
        rc = 0;
    }
    free(buf);
    return rc;
}

int gw_regpolicy_load(struct gw_regpolicy **out, const char *secret_file, const char *secrets_file,
                      const char *allowlist_file, char *err, size_t errlen)
{
    struct gw_regpolicy *p;
    bool has_secret = secret_file && secret_file[0];
    bool has_secrets = secrets_file && secrets_file[0];
    bool has_allow = allowlist_file && allowlist_file[0];

    *out = NULL;
    if (!has_secret && !has_secrets && !has_allow) return 0;
    p = pc_xcalloc(1, sizeof *p);
    if ((has_secret && load_secret(p, secret_file, err, errlen) != 0) ||
        (has_secrets && load_secrets(p, secrets_file, err, errlen) != 0) ||
        (has_allow && load_allowlist(p, allowlist_file, err, errlen) != 0)) {
        gw_regpolicy_free(p);
        return -1;
    }
    *out = p;
    return 0;
}

/* ---------------------------------------------------------------- deciding */

bool gw_regpolicy_wants_signature(const struct gw_regpolicy *p)
{
    return p != NULL && (p->secret != NULL || p->secrets != NULL);
}

int gw_regpolicy_key(const struct gw_regpolicy *p, const char *service, size_t n, const void **key,
                     size_t *keylen)
{
    const struct policy_key *k = NULL;

    if (p == NULL) return -1;
    if (p->secrets) k = pc_map_get(p->secrets, service, n);
    if (k == NULL) k = p->secret;
    if (k == NULL) return -1;
    *key = k->bytes;
    *keylen = k->len;
    return 0;
}

bool gw_regpolicy_route_allowed(const struct gw_regpolicy *p, const char *service,
                                const char *pattern)
{
    const struct policy_allow *a;
    size_t plen = strlen(pattern);

    if (p == NULL || p->allow == NULL) return true;
    a = pc_map_get(p->allow, service, strlen(service));
    if (a == NULL) return false;
    for (size_t i = 0; i < a->n; i++)
        if (pc_path_covers(a->prefix[i], strlen(a->prefix[i]), pattern, plen)) return true;
    return false;
}

/* ------------------------------------------------------------- shadowing */

/* Some request method is served by both route methods (pc_method_rank). */
static bool methods_meet(const char *a, const char *b)
{
    return strcmp(a, b) == 0 || strcmp(a, "*") == 0 || strcmp(b, "*") == 0 ||
           (pc_method_rank(a, "HEAD") >= 0 && pc_method_rank(b, "HEAD") >= 0);
}

/* Whether the rests of two patterns (at *a and *b, at a '/' or the end) can
 * match one request path. */
static bool rests_meet(const char *a, const char *ae, const char *b, const char *be)
{
    const char *sa = NULL, *sb = NULL;
    size_t la = 0, lb = 0;

    for (;;) {
        bool ha = pc_path_next(&a, ae, &sa, &la), hb = pc_path_next(&b, be, &sb, &lb);
        enum pc_seg_kind ka = ha ? pc_seg_kind(sa, la) : PC_SEG_LITERAL;
        enum pc_seg_kind kb = hb ? pc_seg_kind(sb, lb) : PC_SEG_LITERAL;
        if (!ha || !hb)
            return (!ha && !hb) || (ha && ka == PC_SEG_WILD) || (hb && kb == PC_SEG_WILD);
        if (ka == PC_SEG_WILD || kb == PC_SEG_WILD) return true;
        if (ka == PC_SEG_LITERAL && kb == PC_SEG_LITERAL && !pc_seg_equal(sa, la, sb, lb))
            return false;
    }
}

bool gw_route_shadows(const char *nm, const char *np, const char *om, const char *op)
{
    const char *a = np, *ae = np + strlen(np), *b = op, *be = op + strlen(op), *sa = NULL,
               *sb = NULL;
    size_t la = 0, lb = 0;

    if (pc_pattern_equal(np, (size_t)(ae - np), op, (size_t)(be - op)))
        return (strcmp(om, "*") == 0 && strcmp(nm, "*") != 0) ||
               (strcmp(om, "GET") == 0 && strcmp(nm, "HEAD") == 0);
    if (!methods_meet(nm, om)) return false;
    for (;;) {
        bool ha = pc_path_next(&a, ae, &sa, &la), hb = pc_path_next(&b, be, &sb, &lb);
        enum pc_seg_kind ka, kb;
        if (!ha) return hb && pc_seg_kind(sb, lb) == PC_SEG_WILD; /* "/f" before "/f/" "*" */
        if (!hb) return false; /* the existing route ends first: it is tried first */
        ka = pc_seg_kind(sa, la);
        kb = pc_seg_kind(sb, lb);
        if (ka == kb) {
            if (ka == PC_SEG_LITERAL && !pc_seg_equal(sa, la, sb, lb)) return false;
            continue;
        }
        if (ka > kb) return false; /* the existing route is tried first */
        return kb == PC_SEG_WILD || rests_meet(a, ae, b, be);
    }
}

bool gw_regpolicy_refuses_shadowing(const struct gw_regpolicy *p)
{
    return p != NULL && p->secrets != NULL;
}

bool gw_regpolicy_shadow_granted(const struct gw_regpolicy *p, const char *service, const char *np,
                                 const char *op)
{
    const struct policy_allow *a;
    size_t nl = strlen(np), ol = strlen(op);

    if (p == NULL || p->allow == NULL) return false;
    a = pc_map_get(p->allow, service, strlen(service));
    for (size_t i = 0; a != NULL && i < a->n; i++) {
        size_t n = strlen(a->prefix[i]);
        if (pc_path_covers(a->prefix[i], n, np, nl) && !pc_path_covers(a->prefix[i], n, op, ol))
            return true;
    }
    return false;
}

/* ------------------------------------------------------- default trust */

static bool host_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;

    if (strcmp(host, "localhost") == 0) return true;
    if (inet_pton(AF_INET, host, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    return false;
}

bool gw_regpolicy_unsigned_exposed(const struct gw_regpolicy *p, const struct pc_redis_addr *a)
{
    return !gw_regpolicy_wants_signature(p) && !a->is_unix && !host_is_loopback(a->host);
}

void gw_regpolicy_warn_exposed(const struct gw_regpolicy *p, const struct pc_redis_addr *a)
{
    if (!gw_regpolicy_unsigned_exposed(p, a)) return;
    pc_log(PC_LOG_WARN, "registry",
           "registration is unsigned and Redis (%s) is not on loopback or a unix socket: "
           "anyone who can publish on it can announce routes and take traffic; set "
           "--registration-secret-file or --registration-secrets-file (docs/security.md)",
           a->host);
}
