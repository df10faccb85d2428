/*
 * test_stats.c: how a run's measurements are attributed.
 *
 * Warm-up requests (scheduled before the measured phase) are not recorded;
 * answers land in the one-second window in which they completed, with
 * their latency counted from the scheduled start; the windows merged equal
 * the per-method totals; transport failures count as errors without a
 * latency. Kernel receive stamps convert to the monotonic clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lg_stats.h"

#define S  1000000000ull
#define T0 (100 * S)

/* Kernel receive stamps (wall clock) become monotonic arrival times. */
static void test_arrival_time(void **state)
{
    (void)state;
    uint64_t wall = 1700000000ull * S, mono = 5000 * S;
    /* waited 300 us unread: arrived 300 us before now on the monotonic clock */
    assert_int_equal(lg_arrival_mono_ns(wall - 300000, wall, mono), mono - 300000);
    /* arrived just now */
    assert_int_equal(lg_arrival_mono_ns(wall, wall, mono), mono);
    /* the wall clock stepped back after the stamp: never later than now */
    assert_int_equal(lg_arrival_mono_ns(wall + S, wall, mono), mono);
    /* a stamp older than the monotonic clock's origin: 0 (the engine clamps
     * to the request's start) */
    assert_int_equal(lg_arrival_mono_ns(wall - 6000 * S, wall, mono), 0);
}

static void test_attribution(void **state)
{
    (void)state;
    lg_stats st;
    assert_int_equal(lg_stats_init(&st, 5, (1u << LG_ACK) | (1u << LG_GET_ONE)), 0);
    assert_null(st.sec[0].method[LG_SET]);
    lg_stats_start(&st, T0);
    /* warm-up: scheduled before T0, answered after: not recorded */
    lg_stats_sent(&st, LG_ACK, T0 - 1, T0 - 1);
    lg_stats_done(&st, LG_ACK, T0 - 1, T0 + 5, LG_ST_OK);
    assert_int_equal(lg_stats_total_sent(&st), 0);
    assert_int_equal(lg_stats_total_answered(&st), 0);
    /* scheduled at T0 + 0.5 s, stalled, answered at T0 + 2.2 s: window 2, 1.7 s */
    lg_stats_sent(&st, LG_ACK, T0 + S / 2, T0 + 2 * S);
    lg_stats_done(&st, LG_ACK, T0 + S / 2, T0 + 2 * S + S / 5, LG_ST_OK);
    assert_int_equal(st.sec[2].answered, 1);
    assert_int_equal(st.sec[2].sent, 1);
    assert_int_equal(st.sec[0].sent, 0);
    assert_int_equal(st.sec[2].hist.max, 17 * S / 10);
    assert_int_equal(st.sec[2].method[LG_ACK]->total, 1);
    /* an error status is answered (with latency) and counted as an error */
    lg_stats_sent(&st, LG_GET_ONE, T0 + 10, T0 + 10);
    lg_stats_done(&st, LG_GET_ONE, T0 + 10, T0 + 1000, 5);
    assert_int_equal(st.status[5], 1);
    assert_int_equal(st.sec[0].errors, 1);
    assert_int_equal(st.sec[0].answered, 1);
    /* a transport failure: an error, no latency */
    lg_stats_sent(&st, LG_GET_ONE, T0 + 20, T0 + 20);
    lg_stats_done(&st, LG_GET_ONE, T0 + 20, T0 + 3 * S, LG_ST_CONN);
    assert_int_equal(st.status[LG_ST_CONN], 1);
    assert_int_equal(st.sec[3].errors, 1);
    assert_int_equal(st.sec[3].answered, 0);
    assert_int_equal(st.method[LG_GET_ONE].total, 1);
    /* completions past the last window go to the last one */
    lg_stats_sent(&st, LG_ACK, T0 + 30, T0 + 30);
    lg_stats_done(&st, LG_ACK, T0 + 30, T0 + 60 * S, LG_ST_OK);
    assert_int_equal(st.sec[4].answered, 1);
    assert_int_equal(st.used, 5);
    /* the windows merged are the totals */
    rs_hist merged;
    rs_hist_reset(&merged);
    for (uint32_t i = 0; i < st.nsec; i++)
        rs_hist_merge(&merged, &st.sec[i].hist);
    assert_int_equal(merged.total, st.all.total);
    assert_memory_equal(merged.counts, st.all.counts, sizeof(merged.counts));
    assert_int_equal(lg_stats_total_sent(&st), 4);
    assert_int_equal(lg_stats_total_answered(&st), 3);
    assert_int_equal(lg_stats_total_errors(&st), 2);
    lg_stats_free(&st);
}

static void test_names_and_cpu(void **state)
{
    (void)state;
    assert_string_equal(lg_status_name(LG_ST_OK), "OK");
    assert_string_equal(lg_status_name(14), "UNAVAILABLE");
    assert_string_equal(lg_status_name(LG_ST_UNSENT), "unsent");
    assert_string_equal(lg_status_name(LG_ST_CONN), "conn_error");
    /* burn a little CPU: it must show */
    volatile uint64_t x = 0;
    double before = lg_cpu_self_s();
    for (uint64_t i = 0; i < 200000000ull && lg_cpu_self_s() - before < 0.05; i++)
        x += i;
    assert_true(lg_cpu_self_s() > before);
    assert_true(lg_cpu_pid_s((int)getpid()) >= 0);
    assert_true(lg_cpu_pid_s(0) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attribution),
        cmocka_unit_test(test_arrival_time),
        cmocka_unit_test(test_names_and_cpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
