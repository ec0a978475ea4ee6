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

/* Writes s[0..n) as a JSON string. Valid UTF-8 is copied in runs between
 * escapes; otherwise every byte >= 0x80 is taken as an ISO-8859-1 character
 * and written as its two-byte UTF-8 form. */
void pc_jw_str(pc_buf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    bool utf8 = pc_utf8_is_valid(s, n);
    size_t run = 0;  /* start of the pending run of bytes copied as is */

    if (n < SIZE_MAX - 2)
        pc_buf_reserve(b, n + 2);  /* the usual size; escapes grow it later */
    pc_buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && (c < 0x80 || utf8))
            continue;
        pc_buf_append(b, p + run, i - run);
        run = i + 1;
        if (c >= 0x80) {
            char u[2] = {(char)(0xc0 | c >> 6), (char)(0x80 | (c & 0x3f))};
            pc_buf_append(b, u, 2);
        } else {
            jw_escape(b, c);
        }
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

/* Writes an unsigned integer. */
void pc_jw_u64(pc_buf *b, uint64_t v)
{
    pc_buf_printf(b, "%" PRIu64, v);
}

/* Writes a signed integer. */
void pc_jw_i64(pc_buf *b, int64_t v)
{
    pc_buf_printf(b, "%" PRId64, v);
}
