/* test_deadline.c -- lazily moved timers (deadline.h) on a real event loop:
 * a deadline fires at its time, never before, however it was moved (later
 * while armed sooner, sooner while armed later, cleared, set again, set
 * several times before a sync), and a cleared one never fires. */
#include <event2/event.h>
#include <stdint.h>

#include "clock.h"
#include "deadline.h"
#include "gw.h"
#include "test.h"

struct probe {
    struct gw_deadline d;
    int fired;
    uint64_t at; /* when it fired (monotonic ms, read afresh) */
};

static void on_fire(void *arg)
{
    struct probe *p = arg;
    p->fired++;
    p->at = pc_mono_ms();
}

/* Runs the loop until every probe fired or ms passed. */
static void run_for(long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(gw.base, &tv);
    event_base_dispatch(gw.base);
}

static void init(struct probe *p)
{
    p->fired = 0;
    p->at = 0;
    gw_deadline_init(&p->d, on_fire, p);
}

static void test_moves(void)
{
    struct probe later, sooner, cleared, again, batched, zero;
    uint64_t t0 = pc_mono_ms();

    init(&later);
    init(&sooner);
    init(&cleared);
    init(&again);
    init(&batched);
    init(&zero);

    gw_deadline_in(&later.d, 40);
    gw_deadline_in(&later.d, 160); /* moved later: the armed timer fires at 40, re-arms */
    gw_deadline_in(&sooner.d, 400);
    gw_deadline_in(&sooner.d, 80); /* moved sooner: re-armed now */
    gw_deadline_in(&cleared.d, 30);
    gw_deadline_clear(&cleared.d);
    gw_deadline_in(&again.d, 30);
    gw_deadline_clear(&again.d);
    gw_deadline_in(&again.d, 120); /* set again after a clear */
    gw_deadline_in_later(&batched.d, 20);
    gw_deadline_in_later(&batched.d, 100); /* the last one counts, at the sync */
    CHECK(batched.d.armed == 0);
    gw_deadline_sync(&batched.d);
    gw_deadline_in(&zero.d, 0); /* the next loop turn */

    run_for(400);

    CHECK_EQ_INT(later.fired, 1);
    CHECK(later.at >= t0 + 160);
    CHECK_EQ_INT(sooner.fired, 1);
    CHECK(sooner.at >= t0 + 80 && sooner.at < t0 + 300);
    CHECK_EQ_INT(cleared.fired, 0);
    CHECK_EQ_INT(again.fired, 1);
    CHECK(again.at >= t0 + 120);
    CHECK_EQ_INT(batched.fired, 1);
    CHECK(batched.at >= t0 + 100);
    CHECK_EQ_INT(zero.fired, 1);
    CHECK(zero.at < t0 + 100);

    /* Fired deadlines are clear: nothing more, however long the loop runs. */
    run_for(200);
    CHECK_EQ_INT(later.fired + sooner.fired + again.fired + batched.fired + zero.fired, 5);

    gw_deadline_deinit(&later.d);
    gw_deadline_deinit(&sooner.d);
    gw_deadline_deinit(&cleared.d);
    gw_deadline_deinit(&again.d);
    gw_deadline_deinit(&batched.d);
    gw_deadline_deinit(&zero.d);
}

/* A deadline moved later many times while armed re-arms once per firing of
 * its armed timer, not per move, and still fires only at the last time. */
static void test_many_moves(void)
{
    struct probe p;
    uint64_t t0 = pc_mono_ms();

    init(&p);
    gw_deadline_in(&p.d, 20);
    uint64_t armed = p.d.armed;
    for (int i = 0; i < 1000; i++) gw_deadline_in(&p.d, 60);
    CHECK(p.d.armed == armed); /* not moved: it is armed sooner */
    run_for(200);
    CHECK_EQ_INT(p.fired, 1);
    CHECK(p.at >= t0 + 60);
    gw_deadline_deinit(&p.d);
}

/* A deinit'ed deadline leaves nothing pending: the loop has no event left. */
static void test_deinit(void)
{
    struct probe p;
    init(&p);
    gw_deadline_in(&p.d, 10000);
    gw_deadline_deinit(&p.d);
    CHECK(event_base_dispatch(gw.base) == 1); /* 1: no events pending */
    CHECK_EQ_INT(p.fired, 0);
}

int main(void)
{
    gw.base = event_base_new();
    test_moves();
    test_many_moves();
    test_deinit();
    event_base_free(gw.base);
    return test_finish("deadline");
}
