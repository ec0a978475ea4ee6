/* jw.h -- writing JSON text straight into a pc_buf (no jansson tree). */
#ifndef PC_JW_H
#define PC_JW_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"

/* Writes s[0..n) as a quoted JSON string. Valid UTF-8 is kept as is (control
 * characters, '"' and '\\' escaped); a string that is not valid UTF-8 is read
 * as ISO-8859-1 and transcoded (the HTTP convention for obs-text bytes). */
void pc_jw_str(pc_buf *b, const char *s, size_t n);
/* Same for a NUL-terminated string. */
void pc_jw_cstr(pc_buf *b, const char *s);
/* Writes data[0..n) base64-encoded as a quoted JSON string. */
void pc_jw_b64(pc_buf *b, const void *data, size_t n);
void pc_jw_u64(pc_buf *b, uint64_t v);
void pc_jw_i64(pc_buf *b, int64_t v);

#endif
