/* base64.c -- RFC 4648 base64, standard alphabet, padded, strict decoding. */
#include "base64.h"

#include <stdbool.h>
#include <stdint.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of a base64 character, or -1 for anything outside the alphabet
 * (including '='; padding is handled by position). */
static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* 4 output characters per started group of 3 bytes. Saturates instead of
 * overflowing (no caller can allocate that much anyway). */
size_t pc_base64_encoded_len(size_t n)
{
    if (n / 3 >= SIZE_MAX / 4) return SIZE_MAX;
    return (n / 3 + (n % 3 != 0)) * 4;
}

/* Encodes in[0..n) into out; no NUL is written. */
void pc_base64_encode(char *out, const void *in, size_t n)
{
    const unsigned char *p = in;
    size_t i = 0;

    for (; n - i >= 3; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *out++ = b64_alphabet[v >> 18];
        *out++ = b64_alphabet[(v >> 12) & 63];
        *out++ = b64_alphabet[(v >> 6) & 63];
        *out++ = b64_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        *out++ = b64_alphabet[v >> 18];
        *out++ = b64_alphabet[(v >> 12) & 63];
        *out++ = '=';
        *out++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        *out++ = b64_alphabet[v >> 18];
        *out++ = b64_alphabet[(v >> 12) & 63];
        *out++ = b64_alphabet[(v >> 6) & 63];
        *out++ = '=';
    }
}

/* At most 3 bytes per 4 characters. */
size_t pc_base64_decoded_max(size_t n) { return n / 4 * 3; }

/* Strict decode (see base64.h). On failure out may hold a partial result;
 * *outlen is only written on success. */
int pc_base64_decode(void *out, size_t *outlen, const char *in, size_t n)
{
    const unsigned char *s = (const unsigned char *)in;
    unsigned char *o = out;

    if (n % 4 != 0) return -1;
    for (size_t i = 0; i < n; i += 4) {
        bool last = (i + 4 == n);
        int a = b64_val(s[i]), b = b64_val(s[i + 1]);
        if (a < 0 || b < 0) return -1;

        if (last && s[i + 2] == '=' && s[i + 3] == '=') {
            if (b & 0x0f) return -1; /* non-zero pad bits */
            *o++ = (unsigned char)(a << 2 | b >> 4);
            break;
        }
        int c = b64_val(s[i + 2]);
        if (c < 0) return -1;
        if (last && s[i + 3] == '=') {
            if (c & 0x03) return -1;
            *o++ = (unsigned char)(a << 2 | b >> 4);
            *o++ = (unsigned char)((b & 0x0f) << 4 | c >> 2);
            break;
        }
        int d = b64_val(s[i + 3]);
        if (d < 0) return -1;
        *o++ = (unsigned char)(a << 2 | b >> 4);
        *o++ = (unsigned char)((b & 0x0f) << 4 | c >> 2);
        *o++ = (unsigned char)((c & 0x03) << 6 | d);
    }
    *outlen = (size_t)(o - (unsigned char *)out);
    return 0;
}
