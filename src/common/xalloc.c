/* xalloc.c -- see xalloc.h. */
#include "xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pc_panic_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "portico: %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

static void *need(void *p, size_t n)
{
    if (p == NULL) pc_panic("out of memory allocating %zu bytes", n);
    return p;
}

void *pc_xmalloc(size_t n) { return need(malloc(n ? n : 1), n); }

void *pc_xcalloc(size_t n, size_t size)
{
    if (size != 0 && n > (size_t)-1 / size)
        pc_panic("allocation of %zu x %zu bytes overflows", n, size);
    return need(calloc(n ? n : 1, size ? size : 1), n * size);
}

void *pc_xrealloc(void *p, size_t n) { return need(realloc(p, n ? n : 1), n); }

char *pc_xstrdup(const char *s) { return pc_xstrndup(s, strlen(s)); }

char *pc_xstrndup(const char *s, size_t n)
{
    char *d = pc_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}
