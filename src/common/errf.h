/* errf.h -- the one-line reasons that loaders and parsers hand back.
 *
 * Every function that can refuse its input takes (char *err, size_t errlen)
 * and fills it with one line for the operator; this is the one formatter. */
#ifndef PC_ERRF_H
#define PC_ERRF_H

#include <stddef.h>

/* Formats into err (NULL or errlen 0: nothing) and returns -1. */
int pc_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
