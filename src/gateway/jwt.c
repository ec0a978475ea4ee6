/* jwt.c -- JWT verification: HS256 and RS256 with OpenSSL libcrypto (see jwt.h).
 *
 *   token = B64URL(header) "." B64URL(payload) "." B64URL(signature)
 *
 * The order of checks matters: sizes first, then the header (alg decides the
 * key), then the signature over the exact bytes of the first two segments,
 * and only then the payload is parsed, so unsigned input never reaches the
 * claim checks. */
#include "jwt.h"

#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "xalloc.h"

struct gw_jwt_verifier {
    unsigned char *hs_secret; /* NULL: HS256 not accepted */
    size_t hs_len;
    EVP_PKEY *rs_key; /* NULL: RS256 not accepted */
    char *issuer;     /* NULL: not checked */
    char *audience;   /* NULL: not checked */
    int leeway_s;
    bool require_exp;
};

/* ------------------------------------------------------------------------ */
/* Verifier                                                                  */
/* ------------------------------------------------------------------------ */

struct gw_jwt_verifier *gw_jwt_verifier_new(void)
{
    struct gw_jwt_verifier *v = pc_xcalloc(1, sizeof *v);
    v->require_exp = true;
    v->leeway_s = 30;
    return v;
}

void gw_jwt_verifier_free(struct gw_jwt_verifier *v)
{
    if (v == NULL) return;
    if (v->hs_secret) {
        OPENSSL_cleanse(v->hs_secret, v->hs_len);
        free(v->hs_secret);
    }
    EVP_PKEY_free(v->rs_key);
    free(v->issuer);
    free(v->audience);
    free(v);
}

int gw_jwt_verifier_set_hs256(struct gw_jwt_verifier *v, const void *secret, size_t len, char *err,
                              size_t errlen)
{
    if (len < GW_JWT_HS256_MIN_SECRET) {
        snprintf(err, errlen, "HS256 secret too short (%zu bytes, need at least %d)", len,
                 GW_JWT_HS256_MIN_SECRET);
        return -1;
    }
    if (v->hs_secret) {
        OPENSSL_cleanse(v->hs_secret, v->hs_len);
        free(v->hs_secret);
    }
    v->hs_secret = pc_xmalloc(len);
    memcpy(v->hs_secret, secret, len);
    v->hs_len = len;
    return 0;
}

int gw_jwt_verifier_set_rs256_pem(struct gw_jwt_verifier *v, const char *pem, size_t len, char *err,
                                  size_t errlen)
{
    EVP_PKEY *k = NULL;
    OSSL_DECODER_CTX *dctx;
    const unsigned char *data = (const unsigned char *)pem;
    size_t left = len;

    if (len > 64 * 1024) {
        snprintf(err, errlen, "RS256 public key: file too large");
        return -1;
    }
    /* PEM, SubjectPublicKeyInfo ("PUBLIC KEY") or PKCS#1 ("RSA PUBLIC KEY"). */
    dctx = OSSL_DECODER_CTX_new_for_pkey(&k, "PEM", NULL, "RSA", EVP_PKEY_PUBLIC_KEY, NULL, NULL);
    pc_check(dctx != NULL);
    if (OSSL_DECODER_from_data(dctx, &data, &left) != 1) {
        EVP_PKEY_free(k);
        k = NULL;
    }
    OSSL_DECODER_CTX_free(dctx);
    ERR_clear_error();
    if (k == NULL) {
        snprintf(err, errlen, "RS256 public key: not a PEM public key");
        return -1;
    }
    if (!EVP_PKEY_is_a(k, "RSA")) {
        EVP_PKEY_free(k);
        snprintf(err, errlen, "RS256 public key: not an RSA key");
        return -1;
    }
    if (EVP_PKEY_get_bits(k) < GW_JWT_RSA_MIN_BITS) {
        snprintf(err, errlen, "RS256 public key: %d bits, need at least %d", EVP_PKEY_get_bits(k),
                 GW_JWT_RSA_MIN_BITS);
        EVP_PKEY_free(k);
        return -1;
    }
    EVP_PKEY_free(v->rs_key);
    v->rs_key = k;
    return 0;
}

static char *dup_or_null(const char *s)
{
    char *d;
    if (s == NULL) return NULL;
    d = pc_xstrdup(s);
    return d;
}

void gw_jwt_verifier_set_issuer(struct gw_jwt_verifier *v, const char *iss)
{
    free(v->issuer);
    v->issuer = dup_or_null(iss);
}

void gw_jwt_verifier_set_audience(struct gw_jwt_verifier *v, const char *aud)
{
    free(v->audience);
    v->audience = dup_or_null(aud);
}

void gw_jwt_verifier_set_leeway(struct gw_jwt_verifier *v, int seconds)
{
    v->leeway_s = seconds < 0 ? 0 : seconds;
}

void gw_jwt_verifier_set_require_exp(struct gw_jwt_verifier *v, bool require)
{
    v->require_exp = require;
}

bool gw_jwt_verifier_is_ready(const struct gw_jwt_verifier *v)
{
    return v != NULL && (v->hs_secret != NULL || v->rs_key != NULL);
}

/* ------------------------------------------------------------------------ */
/* Encoding                                                                  */
/* ------------------------------------------------------------------------ */

int gw_jwt_b64url_decode(const char *in, size_t n, unsigned char *out, size_t *outlen)
{
    size_t padded = n + (4 - n % 4) % 4;
    char *tmp;
    int rc;

    if (n % 4 == 1) return -1;
    tmp = pc_xmalloc(padded + 1);
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == '+' || c == '/' || c == '=') { /* the standard alphabet is not base64url */
            free(tmp);
            return -1;
        }
        tmp[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    for (size_t i = n; i < padded; i++) tmp[i] = '=';
    rc = pc_base64_decode(out, outlen, tmp, padded);
    free(tmp);
    return rc == 0 ? 0 : -1;
}

/* Decodes a segment that must hold a JSON object. New reference or NULL. */
static json_t *segment_json(const char *s, size_t n)
{
    unsigned char *raw = pc_xmalloc(n * 3 / 4 + 3);
    size_t rn;
    json_t *j = NULL;

    if (gw_jwt_b64url_decode(s, n, raw, &rn) == 0)
        j = json_loadb((const char *)raw, rn, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    if (j != NULL && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* ------------------------------------------------------------------------ */
/* Signatures                                                                */
/* ------------------------------------------------------------------------ */

static bool hs256_ok(const struct gw_jwt_verifier *v, const char *signed_part, size_t n,
                     const unsigned char *sig, size_t siglen)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;

    if (HMAC(EVP_sha256(), v->hs_secret, (int)v->hs_len, (const unsigned char *)signed_part, n, mac,
             &maclen) == NULL)
        return false;
    return maclen == 32 && siglen == 32 && CRYPTO_memcmp(mac, sig, 32) == 0;
}

static bool rs256_ok(const struct gw_jwt_verifier *v, const char *signed_part, size_t n,
                     const unsigned char *sig, size_t siglen)
{
    EVP_MD_CTX *ctx;
    bool ok = false;

    if (siglen != (size_t)EVP_PKEY_get_size(v->rs_key)) return false;
    ctx = EVP_MD_CTX_new();
    pc_check(ctx != NULL);
    if (EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, v->rs_key) == 1 &&
        EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)signed_part, n) == 1)
        ok = true;
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* ------------------------------------------------------------------------ */
/* Claims                                                                    */
/* ------------------------------------------------------------------------ */

static bool aud_ok(const json_t *aud, const char *want)
{
    size_t i;
    json_t *e;

    if (json_is_string(aud)) return strcmp(json_string_value(aud), want) == 0;
    if (!json_is_array(aud)) return false;
    json_array_foreach(aud, i, e) if (json_is_string(e) &&
                                      strcmp(json_string_value(e), want) == 0) return true;
    return false;
}

static bool sub_ok(const json_t *sub)
{
    const char *s;
    size_t n;

    if (!json_is_string(sub)) return false;
    s = json_string_value(sub);
    n = json_string_length(sub);
    if (n == 0 || n > GW_JWT_SUB_MAX) return false;
    for (size_t i = 0; i < n; i++) /* it becomes a header value */
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return false;
    return true;
}

static int check_claims(const struct gw_jwt_verifier *v, const json_t *c, int64_t now_s,
                        const char **why)
{
    const json_t *exp = json_object_get(c, "exp"), *nbf = json_object_get(c, "nbf");
    const json_t *iss = json_object_get(c, "iss"), *aud = json_object_get(c, "aud");
    const json_t *sub = json_object_get(c, "sub");
    double now = (double)now_s, lee = (double)v->leeway_s;

    if ((exp && !json_is_number(exp)) || (nbf && !json_is_number(nbf))) {
        *why = "exp or nbf is not a number";
        return GW_JWT_BAD_CLAIMS;
    }
    if (exp == NULL && v->require_exp) {
        *why = "the token has no exp";
        return GW_JWT_EXPIRED;
    }
    if (exp && now >= json_number_value(exp) + lee) {
        *why = "the token has expired";
        return GW_JWT_EXPIRED;
    }
    if (nbf && now + lee < json_number_value(nbf)) {
        *why = "the token is not valid yet";
        return GW_JWT_NOT_YET;
    }
    if (v->issuer && !(json_is_string(iss) && strcmp(json_string_value(iss), v->issuer) == 0)) {
        *why = "wrong issuer";
        return GW_JWT_BAD_CLAIMS;
    }
    if (v->audience && !aud_ok(aud, v->audience)) {
        *why = "wrong audience";
        return GW_JWT_BAD_CLAIMS;
    }
    if (sub && !sub_ok(sub)) {
        *why = "sub is not a short printable string";
        return GW_JWT_BAD_CLAIMS;
    }
    return GW_JWT_OK;
}

/* ------------------------------------------------------------------------ */
/* Verification                                                              */
/* ------------------------------------------------------------------------ */

int gw_jwt_verify(const struct gw_jwt_verifier *v, const char *tok, size_t len, int64_t now_s,
                  json_t **claims, const char **why)
{
    const char *dot1, *dot2, *alg_s, *dummy;
    json_t *hdr = NULL, *payload = NULL;
    unsigned char *sig = NULL;
    size_t siglen = 0;
    bool is_hs, ok;
    int rc = GW_JWT_MALFORMED;

    if (why == NULL) why = &dummy;
    if (claims) *claims = NULL;
    *why = "malformed token";
    if (len == 0 || len > GW_JWT_MAX_BYTES || memchr(tok, '\0', len)) return rc;
    dot1 = memchr(tok, '.', len);
    if (dot1 == NULL) return rc;
    dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - tok));
    if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - tok))) return rc;
    if (dot1 == tok || dot2 == dot1 + 1) return rc;

    hdr = segment_json(tok, (size_t)(dot1 - tok));
    if (hdr == NULL) goto out;
    alg_s = json_string_value(json_object_get(hdr, "alg"));
    if (json_object_get(hdr, "crit") != NULL) { /* extensions we do not understand */
        *why = "unsupported crit header";
        goto out;
    }
    rc = GW_JWT_BAD_ALG;
    *why = "algorithm not accepted";
    if (alg_s == NULL) goto out;
    is_hs = strcmp(alg_s, "HS256") == 0;
    if (!(is_hs && v->hs_secret) && !(strcmp(alg_s, "RS256") == 0 && v->rs_key)) goto out;

    rc = GW_JWT_MALFORMED;
    *why = "malformed token";
    {
        size_t sn = len - (size_t)(dot2 + 1 - tok);
        sig = pc_xmalloc(sn * 3 / 4 + 3);
        if (gw_jwt_b64url_decode(dot2 + 1, sn, sig, &siglen) != 0) goto out;
    }
    ok = is_hs ? hs256_ok(v, tok, (size_t)(dot2 - tok), sig, siglen)
               : rs256_ok(v, tok, (size_t)(dot2 - tok), sig, siglen);
    if (!ok) {
        rc = GW_JWT_BAD_SIGNATURE;
        *why = "bad signature";
        goto out;
    }
    payload = segment_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (payload == NULL) goto out;
    rc = check_claims(v, payload, now_s, why);
    if (rc == GW_JWT_OK) {
        *why = "ok";
        if (claims) {
            *claims = payload;
            payload = NULL;
        }
    }
out:
    free(sig);
    json_decref(payload);
    json_decref(hdr);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Required claims                                                           */
/* ------------------------------------------------------------------------ */

/* True if the space-separated list have[0..hn) holds the word w[0..wn). */
static bool has_word(const char *have, size_t hn, const char *w, size_t wn)
{
    size_t i = 0;
    while (i < hn) {
        size_t start;
        while (i < hn && have[i] == ' ') i++;
        start = i;
        while (i < hn && have[i] != ' ') i++;
        if (i > start && i - start == wn && memcmp(have + start, w, wn) == 0) return true;
    }
    return false;
}

static bool array_has(const json_t *arr, const json_t *want)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) if (json_equal(e, want)) return true;
    return false;
}

static bool claim_ok(const char *name, const json_t *have, const json_t *want)
{
    size_t i;
    json_t *e;

    if (have == NULL) return false;
    if (json_is_array(have)) {
        if (!json_is_array(want)) return array_has(have, want);
        json_array_foreach(want, i, e) if (!array_has(have, e)) return false;
        return true;
    }
    if ((strcmp(name, "scope") == 0 || strcmp(name, "scp") == 0) && json_is_string(have) &&
        json_is_string(want)) {
        const char *w = json_string_value(want), *h = json_string_value(have);
        size_t wn = json_string_length(want), hn = json_string_length(have), k = 0;
        while (k < wn) {
            size_t start;
            while (k < wn && w[k] == ' ') k++;
            start = k;
            while (k < wn && w[k] != ' ') k++;
            if (k > start && !has_word(h, hn, w + start, k - start)) return false;
        }
        return true;
    }
    return json_equal((json_t *)have, (json_t *)want);
}

bool gw_jwt_claims_satisfy(const json_t *claims, const json_t *required)
{
    const char *name;
    json_t *want;

    if (required == NULL) return true;
    if (!json_is_object(claims)) return false;
    json_object_foreach(
        (json_t *)required, name,
        want) if (!claim_ok(name, json_object_get(claims, name), want)) return false;
    return true;
}
