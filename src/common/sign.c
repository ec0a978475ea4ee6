/* sign.c -- signed registration: HMAC-SHA256, hex, the envelope (see sign.h). */
#include "sign.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jw.h"
#include "map.h"
#include "names.h"
#include "utf8.h"

#define PC_SIGN_FILE_MAX (64 * 1024)   /* bytes of a secret file, white space included */
#define PC_POLICY_FILE_MAX (1024 * 1024) /* bytes of a secrets or allow-list file */
#define PC_POLICY_MAX_PREFIXES 1024    /* prefixes per service in an allow-list */

/* ------------------------------------------------------------------ MAC */

/* HMAC-SHA256 into mac. Returns 0 or -1. */
static int hmac_sha256(const void *key, size_t keylen, const void *msg, size_t len,
                       unsigned char mac[PC_SIGN_MAC_LEN])
{
    static const unsigned char empty;
    unsigned int maclen = 0;

    if (keylen > (size_t)INT32_MAX) return -1;
    /* libcrypto wants non-NULL pointers even for zero lengths. */
    if (HMAC(EVP_sha256(), keylen ? key : &empty, (int)keylen,
             len ? (const unsigned char *)msg : &empty, len, mac, &maclen) == NULL ||
        maclen != PC_SIGN_MAC_LEN)
        return -1;
    return 0;
}

int pc_sign_hmac_sha256_hex(const void *key, size_t keylen, const void *msg, size_t len,
                            char out[PC_SIGN_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char mac[PC_SIGN_MAC_LEN];

    out[0] = '\0';
    if (hmac_sha256(key, keylen, msg, len, mac) != 0) return -1;
    for (size_t i = 0; i < PC_SIGN_MAC_LEN; i++) {
        out[2 * i] = digits[mac[i] >> 4];
        out[2 * i + 1] = digits[mac[i] & 15];
    }
    out[PC_SIGN_HEX_LEN] = '\0';
    return 0;
}

bool pc_sign_verify(const void *key, size_t keylen, const void *msg, size_t len,
                    const char *sig, size_t siglen)
{
    unsigned char want[PC_SIGN_MAC_LEN], got[PC_SIGN_MAC_LEN];
    bool ok;

    /* The length and the digits of sig are public (they are what was sent):
     * only the comparison with the secret-derived MAC must be constant-time. */
    if (sig == NULL || siglen != PC_SIGN_HEX_LEN) return false;
    for (size_t i = 0; i < PC_SIGN_MAC_LEN; i++) {
        int hi = pc_hex_value(sig[2 * i]), lo = pc_hex_value(sig[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        got[i] = (unsigned char)(hi << 4 | lo);
    }
    if (hmac_sha256(key, keylen, msg, len, want) != 0) return false;
    ok = CRYPTO_memcmp(want, got, PC_SIGN_MAC_LEN) == 0;
    OPENSSL_cleanse(want, sizeof want);
    return ok;
}

/* ------------------------------------------------------------- envelope */

int pc_sign_wrap(pc_buf *out, const char *inner, size_t len, const void *key, size_t keylen)
{
    char hex[PC_SIGN_HEX_LEN + 1];

    if (inner == NULL || memchr(inner, '\0', len) != NULL || !pc_utf8_is_valid(inner, len))
        return -1;
    if (pc_sign_hmac_sha256_hex(key, keylen, inner, len, hex) != 0) return -1;
    pc_buf_puts(out, "{\"v\":1,\"signed\":");
    pc_jw_str(out, inner, len);
    pc_buf_puts(out, ",\"sig\":\"");
    pc_buf_puts(out, hex);
    pc_buf_puts(out, "\"}");
    return 0;
}

static void unwrap_err(struct pc_wire_err *err, const char *reason, const char *msg)
{
    err->reason = reason;
    snprintf(err->message, sizeof err->message, "%s", msg);
}

int pc_sign_unwrap(struct pc_signed *out, const char *msg, size_t len, struct pc_wire_err *err)
{
    json_error_t jerr;
    json_t *v, *s, *sig;

    memset(out, 0, sizeof *out);
    if (len > PC_SIGN_MAX_ENVELOPE) {
        err->reason = "too_large";
        snprintf(err->message, sizeof err->message, "signed message of %zu bytes exceeds %d",
                 len, PC_SIGN_MAX_ENVELOPE);
        return -1;
    }
    if (!pc_json_depth_is_ok(msg, len, PC_WIRE_MAX_DEPTH)) {
        unwrap_err(err, "too_deep", "JSON nested too deep");
        return -1;
    }
    out->root = json_loadb(msg, len, JSON_REJECT_DUPLICATES, &jerr);
    if (out->root == NULL || !json_is_object(out->root)) {
        unwrap_err(err, "not_json", out->root ? "message is not a JSON object" : jerr.text);
        return -1;
    }
    s = json_object_get(out->root, "signed");
    sig = json_object_get(out->root, "sig");
    if (s == NULL || sig == NULL) {
        unwrap_err(err, "unsigned", "no \"signed\"/\"sig\" envelope (signatures required)");
        return -1;
    }
    v = json_object_get(out->root, "v");
    if (!json_is_integer(v) || json_integer_value(v) != PC_WIRE_VERSION || !json_is_string(s) ||
        !json_is_string(sig)) {
        unwrap_err(err, "bad_envelope", "envelope needs \"v\":1 and string \"signed\", \"sig\"");
        return -1;
    }
    out->inner = json_string_value(s);
    out->inner_len = json_string_length(s);
    out->sig = json_string_value(sig);
    out->sig_len = json_string_length(sig);
    return 0;
}

void pc_sign_unwrap_deinit(struct pc_signed *s)
{
    json_decref(s->root);
    memset(s, 0, sizeof *s);
}

/* --------------------------------------------------------------- secrets */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

void pc_sign_secret_trim(char *s, size_t *len)
{
    size_t a = 0, b = *len;
    while (a < b && is_space(s[a])) a++;
    while (b > a && is_space(s[b - 1])) b--;
    memmove(s, s + a, b - a);
    *len = b - a;
    s[*len] = '\0';
}

int pc_sign_secret_load(const char *path, char *out, size_t *outlen, char *err, size_t errlen)
{
    struct stat st;
    char *buf = NULL;
    size_t n = 0;
    int rc = -1;
    FILE *f = fopen(path, "rb");

    *outlen = 0;
    out[0] = '\0';
    if (f == NULL) {
        snprintf(err, errlen, "%.300s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%.300s: not a regular file", path);
        goto out;
    }
    if (st.st_size > PC_SIGN_FILE_MAX) {
        snprintf(err, errlen, "%.300s: larger than %d bytes", path, PC_SIGN_FILE_MAX);
        goto out;
    }
    buf = malloc(PC_SIGN_FILE_MAX + 1);
    if (buf == NULL) {
        snprintf(err, errlen, "%.300s: out of memory", path);
        goto out;
    }
    n = fread(buf, 1, PC_SIGN_FILE_MAX + 1, f);
    if (ferror(f)) {
        snprintf(err, errlen, "%.300s: %s", path, strerror(errno));
        goto out;
    }
    if (n > PC_SIGN_FILE_MAX) {
        snprintf(err, errlen, "%.300s: larger than %d bytes", path, PC_SIGN_FILE_MAX);
        goto out;
    }
    pc_sign_secret_trim(buf, &n);
    if (n == 0) {
        snprintf(err, errlen, "%.300s: the secret is empty", path);
        goto out;
    }
    if (n > PC_SIGN_SECRET_MAX) {
        snprintf(err, errlen, "%.300s: secret longer than %d bytes", path, PC_SIGN_SECRET_MAX);
        goto out;
    }
    memcpy(out, buf, n + 1);
    *outlen = n;
    rc = 0;
out:
    if (buf != NULL) {
        OPENSSL_cleanse(buf, PC_SIGN_FILE_MAX + 1);
        free(buf);
    }
    fclose(f);
    return rc;
}

/* ----------------------------------------------------- registration policy */

struct policy_key {
    size_t len;
    char bytes[];                 /* NUL-terminated */
};

struct policy_allow {
    size_t n;
    char **prefix;                /* without a trailing '/' ("/" stays "/") */
};

struct pc_reg_policy {
    struct policy_key *secret;    /* global; NULL = none */
    pc_map *secrets;              /* service -> struct policy_key *; NULL = no file */
    pc_map *allow;                /* service -> struct policy_allow *; NULL = no file */
};

static struct policy_key *key_new(const char *s, size_t n)
{
    struct policy_key *k = malloc(sizeof *k + n + 1);
    if (k == NULL) return NULL;
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

void pc_reg_policy_free(struct pc_reg_policy *p)
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

/* Parses a policy file: a JSON object of at most PC_POLICY_FILE_MAX bytes
 * whose keys are valid service names. Returns the tree or NULL (err set). */
static json_t *policy_file(const char *what, const char *path, char *err, size_t errlen)
{
    json_error_t je;
    struct stat st;
    const char *key;
    json_t *val, *root;
    FILE *f = fopen(path, "rb");

    if (f == NULL) {
        snprintf(err, errlen, "%s %.300s: %s", what, path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > PC_POLICY_FILE_MAX) {
        fclose(f);
        snprintf(err, errlen, "%s %.300s: not a regular file of at most %d bytes", what, path,
                 PC_POLICY_FILE_MAX);
        return NULL;
    }
    root = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
    fclose(f);
    if (root == NULL) {
        snprintf(err, errlen, "%s %.300s: line %d column %d: %s", what, path, je.line, je.column,
                 je.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "%s %.300s: not a JSON object", what, path);
        json_decref(root);
        return NULL;
    }
    json_object_foreach(root, key, val) {
        if (!pc_service_name_is_valid(key, strlen(key))) {
            snprintf(err, errlen, "%s %.300s: \"%.80s\" is not a service name", what, path, key);
            json_decref(root);
            return NULL;
        }
    }
    return root;
}

static int load_secrets(struct pc_reg_policy *p, const char *path, char *err, size_t errlen)
{
    const char *key;
    json_t *val, *root = policy_file("secrets file", path, err, errlen);
    int rc = -1;

    if (root == NULL) return -1;
    p->secrets = pc_map_new();
    if (p->secrets == NULL) goto oom;
    json_object_foreach(root, key, val) {
        size_t n;
        char *tmp;
        struct policy_key *k;
        if (!json_is_string(val)) {
            snprintf(err, errlen, "secrets file %.300s: the secret of \"%s\" must be a string",
                     path, key);
            goto out;
        }
        n = json_string_length(val);
        if (n > PC_SIGN_SECRET_MAX + 256 || memchr(json_string_value(val), '\0', n)) {
            snprintf(err, errlen, "secrets file %.300s: the secret of \"%s\" is too long",
                     path, key);
            goto out;
        }
        tmp = malloc(n + 1);
        if (tmp == NULL) goto oom;
        memcpy(tmp, json_string_value(val), n + 1);
        pc_sign_secret_trim(tmp, &n);
        k = (n > 0 && n <= PC_SIGN_SECRET_MAX) ? key_new(tmp, n) : NULL;
        OPENSSL_cleanse(tmp, n);
        free(tmp);
        if (k == NULL) {
            snprintf(err, errlen, "secrets file %.300s: the secret of \"%s\" is empty or longer "
                     "than %d bytes", path, key, PC_SIGN_SECRET_MAX);
            goto out;
        }
        if (pc_map_put(p->secrets, key, strlen(key), k) != 0) {
            key_free(k);
            goto oom;
        }
    }
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "secrets file %.300s: out of memory", path);
out:
    json_decref(root);
    return rc;
}

/* A prefix: starts with '/', literal segments only. */
static bool prefix_is_valid(const char *s, size_t n)
{
    if (n == 0 || s[0] != '/' || n > PC_PATTERN_MAX) return false;
    if (n == 1) return true;
    if (s[n - 1] == '/') n--;            /* "/accounts/" means "/accounts" */
    return pc_pattern_is_valid(s, n) && memchr(s, '{', n) == NULL && memchr(s, '*', n) == NULL;
}

static int load_allowlist(struct pc_reg_policy *p, const char *path, char *err, size_t errlen)
{
    const char *key;
    json_t *val, *root = policy_file("allow-list file", path, err, errlen);
    int rc = -1;

    if (root == NULL) return -1;
    p->allow = pc_map_new();
    if (p->allow == NULL) goto oom;
    json_object_foreach(root, key, val) {
        struct policy_allow *a;
        size_t i;
        json_t *item;
        if (!json_is_array(val) || json_array_size(val) > PC_POLICY_MAX_PREFIXES) {
            snprintf(err, errlen, "allow-list file %.300s: \"%s\" must be an array of at most "
                     "%d path prefixes", path, key, PC_POLICY_MAX_PREFIXES);
            goto out;
        }
        a = calloc(1, sizeof *a);
        if (a == NULL) goto oom;
        a->prefix = calloc(json_array_size(val) + 1, sizeof *a->prefix);
        if (a->prefix == NULL || pc_map_put(p->allow, key, strlen(key), a) != 0) {
            allow_free(a);
            goto oom;
        }
        json_array_foreach(val, i, item) {
            const char *s = json_string_value(item);
            size_t n = s ? json_string_length(item) : 0;
            if (s == NULL || strlen(s) != n || !prefix_is_valid(s, n)) {
                snprintf(err, errlen, "allow-list file %.300s: \"%s\": item %zu is not a path "
                         "prefix like \"/users\" (literal segments only)", path, key, i);
                goto out;
            }
            if (n > 1 && s[n - 1] == '/') n--;
            a->prefix[a->n] = strndup(s, n);
            if (a->prefix[a->n] == NULL) goto oom;
            a->n++;
        }
    }
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "allow-list file %.300s: out of memory", path);
out:
    json_decref(root);
    return rc;
}

int pc_reg_policy_load(struct pc_reg_policy **out, const char *secret_file,
                       const char *secrets_file, const char *allowlist_file, char *err,
                       size_t errlen)
{
    struct pc_reg_policy *p;
    bool has_secret = secret_file && secret_file[0];
    bool has_secrets = secrets_file && secrets_file[0];
    bool has_allow = allowlist_file && allowlist_file[0];

    *out = NULL;
    if (!has_secret && !has_secrets && !has_allow) return 0;
    p = calloc(1, sizeof *p);
    if (p == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (has_secret) {
        char *buf = malloc(PC_SIGN_SECRET_MAX + 1);
        size_t n;
        char why[400];
        if (buf == NULL) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        if (pc_sign_secret_load(secret_file, buf, &n, why, sizeof why) != 0) {
            snprintf(err, errlen, "registration secret file %s", why);
            free(buf);
            goto fail;
        }
        p->secret = key_new(buf, n);
        OPENSSL_cleanse(buf, n);
        free(buf);
        if (p->secret == NULL) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    if (has_secrets && load_secrets(p, secrets_file, err, errlen) != 0) goto fail;
    if (has_allow && load_allowlist(p, allowlist_file, err, errlen) != 0) goto fail;
    *out = p;
    return 0;
fail:
    pc_reg_policy_free(p);
    return -1;
}

bool pc_reg_policy_wants_signature(const struct pc_reg_policy *p)
{
    return p != NULL && (p->secret != NULL || p->secrets != NULL);
}

int pc_reg_policy_key(const struct pc_reg_policy *p, const char *service, size_t n,
                      const void **key, size_t *keylen)
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

bool pc_reg_policy_route_allowed(const struct pc_reg_policy *p, const char *service,
                                 const char *pattern)
{
    const struct policy_allow *a;
    size_t plen = strlen(pattern);

    if (p == NULL || p->allow == NULL) return true;
    a = pc_map_get(p->allow, service, strlen(service));
    if (a == NULL) return false;
    for (size_t i = 0; i < a->n; i++) {
        const char *pre = a->prefix[i];
        size_t n = strlen(pre);
        if (n == 1) return true;        /* "/" */
        if (plen >= n && memcmp(pattern, pre, n) == 0 && (plen == n || pattern[n] == '/'))
            return true;
    }
    return false;
}
