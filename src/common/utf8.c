/* utf8.c -- strict UTF-8 validation (RFC 3629, Table 3-7 of Unicode).
 *
 * Each lead byte fixes the sequence length and the allowed range of the
 * first continuation byte; that one range check is what rules out overlong
 * forms (E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and code points above
 * U+10FFFF (F4 90..BF, F5..FF). */
#include "utf8.h"

#include <stdint.h>

/* True if p[0..n) is well-formed UTF-8. NUL is an ordinary character. */
bool pc_utf8_is_valid(const void *p, size_t n)
{
    const unsigned char *s = p;
    size_t i = 0;

    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }

        size_t len;
        unsigned char lo = 0x80, hi = 0xbf; /* range of the 2nd byte */
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            if (c == 0xe0)
                lo = 0xa0; /* no overlong 3-byte forms */
            else if (c == 0xed)
                hi = 0x9f; /* no UTF-16 surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            if (c == 0xf0)
                lo = 0x90; /* no overlong 4-byte forms */
            else if (c == 0xf4)
                hi = 0x8f; /* nothing above U+10FFFF */
        } else {
            return false; /* 80..C1 (stray or overlong 2-byte), F5..FF */
        }

        if (n - i < len) return false; /* truncated at the end */
        if (s[i + 1] < lo || s[i + 1] > hi) return false;
        for (size_t k = 2; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
        }
        i += len;
    }
    return true;
}
