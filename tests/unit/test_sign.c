/* test_sign.c -- HMAC-SHA256 (RFC 4231), hex, the signed envelope and secret
 * files (sign.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sign.h"
#include "test.h"

static char tmpfiles[64][64];
static int ntmp;

/* Writes n bytes to a new temporary file; returns its path. */
static const char *write_tmp(const char *text, size_t n)
{
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    if (ntmp == (int)(sizeof tmpfiles / sizeof tmpfiles[0])) abort();
    char *path = tmpfiles[ntmp++];
    snprintf(path, sizeof tmpfiles[0], "%s/portico-sign-XXXXXX", dir);
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return "/nonexistent";
    CHECK_EQ_INT(write(fd, text, n), (long long)n);
    close(fd);
    return path;
}

static const char *write_str(const char *text) { return write_tmp(text, strlen(text)); }

/* ------------------------------------------------------------ RFC 4231 */

struct vector {
    unsigned char key[131];
    size_t keylen;
    const char *data;
    size_t datalen;
    const char *mac; /* hex; test case 5 compares a 128-bit prefix */
};

static void fill(unsigned char *p, int c, size_t n) { memset(p, c, n); }

static void test_rfc4231(void)
{
    static struct vector v[7];
    unsigned char dd[50], cd[50];
    char hex[PC_SIGN_HEX_LEN + 1];

    fill(v[0].key, 0x0b, 20), v[0].keylen = 20;
    v[0].data = "Hi There", v[0].datalen = 8;
    v[0].mac = "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7";
    memcpy(v[1].key, "Jefe", 4), v[1].keylen = 4;
    v[1].data = "what do ya want for nothing?", v[1].datalen = 28;
    v[1].mac = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
    fill(v[2].key, 0xaa, 20), v[2].keylen = 20;
    fill(dd, 0xdd, 50);
    v[2].data = (const char *)dd, v[2].datalen = 50;
    v[2].mac = "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe";
    for (int i = 0; i < 25; i++) v[3].key[i] = (unsigned char)(i + 1);
    v[3].keylen = 25;
    fill(cd, 0xcd, 50);
    v[3].data = (const char *)cd, v[3].datalen = 50;
    v[3].mac = "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b";
    fill(v[4].key, 0x0c, 20), v[4].keylen = 20;
    v[4].data = "Test With Truncation", v[4].datalen = 20;
    v[4].mac = "a3b6167473100ee06e0c796c2955552b";
    fill(v[5].key, 0xaa, 131), v[5].keylen = 131;
    v[5].data = "Test Using Larger Than Block-Size Key - Hash Key First";
    v[5].datalen = strlen(v[5].data);
    v[5].mac = "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54";
    fill(v[6].key, 0xaa, 131), v[6].keylen = 131;
    v[6].data = "This is a test using a larger than block-size key and a larger than block-size "
                "data. The key needs to be hashed before being used by the HMAC algorithm.";
    v[6].datalen = strlen(v[6].data);
    v[6].mac = "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2";

    for (int i = 0; i < 7; i++) {
        CHECK_EQ_INT(pc_sign_hmac_sha256_hex(v[i].key, v[i].keylen, v[i].data, v[i].datalen, hex),
                     0);
        CHECK_EQ_INT(strlen(hex), PC_SIGN_HEX_LEN);
        CHECK_EQ_INT(strncmp(hex, v[i].mac, strlen(v[i].mac)), 0);
        if (i != 4) {
            CHECK(pc_sign_verify(v[i].key, v[i].keylen, v[i].data, v[i].datalen, v[i].mac,
                                 strlen(v[i].mac)));
        }
    }
}

/* ---------------------------------------------------------------- verify */

static void test_verify(void)
{
    const char *key = "k3y", *msg = "{\"v\":1}";
    char hex[PC_SIGN_HEX_LEN + 1], up[PC_SIGN_HEX_LEN + 1], bad[PC_SIGN_HEX_LEN + 1];

    CHECK_EQ_INT(pc_sign_hmac_sha256_hex(key, 3, msg, strlen(msg), hex), 0);
    CHECK(strspn(hex, "0123456789abcdef") == PC_SIGN_HEX_LEN); /* lower case out */
    CHECK(pc_sign_verify(key, 3, msg, strlen(msg), hex, PC_SIGN_HEX_LEN));

    /* Upper and mixed case in. */
    for (int i = 0; i <= PC_SIGN_HEX_LEN; i++)
        up[i] = (char)((hex[i] >= 'a' && hex[i] <= 'f') ? hex[i] - 'a' + 'A' : hex[i]);
    CHECK(pc_sign_verify(key, 3, msg, strlen(msg), up, PC_SIGN_HEX_LEN));
    up[0] = hex[0];
    CHECK(pc_sign_verify(key, 3, msg, strlen(msg), up, PC_SIGN_HEX_LEN));

    /* A difference in the first, a middle and the last digit (the compare
     * runs over the whole MAC whatever the position). */
    int pos[3] = {0, 31, PC_SIGN_HEX_LEN - 1};
    for (int k = 0; k < 3; k++) {
        memcpy(bad, hex, sizeof bad);
        bad[pos[k]] = bad[pos[k]] == '0' ? '1' : '0';
        CHECK(!pc_sign_verify(key, 3, msg, strlen(msg), bad, PC_SIGN_HEX_LEN));
    }
    /* Wrong length, non-hex digits, NULL. */
    CHECK(!pc_sign_verify(key, 3, msg, strlen(msg), hex, PC_SIGN_HEX_LEN - 1));
    CHECK(!pc_sign_verify(key, 3, msg, strlen(msg), hex, PC_SIGN_HEX_LEN - 2));
    CHECK(!pc_sign_verify(key, 3, msg, strlen(msg), "", 0));
    CHECK(!pc_sign_verify(key, 3, msg, strlen(msg), NULL, 0));
    memcpy(bad, hex, sizeof bad);
    bad[10] = 'g';
    CHECK(!pc_sign_verify(key, 3, msg, strlen(msg), bad, PC_SIGN_HEX_LEN));
    bad[10] = ' ';
    CHECK(!pc_sign_verify(key, 3, msg, strlen(msg), bad, PC_SIGN_HEX_LEN));
    /* Other key, other message, one byte more. */
    CHECK(!pc_sign_verify("k3Y", 3, msg, strlen(msg), hex, PC_SIGN_HEX_LEN));
    CHECK(!pc_sign_verify(key, 3, "{\"v\":2}", 7, hex, PC_SIGN_HEX_LEN));
    CHECK(!pc_sign_verify(key, 3, "{\"v\":1} ", 8, hex, PC_SIGN_HEX_LEN));
    /* Empty message and empty key still work (libcrypto gets non-NULL). */
    CHECK_EQ_INT(pc_sign_hmac_sha256_hex("", 0, "", 0, hex), 0);
    CHECK_EQ_STR(hex, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

/* -------------------------------------------------------------- envelope */

static void test_wrap_unwrap(void)
{
    const char *inner =
        "{\"v\":1,\"type\":\"deregister\",\"service\":\"users\","
        "\"instance\":\"users-1\",\"ts_ms\":1,\"x\":\"caf\xc3\xa9 \\\"q\\\" \\\\ \\n\"}";
    pc_buf b;
    struct pc_signed sm;
    struct pc_wire_err err;
    char hex[PC_SIGN_HEX_LEN + 1];

    pc_buf_init(&b);
    CHECK_EQ_INT(pc_sign_wrap(&b, inner, strlen(inner), "sec", 3), 0);
    CHECK(!b.oom);
    CHECK(strncmp(b.data, "{\"v\":1,\"signed\":\"", 17) == 0);
    CHECK_EQ_INT(pc_sign_unwrap(&sm, b.data, b.len, &err), 0);
    CHECK_EQ_MEM(sm.inner, sm.inner_len, inner, strlen(inner)); /* byte for byte */
    pc_sign_hmac_sha256_hex("sec", 3, inner, strlen(inner), hex);
    CHECK_EQ_MEM(sm.sig, sm.sig_len, hex, (size_t)PC_SIGN_HEX_LEN);
    CHECK(pc_sign_verify("sec", 3, sm.inner, sm.inner_len, sm.sig, sm.sig_len));
    pc_sign_unwrap_deinit(&sm);

    /* Refused inputs leave out unchanged. */
    size_t before = b.len;
    CHECK_EQ_INT(pc_sign_wrap(&b, "{\"a\":\"\xff\"}", 9, "sec", 3), -1);
    CHECK_EQ_INT(pc_sign_wrap(&b, "{\"a\":\0}", 7, "sec", 3), -1);
    CHECK_EQ_INT(b.len, before);
    pc_buf_deinit(&b);

    /* Unwrap reasons. */
    static const struct {
        const char *msg;
        const char *reason;
    } bad[] = {
        {"", "not_json"},
        {"{", "not_json"},
        {"[1]", "not_json"},
        {"{\"v\":1,\"type\":\"register\"}", "unsigned"},
        {"{\"v\":1,\"signed\":\"{}\"}", "unsigned"},
        {"{\"v\":1,\"sig\":\"00\"}", "unsigned"},
        {"{\"v\":2,\"signed\":\"{}\",\"sig\":\"00\"}", "bad_envelope"},
        {"{\"signed\":\"{}\",\"sig\":\"00\"}", "bad_envelope"},
        {"{\"v\":1,\"signed\":{},\"sig\":\"00\"}", "bad_envelope"},
        {"{\"v\":1,\"signed\":\"{}\",\"sig\":7}", "bad_envelope"},
        {"{\"v\":1,\"signed\":\"{}\",\"signed\":\"{}\",\"sig\":\"0\"}", "not_json"},
        {"{\"v\":1,\"signed\":\"a\\u0000b\",\"sig\":\"00\"}", "not_json"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = pc_sign_unwrap(&sm, bad[i].msg, strlen(bad[i].msg), &err);
        CHECK_EQ_INT(rc, -1);
        if (rc == -1) CHECK_EQ_STR(err.reason, bad[i].reason);
        pc_sign_unwrap_deinit(&sm);
    }
    /* Depth and size limits apply before parsing. */
    char deep[200];
    memset(deep, '[', sizeof deep);
    CHECK_EQ_INT(pc_sign_unwrap(&sm, deep, sizeof deep, &err), -1);
    CHECK_EQ_STR(err.reason, "too_deep");
    pc_sign_unwrap_deinit(&sm);
    size_t big = PC_SIGN_MAX_ENVELOPE + 1;
    char *huge = malloc(big);
    CHECK(huge != NULL);
    if (huge) {
        memset(huge, ' ', big);
        CHECK_EQ_INT(pc_sign_unwrap(&sm, huge, big, &err), -1);
        CHECK_EQ_STR(err.reason, "too_large");
        pc_sign_unwrap_deinit(&sm);
        free(huge);
    }
}

/* --------------------------------------------------------------- secrets */

static void test_secret_files(void)
{
    char out[PC_SIGN_SECRET_MAX + 1], err[512];
    size_t n;

    CHECK_EQ_INT(pc_sign_secret_load(write_str("  s3cr3t \n\n"), out, &n, err, sizeof err), 0);
    CHECK_EQ_STR(out, "s3cr3t");
    CHECK_EQ_INT(n, 6);
    CHECK_EQ_INT(pc_sign_secret_load(write_str("\tin side\r\n"), out, &n, err, sizeof err), 0);
    CHECK_EQ_STR(out, "in side");
    CHECK_EQ_INT(pc_sign_secret_load(write_str(" \n\t "), out, &n, err, sizeof err), -1);
    CHECK(strstr(err, "empty") != NULL);
    CHECK_EQ_INT(pc_sign_secret_load(write_str(""), out, &n, err, sizeof err), -1);
    CHECK_EQ_INT(pc_sign_secret_load("/nonexistent/secret", out, &n, err, sizeof err), -1);
    CHECK(strstr(err, "/nonexistent/secret") != NULL && strchr(err, '\n') == NULL);
    CHECK_EQ_INT(pc_sign_secret_load("/", out, &n, err, sizeof err), -1);
    char *big = malloc(PC_SIGN_SECRET_MAX + 2);
    if (big) {
        memset(big, 'x', PC_SIGN_SECRET_MAX + 1);
        big[PC_SIGN_SECRET_MAX + 1] = '\0';
        CHECK_EQ_INT(pc_sign_secret_load(write_str(big), out, &n, err, sizeof err), -1);
        big[PC_SIGN_SECRET_MAX] = '\n';
        CHECK_EQ_INT(pc_sign_secret_load(write_str(big), out, &n, err, sizeof err), 0);
        CHECK_EQ_INT(n, PC_SIGN_SECRET_MAX);
        free(big);
    }
}

int main(void)
{
    test_rfc4231();
    test_verify();
    test_wrap_unwrap();
    test_secret_files();
    for (int i = 0; i < ntmp; i++) unlink(tmpfiles[i]);
    return test_finish("test_sign");
}
