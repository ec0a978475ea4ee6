/* test_base64.c -- RFC 4648 vectors, round trips, strict rejection. */
#include <stdint.h>
#include <stdlib.h>

#include "base64.h"
#include "test.h"

/* Deterministic xorshift64 so a failure reproduces. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* RFC 4648 §10 test vectors, both directions. */
static void test_rfc_vectors(void)
{
    static const struct {
        const char *plain, *enc;
    } v[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        size_t pl = strlen(v[i].plain), el = strlen(v[i].enc);
        char enc[16], dec[16];
        size_t dl = 99;
        CHECK_EQ_INT(pc_base64_encoded_len(pl), el);
        pc_base64_encode(enc, v[i].plain, pl);
        CHECK_EQ_MEM(enc, el, v[i].enc, el);
        CHECK(pc_base64_decoded_max(el) >= pl);
        CHECK_EQ_INT(pc_base64_decode(dec, &dl, v[i].enc, el), 0);
        CHECK_EQ_MEM(dec, dl, v[i].plain, pl);
    }
    /* Every alphabet character, and high bytes. */
    const unsigned char hi[] = {0xfb, 0xff, 0xbf, 0x00, 0x10, 0x83};
    char enc[8];
    pc_base64_encode(enc, hi, sizeof hi);
    CHECK_EQ_MEM(enc, 8, "+/+/ABCD", 8);
}

/* Random bytes of every length 0..300 survive encode then decode. */
static void test_round_trip(void)
{
    unsigned char in[300], out[300];
    char enc[400];
    for (size_t n = 0; n <= 300; n++) {
        for (size_t i = 0; i < n; i++) in[i] = (unsigned char)rng();
        size_t el = pc_base64_encoded_len(n), dl = 0;
        CHECK_EQ_INT(el % 4, 0);
        CHECK(el <= sizeof enc);
        pc_base64_encode(enc, in, n);
        CHECK(pc_base64_decoded_max(el) <= sizeof out);
        CHECK_EQ_INT(pc_base64_decode(out, &dl, enc, el), 0);
        CHECK_EQ_MEM(out, dl, in, n);
    }
}

/* Non-canonical or malformed input is refused. */
static void test_invalid(void)
{
    static const char *bad[] = {
        "Zg",                               /* missing padding */
        "Zg=",                              /* short */
        "Zm9vY",                            /* length not a multiple of 4 */
        "Zh==",                             /* non-zero pad bits */
        "Zm9=",                             /* non-zero pad bits (2-byte group) */
        "Z===",                             /* too much padding */
        "====",      "=Zg=",    "Zg==Zg==", /* padding in the middle */
        "Zm9v Zg==",                        /* white space */
        "Zm9v\nZg=", "Zm-v",                /* base64url alphabet */
        "Zm_v",      "Zm9\x80",             /* high byte */
        "Zg=a",                             /* data after '=' */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char out[16];
        size_t dl = 12345;
        int rc = pc_base64_decode(out, &dl, bad[i], strlen(bad[i]));
        if (rc != -1) fprintf(stderr, "accepted bad base64 #%zu\n", i);
        CHECK_EQ_INT(rc, -1);
        CHECK_EQ_INT(dl, 12345); /* untouched on failure */
    }
    /* An embedded NUL is outside the alphabet. */
    unsigned char out[8];
    size_t dl;
    CHECK_EQ_INT(pc_base64_decode(out, &dl, "Zm\0v", 4), -1);
}

int main(void)
{
    test_rfc_vectors();
    test_round_trip();
    test_invalid();
    return test_finish("base64");
}
