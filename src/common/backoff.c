/* backoff.c -- the Redis reconnect schedule (see backoff.h). */
#include "backoff.h"

#include "uuid.h"

void pc_backoff_bounds(unsigned attempt, unsigned *lo, unsigned *hi)
{
    unsigned doublings;

    *lo = PC_BACKOFF_FLOOR_MS;
    if (attempt < PC_BACKOFF_FAST_TRIES) {
        *hi = PC_BACKOFF_FAST_MS;
        return;
    }
    /* 200 ms doubled once per attempt past the fast phase, capped; the
     * shift stops before it can overflow (200 << 5 is already past 5000). */
    doublings = attempt - PC_BACKOFF_FAST_TRIES + 1;
    if (doublings >= 8) {
        *hi = PC_BACKOFF_MAX_MS;
        return;
    }
    *hi = (unsigned)PC_BACKOFF_FAST_MS << doublings;
    if (*hi > PC_BACKOFF_MAX_MS) *hi = PC_BACKOFF_MAX_MS;
}

unsigned pc_backoff_delay_ms(unsigned attempt, uint32_t rnd)
{
    unsigned lo, hi;

    pc_backoff_bounds(attempt, &lo, &hi);
    return lo + (unsigned)(((uint64_t)rnd * (hi - lo + 1)) >> 32);
}

unsigned pc_backoff_next_ms(unsigned attempt)
{
    uint32_t rnd;

    if (pc_random_bytes(&rnd, sizeof rnd) != 0) rnd = UINT32_MAX / 2;
    return pc_backoff_delay_ms(attempt, rnd);
}
