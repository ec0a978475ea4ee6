/* utf8.h -- strict UTF-8 validation (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF). NUL bytes are valid UTF-8. */
#ifndef PC_UTF8_H
#define PC_UTF8_H

#include <stdbool.h>
#include <stddef.h>

bool pc_utf8_is_valid(const void *p, size_t n);

#endif
