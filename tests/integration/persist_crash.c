/*
 * persist_crash.c: kill -9 of readstated with a real redis-server.
 * - write-through: nothing acknowledged is lost.
 * - write-behind: what is lost was acknowledged within about the last flush
 *   interval. Acks are sent continuously with timestamps, the server is
 *   killed, a new one reads everything back, and the age of the newest lost
 *   ack (relative to the kill) is measured and printed; it must stay within
 *   the flush interval plus a margin.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "persist_util.h"

#define CRASH_USERS   32
#define MAX_ACKS      200000
#define RUN_MS        2500
#define FLUSH_MS      500
#define WINDOW_MARGIN 500 /* scheduling noise on a shared machine */

typedef struct ackrec {
    uint64_t user_id;
    uint64_t channel_id;
    long long at_ms; /* when the answer arrived */
} ackrec;

/* Ack continuously (channel = sequence number, so each ack creates one
 * state) for RUN_MS; returns the number of acknowledged acks. */
static size_t ack_for_a_while(rs_client *c, ackrec *acks)
{
    size_t n = 0;
    long long end = rs_mono_ms() + RUN_MS;
    while (rs_mono_ms() < end && n < MAX_ACKS) {
        uint64_t seq = n + 1;
        uint64_t user = 1 + seq % CRASH_USERS;
        rs_client_ack_result res;
        rs_status st = rs_client_ack(c, user, seq, seq, 0, &res);
        if (st != RS_OK)
            fail_msg("ack %llu: %s", (unsigned long long)seq, rs_client_errmsg(c));
        assert_true(res.applied);
        acks[n].user_id = user;
        acks[n].channel_id = seq;
        acks[n].at_ms = rs_mono_ms();
        n++;
    }
    return n;
}

static bool state_present(const rs_client_states *s, uint64_t channel)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->states[mid].channel_id == channel)
            return s->states[mid].last_message_id == channel;
        if (s->states[mid].channel_id < channel)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* Kill -9, restart, and return how many acks were lost. Ages are in ms
 * before the kill: *oldest_lost_age is the loss window (-1: none lost),
 * *newest_lost_age the youngest lost ack. */
static size_t crash_and_count(rs_test_server *srv, const ackrec *acks, size_t n,
                              long long *oldest_lost_age, long long *newest_lost_age)
{
    long long kill_ms = rs_mono_ms();
    assert_int_equal(rs_proc_kill9(&srv->proc), 0);
    assert_int_equal(rs_test_server_restart(srv), 0);
    rs_client *c = pu_connect(srv);
    assert_non_null(c);
    rs_client_states st[CRASH_USERS + 1];
    for (uint64_t u = 1; u <= CRASH_USERS; u++)
        assert_int_equal(rs_client_get(c, u, NULL, 0, &st[u]), RS_OK);
    size_t lost = 0;
    *newest_lost_age = -1;
    *oldest_lost_age = -1;
    for (size_t i = 0; i < n; i++) {
        if (state_present(&st[acks[i].user_id], acks[i].channel_id))
            continue;
        lost++;
        long long age = kill_ms - acks[i].at_ms;
        if (*newest_lost_age < 0 || age < *newest_lost_age)
            *newest_lost_age = age;
        if (age > *oldest_lost_age)
            *oldest_lost_age = age;
    }
    for (uint64_t u = 1; u <= CRASH_USERS; u++)
        rs_client_states_free(&st[u]);
    rs_client_close(c);
    return lost;
}

static void test_write_through_loses_nothing(void **state)
{
    (void)state;
    rs_test_redis redis;
    rs_test_server srv;
    assert_int_equal(rs_test_redis_start(&redis), 0);
    const char *flags[] = {"--durability", "write-through", NULL};
    assert_int_equal(pu_server_start(&srv, &redis, flags), 0);
    rs_client *c = pu_connect(&srv);
    assert_non_null(c);
    ackrec *acks = calloc(MAX_ACKS, sizeof(*acks));
    assert_non_null(acks);
    size_t n = ack_for_a_while(c, acks);
    rs_client_close(c);
    long long oldest, newest;
    size_t lost = crash_and_count(&srv, acks, n, &oldest, &newest);
    printf("# write-through: acks=%zu lost=%zu\n", n, lost);
    assert_true(n > 100);
    assert_int_equal(lost, 0);
    free(acks);
    rs_test_server_cleanup(&srv);
    rs_test_redis_cleanup(&redis);
}

static void test_write_behind_loss_window(void **state)
{
    (void)state;
    rs_test_redis redis;
    rs_test_server srv;
    assert_int_equal(rs_test_redis_start(&redis), 0);
    char interval[16];
    snprintf(interval, sizeof(interval), "%d", FLUSH_MS);
    const char *flags[] = {"--durability", "write-behind", "--flush-interval-ms", interval,
                           NULL};
    assert_int_equal(pu_server_start(&srv, &redis, flags), 0);
    rs_client *c = pu_connect(&srv);
    assert_non_null(c);
    ackrec *acks = calloc(MAX_ACKS, sizeof(*acks));
    assert_non_null(acks);
    size_t n = ack_for_a_while(c, acks);
    rs_client_close(c);
    long long oldest, newest;
    size_t lost = crash_and_count(&srv, acks, n, &oldest, &newest);
    /* The loss window: how long before the kill the oldest lost ack was
     * answered. Everything acknowledged before it survived. */
    printf("# write-behind: flush_interval_ms=%d acks=%zu lost=%zu loss_window_ms=%lld "
           "newest_lost_age_ms=%lld bound_ms=%d\n",
           FLUSH_MS, n, lost, oldest, newest, FLUSH_MS + WINDOW_MARGIN);
    assert_true(n > 100);
    assert_true(oldest <= FLUSH_MS + WINDOW_MARGIN);
    free(acks);
    rs_test_server_cleanup(&srv);
    rs_test_redis_cleanup(&redis);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_through_loses_nothing),
        cmocka_unit_test(test_write_behind_loss_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
