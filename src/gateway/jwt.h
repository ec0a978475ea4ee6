/* jwt.h -- verifying JSON Web Tokens (RFC 7519) signed with HS256 or RS256.
 *
 * A verifier holds at most one key per algorithm. A token is accepted only
 * when its header names an algorithm the verifier has a key for, and it is
 * checked with that key alone: the algorithm chooses the key, the key never
 * chooses the algorithm. So "none", HS512 & co., and HS256 tokens "signed"
 * with the RSA public key (alg confusion) are all rejected.
 *
 * Claims checked: exp (required unless told otherwise), nbf, iss and aud
 * when configured, each time comparison with a leeway; sub must be a short
 * printable string when present. */
#ifndef GW_JWT_H
#define GW_JWT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_JWT_MAX_BYTES 8192      /* bytes of a token */
#define GW_JWT_SUB_MAX 255         /* bytes of a "sub" claim */
#define GW_JWT_HS256_MIN_SECRET 32 /* bytes of an HS256 secret (RFC 7518 §3.2) */
#define GW_JWT_RSA_MIN_BITS 2048   /* bits of an RS256 public key */

struct gw_jwt_verifier;

/* A verifier that accepts nothing until a key is set. Caller frees. */
struct gw_jwt_verifier *gw_jwt_verifier_new(void);
void gw_jwt_verifier_free(struct gw_jwt_verifier *v);

/* Accept HS256 with this secret (copied). Returns 0, or -1 if it is shorter
 * than GW_JWT_HS256_MIN_SECRET bytes (err gets the reason). */
int gw_jwt_verifier_set_hs256(struct gw_jwt_verifier *v, const void *secret, size_t len, char *err,
                              size_t errlen);
/* Accept RS256 with this PEM public key (SubjectPublicKeyInfo or PKCS#1;
 * copied). Returns 0, or -1 when it is not an RSA public key of at least
 * GW_JWT_RSA_MIN_BITS bits (err gets the reason). */
int gw_jwt_verifier_set_rs256_pem(struct gw_jwt_verifier *v, const char *pem, size_t len, char *err,
                                  size_t errlen);
/* Optional checks. iss / aud are copied; NULL turns the check off. */
void gw_jwt_verifier_set_issuer(struct gw_jwt_verifier *v, const char *iss);
void gw_jwt_verifier_set_audience(struct gw_jwt_verifier *v, const char *aud);
void gw_jwt_verifier_set_leeway(struct gw_jwt_verifier *v, int seconds);
void gw_jwt_verifier_set_require_exp(struct gw_jwt_verifier *v, bool require);
/* True if some algorithm has a key. */
bool gw_jwt_verifier_is_ready(const struct gw_jwt_verifier *v);

enum gw_jwt_result {
    GW_JWT_OK = 0,
    GW_JWT_MALFORMED = -1, /* not three base64url segments of JSON objects */
    GW_JWT_BAD_ALG = -2,   /* alg missing, "none", or without a configured key */
    GW_JWT_BAD_SIGNATURE = -3,
    GW_JWT_EXPIRED = -4,    /* exp passed (or missing while required) */
    GW_JWT_NOT_YET = -5,    /* nbf in the future */
    GW_JWT_BAD_CLAIMS = -6, /* iss, aud, sub, or a time claim of the wrong type */
};

/* Verifies tok[0..len) at unix time now_s. On GW_JWT_OK *claims (if not
 * NULL) gets the payload object (new reference: caller decrefs); otherwise
 * it is set to NULL. *why (if not NULL) gets a short static reason. */
int gw_jwt_verify(const struct gw_jwt_verifier *v, const char *tok, size_t len, int64_t now_s,
                  json_t **claims, const char **why);

/* True if claims satisfy every entry of required (an object; borrowed):
 * - the claim is an array: the required value (or each element of a required
 *   array) is an element of it;
 * - the claim is "scope" or "scp" and a string: each space-separated word of
 *   the required string is a word of it (RFC 8693 §4.2);
 * - otherwise the claim equals the required value (json_equal). */
bool gw_jwt_claims_satisfy(const json_t *claims, const json_t *required);

/* Strict base64url without padding (RFC 7515 §2): alphabet A-Z a-z 0-9 - _,
 * no '=', no white space, zero trailing bits. out needs n * 3 / 4 + 3 bytes.
 * Returns 0 and sets *outlen, or -1. */
int gw_jwt_b64url_decode(const char *in, size_t n, unsigned char *out, size_t *outlen);

#endif
