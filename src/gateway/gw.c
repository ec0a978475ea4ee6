/* gw.c -- the process state and the loop's clocks (see gw.h). */
#include "gw.h"

#include <sys/time.h>

#include "clock.h"

struct gw_state gw;

/* libevent reads the time once per loop turn, after the poll, and hands
 * that reading out while the turn's callbacks run. The monotonic clock is
 * read when that reading changes, so it too is read once per turn however
 * many requests a turn completes. Outside the loop (start-up, teardown)
 * both are read afresh. */
static struct timeval turn_tv;
static uint64_t turn_unix_ms, turn_mono_ms;

static void turn_sync(void)
{
    struct timeval tv;

    if (gw.base == NULL || event_base_gettimeofday_cached(gw.base, &tv) != 0) {
        turn_tv.tv_sec = -1;
        turn_unix_ms = pc_unix_ms();
        turn_mono_ms = pc_mono_ms();
        return;
    }
    if (tv.tv_sec == turn_tv.tv_sec && tv.tv_usec == turn_tv.tv_usec) return;
    turn_tv = tv;
    turn_unix_ms = (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
    turn_mono_ms = pc_mono_ms();
}

uint64_t gw_now_unix_ms(void)
{
    turn_sync();
    return turn_unix_ms;
}

uint64_t gw_now_mono_ms(void)
{
    turn_sync();
    return turn_mono_ms;
}
