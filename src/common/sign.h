/* sign.h -- signed registration (SPEC §3): HMAC-SHA256, hex, the envelope.
 *
 * A signed message on P:register is
 *   {"v":1,"signed":"<register/deregister JSON text>","sig":"<hex HMAC>"}
 * where sig is HMAC-SHA256 keyed with the shared secret over the exact bytes
 * of the decoded "signed" string. Shared by the gateway (verifies) and the
 * SDK (signs); which key a gateway expects from which service is the
 * gateway's registration policy (src/gateway/regpolicy.h). Nothing here
 * prints. */
#ifndef PC_SIGN_H
#define PC_SIGN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "wire.h"

#define PC_SIGN_MAC_LEN 32      /* bytes of an HMAC-SHA256 */
#define PC_SIGN_HEX_LEN 64      /* hex digits of one */
#define PC_SIGN_WINDOW_MS 30000 /* |inner ts_ms - now| allowed, ms */
#define PC_SIGN_SECRET_MAX 4096 /* bytes of a secret (after trimming) */
/* Bytes of a whole envelope: the inner message escaped inside a JSON string
 * (quotes and backslashes double) plus the frame. */
#define PC_SIGN_MAX_ENVELOPE (2 * PC_WIRE_MAX_REGISTER + 256)

/* Writes the lower-case hex HMAC-SHA256 of msg[0..len) keyed with
 * key[0..keylen) to out (PC_SIGN_HEX_LEN digits + NUL). Returns 0, or -1
 * when libcrypto fails (out is then ""). All pointers borrowed. */
int pc_sign_hmac_sha256_hex(const void *key, size_t keylen, const void *msg, size_t len,
                            char out[PC_SIGN_HEX_LEN + 1]);

/* True when sig[0..siglen) is the hex HMAC-SHA256 of msg[0..len) under key
 * (upper- or lower-case digits). The MACs are compared with CRYPTO_memcmp,
 * in time independent of where they differ. A sig of the wrong length or
 * with a non-hex digit is false. */
bool pc_sign_verify(const void *key, size_t keylen, const void *msg, size_t len, const char *sig,
                    size_t siglen);

/* Appends the signed envelope of inner[0..len) to out (not reset first).
 * inner must be valid UTF-8 without NUL bytes (it travels inside a JSON
 * string and must come back byte for byte). Returns 0, or -1 (out
 * unchanged) when inner is not acceptable or libcrypto fails. */
int pc_sign_wrap(pc_buf *out, const char *inner, size_t len, const void *key, size_t keylen);

/* An envelope read from the wire. inner and sig point into root, valid
 * until pc_sign_unwrap_deinit. */
struct pc_signed {
    json_t *root;
    const char *inner; /* the exact bytes that were signed */
    size_t inner_len;
    const char *sig; /* as sent, not checked yet */
    size_t sig_len;
};

/* Reads an envelope. Returns 0, or -1 with err->reason one of
 *   "too_large", "too_deep", "not_json" (not even a JSON object),
 *   "unsigned"      (a JSON object without "signed" or "sig": e.g. a plain
 *                    register message sent to a gateway that wants signatures),
 *   "bad_envelope"  ("v" not 1, or "signed"/"sig" not strings).
 * Call pc_sign_unwrap_deinit in every case. */
int pc_sign_unwrap(struct pc_signed *out, const char *msg, size_t len, struct pc_wire_err *err);
void pc_sign_unwrap_deinit(struct pc_signed *s);

/* Reads a secret file: its bytes with leading and trailing white space
 * removed. Returns 0 with the secret in out[0..*outlen) (NUL-terminated), or
 * -1 with a one-line reason in err (cannot open, not a regular file, larger
 * than PC_SIGN_SECRET_MAX, empty). out needs PC_SIGN_SECRET_MAX + 1 bytes.
 * The file is read by the shared bounded loader (jsonfile.h), which aborts
 * only if its 64 KiB buffer cannot be allocated. */
int pc_sign_secret_load(const char *path, char *out, size_t *outlen, char *err, size_t errlen);

/* Trims leading and trailing white space (" \t\r\n\v\f") of s[0..*len) in
 * place (moves the bytes down) and NUL-terminates it. */
void pc_sign_secret_trim(char *s, size_t *len);

#endif
