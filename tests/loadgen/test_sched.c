/*
 * test_sched.c: the open-loop schedule. N requests at rate R are due at
 * t0 + i/R; a request taken late keeps its scheduled time; nothing is due
 * early; the stop time bounds the count to rate * duration.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lg_sched.h"

#define T0 1000000000000ull

static void test_times_are_t0_plus_i_over_r(void **state)
{
    (void)state;
    lg_sched s;
    assert_int_equal(lg_sched_init(&s, T0, 2000.0), 0);
    for (uint64_t i = 0; i < 100000; i++)
        assert_int_equal(lg_sched_time(&s, i), T0 + i * 500000ull);
    /* a non-integral period does not drift: request 3M at 3 req/s is 1e6 s later */
    assert_int_equal(lg_sched_init(&s, T0, 3.0), 0);
    assert_int_equal(lg_sched_time(&s, 3000000), T0 + 1000000ull * 1000000000ull);
}

static void test_nothing_due_early(void **state)
{
    (void)state;
    lg_sched s;
    uint64_t t;
    assert_int_equal(lg_sched_init(&s, T0, 1000.0), 0);
    assert_false(lg_sched_take(&s, T0 - 1, &t));
    assert_true(lg_sched_take(&s, T0, &t));
    assert_int_equal(t, T0);
    assert_false(lg_sched_take(&s, T0 + 999999, &t));
    assert_int_equal(lg_sched_next_time(&s), T0 + 1000000);
    assert_true(lg_sched_take(&s, T0 + 1000000, &t));
    assert_int_equal(t, T0 + 1000000);
}

static void test_late_requests_keep_schedule(void **state)
{
    (void)state;
    lg_sched s;
    uint64_t t;
    assert_int_equal(lg_sched_init(&s, T0, 1000.0), 0);
    /* the sender stalls for 1 s: 1001 requests are due at once */
    uint64_t now = T0 + 1000000000ull;
    assert_int_equal(lg_sched_backlog(&s, now), 1001);
    for (uint64_t i = 0; i <= 1000; i++) {
        assert_true(lg_sched_take(&s, now, &t));
        assert_int_equal(t, T0 + i * 1000000ull); /* its own time, not now */
        assert_int_equal(lg_sched_backlog(&s, now), 1000 - i);
    }
    assert_false(lg_sched_take(&s, now, &t));
}

static void test_stop_bounds_count(void **state)
{
    (void)state;
    lg_sched s;
    uint64_t t, n = 0;
    assert_int_equal(lg_sched_init(&s, T0, 2000.0), 0);
    lg_sched_stop_at(&s, T0 + 2000000000ull);
    while (lg_sched_take(&s, UINT64_MAX - 1, &t)) {
        assert_true(t < T0 + 2000000000ull);
        n++;
        assert_true(n <= 4000);
    }
    assert_int_equal(n, 4000);
    assert_true(lg_sched_done(&s));
    assert_int_equal(lg_sched_next_time(&s), UINT64_MAX);
    assert_int_equal(lg_sched_backlog(&s, UINT64_MAX / 2), 0);
}

static void test_bad_rate(void **state)
{
    (void)state;
    lg_sched s;
    assert_int_equal(lg_sched_init(&s, T0, 0.0), -1);
    assert_int_equal(lg_sched_init(&s, T0, -5.0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_times_are_t0_plus_i_over_r),
        cmocka_unit_test(test_nothing_due_early),
        cmocka_unit_test(test_late_requests_keep_schedule),
        cmocka_unit_test(test_stop_bounds_count),
        cmocka_unit_test(test_bad_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
