/* cors.c -- CORS preflight answers and response headers (see cors.h). */
#include "cors.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h" /* GW_AUTH_FILE_MAX: the policy lives in the auth file */
#include "buf.h"
#include "jsonfile.h"
#include "xalloc.h"

#define CORS_LIST_MAX 256 /* entries of each configured list */
#define CORS_ITEM_MAX 256 /* bytes of one origin / method / header name */

struct strlist {
    char **v;
    size_t n;
    bool any;     /* "*" was listed */
    char *joined; /* "a, b, c" for a header value; "" when empty */
};

struct gw_cors {
    struct strlist origins, methods, headers, expose;
    bool credentials;
    char max_age[16]; /* "" = no Access-Control-Max-Age */
};

static struct gw_cors *cors; /* the installed policy, or NULL */

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */
/* ------------------------------------------------------------------------ */

static void strlist_free(struct strlist *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    free(l->joined);
    memset(l, 0, sizeof *l);
}

static void cors_free(struct gw_cors *c)
{
    if (c == NULL) return;
    strlist_free(&c->origins);
    strlist_free(&c->methods);
    strlist_free(&c->headers);
    strlist_free(&c->expose);
    free(c);
}

static bool is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

enum item_kind { ITEM_ORIGIN, ITEM_METHOD, ITEM_HEADER };

/* Checks one configured item; header names are lower-cased in place. */
static bool item_ok(enum item_kind k, char *s, size_t n)
{
    if (n == 0 || n > CORS_ITEM_MAX) return false;
    if (n == 1 && s[0] == '*') return true;
    switch (k) {
    case ITEM_ORIGIN: { /* scheme "://" host [":" port], no path, no trailing '/' */
        const char *sep = strstr(s, "://");
        if (sep == NULL || sep == s || sep[3] == '\0' || strchr(sep + 3, '/') != NULL) return false;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f) return false;
        return true;
    }
    case ITEM_METHOD:
        for (size_t i = 0; i < n; i++)
            if (!is_tchar((unsigned char)s[i])) return false;
        return true;
    case ITEM_HEADER:
        for (size_t i = 0; i < n; i++) {
            if (!is_tchar((unsigned char)s[i])) return false;
            if (s[i] >= 'A' && s[i] <= 'Z') s[i] = (char)(s[i] - 'A' + 'a');
        }
        return true;
    }
    return false;
}

/* Parses an array of strings (or NULL: defaults[]) into l. */
static bool strlist_parse(struct strlist *l, const json_t *arr, const char *const *defaults,
                          enum item_kind kind, const char *key, char *err, size_t errlen)
{
    size_t n = arr ? json_array_size(arr) : 0;
    pc_buf j;

    if (arr != NULL && !json_is_array(arr)) {
        snprintf(err, errlen, "cors.%s must be an array of strings", key);
        return false;
    }
    if (arr == NULL)
        while (defaults && defaults[n]) n++;
    if (n > CORS_LIST_MAX) {
        snprintf(err, errlen, "cors.%s: more than %d entries", key, CORS_LIST_MAX);
        return false;
    }
    l->v = pc_xcalloc(n + 1, sizeof *l->v);
    pc_buf_init(&j);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = arr ? json_array_get(arr, i) : NULL;
        const char *s = arr ? json_string_value(e) : defaults[i];
        size_t sl;
        if (s == NULL) {
            snprintf(err, errlen, "cors.%s must be an array of strings", key);
            pc_buf_deinit(&j);
            return false;
        }
        sl = strlen(s);
        l->v[l->n] = pc_xstrdup(s);
        if ((arr && sl != json_string_length(e)) || !item_ok(kind, l->v[l->n], sl)) {
            snprintf(err, errlen, "cors.%s: invalid entry \"%.100s\"", key, s);
            l->n++;
            pc_buf_deinit(&j);
            return false;
        }
        if (strcmp(s, "*") == 0) l->any = true;
        if (j.len) pc_buf_puts(&j, ", ");
        pc_buf_puts(&j, l->v[l->n]);
        l->n++;
    }
    pc_check(!j.oom);
    l->joined = pc_xstrdup(j.len ? j.data : "");
    pc_buf_deinit(&j);
    return true;
}

static struct gw_cors *cors_parse(const json_t *obj, char *err, size_t errlen)
{
    static const char *const default_methods[] = {"GET", "HEAD", "POST", NULL};
    struct gw_cors *c;
    const char *key;
    json_t *val;

    if (!json_is_object(obj)) {
        snprintf(err, errlen, "cors must be an object");
        return NULL;
    }
    json_object_foreach((json_t *)obj, key, val)
    {
        if (strcmp(key, "origins") && strcmp(key, "methods") && strcmp(key, "headers") &&
            strcmp(key, "expose_headers") && strcmp(key, "credentials") && strcmp(key, "max_age")) {
            snprintf(err, errlen, "cors: unknown key \"%.100s\"", key);
            return NULL;
        }
    }
    c = pc_xcalloc(1, sizeof *c);
    if (!json_is_array(json_object_get(obj, "origins")) ||
        json_array_size(json_object_get(obj, "origins")) == 0) {
        snprintf(err, errlen, "cors.origins must be a non-empty array of strings");
        goto bad;
    }
    if (!strlist_parse(&c->origins, json_object_get(obj, "origins"), NULL, ITEM_ORIGIN, "origins",
                       err, errlen) ||
        !strlist_parse(&c->methods, json_object_get(obj, "methods"), default_methods, ITEM_METHOD,
                       "methods", err, errlen) ||
        !strlist_parse(&c->headers, json_object_get(obj, "headers"), NULL, ITEM_HEADER, "headers",
                       err, errlen) ||
        !strlist_parse(&c->expose, json_object_get(obj, "expose_headers"), NULL, ITEM_HEADER,
                       "expose_headers", err, errlen))
        goto bad;
    val = json_object_get(obj, "credentials");
    if (val && !json_is_boolean(val)) {
        snprintf(err, errlen, "cors.credentials must be true or false");
        goto bad;
    }
    c->credentials = json_is_true(val);
    if (c->credentials && c->origins.any) {
        /* Browsers refuse "*" with credentials; reflecting any origin instead
         * would hand every site the user's cookies. */
        snprintf(err, errlen, "cors: \"*\" in origins cannot be combined with credentials");
        goto bad;
    }
    val = json_object_get(obj, "max_age");
    if (val == NULL) {
        snprintf(c->max_age, sizeof c->max_age, "600");
    } else if (!json_is_integer(val) || json_integer_value(val) < -1 ||
               json_integer_value(val) > 86400) {
        snprintf(err, errlen, "cors.max_age must be an integer, -1 (none) to 86400 seconds");
        goto bad;
    } else if (json_integer_value(val) >= 0) {
        snprintf(c->max_age, sizeof c->max_age, "%d", (int)json_integer_value(val));
    }
    return c;
bad:
    cors_free(c);
    return NULL;
}

void gw_cors_unload(void)
{
    cors_free(cors);
    cors = NULL;
}

int gw_cors_prepare(const char *auth_file, struct gw_cors **out, char *err, size_t errlen)
{
    char why[400];
    json_t *root, *obj;

    *out = NULL;
    if (auth_file == NULL || auth_file[0] == '\0') return 0;
    root = pc_json_file_load("auth file", auth_file, GW_AUTH_FILE_MAX, err, errlen);
    if (root == NULL) return -1;
    obj = json_is_object(root) ? json_object_get(root, "cors") : NULL;
    if (obj != NULL && (*out = cors_parse(obj, why, sizeof why)) == NULL) {
        json_decref(root);
        return pc_json_file_err("auth file", auth_file, err, errlen, "%s", why);
    }
    json_decref(root);
    return 0;
}

void gw_cors_commit(struct gw_cors *c)
{
    cors_free(cors);
    cors = c;
}

void gw_cors_discard(struct gw_cors *c) { cors_free(c); }

int gw_cors_load(const char *auth_file, char *err, size_t errlen)
{
    struct gw_cors *c;

    gw_cors_unload();
    if (gw_cors_prepare(auth_file, &c, err, errlen) != 0) return -1;
    gw_cors_commit(c);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                  */
/* ------------------------------------------------------------------------ */

/* The request's Origin when it has exactly one, else NULL. */
static const char *origin_of(const struct gw_req *r, size_t *n)
{
    const char *v = NULL;
    for (uint32_t i = 0; i < r->nhdrs; i++) {
        if (r->hdrs[i].name_len == 6 && memcmp(gw_req_hdr_name(r, i), "origin", 6) == 0) {
            if (v != NULL) return NULL;
            v = gw_req_hdr_value(r, i);
            *n = r->hdrs[i].value_len;
        }
    }
    return v;
}

static bool list_has(const struct strlist *l, const char *s, size_t n, bool nocase)
{
    if (l->any) return true;
    for (size_t i = 0; i < l->n; i++) {
        if (strlen(l->v[i]) != n) continue;
        if (nocase ? strncasecmp(l->v[i], s, n) == 0 : memcmp(l->v[i], s, n) == 0) return true;
    }
    return false;
}

/* True if every name of the comma-separated list v[0..n) is allowed. */
static bool headers_allowed(const char *v, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t start, end;
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        start = i;
        while (i < n && v[i] != ',') i++;
        end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t')) end--;
        if (end > start && !list_has(&cors->headers, v + start, end - start, true)) return false;
    }
    return true;
}

bool gw_cors_preflight(struct gw_req *r)
{
    static const char preflight_vary[] =
        "access-control-request-method, access-control-request-headers";
    struct pc_kv h[4];
    size_t on, mn, hn = 0, k = 0;
    const char *origin, *method, *reqh;

    if (cors == NULL || r->admin || strcmp(r->method, "OPTIONS") != 0) return false;
    method = gw_req_header(r, "access-control-request-method", &mn);
    if (method == NULL || gw_req_header(r, "origin", &on) == NULL) return false;

    origin = origin_of(r, &on);
    if (origin == NULL || !list_has(&cors->origins, origin, on, false)) {
        gw_req_error(r, 403, "cors_forbidden", "CORS: origin not allowed");
        return true;
    }
    if (!list_has(&cors->methods, method, mn, false)) {
        gw_req_error(r, 403, "cors_forbidden", "CORS: method not allowed");
        return true;
    }
    reqh = gw_req_header(r, "access-control-request-headers", &hn);
    if (reqh && !headers_allowed(reqh, hn)) {
        gw_req_error(r, 403, "cors_forbidden", "CORS: request header not allowed");
        return true;
    }

    if (cors->methods.any)
        h[k++] = (struct pc_kv){"access-control-allow-methods", 28, method, mn};
    else
        h[k++] = (struct pc_kv){"access-control-allow-methods", 28, cors->methods.joined,
                                strlen(cors->methods.joined)};
    if (cors->headers.any && reqh && hn)
        h[k++] = (struct pc_kv){"access-control-allow-headers", 28, reqh, hn};
    else if (!cors->headers.any && cors->headers.n)
        h[k++] = (struct pc_kv){"access-control-allow-headers", 28, cors->headers.joined,
                                strlen(cors->headers.joined)};
    if (cors->max_age[0])
        h[k++] = (struct pc_kv){"access-control-max-age", 22, cors->max_age, strlen(cors->max_age)};
    h[k++] = (struct pc_kv){"vary", 4, preflight_vary, sizeof preflight_vary - 1};
    gw_req_respond(r, 204, NULL, h, k, NULL, 0);
    return true;
}

size_t gw_cors_response_headers(const struct gw_req *r, struct pc_kv *out)
{
    const char *origin;
    size_t on = 0, k = 0;

    if (cors == NULL || r->admin) return 0;
    origin = origin_of(r, &on);
    if (cors->origins.any) {
        if (origin == NULL) return 0;
        out[k++] = (struct pc_kv){"access-control-allow-origin", 27, "*", 1};
    } else {
        /* The answer depends on Origin, for every response: tell caches. */
        out[k++] = (struct pc_kv){"vary", 4, "origin", 6};
        if (origin == NULL || !list_has(&cors->origins, origin, on, false)) return k;
        out[k++] = (struct pc_kv){"access-control-allow-origin", 27, origin, on};
        if (cors->credentials)
            out[k++] = (struct pc_kv){"access-control-allow-credentials", 32, "true", 4};
    }
    if (cors->expose.n)
        out[k++] = (struct pc_kv){"access-control-expose-headers", 29, cors->expose.joined,
                                  strlen(cors->expose.joined)};
    return k;
}

bool gw_cors_owns_header(const char *lname, size_t n)
{
    static const char *const owned[] = {
        /* what gw_cors_response_headers adds */
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "access-control-expose-headers",
    };
    if (cors == NULL) return false;
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++)
        if (strlen(owned[i]) == n && memcmp(owned[i], lname, n) == 0) return true;
    return false;
}
