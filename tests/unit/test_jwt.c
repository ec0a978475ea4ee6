/* test_jwt.c -- JWT verification: HS256, RS256, claims, and the classic attacks
 * (alg none, alg confusion, tampering, bad encodings). RSA keys are made at
 * test time with OpenSSL. */
#include <openssl/core_names.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwt.h"
#include "test.h"

#define SECRET "0123456789abcdef0123456789abcdef-test" /* >= 32 bytes */
#define NOW ((int64_t)1763772345)

static EVP_PKEY *rsa_key, *rsa_other;
static char pub_pem[4096], pub_pem_pkcs1[4096];

/* ------------------------------------------------------------- helpers */

static void b64url(char *out, const void *data, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *p = data;
    size_t k = 0, i;
    for (i = 0; i + 2 < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        out[k++] = tbl[v >> 18 & 63];
        out[k++] = tbl[v >> 12 & 63];
        out[k++] = tbl[v >> 6 & 63];
        out[k++] = tbl[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)p[i] << 16;
        out[k++] = tbl[v >> 18 & 63];
        out[k++] = tbl[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        out[k++] = tbl[v >> 18 & 63];
        out[k++] = tbl[v >> 12 & 63];
        out[k++] = tbl[v >> 6 & 63];
    }
    out[k] = '\0';
}

enum signer { SIGN_NONE, SIGN_HS, SIGN_RS };

/* header.payload.signature; key: the HMAC secret (SIGN_HS) or an EVP_PKEY (SIGN_RS). */
static char *make(const char *hdr, const char *payload, enum signer how, const void *key,
                  size_t keylen)
{
    char *t = malloc(16384);
    unsigned char sig[1024] = {0};
    size_t siglen = 0, n;

    b64url(t, hdr, strlen(hdr));
    n = strlen(t);
    t[n++] = '.';
    b64url(t + n, payload, strlen(payload));
    n = strlen(t);
    if (how == SIGN_HS) {
        unsigned int l = 0;
        HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)t, n, sig, &l);
        siglen = l;
    } else if (how == SIGN_RS) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        siglen = sizeof sig;
        if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, (EVP_PKEY *)key) != 1 ||
            EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)t, n) != 1)
            abort();
        EVP_MD_CTX_free(ctx);
    }
    t[n++] = '.';
    b64url(t + n, sig, siglen);
    return t;
}

static char *hs(const char *payload)
{
    return make("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, SIGN_HS, SECRET, strlen(SECRET));
}

static char *rs(const char *payload)
{
    return make("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", payload, SIGN_RS, rsa_key, 0);
}

static int verify(const struct gw_jwt_verifier *v, const char *tok)
{
    json_t *claims = NULL;
    const char *why = NULL;
    int rc = gw_jwt_verify(v, tok, strlen(tok), NOW, &claims, &why);
    CHECK(why != NULL);
    CHECK((rc == GW_JWT_OK) == (claims != NULL));
    json_decref(claims);
    return rc;
}

static void pem_of(EVP_PKEY *k, const char *structure, char *out, size_t cap)
{
    OSSL_ENCODER_CTX *ctx =
        OSSL_ENCODER_CTX_new_for_pkey(k, EVP_PKEY_PUBLIC_KEY, "PEM", structure, NULL);
    unsigned char *data = NULL;
    size_t len = 0;
    if (ctx == NULL || OSSL_ENCODER_to_data(ctx, &data, &len) != 1 || len >= cap) abort();
    memcpy(out, data, len);
    out[len] = '\0';
    OPENSSL_free(data);
    OSSL_ENCODER_CTX_free(ctx);
}

static struct gw_jwt_verifier *hs_verifier(void)
{
    char err[200];
    struct gw_jwt_verifier *v = gw_jwt_verifier_new();
    CHECK_EQ_INT(gw_jwt_verifier_set_hs256(v, SECRET, strlen(SECRET), err, sizeof err), 0);
    return v;
}

static struct gw_jwt_verifier *rs_verifier(const char *pem)
{
    char err[200];
    struct gw_jwt_verifier *v = gw_jwt_verifier_new();
    CHECK_EQ_INT(gw_jwt_verifier_set_rs256_pem(v, pem, strlen(pem), err, sizeof err), 0);
    return v;
}

/* --------------------------------------------------------------- tests */

static void test_valid(void)
{
    struct gw_jwt_verifier *v = hs_verifier(), *r = rs_verifier(pub_pem);
    struct gw_jwt_verifier *r1 = rs_verifier(pub_pem_pkcs1);
    const char *p = "{\"sub\":\"alice\",\"exp\":1763772400,\"nbf\":1763772300}";
    char *t1 = hs(p), *t2 = rs(p);
    json_t *claims = NULL;

    CHECK_EQ_INT(gw_jwt_verify(v, t1, strlen(t1), NOW, &claims, NULL), GW_JWT_OK);
    CHECK_EQ_STR(json_string_value(json_object_get(claims, "sub")), "alice");
    json_decref(claims);
    CHECK_EQ_INT(verify(r, t2), GW_JWT_OK);
    CHECK_EQ_INT(verify(r1, t2), GW_JWT_OK); /* PKCS#1 PEM works too */
    /* Each algorithm only with its own key. */
    CHECK_EQ_INT(verify(v, t2), GW_JWT_BAD_ALG);
    CHECK_EQ_INT(verify(r, t1), GW_JWT_BAD_ALG);
    /* Real-number times are fine. */
    free(t1);
    t1 = hs("{\"exp\":1763772400.5}");
    CHECK_EQ_INT(verify(v, t1), GW_JWT_OK);
    free(t1);
    free(t2);
    gw_jwt_verifier_free(v);
    gw_jwt_verifier_free(r);
    gw_jwt_verifier_free(r1);
}

static void test_times(void)
{
    struct gw_jwt_verifier *v = hs_verifier();
    char p[128], *t;

    snprintf(p, sizeof p, "{\"exp\":%lld}", (long long)NOW - 100);
    t = hs(p);
    CHECK_EQ_INT(verify(v, t), GW_JWT_EXPIRED);
    free(t);
    snprintf(p, sizeof p, "{\"exp\":%lld}", (long long)NOW - 10); /* within the leeway */
    t = hs(p);
    CHECK_EQ_INT(verify(v, t), GW_JWT_OK);
    gw_jwt_verifier_set_leeway(v, 0);
    CHECK_EQ_INT(verify(v, t), GW_JWT_EXPIRED);
    free(t);
    snprintf(p, sizeof p, "{\"exp\":%lld}", (long long)NOW); /* exp is exclusive */
    t = hs(p);
    CHECK_EQ_INT(verify(v, t), GW_JWT_EXPIRED);
    free(t);
    gw_jwt_verifier_set_leeway(v, 30);

    snprintf(p, sizeof p, "{\"exp\":%lld,\"nbf\":%lld}", (long long)NOW + 500,
             (long long)NOW + 100);
    t = hs(p);
    CHECK_EQ_INT(verify(v, t), GW_JWT_NOT_YET);
    free(t);
    snprintf(p, sizeof p, "{\"exp\":%lld,\"nbf\":%lld}", (long long)NOW + 500, (long long)NOW + 10);
    t = hs(p);
    CHECK_EQ_INT(verify(v, t), GW_JWT_OK);
    free(t);

    t = hs("{\"sub\":\"x\"}"); /* no exp */
    CHECK_EQ_INT(verify(v, t), GW_JWT_EXPIRED);
    gw_jwt_verifier_set_require_exp(v, false);
    CHECK_EQ_INT(verify(v, t), GW_JWT_OK);
    free(t);
    t = hs("{\"exp\":\"1763772400\"}"); /* wrong type */
    CHECK_EQ_INT(verify(v, t), GW_JWT_BAD_CLAIMS);
    free(t);
    gw_jwt_verifier_free(v);
}

static void test_wrong_signature(void)
{
    struct gw_jwt_verifier *v = hs_verifier(), *r = rs_verifier(pub_pem);
    const char *p = "{\"sub\":\"alice\",\"exp\":1763772400}";
    const char *other = "another-secret-another-secret-1234567";
    char *t = make("{\"alg\":\"HS256\"}", p, SIGN_HS, other, strlen(other));
    char *dot;

    CHECK_EQ_INT(verify(v, t), GW_JWT_BAD_SIGNATURE);
    free(t);
    t = make("{\"alg\":\"RS256\"}", p, SIGN_RS, rsa_other, 0);
    CHECK_EQ_INT(verify(r, t), GW_JWT_BAD_SIGNATURE);
    free(t);

    /* Tampered payload, signature kept. */
    t = hs(p);
    {
        char *t2 = hs("{\"sub\":\"admin\",\"exp\":1763772400}");
        char *s1 = strchr(t, '.'), *e1 = strrchr(t, '.');
        char *s2 = strchr(t2, '.'), *e2 = strrchr(t2, '.');
        char forged[4096];
        snprintf(forged, sizeof forged, "%.*s%.*s%s", (int)(s1 - t), t, (int)(e2 - s2), s2, e1);
        CHECK_EQ_INT(verify(v, forged), GW_JWT_BAD_SIGNATURE);
        free(t2);
    }
    /* Truncated and empty signatures. */
    dot = strrchr(t, '.');
    dot[5] = '\0';
    CHECK_EQ_INT(verify(v, t), GW_JWT_BAD_SIGNATURE);
    dot[1] = '\0';
    CHECK_EQ_INT(verify(v, t), GW_JWT_BAD_SIGNATURE);
    free(t);
    gw_jwt_verifier_free(v);
    gw_jwt_verifier_free(r);
}

static void test_alg_none(void)
{
    struct gw_jwt_verifier *v = hs_verifier(), *r = rs_verifier(pub_pem);
    const char *p = "{\"sub\":\"admin\",\"exp\":1763772400}";
    const char *hdrs[] = {"{\"alg\":\"none\"}",  "{\"alg\":\"None\"}",  "{\"alg\":\"NONE\"}",
                          "{\"alg\":\"\"}",      "{\"typ\":\"JWT\"}",   "{\"alg\":null}",
                          "{\"alg\":\"HS512\"}", "{\"alg\":\"RS384\"}", "{\"alg\":\"hs256\"}"};
    for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++) {
        char *t = make(hdrs[i], p, SIGN_NONE, NULL, 0);
        CHECK_EQ_INT(verify(v, t), GW_JWT_BAD_ALG);
        CHECK_EQ_INT(verify(r, t), GW_JWT_BAD_ALG);
        free(t);
        /* ... even carrying a valid HS256 MAC. */
        t = make(hdrs[i], p, SIGN_HS, SECRET, strlen(SECRET));
        CHECK_EQ_INT(verify(v, t), GW_JWT_BAD_ALG);
        free(t);
    }
    gw_jwt_verifier_free(v);
    gw_jwt_verifier_free(r);
}

static void test_alg_confusion(void)
{
    struct gw_jwt_verifier *r = rs_verifier(pub_pem), *both = rs_verifier(pub_pem);
    char err[200];
    const char *p = "{\"sub\":\"admin\",\"exp\":1763772400}";
    /* The attacker "signs" HS256 with the RSA public key as the HMAC secret. */
    char *t = make("{\"alg\":\"HS256\"}", p, SIGN_HS, pub_pem, strlen(pub_pem));

    CHECK_EQ_INT(verify(r, t), GW_JWT_BAD_ALG);
    CHECK_EQ_INT(gw_jwt_verifier_set_hs256(both, SECRET, strlen(SECRET), err, sizeof err), 0);
    CHECK_EQ_INT(verify(both, t), GW_JWT_BAD_SIGNATURE);
    free(t);
    /* And an RS256 signature checked as a MAC with the secret: no. */
    t = make("{\"alg\":\"RS256\"}", p, SIGN_HS, SECRET, strlen(SECRET));
    CHECK_EQ_INT(verify(both, t), GW_JWT_BAD_SIGNATURE);
    free(t);
    gw_jwt_verifier_free(r);
    gw_jwt_verifier_free(both);
}

static void test_malformed(void)
{
    struct gw_jwt_verifier *v = hs_verifier();
    char *good = hs("{\"exp\":1763772400}"), buf[9000];
    const char *bad[] = {
        "",
        ".",
        "..",
        "...",
        "abc",
        "a.b",
        "a.b.c.d",
        ".eyJ9.abc",
        "eyJhbGciOiJIUzI1NiJ9..sig",               /* empty payload */
        "bm90IGpzb24.eyJleHAiOjF9.c2ln",           /* header not JSON */
        "WzFd.eyJleHAiOjF9.c2ln",                  /* header is an array */
        "eyJhbGciOiJIUzI1NiJ9 .eyJleHAiOjF9.c2ln", /* white space */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ_INT(verify(v, bad[i]), GW_JWT_MALFORMED);

    /* Payload that is not an object, or has duplicate keys: signed, still refused. */
    char *t = hs("[1,2]");
    CHECK_EQ_INT(verify(v, t), GW_JWT_MALFORMED);
    free(t);
    t = hs("{\"exp\":1763772400,\"sub\":\"a\",\"sub\":\"admin\"}");
    CHECK_EQ_INT(verify(v, t), GW_JWT_MALFORMED);
    free(t);
    t = hs("{\"exp\":1763772400,\"sub\":\"a\\nb\"}"); /* sub becomes a header */
    CHECK_EQ_INT(verify(v, t), GW_JWT_BAD_CLAIMS);
    free(t);
    t = hs("{\"exp\":1763772400,\"sub\":42}");
    CHECK_EQ_INT(verify(v, t), GW_JWT_BAD_CLAIMS);
    free(t);
    t = make("{\"alg\":\"HS256\",\"crit\":[\"b64\"]}", "{\"exp\":1763772400}", SIGN_HS, SECRET,
             strlen(SECRET));
    CHECK_EQ_INT(verify(v, t), GW_JWT_MALFORMED);
    free(t);

    /* Too long. */
    memset(buf, 'A', sizeof buf - 1);
    buf[sizeof buf - 1] = '\0';
    buf[10] = '.';
    buf[20] = '.';
    CHECK_EQ_INT(verify(v, buf), GW_JWT_MALFORMED);
    /* Embedded NUL (length counts it). */
    CHECK_EQ_INT(gw_jwt_verify(v, good, strlen(good) + 1, NOW, NULL, NULL), GW_JWT_MALFORMED);
    CHECK_EQ_INT(gw_jwt_verify(v, good, strlen(good), NOW, NULL, NULL), GW_JWT_OK);
    free(good);
    gw_jwt_verifier_free(v);
}

static void test_bad_base64url(void)
{
    struct gw_jwt_verifier *v = hs_verifier();
    unsigned char out[64];
    size_t n;
    char *t, *dot;

    CHECK_EQ_INT(gw_jwt_b64url_decode("", 0, out, &n), 0);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(gw_jwt_b64url_decode("QQ", 2, out, &n), 0);
    CHECK_EQ_MEM(out, n, "A", 1);
    CHECK_EQ_INT(gw_jwt_b64url_decode("-_8", 3, out, &n), 0);
    CHECK_EQ_MEM(out, n, "\xfb\xff", 2);
    CHECK_EQ_INT(gw_jwt_b64url_decode("QQ==", 4, out, &n), -1); /* padding */
    CHECK_EQ_INT(gw_jwt_b64url_decode("+/8", 3, out, &n), -1);  /* standard alphabet */
    CHECK_EQ_INT(gw_jwt_b64url_decode("Q", 1, out, &n), -1);    /* impossible length */
    CHECK_EQ_INT(gw_jwt_b64url_decode("QR", 2, out, &n), -1);   /* non-zero spare bits */
    CHECK_EQ_INT(gw_jwt_b64url_decode("Q Q", 3, out, &n), -1);
    CHECK_EQ_INT(gw_jwt_b64url_decode("Q*", 2, out, &n), -1);

    /* The same in a token: a '=' or '+' in any segment is malformed. */
    t = hs("{\"exp\":1763772400}");
    dot = strrchr(t, '.');
    {
        char x[4096];
        snprintf(x, sizeof x, "%s=", t);
        CHECK_EQ_INT(verify(v, x), GW_JWT_MALFORMED);
        snprintf(x, sizeof x, "%.*s+%s", (int)(dot - t - 1), t, dot);
        CHECK(verify(v, x) != GW_JWT_OK);
    }
    free(t);
    gw_jwt_verifier_free(v);
}

static void test_iss_aud(void)
{
    struct gw_jwt_verifier *v = hs_verifier();
    char *t;

    gw_jwt_verifier_set_issuer(v, "https://idp.example");
    gw_jwt_verifier_set_audience(v, "portico");
    t = hs("{\"exp\":1763772400,\"iss\":\"https://idp.example\",\"aud\":\"portico\"}");
    CHECK_EQ_INT(verify(v, t), GW_JWT_OK);
    free(t);
    t = hs("{\"exp\":1763772400,\"iss\":\"https://idp.example\",\"aud\":[\"x\",\"portico\"]}");
    CHECK_EQ_INT(verify(v, t), GW_JWT_OK);
    free(t);
    t = hs("{\"exp\":1763772400,\"iss\":\"https://evil.example\",\"aud\":\"portico\"}");
    CHECK_EQ_INT(verify(v, t), GW_JWT_BAD_CLAIMS);
    free(t);
    t = hs("{\"exp\":1763772400,\"iss\":\"https://idp.example\",\"aud\":\"other\"}");
    CHECK_EQ_INT(verify(v, t), GW_JWT_BAD_CLAIMS);
    free(t);
    t = hs("{\"exp\":1763772400,\"iss\":\"https://idp.example\"}");
    CHECK_EQ_INT(verify(v, t), GW_JWT_BAD_CLAIMS);
    free(t);
    gw_jwt_verifier_free(v);
}

static void test_claims_satisfy(void)
{
    json_t *c = json_loads("{\"role\":\"admin\",\"scope\":\"read write\",\"groups\":[\"a\",\"b\"],"
                           "\"level\":3,\"scp\":[\"x\"]}",
                           0, NULL);
    struct {
        const char *req;
        bool ok;
    } cases[] = {
        {"{\"role\":\"admin\"}", true},
        {"{\"role\":\"user\"}", false},
        {"{\"role\":\"adm\"}", false},
        {"{\"scope\":\"write\"}", true},
        {"{\"scope\":\"read write\"}", true},
        {"{\"scope\":\"wri\"}", false},
        {"{\"scope\":\"admin\"}", false},
        {"{\"groups\":\"b\"}", true},
        {"{\"groups\":[\"a\",\"b\"]}", true},
        {"{\"groups\":[\"a\",\"c\"]}", false},
        {"{\"level\":3}", true},
        {"{\"level\":\"3\"}", false},
        {"{\"scp\":\"x\"}", true},
        {"{\"missing\":\"x\"}", false},
        {"{\"role\":\"admin\",\"scope\":\"read\"}", true},
        {"{\"role\":\"admin\",\"scope\":\"delete\"}", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *r = json_loads(cases[i].req, 0, NULL);
        CHECK(r != NULL);
        if (gw_jwt_claims_satisfy(c, r) != cases[i].ok) {
            fprintf(stderr, "claims case %zu (%s) wrong\n", i, cases[i].req);
            CHECK(false);
        }
        json_decref(r);
    }
    CHECK(gw_jwt_claims_satisfy(c, NULL));
    json_decref(c);
}

static void test_keys(void)
{
    char err[200], pem[4096];
    struct gw_jwt_verifier *v = gw_jwt_verifier_new();
    EVP_PKEY *small = EVP_RSA_gen(1024), *ec = EVP_EC_gen("P-256");

    CHECK(!gw_jwt_verifier_is_ready(v));
    CHECK_EQ_INT(gw_jwt_verifier_set_hs256(v, "short", 5, err, sizeof err), -1);
    CHECK_EQ_INT(gw_jwt_verifier_set_rs256_pem(v, "junk", 4, err, sizeof err), -1);
    pem_of(small, "SubjectPublicKeyInfo", pem, sizeof pem);
    CHECK_EQ_INT(gw_jwt_verifier_set_rs256_pem(v, pem, strlen(pem), err, sizeof err), -1);
    pem_of(ec, "SubjectPublicKeyInfo", pem, sizeof pem);
    CHECK_EQ_INT(gw_jwt_verifier_set_rs256_pem(v, pem, strlen(pem), err, sizeof err), -1);
    CHECK(!gw_jwt_verifier_is_ready(v));
    CHECK_EQ_INT(gw_jwt_verifier_set_rs256_pem(v, pub_pem, strlen(pub_pem), err, sizeof err), 0);
    CHECK(gw_jwt_verifier_is_ready(v));
    EVP_PKEY_free(small);
    EVP_PKEY_free(ec);
    gw_jwt_verifier_free(v);
}

int main(void)
{
    rsa_key = EVP_RSA_gen(2048);
    rsa_other = EVP_RSA_gen(2048);
    if (rsa_key == NULL || rsa_other == NULL) {
        fprintf(stderr, "cannot generate RSA keys\n");
        return 1;
    }
    pem_of(rsa_key, "SubjectPublicKeyInfo", pub_pem, sizeof pub_pem);
    pem_of(rsa_key, "type-specific", pub_pem_pkcs1, sizeof pub_pem_pkcs1);

    test_valid();
    test_times();
    test_wrong_signature();
    test_alg_none();
    test_alg_confusion();
    test_malformed();
    test_bad_base64url();
    test_iss_aud();
    test_claims_satisfy();
    test_keys();

    EVP_PKEY_free(rsa_key);
    EVP_PKEY_free(rsa_other);
    return test_finish("test_jwt");
}
