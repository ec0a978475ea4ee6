/* test_backoff.c -- the reconnect schedule (backoff.c): every attempt's
 * bounds, exact delays for fixed random inputs, the jitter's reach, the cap,
 * and attempt numbers far past the end. No clock: the schedule is pure. */
#include <stdint.h>

#include "backoff.h"
#include "test.h"

/* Deterministic xorshift32 so a failure reproduces. */
static uint32_t rng_state = 0x2545f491u;
static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* The schedule as written in backoff.h and the docs, attempt by attempt. */
static void test_bounds_table(void)
{
    static const struct {
        unsigned attempt, lo, hi;
    } want[] = {{0, 100, 200},   {1, 100, 200},    {2, 100, 200},    {10, 100, 200},
                {28, 100, 200},  {29, 100, 200},   {30, 100, 400},   {31, 100, 800},
                {32, 100, 1600}, {33, 100, 3200},  {34, 100, 5000},  {35, 100, 5000},
                {36, 100, 5000}, {37, 100, 5000},  {38, 100, 5000},  {39, 100, 5000},
                {40, 100, 5000}, {100, 100, 5000}, {1000, 100, 5000}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        unsigned lo = 0, hi = 0;
        pc_backoff_bounds(want[i].attempt, &lo, &hi);
        CHECK_EQ_INT(lo, want[i].lo);
        CHECK_EQ_INT(hi, want[i].hi);
    }
}

/* Every attempt of the fast phase is the same, and it is what the constants say. */
static void test_fast_phase(void)
{
    for (unsigned n = 0; n < PC_BACKOFF_FAST_TRIES; n++) {
        unsigned lo, hi;
        pc_backoff_bounds(n, &lo, &hi);
        CHECK_EQ_INT(lo, PC_BACKOFF_FLOOR_MS);
        CHECK_EQ_INT(hi, PC_BACKOFF_FAST_MS);
    }
    CHECK_EQ_INT(PC_BACKOFF_FAST_TRIES, 30);
    CHECK_EQ_INT(PC_BACKOFF_FLOOR_MS, 100);
    CHECK_EQ_INT(PC_BACKOFF_FAST_MS, 200);
    CHECK_EQ_INT(PC_BACKOFF_MAX_MS, 5000);
}

/* Exact delays for fixed random values: rnd 0 is the floor, UINT32_MAX the
 * ceiling, and values between scale linearly (rnd * width >> 32). */
static void test_exact_delays(void)
{
    /* fast phase: width 101 (100..200 inclusive) */
    CHECK_EQ_INT(pc_backoff_delay_ms(0, 0), 100);
    CHECK_EQ_INT(pc_backoff_delay_ms(0, UINT32_MAX), 200);
    CHECK_EQ_INT(pc_backoff_delay_ms(0, 0x80000000u), 150);  /* 2^31 * 101 >> 32 = 50 */
    CHECK_EQ_INT(pc_backoff_delay_ms(29, 0x40000000u), 125); /* 101 / 4 = 25 */
    CHECK_EQ_INT(pc_backoff_delay_ms(5, 42524428u), 100);    /* 42524428 * 101 < 2^32 */
    CHECK_EQ_INT(pc_backoff_delay_ms(5, 42524429u), 101);    /* 42524429 * 101 >= 2^32 */
    /* first attempts after the fast phase: 100..400, 100..800, ... */
    CHECK_EQ_INT(pc_backoff_delay_ms(30, 0), 100);
    CHECK_EQ_INT(pc_backoff_delay_ms(30, UINT32_MAX), 400);
    CHECK_EQ_INT(pc_backoff_delay_ms(30, 0x80000000u), 250); /* 301 / 2 = 150 */
    CHECK_EQ_INT(pc_backoff_delay_ms(31, UINT32_MAX), 800);
    CHECK_EQ_INT(pc_backoff_delay_ms(32, UINT32_MAX), 1600);
    CHECK_EQ_INT(pc_backoff_delay_ms(33, UINT32_MAX), 3200);
    CHECK_EQ_INT(pc_backoff_delay_ms(33, 0x80000000u), 1650); /* 3101 / 2 = 1550 */
    /* the cap */
    CHECK_EQ_INT(pc_backoff_delay_ms(34, 0), 100);
    CHECK_EQ_INT(pc_backoff_delay_ms(34, UINT32_MAX), 5000);
    CHECK_EQ_INT(pc_backoff_delay_ms(34, 0x80000000u), 2550); /* 4901 / 2 = 2450 */
    CHECK_EQ_INT(pc_backoff_delay_ms(1000000, UINT32_MAX), 5000);
    CHECK_EQ_INT(pc_backoff_delay_ms(UINT32_MAX, UINT32_MAX), 5000);
    CHECK_EQ_INT(pc_backoff_delay_ms(UINT32_MAX, 0), 100);
}

/* The same inputs give the same delay (pure), a larger rnd never a shorter one. */
static void test_pure_and_monotone(void)
{
    for (unsigned n = 0; n < 50; n++) {
        uint32_t prev_r = 0;
        unsigned prev = pc_backoff_delay_ms(n, 0);
        for (int i = 0; i < 2000; i++) {
            uint32_t r = rng();
            unsigned d = pc_backoff_delay_ms(n, r);
            CHECK_EQ_INT(pc_backoff_delay_ms(n, r), d);
            if (r >= prev_r) CHECK(d >= prev);
            prev_r = r;
            prev = d;
        }
    }
}

/* Jitter bounds: for every attempt, random inputs stay inside [lo, hi] and
 * reach both ends and the middle (the whole range is used: full jitter). */
static void test_jitter_bounds(void)
{
    static const unsigned attempts[] = {0, 1, 15, 29, 30, 31, 32, 33, 34, 50, 4000000000u};
    for (size_t a = 0; a < sizeof attempts / sizeof attempts[0]; a++) {
        unsigned n = attempts[a], lo, hi, min = UINT32_MAX, max = 0;
        unsigned quarter[4] = {0, 0, 0, 0};
        pc_backoff_bounds(n, &lo, &hi);
        for (int i = 0; i < 200000; i++) {
            unsigned d = pc_backoff_delay_ms(n, rng());
            CHECK(d >= lo && d <= hi);
            if (d < min) min = d;
            if (d > max) max = d;
            quarter[(d - lo) * 4 / (hi - lo + 1)]++;
        }
        CHECK_EQ_INT(min, lo);
        CHECK_EQ_INT(max, hi);
        /* uniform: each quarter of the range gets a quarter of the draws (+-5 %) */
        for (int q = 0; q < 4; q++) CHECK(quarter[q] > 45000 && quarter[q] < 55000);
    }
}

/* The kernel-fed variant stays in bounds (its values are not predictable). */
static void test_next(void)
{
    for (unsigned n = 0; n < 40; n++) {
        unsigned lo, hi, d = pc_backoff_next_ms(n);
        pc_backoff_bounds(n, &lo, &hi);
        CHECK(d >= lo && d <= hi);
    }
}

int main(void)
{
    test_bounds_table();
    test_fast_phase();
    test_exact_delays();
    test_pure_and_monotone();
    test_jitter_bounds();
    test_next();
    return test_finish("test_backoff");
}
