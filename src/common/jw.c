/* jw.c -- JSON text written straight into a pc_buf.
 *
 * Strings are the hot part (every header, path and text body of every
 * message). They are scanned a block of bytes at a time: 16 with SSE2
 * (every x86-64), else 8 in a 64-bit word. Plain runs are stored a block at
 * a time straight into the buffer, and escapes are written through a
 * pointer from a table; the buffer is grown only when the room left for one
 * block runs out. */
#include "jw.h"

#include <inttypes.h>
#include <string.h>

#include "base64.h"
#include "digits.h"
#include "utf8.h"

#if defined(__SSE2__) && !defined(PC_JW_NO_SIMD)
#include <emmintrin.h>
#define JW_SSE2 1
#define JW_BLOCK 16
typedef unsigned jw_mask; /* bit k: byte k of a block */
#else
#define JW_SSE2 0
#define JW_BLOCK 8
typedef uint64_t jw_mask; /* bit 8k+7: byte k of a block */
#endif

#define JW_ONES 0x0101010101010101u
#define JW_HIGHS 0x8080808080808080u

/* What follows the backslash in the escape of each byte JSON does not allow
 * raw ('"', '\\' and the controls below 0x20): the short form where JSON has
 * one, else 'u' for \u00XX; 0 for a byte written as it is. */
static const char jw_esc[256] = {
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b',         't',           'n', 'u',
    'f', 'r', 'u', 'u', 'u', 'u', 'u', 'u', 'u',         'u',           'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', ['"'] = '"', ['\\'] = '\\',
};

/* True if c is written other than as itself (latin1: bytes >= 0x80 too). */
static inline bool jw_is_special(unsigned char c, bool latin1)
{
    return jw_esc[c] != 0 || (latin1 && c >= 0x80);
}

/* Writes the form of a special byte c at o (at most 6 bytes): its escape,
 * or in latin1 mode for c >= 0x80 its two-byte UTF-8 form. Returns the end. */
static inline char *jw_put_special(char *o, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    char e = jw_esc[c];

    if (c >= 0x80) {
        o[0] = (char)(0xc0 | c >> 6);
        o[1] = (char)(0x80 | (c & 0x3f));
        return o + 2;
    }
    o[0] = '\\';
    o[1] = e;
    if (e != 'u') return o + 2;
    o[2] = '0';
    o[3] = '0';
    o[4] = hex[c >> 4];
    o[5] = hex[c & 15];
    return o + 6;
}

#if JW_SSE2
/* One bit per byte of p[0..16) that is special: exact. */
static inline jw_mask jw_block_specials(const unsigned char *p, bool latin1)
{
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v); /* v <= 0x1f */
    __m128i q = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
    __m128i bs = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
    jw_mask m = (jw_mask)_mm_movemask_epi8(_mm_or_si128(ctl, _mm_or_si128(q, bs)));
    if (latin1) m |= (jw_mask)_mm_movemask_epi8(v); /* the high bits */
    return m;
}

/* The byte of the lowest bit of m (m != 0). */
static inline size_t jw_bit_pos(jw_mask m) { return (size_t)__builtin_ctz(m); }

/* True if p[0..16) holds a byte >= 0x80. */
static inline bool jw_block_has_high(const unsigned char *p)
{
    return _mm_movemask_epi8(_mm_loadu_si128((const __m128i *)p)) != 0;
}
#else
/* The high bit of each byte of p[0..8) that is special, by the classic "has
 * a byte less than / equal to" word tricks: every special byte is flagged,
 * and a byte just above one may be flagged too (the callers check). */
static inline jw_mask jw_block_specials(const unsigned char *p, bool latin1)
{
    uint64_t v, q, b, m;
    memcpy(&v, p, 8);
    q = v ^ (JW_ONES * '"');
    b = v ^ (JW_ONES * '\\');
    m = (((v - JW_ONES * 0x20) & ~v) | ((q - JW_ONES) & ~q) | ((b - JW_ONES) & ~b) |
         (latin1 ? v : 0)) &
        JW_HIGHS;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    m = __builtin_bswap64(m); /* bit order = memory order */
#endif
    return m;
}

/* The byte of the lowest bit of m (m != 0). */
static inline size_t jw_bit_pos(jw_mask m) { return (size_t)__builtin_ctzll(m) / 8; }

/* True if p[0..8) holds a byte >= 0x80. */
static inline bool jw_block_has_high(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return (v & JW_HIGHS) != 0;
}
#endif

/* True if s[0..n) is valid UTF-8; plain ASCII is told a block at a time. */
static bool jw_is_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    for (; i + JW_BLOCK <= n; i += JW_BLOCK)
        if (jw_block_has_high(s + i)) return pc_utf8_is_valid(s + i, n - i);
    for (; i < n; i++)
        if (s[i] & 0x80) return pc_utf8_is_valid(s + i, n - i);
    return true;
}

/* Output room one step of the escaping loop needs: every byte of a block
 * special (6 bytes each), then a block stored past them. */
#define JW_STEP_ROOM (7 * JW_BLOCK)

/* Makes room for `want` more bytes at o, past which two stay free (the
 * closing quote and the NUL); o moves with the data. Returns NULL (oom set)
 * on failure. */
static char *jw_grow(pc_buf *b, char *o, size_t want, char **lim)
{
    b->len = (size_t)(o - b->data);
    if (want > SIZE_MAX - 2 - b->len || !pc_buf_reserve(b, want + 1)) {
        b->oom = true;
        return NULL;
    }
    *lim = b->data + b->cap - 2;
    return b->data + b->len;
}

/* The block p[0..JW_BLOCK) is already stored at o; puts the forms of its
 * special bytes (flagged in m) in place, each followed by the rest of the
 * block stored again (read from p, which must be readable for two blocks),
 * and returns the end of the block's output. */
static inline char *jw_block_escape(char *o, const unsigned char *p, jw_mask m, bool latin1)
{
    size_t from = 0; /* bytes of the block behind o */

    do {
        size_t k = jw_bit_pos(m);
        m &= m - 1;
        if (!JW_SSE2 && !jw_is_special(p[k], latin1)) continue; /* a word trick's false positive */
        o += k - from;
        o = jw_put_special(o, p[k]);
        from = k + 1;
        memcpy(o, p + from, JW_BLOCK);
    } while (m != 0);
    return o + (JW_BLOCK - from);
}

/* Writes p[i..n) escaped at o, then the closing quote (o is inside b, with
 * room made for n - i bytes). A block at a time: stored as it is, then, if
 * anything in it is special, the escapes are put in place from the table
 * through the pointer (no call per escape). The buffer grows only when the
 * room for one block's worst case runs out. */
static void jw_escape_rest(pc_buf *b, char *o, const unsigned char *p, size_t i, size_t n,
                           bool latin1)
{
    char *lim = b->data + b->cap - 2;

    while (i < n) {
        if ((size_t)(lim - o) < JW_STEP_ROOM &&
            (o = jw_grow(b, o, n - i + JW_STEP_ROOM, &lim)) == NULL)
            return;
        if (i + JW_BLOCK <= n) {
            jw_mask m = jw_block_specials(p + i, latin1);
            memcpy(o, p + i, JW_BLOCK);
            if (m == 0) {
                o += JW_BLOCK;
            } else if (i + 2 * JW_BLOCK <= n) {
                o = jw_block_escape(o, p + i, m, latin1);
            } else { /* the last block: read past it in a copy */
                unsigned char blk[2 * JW_BLOCK] = {0};
                memcpy(blk, p + i, JW_BLOCK);
                o = jw_block_escape(o, blk, m, latin1);
            }
            i += JW_BLOCK;
        } else if (jw_is_special(p[i], latin1)) {
            o = jw_put_special(o, p[i++]); /* the last bytes, one at a time */
        } else {
            *o++ = (char)p[i++];
        }
    }
    *o++ = '"';
    *o = '\0';
    b->len = (size_t)(o - b->data);
}

/* How many bytes at the start of p[0..n) are written as they are: nothing
 * to escape and, if ascii, nothing >= 0x80. A block at a time, then bytes. */
static inline size_t jw_plain(const unsigned char *p, size_t n, bool ascii)
{
    size_t i = 0;
    while (i + JW_BLOCK <= n && jw_block_specials(p + i, ascii) == 0) i += JW_BLOCK;
    while (i < n && !jw_is_special(p[i], ascii)) i++;
    return i;
}

/* Writes s[0..n) as a JSON string when s[0..i) is plain: that part in one
 * copy (the whole string in the common case), the rest through
 * jw_escape_rest. The room made is the usual size: a string with escapes
 * grows as it goes; pc_buf_reserve is called only when the room is short. */
static inline void jw_str_from(pc_buf *b, const char *s, size_t n, size_t i, bool latin1)
{
    char *o;

    if (n > SIZE_MAX - 3) b->oom = true;
    if (b->oom || (b->cap - b->len < n + 3 && !pc_buf_reserve(b, n + 2))) return; /* oom is set */
    o = b->data + b->len;
    *o++ = '"';
    if (i > 0) memcpy(o, s, i);
    o += i;
    if (i == n) {
        o[0] = '"';
        o[1] = '\0';
        b->len += n + 2;
        return;
    }
    jw_escape_rest(b, o, (const unsigned char *)s, i, n, latin1);
}

/* Writes s[0..n) as a JSON string. The plain ASCII prefix is found in one
 * pass; past it, the rest is checked for UTF-8 (the prefix is ASCII, so the
 * rest starts on a character: the whole string is valid iff the rest is).
 * A string that is not valid UTF-8 is read as ISO-8859-1: every byte >= 0x80
 * is written as its two-byte UTF-8 form. */
void pc_jw_str(pc_buf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = jw_plain(p, n, true);
    bool latin1 = false;

    if (i < n) {
        latin1 = !jw_is_utf8(p + i, n - i);
        if (!latin1) /* valid UTF-8: on to the first byte to escape */
            i += jw_plain(p + i, n - i, false);
    }
    jw_str_from(b, s, n, i, latin1);
}

void pc_jw_str_utf8(pc_buf *b, const char *s, size_t n)
{
    jw_str_from(b, s, n, jw_plain((const unsigned char *)s, n, false), false);
}

bool pc_jw_is_utf8(const void *p, size_t n) { return jw_is_utf8(p, n); }

/* Writes a NUL-terminated string as a JSON string. */
void pc_jw_cstr(pc_buf *b, const char *s) { pc_jw_str(b, s, strlen(s)); }

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
    pc_buf_append(b, t, (size_t)(pc_put_u64(t, v) - t));
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
