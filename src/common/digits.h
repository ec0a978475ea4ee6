/* digits.h -- decimal numbers written and read by hand (snprintf costs
 * ten times more, and these run several times per request). */
#ifndef PC_DIGITS_H
#define PC_DIGITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Reads s[0..n) as 1 to 15 decimal digits (a Content-Length: no sign, no
 * space, never an overflow) into *v; false for anything else. */
static inline bool pc_get_u64(const char *s, size_t n, uint64_t *v)
{
    uint64_t x = 0;

    if (n == 0 || n > 15) return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    *v = x;
    return true;
}

/* Writes the decimal digits of v at o (at most 20 bytes, no NUL); returns
 * the end. */
static inline char *pc_put_u64(char *o, uint64_t v)
{
    char t[20];
    size_t k = sizeof t;
    do {
        t[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    memcpy(o, t + k, sizeof t - k);
    return o + (sizeof t - k);
}

#endif
