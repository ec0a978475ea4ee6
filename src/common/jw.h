/* jw.h -- writing JSON text straight into a pc_buf (no jansson tree). */
#ifndef PC_JW_H
#define PC_JW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"

/* Writes s[0..n) as a quoted JSON string. Valid UTF-8 is kept as is (control
 * characters, '"' and '\\' escaped); a string that is not valid UTF-8 is read
 * as ISO-8859-1 and transcoded (the HTTP convention for obs-text bytes). */
void pc_jw_str(pc_buf *b, const char *s, size_t n);
/* Same for a NUL-terminated string. */
void pc_jw_cstr(pc_buf *b, const char *s);
/* True if p[0..n) is valid UTF-8 (pc_utf8_is_valid, with plain ASCII told
 * 16 bytes at a time). */
bool pc_jw_is_utf8(const void *p, size_t n);
/* pc_jw_str for a string the caller has found valid UTF-8 (pc_jw_is_utf8):
 * the same output, without checking it again. */
void pc_jw_str_utf8(pc_buf *b, const char *s, size_t n);
/* Writes data[0..n) base64-encoded as a quoted JSON string. */
void pc_jw_b64(pc_buf *b, const void *data, size_t n);
void pc_jw_u64(pc_buf *b, uint64_t v);
void pc_jw_i64(pc_buf *b, int64_t v);

/* Appends n bytes of JSON text as they are (punctuation, a literal key):
 * inline, with a call only when the buffer must grow (pc_buf_putc costs
 * three calls per byte). */
static inline void pc_jw_raw(pc_buf *b, const char *p, size_t n)
{
    if (!b->oom && b->cap - b->len > n) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
    } else {
        pc_buf_append(b, p, n);
    }
}

#endif
