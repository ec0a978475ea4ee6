/* buf.c -- growable byte buffer (see buf.h).
 *
 * Growth doubles the capacity, so n appends cost O(n) amortised. The buffer
 * never aborts: the first failed allocation sets `oom` and turns every later
 * append into a no-op, so callers check once at the end. */
#include "buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PC_BUF_MIN_CAP 64

/* Sets up an empty buffer that owns no memory. */
void pc_buf_init(pc_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->oom = false;
}

/* Frees the memory and returns to the init state. */
void pc_buf_deinit(pc_buf *b)
{
    free(b->data);
    pc_buf_init(b);
}

/* Empties the buffer but keeps its memory for reuse; clears oom. */
void pc_buf_reset(pc_buf *b)
{
    b->len = 0;
    b->oom = false;
    if (b->data) b->data[0] = '\0';
}

void pc_buf_trim(pc_buf *b, size_t keep)
{
    if (b->cap > keep)
        pc_buf_deinit(b);
    else
        pc_buf_reset(b);
}

/* Makes room for `extra` more bytes plus a NUL. Returns false (and sets oom)
 * when the allocation fails or the size would overflow. */
bool pc_buf_reserve(pc_buf *b, size_t extra)
{
    if (b->oom) return false;
    if (extra > SIZE_MAX - 1 - b->len) goto fail;
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return true;

    size_t cap = b->cap ? b->cap : PC_BUF_MIN_CAP;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (p == NULL) goto fail;
    b->data = p;
    b->cap = cap;
    return true;

fail:
    b->oom = true;
    return false;
}

/* Appends n bytes from p (p may be NULL when n is 0). */
void pc_buf_append(pc_buf *b, const void *p, size_t n)
{
    if (!pc_buf_reserve(b, n)) return;
    if (n > 0) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/* Appends a NUL-terminated string (without its NUL). */
void pc_buf_puts(pc_buf *b, const char *s) { pc_buf_append(b, s, strlen(s)); }

/* Appends one byte. */
void pc_buf_putc(pc_buf *b, char c) { pc_buf_append(b, &c, 1); }

/* Appends formatted text. */
void pc_buf_printf(pc_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pc_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

/* Appends formatted text: first try in the free space, and when it does not
 * fit, grow to the exact size vsnprintf reported and format again. */
void pc_buf_vprintf(pc_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    if (!pc_buf_reserve(b, 0)) return;

    va_copy(cp, ap);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, cp);
    va_end(cp);
    if (n < 0) {
        b->data[b->len] = '\0';
        return; /* a format error is not an allocation failure */
    }
    if ((size_t)n >= b->cap - b->len) {
        if (!pc_buf_reserve(b, (size_t)n)) {
            b->data[b->len] = '\0';
            return;
        }
        va_copy(cp, ap);
        n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, cp);
        va_end(cp);
        if (n < 0) {
            b->data[b->len] = '\0';
            return;
        }
    }
    b->len += (size_t)n;
}
