/* test.h -- the smallest test harness that does the job.
 *
 * CHECK(cond) records a failure with file:line and goes on; CHECK_EQ_* print
 * both sides. main() returns test_finish(), non-zero if anything failed. */
#ifndef PT_TEST_H
#define PT_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int test_failures;
static int test_checks;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        test_checks++;                                                                             \
        if (!(cond)) {                                                                             \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        test_checks++;                                                                             \
        if (a_ != b_) {                                                                            \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a,    \
                    a_, #b, b_);                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                                         \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        test_checks++;                                                                             \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {                                     \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a,      \
                    a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                       \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_MEM(a, alen, b, blen)                                                             \
    do {                                                                                           \
        size_t al_ = (alen), bl_ = (blen);                                                         \
        test_checks++;                                                                             \
        if (al_ != bl_ || (al_ && memcmp((a), (b), al_) != 0)) {                                   \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: %s (%zu bytes) differs from %s (%zu bytes)\n", __FILE__,       \
                    __LINE__, #a, al_, #b, bl_);                                                   \
        }                                                                                          \
    } while (0)

static inline int test_finish(const char *name)
{
    fprintf(stderr, "%s: %d checks, %d failed\n", name, test_checks, test_failures);
    return test_failures ? 1 : 0;
}

#endif
