/* jw.c -- JSON text written straight into a pc_buf. */
#include "jw.h"

#include <inttypes.h>
#include <string.h>

#include "base64.h"
#include "utf8.h"

/* Appends the escape of a byte JSON does not allow raw: '"', '\\' or a
 * control below 0x20 (short forms where JSON has them, else \u00XX). */
static void jw_escape(pc_buf *b, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    char e[6] = {'\\', 0, '0', '0', hex[c >> 4], hex[c & 15]};

    switch (c) {
    case '"':  e[1] = '"';  break;
    case '\\': e[1] = '\\'; break;
    case '\n': e[1] = 'n';  break;
    case '\r': e[1] = 'r';  break;
    case '\t': e[1] = 't';  break;
    case '\b': e[1] = 'b';  break;
    case '\f': e[1] = 'f';  break;
    default:
        e[1] = 'u';
        pc_buf_append(b, e, 6);
        return;
    }
    pc_buf_append(b, e, 2);
}

#define JW_ONES 0x0101010101010101u
#define JW_HIGHS 0x8080808080808080u

/* High bits of the bytes of v that JSON cannot carry raw: below 0x20, '"'
 * and '\\' (the classic "has a byte less than / equal to" bit tricks). */
static inline uint64_t jw_specials(uint64_t v)
{
    uint64_t q = v ^ (JW_ONES * '"'), b = v ^ (JW_ONES * '\\');
    return (((v - JW_ONES * 0x20) & ~v) | ((q - JW_ONES) & ~q) | ((b - JW_ONES) & ~b)) & JW_HIGHS;
}

/* True if s[0..n) is valid UTF-8; plain ASCII is told eight bytes at a time. */
static bool jw_is_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, s + i, 8);
        if (v & JW_HIGHS)
            return pc_utf8_is_valid(s + i, n - i);
    }
    for (; i < n; i++)
        if (s[i] & 0x80)
            return pc_utf8_is_valid(s + i, n - i);
    return true;
}

/* Writes s[0..n) as a JSON string. Valid UTF-8 is copied in runs between
 * escapes (found eight bytes at a time); otherwise every byte >= 0x80 is
 * taken as an ISO-8859-1 character and written as its two-byte UTF-8 form. */
void pc_jw_str(pc_buf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    bool utf8 = jw_is_utf8(p, n);
    size_t run = 0, i = 0;  /* run: start of the pending bytes copied as is */

    if (utf8) {
        /* find the first byte to escape; none (the common case): one copy */
        while (i + 8 <= n) {
            uint64_t v;
            memcpy(&v, p + i, 8);
            if (jw_specials(v))
                break;
            i += 8;
        }
        while (i < n && p[i] >= 0x20 && p[i] != '"' && p[i] != '\\')
            i++;
        if (i == n) {
            if (n > SIZE_MAX - 3)
                b->oom = true;
            if (!pc_buf_reserve(b, n + 2))
                return;          /* oom is set */
            char *o = b->data + b->len;
            o[0] = '"';
            memcpy(o + 1, s, n);
            o[n + 1] = '"';
            o[n + 2] = '\0';
            b->len += n + 2;
            return;
        }
    }
    if (n < SIZE_MAX - 2)
        pc_buf_reserve(b, n + 2);  /* the usual size; escapes grow it later */
    pc_buf_putc(b, '"');
    while (i < n) {
        if (utf8) {
            /* skip eight bytes at a time while none needs escaping */
            while (i + 8 <= n) {
                uint64_t v;
                memcpy(&v, p + i, 8);
                if (jw_specials(v))
                    break;
                i += 8;
            }
            if (i >= n)
                break;
        }
        unsigned char c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && (c < 0x80 || utf8)) {
            i++;
            continue;
        }
        pc_buf_append(b, p + run, i - run);
        run = i + 1;
        if (c >= 0x80) {
            char u[2] = {(char)(0xc0 | c >> 6), (char)(0x80 | (c & 0x3f))};
            pc_buf_append(b, u, 2);
        } else {
            jw_escape(b, c);
        }
        i++;
    }
    pc_buf_append(b, p + run, n - run);
    pc_buf_putc(b, '"');
}

/* Writes a NUL-terminated string as a JSON string. */
void pc_jw_cstr(pc_buf *b, const char *s)
{
    pc_jw_str(b, s, strlen(s));
}

/* Writes data[0..n) base64-encoded, in quotes, encoding in place. */
void pc_jw_b64(pc_buf *b, const void *data, size_t n)
{
    size_t elen = pc_base64_encoded_len(n);
    if (elen > SIZE_MAX - 2 || !pc_buf_reserve(b, elen + 2)) {
        b->oom = true;
        return;
    }
    b->data[b->len++] = '"';
    pc_base64_encode(b->data + b->len, data, n);
    b->len += elen;
    b->data[b->len++] = '"';
    b->data[b->len] = '\0';
}

/* Writes an unsigned integer (digits by hand: printf costs ten times more). */
void pc_jw_u64(pc_buf *b, uint64_t v)
{
    char t[20];
    size_t k = sizeof t;
    do {
        t[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    pc_buf_append(b, t + k, sizeof t - k);
}

/* Writes a signed integer. */
void pc_jw_i64(pc_buf *b, int64_t v)
{
    if (v < 0) {
        pc_buf_putc(b, '-');
        pc_jw_u64(b, (uint64_t)0 - (uint64_t)v);
        return;
    }
    pc_jw_u64(b, (uint64_t)v);
}
