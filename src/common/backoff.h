/* backoff.h -- the Redis reconnect schedule, one place for the gateway and
 * the SDK (both bus.c files).
 *
 * Attempt n (0 for the first retry after a failure; counted until the bus is
 * up again, then back to 0) waits a delay drawn uniformly from [lo(n), hi(n)]
 * ("full jitter" above a floor):
 *
 *   n <  PC_BACKOFF_FAST_TRIES (30):  [100, 200] ms            fast phase
 *   n >= 30:                          [100, min(5000, 200 * 2^(n-29))] ms
 *                                     hi = 400, 800, 1600, 3200, then 5000
 *
 * Why: a refused connect (Redis restarting, a closed port) fails at once and
 * costs one SYN/RST, so for the first 3..6 s of an outage (30 tries of
 * 100..200 ms) an attempt is never more than 200 ms away: a short outage
 * (a restart, a failover) ends with the bus up at most ~200 ms after Redis
 * answers. A longer outage backs off to one attempt every 0.1..5 s (2.55 s on
 * average) per client. The jitter spreads a fleet of gateways and services
 * that lost Redis at the same moment, so they do not all arrive in one burst
 * when it returns; the floor keeps a failure that is immediate from becoming
 * a busy loop. */
#ifndef PC_BACKOFF_H
#define PC_BACKOFF_H

#include <stdint.h>

#define PC_BACKOFF_FLOOR_MS 100  /* shortest delay, every attempt */
#define PC_BACKOFF_FAST_MS 200   /* longest delay of the fast phase */
#define PC_BACKOFF_FAST_TRIES 30 /* attempts in the fast phase */
#define PC_BACKOFF_MAX_MS 5000   /* longest delay of all (the cap) */

/* The bounds of attempt n's delay, in ms: *lo <= *hi. Pure. */
void pc_backoff_bounds(unsigned attempt, unsigned *lo, unsigned *hi);

/* Attempt n's delay in ms for the random value rnd: lo(n) + rnd scaled onto
 * [0, hi(n) - lo(n)] (rnd 0 gives lo, UINT32_MAX gives hi; no modulo bias).
 * Pure: the same inputs give the same delay. */
unsigned pc_backoff_delay_ms(unsigned attempt, uint32_t rnd);

/* The same with rnd drawn from the kernel (uuid.h's pool), or the middle of
 * the range if none can be had. What the bus files call. */
unsigned pc_backoff_next_ms(unsigned attempt);

#endif
