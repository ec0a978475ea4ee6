/* deadline.h -- a timer that moves lazily.
 *
 * A keep-alive connection moves its timer several times a request (a header
 * timeout when a request begins, none once it is in, an idle timeout after
 * the response; an upstream exchange's response timeout, a pooled
 * connection's idle timeout), and each move of a libevent timer is a heap
 * operation: five adds and three deletes, about 9% of the instructions of a
 * small GET through an HTTP upstream. A deadline here is a number; the
 * libevent timer is moved only when the deadline comes sooner than the
 * timer is armed for. Moved later or cleared, the timer fires when it was
 * armed for, finds the deadline later (armed again, once) or gone (nothing
 * happens). nginx does the same with NGX_TIMER_LAZY_DELAY, by tolerating
 * lateness; here a deadline is never late, a timer sometimes early.
 *
 * Times are the loop's monotonic milliseconds (gw_now_mono_ms). */
#ifndef GW_DEADLINE_H
#define GW_DEADLINE_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdint.h>

struct gw_deadline {
    struct event ev;
    uint64_t due;   /* when fire is called (monotonic ms); 0: never */
    uint64_t armed; /* when ev is due; 0: ev is not pending */
    long later_ms;  /* gw_deadline_in_later's, for gw_deadline_sync; -1: none */
    void (*fire)(void *arg);
    void *arg;
};

/* Once, before any other call; the deadline is clear. */
void gw_deadline_init(struct gw_deadline *d, void (*fire)(void *arg), void *arg);

/* fire(arg) in ms milliseconds (ms <= 0: in the next loop turn), instead of
 * whenever it was due. */
void gw_deadline_in(struct gw_deadline *d, long ms);

/* fire is not called (until the deadline is set again). Costs nothing. */
static inline void gw_deadline_clear(struct gw_deadline *d)
{
    d->due = 0;
    d->later_ms = -1;
}

/* The same, armed only by the next gw_deadline_sync: for a caller that
 * moves the deadline several times in one callback (a parse that begins,
 * completes and clears a request). Until then the deadline is unknown. */
static inline void gw_deadline_in_later(struct gw_deadline *d, long ms)
{
    d->later_ms = ms > 0 ? ms : 0;
}
void gw_deadline_sync(struct gw_deadline *d);

/* Before d's memory is freed or reused. */
void gw_deadline_deinit(struct gw_deadline *d);

#endif
