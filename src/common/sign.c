/* sign.c -- signed registration: HMAC-SHA256, hex, the envelope, secret files
 * (see sign.h). */
#include "sign.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonfile.h"
#include "jw.h"
#include "names.h"
#include "utf8.h"

#define PC_SIGN_FILE_MAX (64 * 1024) /* bytes of a secret file, white space included */

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

bool pc_sign_verify(const void *key, size_t keylen, const void *msg, size_t len, const char *sig,
                    size_t siglen)
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
        snprintf(err->message, sizeof err->message, "signed message of %zu bytes exceeds %d", len,
                 PC_SIGN_MAX_ENVELOPE);
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
    size_t len, n;
    int rc = -1;
    char *buf = pc_file_read("", path, PC_SIGN_FILE_MAX, &len, err, errlen);

    *outlen = 0;
    out[0] = '\0';
    if (buf == NULL) return -1;
    n = len;
    pc_sign_secret_trim(buf, &n);
    if (n == 0)
        pc_json_file_err("", path, err, errlen, "the secret is empty");
    else if (n > PC_SIGN_SECRET_MAX)
        pc_json_file_err("", path, err, errlen, "secret longer than %d bytes", PC_SIGN_SECRET_MAX);
    else {
        memcpy(out, buf, n + 1);
        *outlen = n;
        rc = 0;
    }
    pc_file_free(buf, len); /* trimming moved the bytes: all that was read is wiped */
    return rc;
}
