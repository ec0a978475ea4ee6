/* deadline.c -- see deadline.h. */
#include "deadline.h"

#include "gw.h"

/* Arms ev for d->due (now: the loop's monotonic ms). libevent's own clock
 * may be a little behind ours, so ev can fire a millisecond or a few early:
 * on_ev then arms it again for what is left. */
static void arm(struct gw_deadline *d, uint64_t now)
{
    uint64_t ms = d->due > now ? d->due - now : 0;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

    event_add(&d->ev, &tv);
    d->armed = d->due;
}

static void on_ev(evutil_socket_t fd, short what, void *arg)
{
    struct gw_deadline *d = arg;
    uint64_t now;
    (void)fd;
    (void)what;

    d->armed = 0;
    if (d->due == 0) return; /* cleared since it was armed */
    now = gw_now_mono_ms();
    if (now < d->due) { /* moved later since it was armed */
        arm(d, now);
        return;
    }
    d->due = 0;
    d->fire(d->arg);
}

void gw_deadline_init(struct gw_deadline *d, void (*fire)(void *arg), void *arg)
{
    evtimer_assign(&d->ev, gw.base, on_ev, d);
    d->due = d->armed = 0;
    d->later_ms = -1;
    d->fire = fire;
    d->arg = arg;
}

void gw_deadline_sync(struct gw_deadline *d)
{
    uint64_t now;

    if (d->later_ms < 0) return; /* nothing set since: as it was */
    now = gw_now_mono_ms();
    d->due = now + (uint64_t)d->later_ms;
    if (d->due == 0) d->due = 1; /* 0 is "never" */
    d->later_ms = -1;
    if (d->armed == 0 || d->armed > d->due) arm(d, now);
}

void gw_deadline_in(struct gw_deadline *d, long ms)
{
    gw_deadline_in_later(d, ms);
    gw_deadline_sync(d);
}

void gw_deadline_deinit(struct gw_deadline *d)
{
    if (d->armed != 0) event_del(&d->ev);
    d->due = d->armed = 0;
    d->later_ms = -1;
}
