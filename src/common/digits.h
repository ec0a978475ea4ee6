/* digits.h -- decimal numbers written by hand (snprintf costs ten times
 * more, and these run several times per request). */
#ifndef PC_DIGITS_H
#define PC_DIGITS_H

#include <stdint.h>
#include <string.h>

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
