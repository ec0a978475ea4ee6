/* buf.h -- growable byte buffer.
 *
 * A pc_buf never reports allocation failure per call: the first failure sets
 * `oom`, every later append is a no-op, and the caller checks `oom` once at
 * the end (the gateway aborts, the SDK returns an error). */
#ifndef PC_BUF_H
#define PC_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct pc_buf {
    char *data; /* owned; NUL-terminated when len > 0 or after any append */
    size_t len;
    size_t cap;
    bool oom; /* set on the first failed allocation */
} pc_buf;

void pc_buf_init(pc_buf *b);
void pc_buf_deinit(pc_buf *b); /* frees data, back to the init state */
void pc_buf_reset(pc_buf *b);  /* len = 0, keeps the memory, clears oom */
/* Done with the contents: reset, keeping the memory for the next use when it
 * is at most keep bytes, else giving it back (a burst of large bodies must
 * not leave every pooled buffer large). */
void pc_buf_trim(pc_buf *b, size_t keep);
bool pc_buf_reserve(pc_buf *b, size_t extra); /* room for extra more bytes (+NUL) */
void pc_buf_append(pc_buf *b, const void *p, size_t n);
void pc_buf_puts(pc_buf *b, const char *s);
void pc_buf_putc(pc_buf *b, char c);
void pc_buf_printf(pc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pc_buf_vprintf(pc_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#endif
