/*
 * test_hiccup.c: the platform hiccup meter and the steal reading.
 *
 *   record       a sleep counts only if it woke inside [t_meas, t_end); its
 *                excess is how much longer than asked it took (never < 0)
 *   seconds      each sleep lands in the second (from t_meas) it woke in;
 *                a window keeps its largest excess and its count
 *   over 1 ms    "time in hiccups" sums only excesses above 1 ms, as a
 *                share of the phase observed so far
 *   thread       the real thread records sleeps of a short phase, none
 *                before the phase is set, and is joined by stop
 *   steal        the `cpu` line of /proc/stat parses; steal % between two
 *                readings; unreadable or backwards readings are unknown
 *
 * Nothing here asserts how long a sleep took: only that the meter records
 * what it is given, and that the thread records something at all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "lg_hiccup.h"
#include "lg_stats.h"
#include "rs_common.h"

#define MS 1000000ull
#define S  1000000000ull
#define T0 (100 * S)

static void test_record_bounds(void **state)
{
    (void)state;
    lg_hiccup_rec r;
    assert_int_equal(lg_hiccup_rec_init(&r, 3), 0);
    uint64_t end = T0 + 3 * S;
    /* woke before the phase, or at/after its end: not recorded */
    assert_false(lg_hiccup_rec_add(&r, T0, end, MS, T0 - 2 * MS, T0 - 1));
    assert_false(lg_hiccup_rec_add(&r, T0, end, MS, end - MS, end));
    assert_int_equal(r.hist.total, 0);
    assert_true(lg_hiccup_rec_over_pct(&r) == 0);
    /* a sleep begun in warm-up that woke in the phase counts whole */
    assert_true(lg_hiccup_rec_add(&r, T0, end, MS, T0 - MS / 2, T0 + MS / 2 + 70000));
    assert_int_equal(r.hist.max, 70000);
    /* woke early (cannot happen, but never a negative excess) */
    assert_true(lg_hiccup_rec_add(&r, T0, end, MS, T0 + 10 * MS, T0 + 10 * MS + MS / 2));
    assert_int_equal(r.hist.min, 0);
    assert_int_equal(r.hist.total, 2);
    lg_hiccup_rec_free(&r);
}

static void test_record_seconds(void **state)
{
    (void)state;
    lg_hiccup_rec r;
    assert_int_equal(lg_hiccup_rec_init(&r, 2), 0);
    uint64_t end = T0 + 5 * S; /* longer than the windows: the last one takes the rest */
    /* second 0: excesses 50 us and 2 ms; the one waking just before 1 s */
    assert_true(lg_hiccup_rec_add(&r, T0, end, MS, T0 + 100 * MS, T0 + 101 * MS + 50000));
    assert_true(lg_hiccup_rec_add(&r, T0, end, MS, S + T0 - 3 * MS, T0 + S - 1));
    /* second 1 starts exactly at t_meas + 1 s */
    assert_true(lg_hiccup_rec_add(&r, T0, end, MS, T0 + S - MS, T0 + S + 20000));
    /* past the last window: clamped into it */
    assert_true(lg_hiccup_rec_add(&r, T0, end, MS, T0 + 3 * S, T0 + 3 * S + MS + 300000));
    assert_int_equal(r.sec_n[0], 2);
    assert_int_equal(r.sec_max[0], 2 * MS - 1);
    assert_int_equal(r.sec_n[1], 2);
    assert_int_equal(r.sec_max[1], 300000);
    assert_int_equal(r.hist.total, 4);
    assert_int_equal(r.hist.max, 2 * MS - 1);
    lg_hiccup_rec_free(&r);
}

static void test_time_in_hiccups(void **state)
{
    (void)state;
    lg_hiccup_rec r;
    assert_int_equal(lg_hiccup_rec_init(&r, 11), 0);
    uint64_t end = T0 + 10 * S;
    /* 0.5 ms and exactly 1 ms are not hiccups over 1 ms; 3 ms and 7 ms are */
    lg_hiccup_rec_add(&r, T0, end, MS, T0, T0 + MS + MS / 2);
    lg_hiccup_rec_add(&r, T0, end, MS, T0 + S, T0 + S + 2 * MS);
    lg_hiccup_rec_add(&r, T0, end, MS, T0 + 2 * S, T0 + 2 * S + 4 * MS);
    lg_hiccup_rec_add(&r, T0, end, MS, T0 + 4 * S - 8 * MS, T0 + 4 * S);
    assert_int_equal(r.over_ns, 10 * MS);
    /* observed from t_meas to the last wake-up: 4 s; 10 ms of it in hiccups */
    assert_int_equal(r.seen_to_ns, T0 + 4 * S);
    double pct = lg_hiccup_rec_over_pct(&r);
    assert_true(pct > 0.2499 && pct < 0.2501);
    lg_hiccup_rec_free(&r);
}

static void wait_past_(uint64_t t)
{
    /* bounded: t is at most a second away */
    for (int i = 0; i < 2000 && rs_now_ns() <= t; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

static void test_thread(void **state)
{
    (void)state;
    lg_hiccup *h = lg_hiccup_new(2);
    assert_non_null(h);
    char err[128] = "";
    assert_int_equal(lg_hiccup_start(h, err, sizeof(err)), 0);
    uint64_t t_meas = rs_now_ns() + 20 * MS, t_end = t_meas + 300 * MS;
    lg_hiccup_phase(h, t_meas, t_end);
    wait_past_(t_end);
    lg_hiccup_stop(h);
    lg_hiccup_stop(h); /* twice is harmless */
    /* about 300 sleeps; at least one, however busy the machine */
    assert_true(h->rec.hist.total >= 1);
    assert_true(h->rec.hist.total <= 301);
    assert_int_equal(h->rec.sec_n[0] + h->rec.sec_n[1], h->rec.hist.total);
    assert_true(h->rec.t_meas_ns == t_meas);
    assert_true(h->rec.seen_to_ns >= t_meas && h->rec.seen_to_ns < t_end);
    assert_true(h->cpu_s >= 0);
    lg_hiccup_free(h);

    /* no phase set: nothing recorded, and stop still joins */
    h = lg_hiccup_new(1);
    assert_non_null(h);
    assert_int_equal(lg_hiccup_start(h, err, sizeof(err)), 0);
    struct timespec ts = {0, 20 * (long)MS};
    nanosleep(&ts, NULL);
    lg_hiccup_free(h); /* stops and joins */

    /* NULL is fine everywhere the engine passes a disabled meter */
    lg_hiccup_phase(NULL, 0, 0);
    lg_hiccup_stop(NULL);
    lg_hiccup_free(NULL);
}

static const char stat_text_[] = "cpu  1000 20 300 50000 40 0 10 250 0 0\n"
                                 "cpu0 500 10 150 25000 20 0 5 125 0 0\n"
                                 "intr 12345\n";

static void test_steal(void **state)
{
    (void)state;
    lg_cpu_ticks a, b;
    assert_int_equal(lg_cpu_ticks_parse(stat_text_, &a), 0);
    assert_true(a.ok);
    assert_int_equal(a.steal, 250);
    assert_int_equal(a.total, 1000 + 20 + 300 + 50000 + 40 + 0 + 10 + 250);
    /* 1000 ticks later, 30 of them stolen: 3% */
    b = a;
    b.total += 1000;
    b.steal += 30;
    double pct = lg_steal_pct(&a, &b);
    assert_true(pct > 2.999 && pct < 3.001);
    /* no time passed, backwards, or unread: unknown */
    assert_true(lg_steal_pct(&a, &a) < 0);
    assert_true(lg_steal_pct(&b, &a) < 0);
    lg_cpu_ticks none;
    memset(&none, 0, sizeof(none));
    assert_true(lg_steal_pct(&none, &b) < 0);
    /* no `cpu` line (only per-CPU ones), or one too short */
    assert_int_equal(lg_cpu_ticks_parse("cpu0 1 2 3 4 5 6 7 8\n", &a), -1);
    assert_false(a.ok);
    assert_int_equal(lg_cpu_ticks_parse("intr 1\ncpu  1 2 3\n", &a), -1);
    assert_int_equal(lg_cpu_ticks_parse("", &a), -1);
    /* the `cpu` line need not be first */
    assert_int_equal(lg_cpu_ticks_parse("x 1\ncpu  1 2 3 4 5 6 7 8\n", &a), 0);
    assert_int_equal(a.steal, 8);
    /* the real one, where there is one */
    if (lg_cpu_ticks_read(&a) == 0) {
        assert_true(a.ok && a.total > 0 && a.steal <= a.total);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_bounds),   cmocka_unit_test(test_record_seconds),
        cmocka_unit_test(test_time_in_hiccups), cmocka_unit_test(test_thread),
        cmocka_unit_test(test_steal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
