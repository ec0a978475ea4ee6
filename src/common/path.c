/* path.c -- request paths and route patterns (SPEC §3): see path.h. */
#include "path.h"

#include "names.h"
#include "utf8.h"

/* ------------------------------------------------------- request paths */

/* "." or "..": a dot segment, or a dot part of a decoded segment. */
static inline bool is_dot_part(const char *p, size_t n)
{
    return (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.');
}

int pc_path_decode(const char *path, size_t len, char *out, size_t *total, size_t *nsegs)
{
    size_t i = 1, o = 0, n = 0;

    *total = 0;
    *nsegs = 0;
    if (len > PC_PATH_MAX) return PC_PATH_TOO_LONG;
    if (len == 0 || path[0] != '/') return PC_PATH_NOT_ABSOLUTE;
    if (len == 1) return PC_PATH_OK;
    for (;;) {
        size_t start = o, part = o; /* part: after the last decoded '/' */
        for (; i < len && path[i] != '/'; i++) {
            unsigned char ch = (unsigned char)path[i];
            if (ch == '%') {
                int hi, lo;
                if (i + 2 >= len || (hi = pc_hex_value((unsigned char)path[i + 1])) < 0 ||
                    (lo = pc_hex_value((unsigned char)path[i + 2])) < 0)
                    return PC_PATH_BAD_ESCAPE;
                ch = (unsigned char)(hi * 16 + lo);
                i += 2;
                if (ch == '/') { /* "%2F": the part before it must not be a dot part */
                    if (is_dot_part(out + part, o - part)) return PC_PATH_DOT_SEGMENT;
                    part = o + 1;
                }
            }
            if (ch == '\0') return PC_PATH_NUL;
            out[o++] = (char)ch;
        }
        if (is_dot_part(out + part, o - part)) return PC_PATH_DOT_SEGMENT;
        const char *seg = out + start;
        size_t sl = o - start;
        if (!pc_utf8_is_valid(seg, sl)) return PC_PATH_BAD_UTF8;
        out[o++] = '\0';
        n++;
        if (i == len) break;
        i++; /* the '/' */
    }
    *total = o;
    *nsegs = n;
    return PC_PATH_OK;
}

const char *pc_path_error_name(int err)
{
    switch (err) {
    case PC_PATH_OK:
        return "ok";
    case PC_PATH_NOT_ABSOLUTE:
        return "not_absolute";
    case PC_PATH_TOO_LONG:
        return "too_long";
    case PC_PATH_BAD_ESCAPE:
        return "bad_escape";
    case PC_PATH_NUL:
        return "nul";
    case PC_PATH_DOT_SEGMENT:
        return "dot_segment";
    case PC_PATH_BAD_UTF8:
        return "bad_utf8";
    default:
        return "unknown";
    }
}

void pc_path_rest_join(char *buf, size_t off, size_t total)
{
    size_t n = pc_path_rest_len(off, total);

    for (size_t i = 0; i < n; i++)
        if (buf[off + i] == '\0') buf[off + i] = '/';
}

/* ------------------------------------------------ patterns and prefixes */

size_t pc_path_count_segments(const char *p, size_t n)
{
    const char *end = p + n, *seg;
    size_t len, c = 0;

    while (pc_path_next(&p, end, &seg, &len)) c++;
    return c;
}

bool pc_pattern_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    const char *aend = a + alen, *bend = b + blen, *sa = NULL, *sb = NULL;
    size_t la = 0, lb = 0;

    for (;;) {
        bool ha = pc_path_next(&a, aend, &sa, &la);
        bool hb = pc_path_next(&b, bend, &sb, &lb);
        if (ha != hb) return false;
        if (!ha) break;
        if (!pc_seg_equal(sa, la, sb, lb)) return false;
    }
    /* What the walk left ("", "/" or text not at a '/') must be the same:
     * "/" is not "", "/a/" is not "/a". */
    return aend - a == bend - b && memcmp(a, b, (size_t)(aend - a)) == 0;
}

size_t pc_prefix_len(const char *prefix, size_t n)
{
    if (n >= 2 && prefix[n - 1] == '*' && prefix[n - 2] == '/') n--;
    if (n >= 2 && prefix[n - 1] == '/') n--;
    return n;
}

bool pc_path_covers(const char *prefix, size_t plen, const char *pattern, size_t len)
{
    const char *p = prefix, *pend = prefix + pc_prefix_len(prefix, plen);
    const char *q = pattern, *qend = pattern + len, *sp = NULL, *sq = NULL;
    size_t lp = 0, lq = 0;

    if (plen == 0 || prefix[0] != '/' || len == 0 || pattern[0] != '/') return false;
    while (pc_path_next(&p, pend, &sp, &lp)) {
        if (!pc_path_next(&q, qend, &sq, &lq) || !pc_seg_equal(sp, lp, sq, lq)) return false;
    }
    return p == pend || pend - p == 1; /* the whole prefix was walked */
}
