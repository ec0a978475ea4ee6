/* xalloc.h -- allocation that cannot fail, and the one way to stop the process.
 *
 * portico does not try to limp on without memory: a failed allocation of a
 * few hundred bytes means the machine is lost. But it does say what failed
 * before it aborts, so a core dump is never the only clue. */
#ifndef PC_XALLOC_H
#define PC_XALLOC_H

#include <stddef.h>

/* Prints "portico: <file>:<line>: <message>" to stderr and aborts. */
#define pc_panic(...) pc_panic_at(__FILE__, __LINE__, __VA_ARGS__)
void pc_panic_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn, cold));

/* Stops with a message naming the condition unless cond holds. For
 * invariants and for calls that fail only without memory (event_new, ...). */
#define pc_check(cond)                                                                             \
    do {                                                                                           \
        if (__builtin_expect(!(cond), 0)) pc_panic("%s", "failed: " #cond);                        \
    } while (0)

/* malloc/calloc/realloc/strdup that print the size that could not be had
 * and abort instead of returning NULL. */
void *pc_xmalloc(size_t n) __attribute__((malloc, returns_nonnull));
void *pc_xcalloc(size_t n, size_t size) __attribute__((malloc, returns_nonnull));
void *pc_xrealloc(void *p, size_t n) __attribute__((returns_nonnull));
char *pc_xstrdup(const char *s) __attribute__((malloc, returns_nonnull));
char *pc_xstrndup(const char *s, size_t n) __attribute__((malloc, returns_nonnull));

#endif
