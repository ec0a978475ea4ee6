/* uuid.c -- random bytes and version 4 UUIDs.
 *
 * Randomness comes from getrandom(2) in 4 KiB blocks kept in a static pool,
 * so the per-request path rarely enters the kernel. Bytes are wiped from the
 * pool as they are handed out. The pool is guarded by a mutex (the SDK may be
 * called from several threads) and emptied in a forked child, so that
 * `--workers N` processes never share random bytes (nor gateway ids). */
#include "uuid.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

#define PC_RANDOM_POOL 4096 /* bytes fetched from the kernel at a time */

static unsigned char pool[PC_RANDOM_POOL];
static size_t pool_avail; /* unread bytes at the end of pool */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

/* fork handlers: hold the lock across fork so the child gets a consistent
 * pool, then have the child forget what the parent will also use. */
static void pool_prefork(void) { pthread_mutex_lock(&pool_lock); }

static void pool_postfork_parent(void) { pthread_mutex_unlock(&pool_lock); }

static void pool_postfork_child(void)
{
    explicit_bzero(pool, sizeof pool);
    pool_avail = 0;
    pthread_mutex_unlock(&pool_lock);
}

static void pool_setup(void)
{
    pthread_atfork(pool_prefork, pool_postfork_parent, pool_postfork_child);
}

/* Fills buf with exactly n bytes from the kernel. Returns 0 or -1. */
static int kernel_random(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Fills buf with n random bytes: large requests go straight to the kernel,
 * small ones come from the pool. */
int pc_random_bytes(void *buf, size_t n)
{
    if (n >= PC_RANDOM_POOL / 4) return kernel_random(buf, n);

    pthread_once(&pool_once, pool_setup);
    pthread_mutex_lock(&pool_lock);
    unsigned char *out = buf;
    int rc = 0;
    while (n > 0) {
        if (pool_avail == 0) {
            if (kernel_random(pool, sizeof pool) != 0) {
                rc = -1;
                break;
            }
            pool_avail = sizeof pool;
        }
        size_t take = n < pool_avail ? n : pool_avail;
        unsigned char *src = pool + sizeof pool - pool_avail;
        memcpy(out, src, take);
        explicit_bzero(src, take);
        pool_avail -= take;
        out += take;
        n -= take;
    }
    pthread_mutex_unlock(&pool_lock);
    return rc;
}

/* Writes a fresh lower-case UUIDv4 (RFC 9562 §5.4) and a NUL. */
int pc_uuid_v4(char out[PC_UUID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];

    if (pc_random_bytes(b, sizeof b) != 0) return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10xx */

    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *o++ = '-';
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 15];
    }
    *o = '\0';
    return 0;
}

/* True if s[0..n) is 8-4-4-4-12 hex digits (any case, any version). */
bool pc_uuid_is_valid(const char *s, size_t n)
{
    if (s == NULL || n != PC_UUID_LEN) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return true;
}
